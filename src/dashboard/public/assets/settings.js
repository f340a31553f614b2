// What this browser keeps: the API token and the operator's name (localStorage, per origin).

import { OPERATOR_KEY, TOKEN_KEY } from './config.js';

/**
 * Values written while localStorage is disabled: they live until the page is closed (a private
 * stand-in for the storage, read only through readSetting).
 * @type {Map<string, string>}
 */
const memory = new Map();

/** @param {string} key */
export function readSetting(key) {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return memory.get(key) ?? '';
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
export function writeSetting(key, value) {
  memory.set(key, value);
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch {
    // Storage disabled: the value lives until the page is closed.
  }
}

export const readToken = () => readSetting(TOKEN_KEY);
/** @param {string} token */
export const writeToken = (token) => writeSetting(TOKEN_KEY, token);
export const readOperator = () => readSetting(OPERATOR_KEY);
/** @param {string} name */
export const writeOperator = (name) => writeSetting(OPERATOR_KEY, name);

/**
 * `#token=...` in the address: stored once, then removed from the address bar and history.
 * @returns {boolean} whether a token was taken
 */
export function takeTokenFromFragment() {
  const match = /^#(?:.*&)?token=([^&]*)/.exec(location.hash);
  if (!match) return false;
  let token = '';
  try {
    token = decodeURIComponent(match[1] ?? '').trim();
  } catch {
    token = '';
  }
  history.replaceState(history.state, '', location.pathname + location.search);
  if (!token) return false;
  writeToken(token);
  return true;
}
