// The API token form and the operator's name.

/** @import { App } from './types.js' */

import { renderTokenNeeded } from './backfill.js';
import { TOKEN_KEY } from './config.js';
import { setText } from './dom.js';
import {
  readOperator,
  readToken,
  takeTokenFromFragment,
  writeOperator,
  writeToken,
} from './settings.js';

/** @param {App} app */
export function renderTokenState({ els }) {
  const saved = Boolean(readToken());
  els.tokenForm.dataset.saved = saved ? 'true' : 'false';
  els.tokenForget.hidden = !saved;
  els.tokenInput.placeholder = saved ? 'Token saved' : 'BATON_API_TOKEN';
  setText(
    els.tokenState,
    saved
      ? 'A token is saved in this browser: pause, resume, run now and backfill are enabled.'
      : 'No token saved: the dashboard is read-only.',
  );
  renderTokenNeeded();
}

/** @param {App} app */
export function bindTokenForm(app) {
  const { els, notify } = app;
  els.tokenForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = els.tokenInput.value.trim();
    if (!token) {
      notify('Paste the API token in the field, then save.');
      return;
    }
    writeToken(token);
    els.tokenInput.value = '';
    renderTokenState(app);
    notify('Token saved in this browser.', 'ok');
  });
  els.tokenForget.addEventListener('click', () => {
    writeToken('');
    renderTokenState(app);
    els.tokenInput.focus();
    notify('Token removed from this browser.', 'ok');
  });
  window.addEventListener('hashchange', () => {
    if (takeTokenFromFragment()) {
      renderTokenState(app);
      notify('Token from the link saved in this browser.', 'ok');
    }
  });
  window.addEventListener('storage', (event) => {
    if (event.key === TOKEN_KEY) renderTokenState(app);
  });
  els.operator.value = readOperator();
  els.operator.addEventListener('change', () => writeOperator(els.operator.value.trim()));
}
