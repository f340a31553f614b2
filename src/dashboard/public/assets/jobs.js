// The job list: fetched from the API (the first JOBS_SHOWN_MAX matching the filter), refreshed
// at a bounded rate, one card per job.

/**
 * @import { JobSummary } from '../../../api/types.js'
 * @import { App, Card } from './types.js'
 */

import { message, api } from './api.js';
import { createCard } from './card.js';
import { JOBS_REFRESH_MIN_MS, JOBS_SHOWN_MAX } from './config.js';
import { h, setText } from './dom.js';

/**
 * Fetches /api/v1/jobs soon, at most every few seconds however many events ask for it.
 * @param {App} app
 */
export function requestJobsRefresh(app) {
  const f = app.state.jobsFetch;
  if (f.timer) return;
  const gap = Math.max(JOBS_REFRESH_MIN_MS, f.cost * 10);
  const wait = Math.max(0, f.last + gap - Date.now());
  f.timer = setTimeout(() => {
    f.timer = null;
    void loadJobs(app);
  }, wait);
}

/** @param {App} app */
export async function loadJobs(app) {
  const { state, els } = app;
  const f = state.jobsFetch;
  if (f.inFlight) {
    f.again = true;
    return;
  }
  f.inFlight = true;
  f.last = Date.now();
  const requestedAt = f.last;
  const started = performance.now();
  try {
    const filter = state.filter.trim();
    const data = await api.jobs(JOBS_SHOWN_MAX, filter);
    state.fetchedFilter = filter;
    state.jobsTotal = data.total ?? data.jobs?.length ?? 0;
    setJobs(app, data.jobs ?? [], requestedAt);
    els.jobsError.hidden = true;
  } catch (err) {
    els.jobsError.hidden = false;
    setText(els.jobsError, `Jobs unavailable: ${message(err)}`);
  } finally {
    f.cost = performance.now() - started;
    f.inFlight = false;
    if (f.again) {
      f.again = false;
      // A new filter is answered at once; other requests wait for the refresh gap.
      if (state.fetchedFilter !== state.filter.trim()) void loadJobs(app);
      else requestJobsRefresh(app);
    }
  }
}

/**
 * @param {App} app
 * @param {JobSummary[]} list
 * @param {number} requestedAt
 */
function setJobs(app, list, requestedAt) {
  const { state } = app;
  const names = new Set();
  let earliest = Infinity;
  for (const job of list) {
    names.add(job.name);
    const known = state.jobs.get(job.name);
    if (known && (state.liveAt.get(`${job.name}:paused`) ?? 0) > requestedAt)
      job.paused = known.paused;
    if (known && (state.liveAt.get(`${job.name}:lastRun`) ?? 0) > requestedAt)
      job.lastRun = known.lastRun;
    state.jobs.set(job.name, job);
    const next = Date.parse(job.nextFires?.[0] ?? '');
    if (Number.isFinite(next) && next < earliest) earliest = next;
  }
  state.earliestNext = earliest;
  for (const name of [...state.jobs.keys()]) {
    if (names.has(name)) continue;
    state.jobs.delete(name);
    state.cards.delete(name);
  }
  renderJobs(app);
}

/**
 * The filter as the API applies it: every word in the name, description, owner, handler,
 * queue or a tag.
 * @param {JobSummary} job
 * @param {string} filter lower case
 */
function matches(job, filter) {
  if (!filter) return true;
  const text = [job.name, job.description, job.owner, job.handler, job.queue, ...(job.tags ?? [])]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
  return filter.split(/\s+/).every((word) => text.includes(word));
}

/** @param {App} app */
export function renderJobs(app) {
  const { state, els } = app;
  const filter = state.filter.trim().toLowerCase();
  const matching = [...state.jobs.values()]
    .filter((job) => matches(job, filter))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // the API's order
  const shown = matching.slice(0, JOBS_SHOWN_MAX);
  for (const job of shown) cardOf(app, job.name).update(job);
  const key = shown.map((job) => job.name).join('\n');
  if (key !== state.shownKey) {
    state.shownKey = key;
    els.jobs.replaceChildren(...shown.map((job) => cardOf(app, job.name).el));
  }
  // The API's count once it has answered for this filter; until then, what is loaded.
  const answered = state.fetchedFilter === state.filter.trim();
  const total = answered ? state.jobsTotal : matching.length;
  setText(els.jobsCount, filter ? `(${total} matching)` : `(${total})`);
  els.jobsMore.hidden = total <= shown.length;
  setText(
    els.jobsMore,
    `Showing ${shown.length} of ${total} jobs: type in the filter to find the others.`,
  );
  if (state.jobs.size > 0 && matching.length === 0) {
    els.jobs.replaceChildren(h('li', { class: 'job empty', text: 'No job matches the filter.' }));
    state.shownKey = '\u0000none';
  }
}

/**
 * The card of a job, made on first use.
 * @param {App} app
 * @param {string} name
 * @returns {Card}
 */
export function cardOf(app, name) {
  let card = app.state.cards.get(name);
  if (!card) {
    card = createCard(app, name);
    app.state.cards.set(name, card);
  }
  return card;
}

/**
 * Re-renders a job's card from the state.
 * @param {App} app
 * @param {string} name
 */
export function updateCard(app, name) {
  const job = app.state.jobs.get(name);
  const card = app.state.cards.get(name);
  if (job && card) card.update(job);
}
