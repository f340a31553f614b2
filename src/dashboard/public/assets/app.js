// The baton dashboard: this replica's view of the cluster, the jobs and the live event stream.
// Plain ES modules without a build step, served under a strict CSP (no inline code). This
// entry module makes the page's one state object and passes it, with the elements and the
// actions, to the modules that need them; none of them keeps page state of its own.

/** @import { App } from './types.js' */

import { askPause, bindPauseDialog, resumeJob, triggerJob } from './actions.js';
import { createAuditWatcher } from './audit.js';
import { loadStatus } from './cluster.js';
import {
  FILTER_DEBOUNCE_MS,
  HEARTBEAT_LATE_MS,
  OFFLINE_REFRESH_MS,
  SAFETY_REFRESH_MS,
} from './config.js';
import { loadDetail } from './detail.js';
import { setText } from './dom.js';
import { loadJobs, renderJobs, requestJobsRefresh } from './jobs.js';
import { loadLeaders, renderLeaders } from './leaders.js';
import { connect } from './live.js';
import { createNotifier } from './notice.js';
import { takeTokenFromFragment } from './settings.js';
import { createState, findElements } from './store.js';
import { relative, since } from './time.js';
import { bindTokenForm, renderTokenState } from './token-form.js';

const els = findElements();
/** @type {App} */
const app = {
  state: createState(),
  els,
  notify: createNotifier(els),
  actions: {
    askPause: (name) => askPause(app, name),
    resume: (name) => resumeJob(app, name),
    trigger: (name) => triggerJob(app, name),
    loadDetail: (name) => loadDetail(app, name),
    watch: (card) => audits.watch(card),
  },
};
const audits = createAuditWatcher(app);

/** Every second: relative times, heartbeat ages, passed next fires, stale audit summaries. */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time[data-at]')) {
    if (!(el instanceof HTMLElement)) continue;
    const diff = Number(el.dataset.at) - now;
    const future = el.dataset.future === '1';
    setText(el, relative(diff, future));
    // A next fire that has passed leaves the list until the jobs are fetched again.
    if (future && diff < -1000) el.closest('li')?.setAttribute('hidden', '');
  }
  for (const el of document.querySelectorAll('.age[data-since]')) {
    if (!(el instanceof HTMLElement)) continue;
    const age = now - Number(el.dataset.since);
    setText(el, since(age));
    el.closest('.member')?.toggleAttribute('data-late', age > HEARTBEAT_LATE_MS);
  }
  if (now > app.state.earliestNext + 500) requestJobsRefresh(app);
  audits.refresh();
}

/** Status, jobs and leadership again every 30 s while live (5 s while not): a safety net. */
function safetyRefresh() {
  const live = els.connection.dataset.state === 'live';
  setTimeout(
    () => {
      void loadStatus(app);
      requestJobsRefresh(app);
      if (live) void loadLeaders(app);
      else renderLeaders(app);
      safetyRefresh();
    },
    live ? SAFETY_REFRESH_MS : OFFLINE_REFRESH_MS,
  );
}

bindTokenForm(app);
bindPauseDialog(app);
els.filter.addEventListener('input', () => {
  app.state.filter = els.filter.value;
  renderJobs(app); // narrows what is loaded at once; the API's answer follows
  clearTimeout(app.state.filterTimer);
  app.state.filterTimer = setTimeout(() => void loadJobs(app), FILTER_DEBOUNCE_MS);
});

const fromLink = takeTokenFromFragment();
renderTokenState(app);
if (fromLink) app.notify('Token from the link saved in this browser.', 'ok');
void loadStatus(app);
void loadJobs(app);
void loadLeaders(app);
connect(app);
setInterval(tick, 1_000);
safetyRefresh();
