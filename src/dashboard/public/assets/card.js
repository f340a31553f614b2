// One job's card, in parts: heading and schedule, pause, next fires, last run, audit summary,
// actions and the details that open on demand. Each part patches itself only when what it
// shows changed, so focus, selection and open details survive updates.

/**
 * @import { JobSummary } from '../../../api/types.js'
 * @import { App, Card } from './types.js'
 */

import { backfillPart } from './backfill.js';
import { NEXT_SHOWN } from './config.js';
import { h, hiddenText, setText } from './dom.js';
import { runSummary } from './runs.js';
import { absolute, timeEl } from './time.js';

/**
 * A part of a card: its element and how it follows the job.
 * @typedef {{ el: HTMLElement; update(job: JobSummary): void }} Part
 */

/**
 * Runs `render` when `key` differs from the previous call's.
 * @returns {(key: string, render: () => void) => void}
 */
function onChange() {
  /** @type {string | null} */
  let last = null;
  return (key, render) => {
    if (key === last) return;
    last = key;
    render();
  };
}

/**
 * @param {string} name
 * @returns {Part & { badge: HTMLElement }}
 */
function headPart(name) {
  const pausedBadge = h('span', { class: 'badge paused', text: 'paused', hidden: true });
  const scheduleText = h('span', { class: 'schedule-text' });
  const scheduleExpr = h('code', { class: 'schedule-expr' });
  const zone = h('span', { class: 'zone' });
  const desc = h('p', { class: 'job-desc' });
  const meta = h('p', { class: 'job-meta' });
  const metaChanged = onChange();
  return {
    badge: pausedBadge,
    el: h(
      'div',
      { class: 'job-main' },
      h('h3', { class: 'job-name' }, h('span', { text: name }), pausedBadge),
      h('p', { class: 'job-schedule' }, scheduleText, ' ', scheduleExpr, ' ', zone),
      desc,
      meta,
    ),
    update(job) {
      setText(scheduleText, job.scheduleText || job.schedule);
      setText(scheduleExpr, job.schedule);
      setText(zone, job.timezone);
      desc.hidden = !job.description;
      setText(desc, job.description ?? '');
      const key = JSON.stringify([
        job.queue,
        job.handler,
        job.overlap,
        job.catchUp,
        job.owner,
        job.tags,
      ]);
      metaChanged(key, () =>
        meta.replaceChildren(
          `queue ${job.queue} · handler ${job.handler} · overlap ${job.overlap} · catch-up ${job.catchUp}`,
          job.owner ? ` · owner ${job.owner}` : '',
          ...(job.tags ?? []).map((tag) => h('span', { class: 'tag', text: tag })),
        ),
      );
    },
  };
}

/**
 * @param {string} id
 * @returns {Part}
 */
function pausedPart(id) {
  const el = h('div', { class: 'job-paused', 'data-testid': `${id}-paused`, hidden: true });
  const changed = onChange();
  return {
    el,
    update(job) {
      const paused = job.paused ?? null;
      changed(JSON.stringify(paused), () => {
        el.hidden = !paused;
        el.replaceChildren(
          ...(paused
            ? [
                h('strong', { text: 'Paused' }),
                paused.by ? ` by ${paused.by}` : '',
                paused.at ? ' · ' : '',
                paused.at ? timeEl(paused.at, { zone: job.timezone }) : '',
                h('span', {
                  class: 'reason',
                  'data-testid': `${id}-paused-reason`,
                  text: paused.reason ? `“${paused.reason}”` : 'no reason given',
                }),
              ]
            : []),
        );
      });
    },
  };
}

/**
 * @param {string} id
 * @returns {Part}
 */
function nextPart(id) {
  const list = h('ol', { class: 'next-list', 'data-testid': `${id}-next` });
  const changed = onChange();
  return {
    el: h('div', { class: 'job-next' }, h('h4', { text: 'Next fires' }), list),
    update(job) {
      const zone = job.timezone;
      const fires = (job.nextFires ?? []).slice(0, NEXT_SHOWN);
      changed(fires.join(',') + zone, () =>
        list.replaceChildren(
          ...(fires.length
            ? fires.map((iso) =>
                h(
                  'li',
                  {},
                  timeEl(iso, { future: true, zone }),
                  h('span', { class: 'abs', text: absolute(iso, zone) }),
                ),
              )
            : [h('li', { class: 'muted', text: 'none (the schedule never fires again)' })]),
        ),
      );
    },
  };
}

/**
 * @param {string} id
 * @returns {Part}
 */
function lastRunPart(id) {
  const body = h('div', { class: 'last-body' });
  const el = h(
    'div',
    { class: 'job-last', 'data-testid': `${id}-lastrun` },
    h('h4', { text: 'Last run' }),
    body,
  );
  const changed = onChange();
  return {
    el,
    update(job) {
      const run = job.lastRun ?? null;
      changed(JSON.stringify(run), () => {
        el.dataset.status = run?.kind === 'run' ? run.status : 'none';
        el.dataset.fireId = run?.kind === 'run' ? run.fireId : '';
        body.replaceChildren(
          run?.kind === 'run'
            ? runSummary(run, job.timezone)
            : h('span', { class: 'muted', text: 'No runs yet' }),
        );
      });
    },
  };
}

/**
 * Pause / Resume / Run now.
 * @param {App} app
 * @param {string} name
 * @param {string} id
 */
function actionsPart(app, name, id) {
  const pauseBtn = h(
    'button',
    {
      type: 'button',
      class: 'warn',
      'data-testid': `${id}-pause`,
      onclick: () => app.actions.askPause(name),
    },
    'Pause',
    hiddenText(` ${name}`),
  );
  const resumeBtn = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      'data-testid': `${id}-resume`,
      hidden: true,
      onclick: () => void app.actions.resume(name),
    },
    'Resume',
    hiddenText(` ${name}`),
  );
  const triggerBtn = h(
    'button',
    {
      type: 'button',
      'data-testid': `${id}-trigger`,
      onclick: () => void app.actions.trigger(name),
    },
    'Run now',
    hiddenText(`: ${name}`),
  );
  return {
    pauseBtn,
    resumeBtn,
    triggerBtn,
    el: h('div', { class: 'job-actions' }, pauseBtn, resumeBtn, triggerBtn),
    /** @param {JobSummary} job */
    update(job) {
      pauseBtn.hidden = Boolean(job.paused);
      resumeBtn.hidden = !job.paused;
    },
  };
}

/**
 * The details that open on demand: timeline, charts, upcoming fires and recent runs, fetched
 * when opened (detail.js), and the backfill form (backfill.js), built once so that what is
 * typed in it and the progress it follows survive the refreshes of the rest.
 * @param {App} app
 * @param {string} name
 * @param {string} id
 * @param {HTMLElement} backfill
 */
function detailsPart(app, name, id, backfill) {
  const body = h('div', { class: 'runs-body' }, h('p', { class: 'muted', text: 'Loading…' }));
  const details = h(
    'details',
    { class: 'job-runs', 'data-testid': `${id}-runs` },
    h('summary', { text: 'Timeline, recent runs and backfill' }),
    body,
    backfill,
  );
  details.addEventListener('toggle', () => {
    if (details.open) void app.actions.loadDetail(name);
  });
  return { details, body };
}

/**
 * Builds a job's card; `update` patches it in place.
 * @param {App} app
 * @param {string} name
 * @returns {Card}
 */
export function createCard(app, name) {
  const id = `job-${name}`;
  const head = headPart(name);
  const paused = pausedPart(id);
  const next = nextPart(id);
  const last = lastRunPart(id);
  const actions = actionsPart(app, name, id);
  const backfill = backfillPart(app, name, id);
  const { details, body } = detailsPart(app, name, id, backfill.el);
  details.addEventListener('toggle', () => {
    if (details.open) backfill.refresh();
  });
  const audit = h('p', {
    class: 'job-audit muted',
    'data-testid': `${id}-audit`,
    'aria-live': 'off',
  });
  const el = h(
    'li',
    { class: 'job', 'data-testid': id, 'data-job': name },
    head.el,
    paused.el,
    next.el,
    last.el,
    audit,
    actions.el,
    details,
  );
  /** @type {Card} */
  const card = {
    el,
    name,
    details,
    detailBody: body,
    audit,
    pauseBtn: actions.pauseBtn,
    resumeBtn: actions.resumeBtn,
    triggerBtn: actions.triggerBtn,
    detailTimer: null,
    chart: null,
    auditAt: 0,
    visible: false,
    update(job) {
      el.dataset.paused = job.paused ? 'true' : 'false';
      head.badge.hidden = !job.paused;
      for (const part of [head, paused, next, last, actions, backfill]) part.update(job);
    },
  };
  app.actions.watch(card);
  return card;
}
