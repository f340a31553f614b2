// Pause (with a reason, in a dialog), resume and run now: the API's guarded changes.

/**
 * @import { PauseRecord } from '../../../api/types.js'
 * @import { App } from './types.js'
 */

import { api, explain } from './api.js';
import { setText } from './dom.js';
import { cardOf, updateCard } from './jobs.js';
import { readToken } from './settings.js';

/**
 * True (and asks for the token) when no token is saved.
 * @param {App} app
 * @param {string} action
 */
function needToken(app, action) {
  if (readToken()) return false;
  app.notify(`To ${action}, paste the API token (BATON_API_TOKEN) in the token field first.`);
  app.els.tokenInput.focus();
  return true;
}

/**
 * Disables the button while `work` runs.
 * @param {HTMLButtonElement} button
 * @param {() => Promise<void>} work
 */
async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/**
 * Sets a job's pause as this page or an event learnt it.
 * @param {App} app
 * @param {string} name
 * @param {PauseRecord | null} paused
 */
export function applyPaused(app, name, paused) {
  const job = app.state.jobs.get(name);
  if (!job) return;
  app.state.liveAt.set(`${name}:paused`, Date.now());
  job.paused = paused;
  updateCard(app, name);
}

/**
 * Opens the pause dialog for a job.
 * @param {App} app
 * @param {string} name
 */
export function askPause(app, name) {
  const { els } = app;
  if (needToken(app, `pause ${name}`)) return;
  app.state.pausing = name;
  setText(els.pauseJob, name);
  els.pauseReason.value = '';
  els.dialog.showModal();
  els.pauseReason.focus();
}

/**
 * Wires the pause dialog's buttons.
 * @param {App} app
 */
export function bindPauseDialog(app) {
  const { els, state } = app;
  els.pauseForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = state.pausing;
    const reason = els.pauseReason.value.trim();
    els.dialog.close();
    if (name) void pauseJob(app, name, reason);
  });
  els.pauseCancel.addEventListener('click', () => els.dialog.close());
  els.dialog.addEventListener('close', () => {
    state.pausing = null;
  });
}

/**
 * @param {App} app
 * @param {string} name
 * @param {string} reason
 */
async function pauseJob(app, name, reason) {
  const card = cardOf(app, name);
  await busy(card.pauseBtn, async () => {
    try {
      const res = await api.pause(name, reason);
      applyPaused(app, name, res.paused);
      app.notify(`Paused ${name}: its fires are skipped until it is resumed.`, 'ok');
    } catch (err) {
      app.notify(explain(err, `pause ${name}`));
    }
  });
  (card.pauseBtn.hidden ? card.resumeBtn : card.pauseBtn).focus();
}

/**
 * @param {App} app
 * @param {string} name
 */
export async function resumeJob(app, name) {
  if (needToken(app, `resume ${name}`)) return;
  const card = cardOf(app, name);
  await busy(card.resumeBtn, async () => {
    try {
      await api.resume(name);
      applyPaused(app, name, null);
      app.notify(`Resumed ${name}: its next fire runs as scheduled.`, 'ok');
    } catch (err) {
      app.notify(explain(err, `resume ${name}`));
    }
  });
  (card.resumeBtn.hidden ? card.pauseBtn : card.resumeBtn).focus();
}

/**
 * @param {App} app
 * @param {string} name
 */
export async function triggerJob(app, name) {
  if (needToken(app, `run ${name}`)) return;
  const card = cardOf(app, name);
  await busy(card.triggerBtn, async () => {
    try {
      const res = await api.trigger(name);
      app.notify(
        `Requested a run of ${name} now${res?.fireId ? ` (${res.fireId})` : ''}: the leader enqueues it, a worker runs it.`,
        'ok',
      );
    } catch (err) {
      app.notify(explain(err, `run ${name}`));
    }
  });
}
