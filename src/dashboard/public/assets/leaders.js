// The cluster timeline: who led when over the last hours, with each change of leader marked.

/**
 * @import { LeaderTerm } from '../../../api/types.js'
 * @import { App } from './types.js'
 */

import { api, message } from './api.js';
import { LEADERS_SPAN_MS } from './config.js';
import { h } from './dom.js';
import { absolute, span } from './time.js';

/** Colours for replicas (CSS classes `replica-0` …), by the order of their names. */
const PALETTE = 6;

/** @param {App} app */
export async function loadLeaders(app) {
  try {
    const { terms } = await api.leaders(Date.now() - LEADERS_SPAN_MS);
    app.state.terms = terms;
    renderLeaders(app);
  } catch (err) {
    app.els.leaders.replaceChildren(
      h('p', { class: 'error', text: `Leadership history unavailable: ${message(err)}` }),
    );
  }
}

/**
 * Fetches the terms again soon: the new leader records its takeover just after the election
 * that the `leader` event announces.
 * @param {App} app
 */
export function leadersChanged(app) {
  if (app.state.leadersTimer) return;
  app.state.leadersTimer = setTimeout(() => {
    app.state.leadersTimer = null;
    void loadLeaders(app);
  }, 1_500);
}

/**
 * @param {LeaderTerm} term
 * @param {number} now
 */
const endOf = (term, now) => (term.end === null ? now : Date.parse(term.end));

/** @param {App} app */
export function renderLeaders({ state, els }) {
  const now = Date.now();
  const terms = state.terms;
  if (terms.length === 0) {
    els.leaders.replaceChildren(
      h('p', { class: 'muted', text: 'No leadership recorded in the last hours.' }),
    );
    return;
  }
  const from = Math.max(now - LEADERS_SPAN_MS, Math.min(...terms.map((t) => Date.parse(t.start))));
  const width = Math.max(1, now - from);
  const replicas = [...new Set(terms.map((t) => t.replica))].sort();
  /** @param {string} replica */
  const colour = (replica) => `replica-${replicas.indexOf(replica) % PALETTE}`;
  /** @param {number} at */
  const pct = (at) => `${(((Math.max(at, from) - from) / width) * 100).toFixed(3)}%`;

  const bar = h('div', { class: 'terms-bar', 'aria-hidden': 'true' });
  terms.forEach((term, i) => {
    const start = Date.parse(term.start);
    const end = endOf(term, now);
    const seg = h('span', {
      class: `term ${colour(term.replica)}`,
      title: `${term.replica} led from ${absolute(term.start)}${term.end ? ` to ${absolute(term.end)}` : ' until now'} (token ${term.token})`,
    });
    seg.style.left = pct(start);
    seg.style.width = `${Math.max(0.3, ((end - Math.max(start, from)) / width) * 100).toFixed(3)}%`;
    bar.append(seg);
    const previous = terms[i - 1];
    if (previous && start >= from) {
      const mark = h('span', {
        class: 'failover-mark',
        title: `${previous.replica} → ${term.replica} at ${absolute(term.start)}`,
      });
      mark.style.left = pct(start);
      bar.append(mark);
    }
  });

  const list = h(
    'ol',
    { class: 'terms', 'aria-label': 'Leadership terms, newest first' },
    ...terms
      .map((term, i) => {
        const previous = terms[i - 1];
        const change = previous
          ? previous.replica === term.replica
            ? `re-elected (token ${previous.token} → ${term.token})`
            : `fail-over from ${previous.replica}`
          : null;
        return h(
          'li',
          {
            class: 'term-item',
            'data-testid': 'leader-term',
            'data-replica': term.replica,
            'data-token': term.token,
            'data-failover':
              previous && previous.replica !== term.replica ? previous.replica : null,
          },
          h('span', { class: `swatch ${colour(term.replica)}`, 'aria-hidden': 'true' }),
          h('strong', { text: term.replica }),
          ` from ${absolute(term.start)} `,
          term.end
            ? `for ${span(Date.parse(term.end) - Date.parse(term.start))}`
            : h('span', { class: 'tag', text: 'leading now' }),
          h('span', { class: 'muted', text: ` · token ${term.token}` }),
          change ? h('span', { class: 'badge failover', text: change }) : null,
        );
      })
      .reverse(),
  );
  els.leaders.replaceChildren(
    h(
      'div',
      { class: 'terms-scale' },
      h('span', { text: span(now - from) + ' ago' }),
      h('span', { text: 'now' }),
    ),
    bar,
    list,
  );
}
