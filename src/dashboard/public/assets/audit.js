// Each job card's audit summary: "last 24 h: 1,440 expected, 1,440 ran once", from
// GET /api/v1/audit?job=… (the API's default range, the last 24 hours). Fetched only for cards
// on screen, and again at most every AUDIT_REFRESH_MS while they stay there.

/**
 * @import { JobAudit } from '../../../api/types.js'
 * @import { App, Card } from './types.js'
 */

import { api, message } from './api.js';
import { AUDIT_REFRESH_MS } from './config.js';
import { setText } from './dom.js';

const number = new Intl.NumberFormat('en-US');

/**
 * The summary in words; counts other than "ran once" only when not zero.
 * @param {JobAudit} audit
 */
export function auditWords(audit) {
  const c = audit.counts;
  const extra = [
    ['re-executed', c['re-executed']],
    ['skipped', c.skipped],
    ['refused', c.refused],
    ['missing', c.missing],
    ['duplicate', c.duplicate],
    ['pending', c.pending],
    ['unaccounted', audit.unaccounted.length],
  ]
    .filter(([, n]) => Number(n) > 0)
    .map(([what, n]) => `${number.format(Number(n))} ${what}`);
  return [
    `last 24 h: ${number.format(audit.expected)} expected`,
    `${number.format(c.ran)} ran once`,
    ...extra,
  ].join(', ');
}

/**
 * @param {Card} card
 */
async function loadAudit(card) {
  card.auditAt = Date.now();
  try {
    const audit = (await api.audit(card.name)).jobs[0];
    if (!audit) return;
    const el = card.audit;
    el.dataset.expected = String(audit.expected);
    el.dataset.ran = String(audit.counts.ran);
    el.dataset.missing = String(audit.counts.missing);
    el.dataset.duplicate = String(audit.counts.duplicate);
    el.dataset.refused = String(audit.counts.refused);
    el.dataset.ok = String(audit.ok);
    el.classList.toggle('bad', !audit.ok);
    el.title = audit.ok
      ? 'Every instant of the last 24 hours is accounted for (baton audit)'
      : 'Some instants of the last 24 hours are not accounted for: run baton audit for the list';
    setText(el, auditWords(audit));
  } catch (err) {
    setText(card.audit, `Audit unavailable: ${message(err)}`);
  }
}

/**
 * Keeps the audit summary of the cards on screen fresh.
 * @param {App} app
 * @returns {{ watch(card: Card): void; refresh(): void }}
 */
export function createAuditWatcher(app) {
  const observer =
    typeof IntersectionObserver === 'function'
      ? new IntersectionObserver((entries) => {
          for (const entry of entries) {
            const name = entry.target instanceof HTMLElement ? entry.target.dataset.job : undefined;
            const card = name === undefined ? undefined : app.state.cards.get(name);
            if (!card) continue;
            card.visible = entry.isIntersecting;
            if (card.visible && Date.now() - card.auditAt > AUDIT_REFRESH_MS) void loadAudit(card);
          }
        })
      : null;
  return {
    watch(card) {
      if (observer) observer.observe(card.el);
      else card.visible = true;
    },
    refresh() {
      const now = Date.now();
      for (const card of app.state.cards.values()) {
        if (card.visible && card.el.isConnected && now - card.auditAt > AUDIT_REFRESH_MS) {
          void loadAudit(card);
        }
      }
    },
  };
}
