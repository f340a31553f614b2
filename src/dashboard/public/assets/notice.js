// The notice line under the header: errors stay until dismissed, confirmations for 6 s.

/** @import { Elements, Timer } from './types.js' */

import { setText } from './dom.js';

/**
 * @param {Elements} els
 * @returns {(text: string, kind?: 'ok' | 'error') => void}
 */
export function createNotifier(els) {
  /** @type {Timer | undefined} */
  let timer;
  const dismiss = () => {
    clearTimeout(timer);
    delete els.notice.dataset.kind;
    els.noticeClose.hidden = true;
    setText(els.noticeText, '');
  };
  els.noticeClose.addEventListener('click', dismiss);
  return (text, kind = 'error') => {
    clearTimeout(timer);
    els.notice.dataset.kind = kind;
    setText(els.noticeText, text);
    els.noticeClose.hidden = false;
    if (kind === 'ok') timer = setTimeout(dismiss, 6_000);
  };
}
