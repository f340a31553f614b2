// The backfill form of a job's details: a range in this browser's time zone, the overlap policy
// and the rate; "Preview" asks the API for the plan (a dry run), "Start backfill" asks the
// leader to run it, then follows the request's progress until it is done, failed or cancelled.
// Below the form, the job's backfill requests with their state, and a Cancel button on each
// pending or running one.

/**
 * @import { BackfillOverlap, BackfillPlan, BackfillRecord, BackfillRequest, JobSummary }
 *   from '../../../api/types.js'
 * @import { App } from './types.js'
 */

import { api, explain } from './api.js';
import { BACKFILL_POLL_MS } from './config.js';
import { fact, h, setText } from './dom.js';
import { readToken } from './settings.js';
import { absolute } from './time.js';

/** This browser's time zone, as the labels name it. */
function browserZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const offset = `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return zone ? `${zone}, ${offset}` : offset;
}

/**
 * A `datetime-local` value (this browser's wall time) as an ISO instant, or null when empty or
 * not a time.
 * @param {string} value
 */
function instantOf(value) {
  if (!value) return null;
  const date = new Date(value); // a date-time without offset is local time
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * Enables the buttons that need the API token when one is saved (token-form.js calls this too).
 * @param {ParentNode} [root]
 */
export function renderTokenNeeded(root = document) {
  const saved = Boolean(readToken());
  for (const el of root.querySelectorAll('button[data-needs-token]')) {
    if (el instanceof HTMLButtonElement && el.getAttribute('aria-busy') !== 'true') {
      el.disabled = !saved;
    }
  }
}

/**
 * @param {BackfillRecord} record
 */
function progressText(record) {
  const { skipped } = record;
  const decided = record.enqueued + skipped.alreadyRan + skipped.overlap + skipped.notDue;
  const parts = [
    `${record.state}`,
    record.total === null ? 'waiting for the leader' : `${decided} of ${record.total} decided`,
    `${record.enqueued} enqueued`,
  ];
  if (skipped.alreadyRan) parts.push(`${skipped.alreadyRan} already ran`);
  if (skipped.overlap) parts.push(`${skipped.overlap} skipped (overlap)`);
  if (skipped.notDue) parts.push(`${skipped.notDue} not due`);
  if (record.state === 'cancelled' && record.cancel) {
    parts.push(`cancelled by ${record.cancel.by} at ${record.cancel.at}`);
  }
  return { decided, text: parts.join(' · ') };
}

/** Requests the leader may still decide instants of. @param {BackfillRecord} record */
const active = (record) => record.state === 'pending' || record.state === 'running';

/** Backfills listed per job, newest first. */
const LIST_MAX = 10;

/**
 * The backfill form of one job's details; `update` follows the job (its default overlap).
 * @param {App} app
 * @param {string} name
 * @param {string} id the card's test id prefix (`job-<name>`)
 */
export function backfillPart(app, name, id) {
  const t = (/** @type {string} */ part) => `${id}-backfill-${part}`;
  const zoneText = browserZone();
  const from = h('input', {
    type: 'datetime-local',
    step: 1,
    required: true,
    name: 'from',
    'data-testid': t('from'),
  });
  const to = h('input', {
    type: 'datetime-local',
    step: 1,
    required: true,
    name: 'to',
    'data-testid': t('to'),
  });
  const defaultOption = h('option', { value: '', text: 'job default' });
  const overlap = h(
    'select',
    { name: 'overlap', 'data-testid': t('overlap') },
    defaultOption,
    ...['allow', 'forbid', 'buffer'].map((o) => h('option', { value: o, text: o })),
  );
  const rate = h('input', {
    type: 'number',
    name: 'rate',
    min: 1,
    max: 1000,
    step: 1,
    inputmode: 'numeric',
    placeholder: '10',
    'data-testid': t('rate'),
  });
  const previewBtn = h('button', {
    type: 'button',
    'data-needs-token': true,
    'data-testid': t('preview'),
    text: 'Preview',
  });
  const startBtn = h('button', {
    type: 'submit',
    class: 'primary',
    'data-needs-token': true,
    'data-testid': t('start'),
    text: 'Start backfill',
  });
  const error = h('p', { class: 'backfill-error', role: 'alert', 'data-testid': t('error') });
  const plan = h('div', { class: 'backfill-plan', 'data-testid': t('plan'), hidden: true });
  const bar = h('progress', { max: 1, value: 0 });
  const progressLine = h('span', { class: 'backfill-progress-text' });
  const progress = h(
    'div',
    {
      class: 'backfill-progress',
      'data-testid': t('progress'),
      'aria-live': 'polite',
      hidden: true,
    },
    bar,
    progressLine,
  );
  const list = h('ul', { class: 'backfill-list', 'data-testid': t('list'), 'aria-live': 'polite' });
  const field = (/** @type {string} */ label, /** @type {HTMLElement} */ input) =>
    h('label', { class: 'backfill-field' }, h('span', { text: label }), input);
  const form = h(
    'form',
    { class: 'backfill-form', 'data-testid': t('form'), novalidate: true },
    h('h5', { text: 'Backfill: run the instants of a past range now' }),
    h('p', {
      class: 'hint muted',
      text: `From and To are in this browser's time zone (${zoneText}), both included. Preview and Start need the API token.`,
    }),
    h(
      'div',
      { class: 'backfill-fields' },
      field('From', from),
      field('To', to),
      field('Overlap', overlap),
      field('Rate (runs/s)', rate),
    ),
    h('div', { class: 'backfill-buttons' }, previewBtn, startBtn),
    error,
    plan,
    progress,
    h('h5', { text: 'Backfills of this job' }),
    list,
  );

  /**
   * The body from the inputs, or null (with the reason shown) when they are incomplete.
   * @returns {Omit<BackfillRequest, 'dryRun'> | null}
   */
  function body() {
    const f = instantOf(from.value);
    const e = instantOf(to.value);
    if (!f || !e) {
      setText(error, 'Give both From and To (date and time).');
      (f ? to : from).focus();
      return null;
    }
    /** @type {Omit<BackfillRequest, 'dryRun'>} */
    const out = { from: f, to: e };
    if (overlap.value) out.overlap = /** @type {BackfillOverlap} */ (overlap.value);
    if (rate.value.trim()) {
      const n = Number(rate.value);
      if (!Number.isInteger(n) || n < 1 || n > 1000) {
        setText(error, 'Rate: a whole number of runs per second from 1 to 1000.');
        rate.focus();
        return null;
      }
      out.rate = n;
    }
    return out;
  }

  /**
   * @param {HTMLButtonElement} button
   * @param {() => Promise<void>} work
   */
  async function busy(button, work) {
    setText(error, '');
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await work();
    } finally {
      button.removeAttribute('aria-busy');
      renderTokenNeeded(form);
    }
  }

  /** @param {BackfillPlan} p */
  function showPlan(p) {
    const zone = app.state.jobs.get(name)?.timezone;
    const first = p.instants[0];
    const last = p.instants.at(-1);
    plan.hidden = false;
    plan.dataset.count = String(p.count);
    plan.replaceChildren(
      h(
        'dl',
        { class: 'facts' },
        fact('Instants', h('span', { 'data-testid': t('plan-count'), text: String(p.count) })),
        fact('To run', String(p.run)),
        fact('Already ran', String(p.alreadyRan)),
        fact('Not due', String(p.notDue)),
        fact('First', first ? absolute(first.at, zone) : '–'),
        fact('Last', last ? absolute(last.at, zone) : '–'),
        fact('Applied', `overlap ${p.overlap} · ${p.rate} runs/s`),
      ),
    );
  }

  /** @param {BackfillRecord} record */
  function showProgress(record) {
    const { decided, text } = progressText(record);
    progress.hidden = false;
    progress.dataset.state = record.state;
    progress.dataset.id = record.id;
    bar.max = Math.max(record.total ?? 1, 1);
    bar.value = record.total === null ? 0 : decided;
    setText(progressLine, record.error ? `${text} · ${record.error}` : text);
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let listTimer;

  /**
   * One listed request: its state and progress, and Cancel while the leader may still decide it.
   * @param {BackfillRecord} record
   */
  function listItem(record) {
    const item = h(
      'li',
      { class: 'backfill-item', 'data-testid': t(`item-${record.id}`), 'data-state': record.state },
      h('span', {
        text: `${record.id} · ${absolute(record.from, app.state.jobs.get(name)?.timezone)} – ${absolute(record.to, app.state.jobs.get(name)?.timezone)} · ${progressText(record).text}${record.error ? ` · ${record.error}` : ''}`,
      }),
    );
    if (active(record)) {
      const cancelBtn = h('button', {
        type: 'button',
        'data-needs-token': true,
        'data-testid': t(`cancel-${record.id}`),
        text: 'Cancel',
        'aria-label': `Cancel backfill ${record.id}`,
      });
      cancelBtn.addEventListener('click', () => {
        void busy(cancelBtn, async () => {
          try {
            const done = await api.cancelBackfill(record.id);
            const decided = done.cancel?.decided ?? progressText(done).decided;
            app.notify(
              `Backfill ${record.id} of ${name} cancelled: ${decided} of ${done.total ?? '?'} instants were decided before; their runs still run.`,
              'ok',
            );
            if (progress.dataset.id === record.id) showProgress(done);
          } catch (err) {
            setText(error, explain(err, `cancel backfill ${record.id}`));
          }
          await loadList();
        });
      });
      item.append(cancelBtn);
    }
    return item;
  }

  /** Counts listings started: only the newest one renders (an older answer may be stale). */
  let listGeneration = 0;

  /** Lists the job's requests; again every few seconds while one is active and the details open. */
  async function loadList() {
    clearTimeout(listTimer);
    const generation = ++listGeneration;
    try {
      const { backfills } = await api.backfills();
      // A listing asked before a cancel can answer after the one asked after it: keep the newer.
      if (generation !== listGeneration) return;
      const mine = backfills
        .filter((b) => b.job === name)
        .reverse()
        .slice(0, LIST_MAX);
      list.replaceChildren(
        ...(mine.length === 0
          ? [h('li', { class: 'muted', text: 'None yet.' })]
          : mine.map(listItem)),
      );
      renderTokenNeeded(list);
      const open = form.closest('details')?.open ?? false;
      if (open && mine.some(active)) {
        listTimer = setTimeout(() => void loadList(), 2 * BACKFILL_POLL_MS);
      }
    } catch (err) {
      setText(error, explain(err, 'list the backfills'));
    }
  }

  /** Asks for the request's record until it is done, failed or cancelled. @param {string} backfillId */
  function follow(backfillId) {
    const polls = app.state.backfillPolls;
    clearTimeout(polls.get(name));
    const poll = async () => {
      try {
        const record = await api.backfillRecord(backfillId);
        showProgress(record);
        if (!active(record)) {
          polls.delete(name);
          return;
        }
      } catch (err) {
        setText(error, explain(err, `follow backfill ${backfillId}`));
      }
      polls.set(
        name,
        setTimeout(() => void poll(), BACKFILL_POLL_MS),
      );
    };
    polls.set(
      name,
      setTimeout(() => void poll(), BACKFILL_POLL_MS),
    );
  }

  previewBtn.addEventListener('click', () => {
    const b = body();
    if (!b) return;
    void busy(previewBtn, async () => {
      try {
        showPlan(await api.backfillPlan(name, b));
      } catch (err) {
        plan.hidden = true;
        setText(error, explain(err, `preview the backfill of ${name}`));
      }
    });
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const b = body();
    if (!b) return;
    void busy(startBtn, async () => {
      try {
        const record = await api.backfill(name, b);
        showProgress(record);
        app.notify(`Backfill ${record.id} of ${name} requested: the leader runs it.`, 'ok');
        follow(record.id);
        void loadList();
      } catch (err) {
        setText(error, explain(err, `start the backfill of ${name}`));
      }
    });
  });
  renderTokenNeeded(form);

  return {
    el: form,
    /** Lists the job's backfills (the details were opened). */
    refresh: () => void loadList(),
    /** @param {JobSummary} job */
    update(job) {
      setText(defaultOption, `job default (${job.overlap === 'allow' ? 'allow' : 'buffer'})`);
    },
  };
}
