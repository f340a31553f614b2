// An open job's details: its timeline, duration and start-lag chart, upcoming fires, newest
// runs and skipped fires. Fetched when opened, and again after run events while open.

/**
 * @import { HistoryEntry, JobDetailResponse } from '../../../api/types.js'
 * @import { App } from './types.js'
 */

import { api, message } from './api.js';
import { createChart } from './chart.js';
import { DETAIL_REFRESH_MS, RUNS_SHOWN, TIMELINE_ENTRIES } from './config.js';
import { badge, h } from './dom.js';
import { runSummary } from './runs.js';
import { absolute } from './time.js';
import { focusedMark, renderTimeline } from './timeline.js';
import { renderUpcoming } from './upcoming.js';

/**
 * @param {string} name
 * @param {JobDetailResponse} detail
 * @param {string | undefined} zone
 */
function recentRuns(name, detail, zone) {
  const runs = (detail.recentRuns ?? []).filter((e) => e.kind === 'run').slice(0, RUNS_SHOWN);
  if (runs.length === 0) return h('p', { class: 'muted', text: 'No runs recorded yet.' });
  return h(
    'ol',
    { class: 'runs', 'data-testid': `job-${name}-recent` },
    ...runs.map((r) =>
      h(
        'li',
        {
          'data-fire-id': r.kind === 'run' ? r.fireId : null,
          'data-status': r.kind === 'run' ? r.status : null,
        },
        r.kind === 'run' ? runSummary(r, zone) : null,
      ),
    ),
  );
}

/**
 * @param {JobDetailResponse} detail
 * @param {string | undefined} zone
 */
function skippedFires(detail, zone) {
  const skips = (detail.skips ?? []).slice(0, 5);
  if (skips.length === 0) return [];
  return [
    h('h5', { text: 'Skipped fires' }),
    h(
      'ul',
      { class: 'skips' },
      ...skips.map((s) =>
        h(
          'li',
          {},
          badge('skipped', 'status'),
          ` ${s.count} × ${s.reason} `,
          h('span', {
            class: 'muted',
            text:
              s.count > 1
                ? `${absolute(s.first, zone)} – ${absolute(s.last, zone)}`
                : absolute(s.first, zone),
          }),
        ),
      ),
    ),
  ];
}

/**
 * Fetches and renders the details of an open card.
 * @param {App} app
 * @param {string} name
 */
export async function loadDetail(app, name) {
  const card = app.state.cards.get(name);
  if (!card) return;
  const body = card.detailBody;
  try {
    const [detail, history] = await Promise.all([
      api.job(name),
      api.history(name, TIMELINE_ENTRIES),
    ]);
    const zone = detail.job?.timezone ?? app.state.jobs.get(name)?.timezone;
    /** @type {HistoryEntry[]} */
    const entries = history.entries ?? [];
    const focus = focusedMark(body);
    card.chart ??= createChart(name);
    body.replaceChildren(
      h('h5', { text: `Timeline: the newest ${entries.length} runs and skips` }),
      renderTimeline(name, entries, zone, Date.now(), focus),
      h('h5', { text: 'Run duration and start lag' }),
      card.chart.el,
      h('h5', { text: 'Upcoming fires' }),
      renderUpcoming(name, detail, zone),
      h('h5', { text: 'Recent runs' }),
      recentRuns(name, detail, zone),
      ...skippedFires(detail, zone),
    );
    // Drawn once in the page, so uPlot can measure its width.
    card.chart.set(entries);
  } catch (err) {
    body.replaceChildren(
      h('p', { class: 'error', text: `Run history unavailable: ${message(err)}` }),
    );
  }
}

/**
 * Reloads an open job's details after a run event, at most every DETAIL_REFRESH_MS per job.
 * @param {App} app
 * @param {string} name
 */
export function detailChanged(app, name) {
  const card = app.state.cards.get(name);
  if (!card || !card.details.open || card.detailTimer) return;
  card.detailTimer = setTimeout(() => {
    card.detailTimer = null;
    void loadDetail(app, name);
  }, DETAIL_REFRESH_MS);
}
