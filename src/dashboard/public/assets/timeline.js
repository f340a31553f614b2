// An open job's timeline: one mark per history entry (a run start, or a range of skipped
// fires) on a time axis up to now. Hover or focus a mark for its details; the marks are one tab
// stop, and the arrow keys, Home and End move between them.

/**
 * @import { HistoryEntry } from '../../../api/types.js'
 */

import { h, setText } from './dom.js';
import { absolute, duration, span, timeOfDay } from './time.js';

/** What a mark shows, by run status (and `skipped` for the leader's skip ranges). */
const CATEGORY = /** @type {const} */ ({
  completed: 'ran',
  running: 'running',
  failed: 'failed',
  aborted: 'failed',
  stale: 'refused',
  skipped: 'skipped',
});
/** @typedef {(typeof CATEGORY)[keyof typeof CATEGORY]} Category */
/** @type {Category[]} */
const CATEGORIES = ['ran', 'failed', 'skipped', 'refused', 'running'];

/**
 * The status an entry is drawn with: the run's, or `skipped` for a skip range.
 * @param {HistoryEntry} entry
 */
export function entryStatus(entry) {
  return entry.kind === 'run' ? entry.status : 'skipped';
}

/**
 * When an entry happened on the axis: a run's scheduled instant, a skip range's first one.
 * @param {HistoryEntry} entry
 * @returns {[number, number]} start and end (epoch ms)
 */
function extent(entry) {
  if (entry.kind === 'skip') return [Date.parse(entry.first), Date.parse(entry.last)];
  const at = Date.parse(entry.scheduledAt || entry.startedAt);
  return [at, at];
}

/**
 * Start lag of a run: from its scheduled instant to its start on a worker (ms), or null.
 * @param {HistoryEntry} entry
 */
export function startLag(entry) {
  if (entry.kind !== 'run' || entry.manual) return null;
  const lag = Date.parse(entry.startedAt) - Date.parse(entry.scheduledAt);
  return Number.isFinite(lag) ? lag : null;
}

/**
 * One entry in words (the mark's label and the details line).
 * @param {HistoryEntry} entry
 * @param {string} [zone]
 */
export function entryWords(entry, zone) {
  if (entry.kind === 'skip') {
    const when =
      entry.count > 1
        ? `${absolute(entry.first, zone)} – ${absolute(entry.last, zone)}`
        : absolute(entry.first, zone);
    return `skipped ${entry.count} × ${entry.reason}: ${when}`;
  }
  const lag = startLag(entry);
  return [
    `${entry.status}${entry.reason ? ` (${entry.reason})` : ''}`,
    entry.manual
      ? `manual run at ${absolute(entry.startedAt, zone)}`
      : `fire of ${absolute(entry.scheduledAt, zone)}`,
    `started ${timeOfDay(entry.startedAt, zone)}`,
    lag === null ? '' : `start lag ${lag < 0 ? '-' : ''}${duration(Math.abs(lag))}`,
    typeof entry.durationMs === 'number' ? `took ${duration(entry.durationMs)}` : '',
    entry.worker ? `on ${entry.worker}` : '',
    entry.attempt > 1 ? `attempt ${entry.attempt}` : '',
    entry.error ?? '',
  ]
    .filter(Boolean)
    .join(' · ');
}

/**
 * @param {HistoryEntry} entry
 */
const keyOf = (entry) =>
  entry.kind === 'run' ? `${entry.fireId}#${entry.start}` : `skip:${entry.first}:${entry.reason}`;

/**
 * The timeline of `entries` (newest first, as the history API returns them).
 * @param {string} name the job
 * @param {HistoryEntry[]} entries
 * @param {string | undefined} zone
 * @param {number} now
 * @param {string | null} focusKey the mark to give the focus back to, after a refresh
 * @returns {HTMLElement}
 */
export function renderTimeline(name, entries, zone, now, focusKey) {
  const id = `job-${name}-timeline`;
  if (entries.length === 0) {
    return h('p', { class: 'muted', 'data-testid': id, text: 'Nothing recorded yet.' });
  }
  const starts = entries.map((e) => extent(e)[0]).filter(Number.isFinite);
  const from = Math.min(now - 60_000, ...starts);
  const width = Math.max(1, now - from);
  /** @param {number} at */
  const pct = (at) => ((Math.min(Math.max(at, from), now) - from) / width) * 100;

  const detail = h('p', { class: 'mark-detail', 'aria-live': 'polite' });
  /** @type {Record<Category, number>} */
  const counts = { ran: 0, failed: 0, skipped: 0, refused: 0, running: 0 };
  /** @type {HTMLLIElement[]} */
  const marks = [];
  // Oldest first, so Arrow Right moves forward in time.
  for (const entry of [...entries].reverse()) {
    const status = entryStatus(entry);
    const category = CATEGORY[/** @type {keyof typeof CATEGORY} */ (status)] ?? 'failed';
    counts[category]++;
    const words = entryWords(entry, zone);
    const [start, end] = extent(entry);
    const mark = h('li', {
      class: `mark cat-${category}`,
      tabindex: -1,
      'data-testid': 'timeline-mark',
      'data-status': status,
      'data-kind': entry.kind,
      'data-key': keyOf(entry),
      'aria-label': words,
      title: words,
    });
    mark.style.left = `${pct(start).toFixed(3)}%`;
    if (end > start) mark.style.width = `${(pct(end) - pct(start)).toFixed(3)}%`;
    const show = () => setText(detail, words);
    mark.addEventListener('mouseenter', show);
    mark.addEventListener('focus', show);
    marks.push(mark);
  }
  const current = marks.find((m) => m.dataset.key === focusKey) ?? marks[marks.length - 1];
  if (current) current.tabIndex = 0;

  const track = h('ol', {
    class: 'timeline',
    'data-testid': id,
    'aria-label': `${name}: ${entries.length} runs and skips, oldest first (arrow keys move)`,
  });
  track.append(...marks);
  track.addEventListener('keydown', (event) => {
    const at = marks.indexOf(/** @type {HTMLLIElement} */ (event.target));
    if (at < 0) return;
    const to =
      event.key === 'ArrowRight' || event.key === 'ArrowDown'
        ? Math.min(marks.length - 1, at + 1)
        : event.key === 'ArrowLeft' || event.key === 'ArrowUp'
          ? Math.max(0, at - 1)
          : event.key === 'Home'
            ? 0
            : event.key === 'End'
              ? marks.length - 1
              : null;
    if (to === null) return;
    event.preventDefault();
    const next = marks[to];
    if (!next) return;
    for (const m of marks) m.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  });
  if (focusKey !== null && current?.dataset.key === focusKey) queueMicrotask(() => current.focus());

  const legend = h(
    'ul',
    { class: 'timeline-legend', 'aria-label': 'Marks by outcome' },
    ...CATEGORIES.map((c) =>
      h(
        'li',
        { 'data-category': c },
        h('span', { class: `swatch cat-${c}`, 'aria-hidden': 'true' }),
        ` ${c} ${counts[c]}`,
      ),
    ),
  );
  return h(
    'div',
    { class: 'timeline-box' },
    h(
      'div',
      { class: 'terms-scale' },
      h('span', { text: `${span(now - from)} ago` }),
      h('span', { text: 'now' }),
    ),
    track,
    legend,
    detail,
  );
}

/**
 * The key of the focused mark inside `root`, if any.
 * @param {Element} root
 */
export function focusedMark(root) {
  const active = document.activeElement;
  return active instanceof HTMLElement && root.contains(active) && active.dataset.key
    ? active.dataset.key
    : null;
}
