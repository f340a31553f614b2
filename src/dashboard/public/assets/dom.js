// DOM helpers. Text from the API only ever reaches the page through textContent and attributes.

/**
 * @typedef {string | number | boolean | null | undefined | EventListener} PropValue
 * @typedef {Record<string, PropValue>} Props
 * @typedef {Node | string | null | undefined | false} Child
 */

/**
 * The element matching `selector` that is a `kind` (e.g. HTMLInputElement); throws when the
 * page has none, so a renamed element fails at start-up, not later.
 * @template {Element} T
 * @param {string} selector
 * @param {{ new (): T; prototype: T }} kind
 * @param {ParentNode} [root]
 * @returns {T}
 */
export function find(selector, kind, root = document) {
  const el = root.querySelector(selector);
  if (!(el instanceof kind)) throw new Error(`dashboard: no ${kind.name} matches ${selector}`);
  return el;
}

/**
 * Creates an element: `text`, `class`, `on<event>` handlers; other keys become attributes
 * (`true` an empty one; null, undefined and false none).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else if (typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  /** @type {(Node | string)[]} */
  const nodes = [];
  for (const c of children) if (c !== null && c !== undefined && c !== false) nodes.push(c);
  el.append(...nodes);
  return el;
}

/**
 * Sets text only when it changed: live regions announce every write.
 * @param {Node} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * @param {string} value
 * @param {string} kind
 */
export function badge(value, kind) {
  return h('span', { class: `badge ${kind}-${value}`, text: value });
}

/**
 * One term of a `<dl class="facts">`.
 * @param {string} term
 * @param {Node | string} value
 */
export function fact(term, value) {
  return h('div', {}, h('dt', { text: term }), h('dd', {}, value));
}

/**
 * Text for screen readers only.
 * @param {string} text
 */
export function hiddenText(text) {
  return h('span', { class: 'visually-hidden', text });
}
