// A run in words: the last run of a card, the recent runs of a job, run events in the feed.

/**
 * @import { BatonEvent, HistoryEntry } from '../../../api/types.js'
 */

import { badge, h } from './dom.js';
import { duration, timeEl, timeOfDay } from './time.js';

/**
 * A run event in words: `completed in 312 ms on worker-1`, `failed (attempt 2, will retry): boom`.
 * @param {Extract<BatonEvent, { type: 'run' }>} e
 */
export function runWords(e) {
  if (e.status === 'running')
    return `started on ${e.worker}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
  const notes = [
    e.reason,
    e.attempt > 1 ? `attempt ${e.attempt}` : '',
    e.willRetry ? 'will retry' : '',
  ].filter(Boolean);
  return [
    e.status,
    notes.length ? ` (${notes.join(', ')})` : '',
    typeof e.durationMs === 'number' ? ` in ${duration(e.durationMs)}` : '',
    e.worker ? ` on ${e.worker}` : '',
    e.error ? `: ${e.error}` : '',
  ].join('');
}

/**
 * One run as a line: status, reason, duration, start, which fire, worker, attempt, error.
 * @param {Extract<HistoryEntry, { kind: 'run' }>} run
 * @param {string} [zone]
 * @returns {HTMLElement}
 */
export function runSummary(run, zone) {
  const parts = [badge(run.status, 'status')];
  if (run.reason) parts.push(h('span', { class: 'muted', text: run.reason }));
  if (typeof run.durationMs === 'number') parts.push(h('span', { text: duration(run.durationMs) }));
  if (run.startedAt) parts.push(h('span', {}, 'started ', timeEl(run.startedAt, { zone })));
  const about = [
    run.manual
      ? 'manual run'
      : run.scheduledAt
        ? `fire of ${timeOfDay(run.scheduledAt, zone)}`
        : '',
    run.worker ? `on ${run.worker}` : '',
    run.attempt > 1 ? `attempt ${run.attempt}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  if (about) parts.push(h('span', { class: 'muted', text: about }));
  if (run.error) parts.push(h('p', { class: 'error', title: run.error, text: run.error }));
  return h('div', { class: 'run-line' }, ...parts);
}
