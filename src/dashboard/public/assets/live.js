// The live event stream (/api/v1/events): the feed, and what each event changes on the page.

/**
 * @import { BatonEvent, BatonEventType, HistoryEntry } from '../../../api/types.js'
 * @import { App } from './types.js'
 */

import { applyPaused } from './actions.js';
import { loadStatus, membersSignature, renderCluster, setMembers } from './cluster.js';
import { API, FEED_MAX } from './config.js';
import { detailChanged } from './detail.js';
import { h, setText } from './dom.js';
import { requestJobsRefresh, updateCard } from './jobs.js';
import { leadersChanged } from './leaders.js';
import { runWords } from './runs.js';
import { clock, scheduledOf, span, timeOfDay } from './time.js';

/**
 * @param {App} app
 * @param {string} kind
 * @param {string} text
 * @param {{ job?: string; fireId?: string; status?: string }} [data]
 */
function addFeed({ els }, kind, text, data = {}) {
  const item = h(
    'li',
    {
      class: `feed-item kind-${kind}`,
      'data-testid': 'feed-item',
      'data-event': kind,
      'data-job': data.job,
      'data-fire-id': data.fireId,
      'data-status': data.status,
    },
    h('time', { datetime: new Date().toISOString(), text: clock(new Date()) }),
    h('span', { class: `badge event-${kind}`, text: kind }),
    h('span', { class: 'feed-text', text }),
  );
  els.feed.prepend(item);
  while (els.feed.children.length > FEED_MAX) els.feed.lastElementChild?.remove();
  els.feedEmpty.hidden = true;
}

/**
 * A fire id in words: `heartbeat 10:43:16 UTC:` or `heartbeat manual run:`.
 * @param {App} app
 * @param {string} job
 * @param {string} fireId
 */
function fireLabel(app, job, fireId) {
  const at = scheduledOf(fireId);
  return at ? `${job} ${timeOfDay(at, app.state.jobs.get(job)?.timezone)}:` : `${job} manual run:`;
}

/**
 * @param {App} app
 * @param {string} name
 */
function flash(app, name) {
  const card = app.state.cards.get(name);
  if (!card) return;
  card.el.classList.remove('flash');
  void card.el.offsetWidth; // restart the animation
  card.el.classList.add('flash');
}

/**
 * A run event becomes the job's last run.
 * @param {App} app
 * @param {Extract<BatonEvent, { type: 'run' }>} e
 */
function applyRun(app, e) {
  const job = app.state.jobs.get(e.job);
  if (job) {
    const now = Date.now();
    const prev = job.lastRun?.kind === 'run' ? job.lastRun : null;
    const sameStart = prev !== null && prev.fireId === e.fireId && prev.attempt === e.attempt;
    const startedAt =
      sameStart && prev.startedAt
        ? prev.startedAt
        : new Date(typeof e.durationMs === 'number' ? now - e.durationMs : now).toISOString();
    app.state.liveAt.set(`${e.job}:lastRun`, now);
    const scheduledAt = scheduledOf(e.fireId);
    /** @type {HistoryEntry} */
    const run = {
      kind: 'run',
      job: e.job,
      token: prev?.token ?? '',
      start: prev?.start ?? 1,
      result: prev?.result ?? null,
      ...(sameStart ? prev : {}),
      fireId: e.fireId,
      scheduledAt: scheduledAt ?? startedAt,
      manual: scheduledAt === null,
      reason: e.reason ?? null,
      willRetry: Boolean(e.willRetry),
      status: /** @type {Extract<HistoryEntry, { kind: 'run' }>['status']} */ (e.status),
      attempt: e.attempt,
      durationMs: typeof e.durationMs === 'number' ? e.durationMs : null,
      error: e.error ?? null,
      worker: e.worker ?? '',
      startedAt,
      endedAt: e.status === 'running' ? null : new Date(now).toISOString(),
    };
    job.lastRun = run;
    updateCard(app, e.job);
  }
  detailChanged(app, e.job);
}

/**
 * What each event does.
 * @type {{ [K in BatonEventType | 'dropped']: (app: App, e: K extends BatonEventType ? Extract<BatonEvent, { type: K }> : { count: number }) => void }}
 */
const onEvent = {
  leader(app, e) {
    app.state.leader = e.leader ?? null;
    app.state.token = e.token ?? null;
    renderCluster(app);
    leadersChanged(app);
    addFeed(
      app,
      'leader',
      e.leader
        ? `${e.leader} leads (fencing token ${e.token})`
        : 'No leader: waiting for an election',
    );
  },
  members(app, e) {
    const members = e.members ?? [];
    const signature = membersSignature(members);
    setMembers(app, members);
    if (signature !== app.state.membersSignature) {
      app.state.membersSignature = signature;
      addFeed(
        app,
        'members',
        members.length
          ? `Replicas: ${members.map((m) => `${m.id} (${m.state})`).join(', ')}`
          : 'No live replicas',
      );
    }
  },
  fire(app, e) {
    const job = app.state.jobs.get(e.job);
    addFeed(
      app,
      'fire',
      e.manual
        ? `${e.job}: manual run enqueued`
        : `${e.job}: fired for ${timeOfDay(e.scheduledAt, job?.timezone)}`,
      { job: e.job, fireId: e.fireId },
    );
    if (e.manual) flash(app, e.job);
    requestJobsRefresh(app);
  },
  skip(app, e) {
    const what = e.count === 1 ? '1 fire' : `${e.count} fires`;
    addFeed(app, 'skip', `${e.job}: ${what} skipped (${e.reason})`, { job: e.job });
    requestJobsRefresh(app);
    detailChanged(app, e.job);
  },
  run(app, e) {
    applyRun(app, e);
    addFeed(app, 'run', `${fireLabel(app, e.job, e.fireId)} ${runWords(e)}`, {
      job: e.job,
      fireId: e.fireId,
      status: e.status,
    });
  },
  dropped(app, e) {
    // The server dropped events this page read too slowly: fetch the state instead.
    addFeed(app, 'dropped', `${e.count} events skipped (this page fell behind); state refreshed`);
    void loadStatus(app);
    requestJobsRefresh(app);
  },
  paused(app, e) {
    applyPaused(app, e.job, e.paused ?? null);
    addFeed(
      app,
      'paused',
      e.paused
        ? `${e.job} paused${e.paused.by ? ` by ${e.paused.by}` : ''}${e.paused.reason ? `: ${e.paused.reason}` : ''}`
        : `${e.job} resumed`,
      { job: e.job },
    );
  },
};

/**
 * @param {App} app
 * @param {string} stateName
 * @param {string} text
 */
function setConnection({ els }, stateName, text) {
  els.connection.dataset.state = stateName;
  setText(els.connectionText, text);
}

/**
 * The event stream. EventSource reconnects by itself after a network error; when the server
 * answered with an error it gives up (CLOSED), and this retries with backoff. Events missed
 * while disconnected are made up for by fetching the status and jobs again on reconnect.
 * @param {App} app
 */
export function connect(app) {
  const stream = app.state.stream;
  const source = new EventSource(`${API}/events`);
  stream.source = source;
  source.addEventListener('open', () => {
    stream.retryMs = 1_000;
    setConnection(app, 'live', 'Live');
    if (stream.connectedOnce) {
      void loadStatus(app);
      requestJobsRefresh(app);
      leadersChanged(app);
    }
    stream.connectedOnce = true;
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      setConnection(app, 'offline', `Offline, retrying in ${span(stream.retryMs)}`);
      setTimeout(() => connect(app), stream.retryMs);
      stream.retryMs = Math.min(stream.retryMs * 2, 30_000);
    } else {
      setConnection(app, 'reconnecting', 'Reconnecting…');
    }
  });
  for (const [name, handle] of Object.entries(onEvent)) {
    source.addEventListener(name, (event) => {
      let data;
      try {
        data = JSON.parse(/** @type {MessageEvent<string>} */ (event).data);
      } catch {
        return;
      }
      /** @type {(app: App, e: unknown) => void} */ (handle)(app, data);
    });
  }
}
