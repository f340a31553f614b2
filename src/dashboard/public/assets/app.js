// The baton dashboard: this replica's view of the cluster, the jobs and the live event stream.
// A plain ES module without a build step, served under a strict CSP (no inline code). Text from
// the API only ever reaches the page through textContent and attributes, never as HTML.

const API = '/api/v1';
const TOKEN_KEY = 'baton.apiToken';
const OPERATOR_KEY = 'baton.operator';
/** Events kept in the live feed. */
const FEED_MAX = 60;
/**
 * Jobs fetched and rendered at once: the first of those matching the filter, which the API
 * applies (baton scales to 100,000 jobs; the page never asks for all of them).
 */
const JOBS_SHOWN_MAX = 200;
/** Typing in the filter asks the API again after this pause. */
const FILTER_DEBOUNCE_MS = 250;
/** /api/v1/jobs is fetched at most this often (or 10× its own duration, if longer). */
const JOBS_REFRESH_MIN_MS = 3_000;
/** Full refresh while the event stream is live (a safety net) and while it is not. */
const SAFETY_REFRESH_MS = 30_000;
const OFFLINE_REFRESH_MS = 5_000;
/** A heartbeat older than this is shown as late. */
const HEARTBEAT_LATE_MS = 10_000;
/** Next fires listed per job. */
const NEXT_SHOWN = 3;
/** Recent runs listed when a job's run history is opened. */
const RUNS_SHOWN = 10;

// --- DOM helpers ------------------------------------------------------------------------------

const $ = (selector, root = document) => root.querySelector(selector);

/** Creates an element: `text`, `class`, `on<event>` handlers, other keys become attributes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** Sets text only when it changed: live regions announce every write. */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function badge(value, kind) {
  return h('span', { class: `badge ${kind}-${value}`, text: value });
}

// --- time -------------------------------------------------------------------------------------

/** A run's duration: `312 ms`, `4.2 s`, `3 min 5 s`. */
function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return span(ms);
}

/** A span in whole units: `42 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`. */
function span(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const m = Math.round(s / 60);
  if (m < 1440) return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
  const hours = Math.round(m / 60);
  return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${hours / 24} d`;
}

/** A heartbeat's age: `just now`, `3 s ago`. */
function since(ageMs) {
  return ageMs < 1000 ? 'just now' : `${span(ageMs)} ago`;
}

function relative(diffMs, future) {
  if (future && diffMs <= 0) return 'due';
  if (Math.abs(diffMs) < 1000) return 'now';
  return diffMs > 0 ? `in ${span(diffMs)}` : `${span(diffMs)} ago`;
}

const formatters = new Map();
/** An Intl.DateTimeFormat for `zone` (the browser's when absent or unknown), made once. */
function formatter(name, options, zone) {
  const key = `${name}:${zone ?? ''}`;
  let f = formatters.get(key);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(undefined, { ...options, timeZone: zone || undefined });
    } catch {
      f = new Intl.DateTimeFormat(undefined, options);
    }
    formatters.set(key, f);
  }
  return f;
}

const TIME = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' };
const DATE = { weekday: 'short', month: 'short', day: 'numeric' };

/**
 * An instant in the given zone (the job's), e.g. `Mon, Jun 9, 09:30 GMT+2`; seconds are shown
 * unless the instant is on a whole minute.
 */
function absolute(iso, zone) {
  const date = new Date(iso);
  return date.getTime() % 60_000 === 0
    ? formatter('minute', { ...DATE, ...TIME }, zone).format(date)
    : formatter('second', { ...DATE, ...TIME, second: '2-digit' }, zone).format(date);
}

/** `10:43:16` in the browser's zone (the feed). */
function clock(date) {
  return formatter('clock', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(date);
}

/** `10:43:16 UTC` in the given zone. */
function timeOfDay(iso, zone) {
  return formatter('time', { ...TIME, second: '2-digit' }, zone).format(new Date(iso));
}

/** The scheduled instant (ISO) of a scheduled fire id `<job>@<epochMs>`; null for a manual one. */
function scheduledOf(fireId) {
  const match = /@(\d+)$/.exec(fireId ?? '');
  return match ? new Date(Number(match[1])).toISOString() : null;
}

/** A fire id in words: `heartbeat 10:43:16 UTC:` or `heartbeat manual run:`. */
function fireLabel(job, fireId) {
  const at = scheduledOf(fireId);
  return at ? `${job} ${timeOfDay(at, state.jobs.get(job)?.timezone)}:` : `${job} manual run:`;
}

/** A `<time>` whose text the ticker keeps relative ("in 3 s", "5 min ago"). */
function timeEl(iso, { future = false, zone } = {}) {
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return h('span', { text: '—' });
  return h('time', {
    class: 'rel',
    datetime: iso,
    'data-at': at,
    'data-future': future ? '1' : null,
    title: `${absolute(iso, zone)} · your time ${absolute(iso)}`,
    text: relative(at - Date.now(), future),
  });
}

// --- token ------------------------------------------------------------------------------------

const memory = new Map();
function readSetting(key) {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return memory.get(key) ?? '';
  }
}
function writeSetting(key, value) {
  memory.set(key, value);
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch {
    // Storage disabled: the value lives until the page is closed.
  }
}
const readToken = () => readSetting(TOKEN_KEY);
const writeToken = (token) => writeSetting(TOKEN_KEY, token);

/** `#token=...` in the address: stored once, then removed from the address bar and history. */
function takeTokenFromFragment() {
  const match = /^#(?:.*&)?token=([^&]*)/.exec(location.hash);
  if (!match) return false;
  let token = '';
  try {
    token = decodeURIComponent(match[1]).trim();
  } catch {
    token = '';
  }
  history.replaceState(history.state, '', location.pathname + location.search);
  if (!token) return false;
  writeToken(token);
  return true;
}

// --- API --------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  const headers = { accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET') {
    const token = readToken();
    if (token) headers.authorization = `Bearer ${token}`;
    const operator = readSetting(OPERATOR_KEY);
    if (operator) headers['x-baton-operator'] = operator;
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `this replica cannot be reached (${err.message})`);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const error = data && typeof data.error === 'object' ? data.error : {};
    throw new ApiError(
      res.status,
      error.code ?? `HTTP_${res.status}`,
      error.message ?? (res.statusText || 'request failed'),
    );
  }
  return data;
}

/** What went wrong with a change, and what to do about it. */
function explain(err, action) {
  if (!(err instanceof ApiError)) return `Could not ${action}: ${err}`;
  switch (err.code) {
    case 'UNAUTHORIZED':
      return `Could not ${action}: an API token is needed (401 UNAUTHORIZED). Paste BATON_API_TOKEN in the token field.`;
    case 'FORBIDDEN':
      return `Could not ${action}: the saved API token was refused (403 FORBIDDEN). Paste the replicas' BATON_API_TOKEN in the token field.`;
    case 'MUTATIONS_DISABLED':
      return `Could not ${action}: changes are turned off on this replica (403 MUTATIONS_DISABLED) because it runs without BATON_API_TOKEN. Set it on the replicas, or use the baton CLI.`;
    case 'NETWORK':
      return `Could not ${action}: ${err.message}.`;
    default:
      return `Could not ${action}: ${err.message} (${err.status} ${err.code}).`;
  }
}

// --- state ------------------------------------------------------------------------------------

const state = {
  namespace: null,
  leader: null,
  token: null,
  /** Members, each with `seenAt`: the local instant of its last heartbeat. */
  members: [],
  membersSignature: null,
  self: null,
  /** name -> JobSummary */
  jobs: new Map(),
  /** name -> card (see createCard) */
  cards: new Map(),
  shownKey: '',
  filter: '',
  /** The filter of the last jobs response, and how many jobs matched it in all. */
  fetchedFilter: null,
  jobsTotal: 0,
  /** Earliest next fire of any job: once it passes, the jobs are fetched again. */
  earliestNext: Infinity,
};

const els = {
  namespace: $('[data-testid="namespace"]'),
  connection: $('[data-testid="connection"]'),
  self: $('[data-testid="self"]'),
  notice: $('[data-testid="notice"]'),
  leader: $('[data-testid="leader"]'),
  members: $('[data-testid="members"]'),
  clusterError: $('[data-testid="cluster-error"]'),
  jobs: $('[data-testid="jobs"]'),
  jobsCount: $('.jobs-count'),
  jobsError: $('[data-testid="jobs-error"]'),
  jobsMore: $('[data-testid="jobs-more"]'),
  filter: $('[data-testid="job-filter"]'),
  tokenForm: $('[data-testid="token-form"]'),
  tokenInput: $('[data-testid="token-input"]'),
  tokenState: $('[data-testid="token-state"]'),
  tokenForget: $('[data-testid="token-forget"]'),
  operator: $('[data-testid="operator-input"]'),
  feed: $('[data-testid="feed"]'),
  feedEmpty: $('.feed-empty'),
  dialog: $('[data-testid="pause-dialog"]'),
  pauseReason: $('[data-testid="pause-reason"]'),
};

// --- notices ----------------------------------------------------------------------------------

let noticeTimer;
const noticeText = $('.notice-text', els.notice);
const noticeClose = $('.notice-close', els.notice);
function notify(text, kind = 'error') {
  clearTimeout(noticeTimer);
  els.notice.dataset.kind = kind;
  setText(noticeText, text);
  noticeClose.hidden = false;
  if (kind === 'ok') noticeTimer = setTimeout(dismiss, 6_000);
}
function dismiss() {
  clearTimeout(noticeTimer);
  delete els.notice.dataset.kind;
  noticeClose.hidden = true;
  setText(noticeText, '');
}
noticeClose.addEventListener('click', dismiss);

// --- cluster ----------------------------------------------------------------------------------

/**
 * How far this browser's clock is ahead of the cluster's, learnt from /status (which gives each
 * heartbeat's age); `members` events only carry `updatedAt`, a cluster clock reading.
 */
let clockSkewMs = 0;

function heartbeatAge(member, now) {
  if (typeof member.heartbeatAgeMs === 'number') return Math.max(0, member.heartbeatAgeMs);
  const at = Date.parse(member.updatedAt);
  return Number.isFinite(at) ? Math.max(0, now - clockSkewMs - at) : 0;
}

function setMembers(list) {
  const now = Date.now();
  state.members = [...list]
    .map((m) => ({ ...m, seenAt: now - heartbeatAge(m, now) }))
    .sort((a, b) => a.id.localeCompare(b.id));
  renderCluster();
}

/** `a:leader,b:follower`: the feed reports a change of this, not every heartbeat. */
function membersSignature(members) {
  return members.map((m) => `${m.id}:${m.state}`).join(',');
}

const memberEls = new Map();

function renderCluster() {
  setText(els.namespace, state.namespace ? `namespace ${state.namespace}` : '');
  document.title = state.namespace ? `baton · ${state.namespace}` : 'baton';
  const leader = state.members.find((m) => m.id === state.leader);
  els.leader.dataset.state = state.leader ? 'elected' : 'none';
  setText($('.leader-id', els.leader), state.leader ?? 'none');
  setText(
    $('.leader-token', els.leader),
    state.leader
      ? state.token
        ? `fencing token ${state.token}`
        : ''
      : 'no replica leads: fires wait for an election',
  );

  const items = state.members.map((m) => {
    // Rebuilt only when something other than the heartbeat changed (keeps focus and selection).
    const record = { ...m };
    delete record.seenAt;
    delete record.heartbeatAgeMs;
    delete record.updatedAt;
    const signature = JSON.stringify([record, leader?.definitionsHash, state.self?.id]);
    let entry = memberEls.get(m.id);
    if (!entry || entry.signature !== signature) {
      entry = { el: memberItem(m, leader), signature };
      memberEls.set(m.id, entry);
    }
    const age = $('.age', entry.el);
    age.dataset.since = String(m.seenAt);
    setText(age, since(Date.now() - m.seenAt));
    return entry.el;
  });
  for (const id of memberEls.keys()) {
    if (!state.members.some((m) => m.id === id)) memberEls.delete(id);
  }
  const current = [...els.members.children];
  if (current.length !== items.length || current.some((el, i) => el !== items[i])) {
    els.members.replaceChildren(...items);
  }
  if (state.members.length === 0) {
    els.members.replaceChildren(h('li', { class: 'member empty', text: 'No live replicas.' }));
  }
  renderSelf();
}

function memberItem(m, leader) {
  const differs = leader && m.definitionsHash !== leader.definitionsHash;
  const isSelf = state.self?.id === m.id;
  return h(
    'li',
    { class: 'member', 'data-testid': `member-${m.id}`, 'data-state': m.state },
    h(
      'div',
      { class: 'member-head' },
      h('strong', { class: 'member-id', text: m.id }),
      badge(m.state, 'state'),
      isSelf ? h('span', { class: 'tag', text: 'this page' }) : null,
    ),
    h(
      'dl',
      { class: 'facts' },
      fact('Heartbeat', h('span', { class: 'age', 'data-testid': `member-${m.id}-age` })),
      fact('Host', `${m.host} · pid ${m.pid}`),
      fact('Version', m.version),
      fact(
        'Redis',
        h('span', {
          class: m.redisReady ? 'ok' : 'bad',
          text: m.redisReady ? 'reachable' : 'unreachable',
        }),
      ),
      fact(
        'Definitions',
        h('span', {
          class: differs ? 'bad' : '',
          title: m.definitionsHash,
          text: `${String(m.definitionsHash).slice(0, 8)}${differs ? ' (differs from the leader)' : ''}`,
        }),
      ),
    ),
  );
}

function fact(term, value) {
  return h('div', {}, h('dt', { text: term }), h('dd', {}, value));
}

function renderSelf() {
  if (!state.self) return;
  const member = state.members.find((m) => m.id === state.self.id);
  const selfState = member?.state ?? state.self.state;
  setText(
    els.self,
    `This page: ${state.self.id} (${selfState}${state.self.ready === false ? ', not ready' : ''})`,
  );
}

async function loadStatus() {
  try {
    const s = await request('GET', '/status');
    state.namespace = s.namespace;
    state.leader = s.leader ?? null;
    state.token = s.token ?? null;
    state.self = s.self ?? null;
    const sample = (s.members ?? []).find((m) => typeof m.heartbeatAgeMs === 'number');
    const updatedAt = Date.parse(sample?.updatedAt);
    if (Number.isFinite(updatedAt)) clockSkewMs = Date.now() - sample.heartbeatAgeMs - updatedAt;
    state.membersSignature = membersSignature(s.members ?? []);
    setMembers(s.members ?? []);
    els.clusterError.hidden = true;
  } catch (err) {
    els.clusterError.hidden = false;
    setText(els.clusterError, `Cluster status unavailable: ${err.message}`);
  }
}

// --- jobs -------------------------------------------------------------------------------------

let jobsTimer = null;
let jobsInFlight = false;
let jobsAgain = false;
let lastJobsFetch = 0;
let jobsFetchCost = 0;

/** Fetches /api/v1/jobs soon, at most every few seconds however many events ask for it. */
function requestJobsRefresh() {
  if (jobsTimer) return;
  const gap = Math.max(JOBS_REFRESH_MIN_MS, jobsFetchCost * 10);
  const wait = Math.max(0, lastJobsFetch + gap - Date.now());
  jobsTimer = setTimeout(() => {
    jobsTimer = null;
    void loadJobs();
  }, wait);
}

async function loadJobs() {
  if (jobsInFlight) {
    jobsAgain = true;
    return;
  }
  jobsInFlight = true;
  lastJobsFetch = Date.now();
  const started = performance.now();
  try {
    const filter = state.filter.trim();
    const query = `?limit=${JOBS_SHOWN_MAX}${filter ? `&q=${encodeURIComponent(filter)}` : ''}`;
    const data = await request('GET', `/jobs${query}`);
    state.fetchedFilter = filter;
    state.jobsTotal = data.total ?? data.jobs?.length ?? 0;
    setJobs(data.jobs ?? [], lastJobsFetch);
    els.jobsError.hidden = true;
  } catch (err) {
    els.jobsError.hidden = false;
    setText(els.jobsError, `Jobs unavailable: ${err.message}`);
  } finally {
    jobsFetchCost = performance.now() - started;
    jobsInFlight = false;
    if (jobsAgain) {
      jobsAgain = false;
      // A new filter is answered at once; other requests wait for the refresh gap.
      if (state.fetchedFilter !== state.filter.trim()) void loadJobs();
      else requestJobsRefresh();
    }
  }
}

/**
 * When an event (or this page's own change) last set a job's `paused` or `lastRun`: a jobs
 * response requested before that is older on that field and must not undo it.
 */
const liveAt = new Map();

function setJobs(list, requestedAt) {
  const names = new Set();
  let earliest = Infinity;
  for (const job of list) {
    names.add(job.name);
    const known = state.jobs.get(job.name);
    for (const field of ['paused', 'lastRun']) {
      if (known && (liveAt.get(`${job.name}:${field}`) ?? 0) > requestedAt)
        job[field] = known[field];
    }
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
  renderJobs();
}

function matches(job, filter) {
  if (!filter) return true;
  const text = [job.name, job.description, job.owner, job.handler, job.queue, ...(job.tags ?? [])]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
  return filter.split(/\s+/).every((word) => text.includes(word));
}

function renderJobs() {
  const filter = state.filter.trim().toLowerCase();
  const matching = [...state.jobs.values()]
    .filter((job) => matches(job, filter))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // the API's order
  const shown = matching.slice(0, JOBS_SHOWN_MAX);
  for (const job of shown) cardOf(job.name).update(job);
  const key = shown.map((job) => job.name).join('\n');
  if (key !== state.shownKey) {
    state.shownKey = key;
    els.jobs.replaceChildren(...shown.map((job) => cardOf(job.name).el));
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

function cardOf(name) {
  let card = state.cards.get(name);
  if (!card) {
    card = createCard(name);
    state.cards.set(name, card);
  }
  return card;
}

function updateCard(name) {
  const job = state.jobs.get(name);
  const card = state.cards.get(name);
  if (job && card) card.update(job);
}

/** One job's card. Built once; update() patches it in place so focus and open details stay. */
function createCard(name) {
  const id = `job-${name}`;
  const hidden = (text) => h('span', { class: 'visually-hidden', text });
  const refs = {
    pausedBadge: h('span', { class: 'badge paused', text: 'paused', hidden: true }),
    scheduleText: h('span', { class: 'schedule-text' }),
    scheduleExpr: h('code', { class: 'schedule-expr' }),
    zone: h('span', { class: 'zone' }),
    desc: h('p', { class: 'job-desc' }),
    meta: h('p', { class: 'job-meta' }),
    paused: h('div', { class: 'job-paused', 'data-testid': `${id}-paused`, hidden: true }),
    next: h('ol', { class: 'next-list', 'data-testid': `${id}-next` }),
    last: h('div', { class: 'last-body' }),
    runsBody: h('div', { class: 'runs-body' }, h('p', { class: 'muted', text: 'Loading…' })),
  };
  const lastBox = h(
    'div',
    { class: 'job-last', 'data-testid': `${id}-lastrun` },
    h('h4', { text: 'Last run' }),
    refs.last,
  );
  const pauseBtn = h(
    'button',
    {
      type: 'button',
      class: 'warn',
      'data-testid': `${id}-pause`,
      onclick: () => askPause(name),
    },
    'Pause',
    hidden(` ${name}`),
  );
  const resumeBtn = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      'data-testid': `${id}-resume`,
      hidden: true,
      onclick: () => void resumeJob(name),
    },
    'Resume',
    hidden(` ${name}`),
  );
  const triggerBtn = h(
    'button',
    {
      type: 'button',
      'data-testid': `${id}-trigger`,
      onclick: () => void triggerJob(name),
    },
    'Run now',
    hidden(`: ${name}`),
  );
  const runs = h(
    'details',
    { class: 'job-runs', 'data-testid': `${id}-runs` },
    h('summary', { text: 'Recent runs' }),
    refs.runsBody,
  );
  runs.addEventListener('toggle', () => {
    if (runs.open) void loadDetail(name);
  });
  const el = h(
    'li',
    { class: 'job', 'data-testid': id, 'data-job': name },
    h(
      'div',
      { class: 'job-main' },
      h('h3', { class: 'job-name' }, h('span', { text: name }), refs.pausedBadge),
      h('p', { class: 'job-schedule' }, refs.scheduleText, ' ', refs.scheduleExpr, ' ', refs.zone),
      refs.desc,
      refs.meta,
    ),
    refs.paused,
    h('div', { class: 'job-next' }, h('h4', { text: 'Next fires' }), refs.next),
    lastBox,
    h('div', { class: 'job-actions' }, pauseBtn, resumeBtn, triggerBtn),
    runs,
  );
  let nextKey = '';
  let lastKey = '';
  let pausedKey = '';
  let metaKey = '';
  const card = {
    el,
    name,
    runs,
    pauseBtn,
    resumeBtn,
    triggerBtn,
    detailTimer: null,
    update(job) {
      const zone = job.timezone;
      setText(refs.scheduleText, job.scheduleText || job.schedule);
      setText(refs.scheduleExpr, job.schedule);
      setText(refs.zone, zone);
      refs.desc.hidden = !job.description;
      setText(refs.desc, job.description ?? '');

      const meta = JSON.stringify([
        job.queue,
        job.handler,
        job.overlap,
        job.catchUp,
        job.owner,
        job.tags,
      ]);
      if (meta !== metaKey) {
        metaKey = meta;
        refs.meta.replaceChildren(
          `queue ${job.queue} · handler ${job.handler} · overlap ${job.overlap} · catch-up ${job.catchUp}`,
          job.owner ? ` · owner ${job.owner}` : '',
          ...(job.tags ?? []).map((tag) => h('span', { class: 'tag', text: tag })),
        );
      }

      const paused = job.paused ?? null;
      el.dataset.paused = paused ? 'true' : 'false';
      refs.pausedBadge.hidden = !paused;
      pauseBtn.hidden = Boolean(paused);
      resumeBtn.hidden = !paused;
      const pk = JSON.stringify(paused);
      if (pk !== pausedKey) {
        pausedKey = pk;
        refs.paused.hidden = !paused;
        refs.paused.replaceChildren(
          ...(paused
            ? [
                h('strong', { text: 'Paused' }),
                paused.by ? ` by ${paused.by}` : '',
                paused.at ? ' · ' : '',
                paused.at ? timeEl(paused.at, { zone }) : '',
                h('span', {
                  class: 'reason',
                  'data-testid': `${id}-paused-reason`,
                  text: paused.reason ? `“${paused.reason}”` : 'no reason given',
                }),
              ]
            : []),
        );
      }

      const fires = (job.nextFires ?? []).slice(0, NEXT_SHOWN);
      const nk = fires.join(',') + zone;
      if (nk !== nextKey) {
        nextKey = nk;
        refs.next.replaceChildren(
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
        );
      }

      const run = job.lastRun ?? null;
      const lk = JSON.stringify(run);
      if (lk !== lastKey) {
        lastKey = lk;
        lastBox.dataset.status = run?.status ?? 'none';
        lastBox.dataset.fireId = run?.fireId ?? '';
        refs.last.replaceChildren(
          ...(run ? runSummary(run, zone) : [h('span', { class: 'muted', text: 'No runs yet' })]),
        );
      }
    },
  };
  return card;
}

/** A run event in words: `completed in 312 ms on worker-1`, `failed (attempt 2, will retry): boom`. */
function runWords(e) {
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

function runSummary(run, zone) {
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
  return [h('div', { class: 'run-line' }, ...parts)];
}

// --- job details (recent runs) ----------------------------------------------------------------

async function loadDetail(name) {
  const card = state.cards.get(name);
  if (!card) return;
  const body = $('.runs-body', card.el);
  try {
    const detail = await request('GET', `/jobs/${encodeURIComponent(name)}`);
    const zone = detail.job?.timezone ?? state.jobs.get(name)?.timezone;
    const entries = detail.recentRuns ?? [];
    const runs = entries.filter((e) => e.kind !== 'skip').slice(0, RUNS_SHOWN);
    const skips = (detail.skips ?? entries.filter((e) => e.kind === 'skip')).slice(0, 5);
    const parts = [];
    parts.push(
      runs.length
        ? h(
            'ol',
            { class: 'runs', 'data-testid': `job-${name}-recent` },
            ...runs.map((r) =>
              h(
                'li',
                { 'data-fire-id': r.fireId, 'data-status': r.status },
                ...runSummary(r, zone),
              ),
            ),
          )
        : h('p', { class: 'muted', text: 'No runs recorded yet.' }),
    );
    if (skips.length) {
      parts.push(
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
      );
    }
    body.replaceChildren(...parts);
  } catch (err) {
    body.replaceChildren(
      h('p', { class: 'error', text: `Run history unavailable: ${err.message}` }),
    );
  }
}

/** Reloads an open run history after a run event, at most every 2 s per job. */
function detailChanged(name) {
  const card = state.cards.get(name);
  if (!card || !card.runs.open || card.detailTimer) return;
  card.detailTimer = setTimeout(() => {
    card.detailTimer = null;
    void loadDetail(name);
  }, 2_000);
}

// --- changes (pause, resume, trigger) ---------------------------------------------------------

function needToken(action) {
  if (readToken()) return false;
  notify(`To ${action}, paste the API token (BATON_API_TOKEN) in the token field first.`);
  els.tokenInput.focus();
  return true;
}

let pausing = null;
function askPause(name) {
  if (needToken(`pause ${name}`)) return;
  pausing = name;
  setText($('.pause-job', els.dialog), name);
  els.pauseReason.value = '';
  els.dialog.showModal();
  els.pauseReason.focus();
}

els.dialog.querySelector('form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = pausing;
  const reason = els.pauseReason.value.trim();
  els.dialog.close();
  if (name) void pauseJob(name, reason);
});
$('[data-testid="pause-cancel"]', els.dialog).addEventListener('click', () => els.dialog.close());
els.dialog.addEventListener('close', () => {
  pausing = null;
});

async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

function jobPath(name, action) {
  return `/jobs/${encodeURIComponent(name)}/${action}`;
}

async function pauseJob(name, reason) {
  const card = cardOf(name);
  await busy(card.pauseBtn, async () => {
    try {
      const res = await request('POST', jobPath(name, 'pause'), reason ? { reason } : {});
      applyPaused(name, res.paused);
      notify(`Paused ${name}: its fires are skipped until it is resumed.`, 'ok');
    } catch (err) {
      notify(explain(err, `pause ${name}`));
    }
  });
  (card.pauseBtn.hidden ? card.resumeBtn : card.pauseBtn).focus();
}

async function resumeJob(name) {
  if (needToken(`resume ${name}`)) return;
  const card = cardOf(name);
  await busy(card.resumeBtn, async () => {
    try {
      await request('POST', jobPath(name, 'resume'), {});
      applyPaused(name, null);
      notify(`Resumed ${name}: its next fire runs as scheduled.`, 'ok');
    } catch (err) {
      notify(explain(err, `resume ${name}`));
    }
  });
  (card.resumeBtn.hidden ? card.pauseBtn : card.resumeBtn).focus();
}

async function triggerJob(name) {
  if (needToken(`run ${name}`)) return;
  const card = cardOf(name);
  await busy(card.triggerBtn, async () => {
    try {
      const res = await request('POST', jobPath(name, 'trigger'), {});
      notify(
        `Requested a run of ${name} now${res?.fireId ? ` (${res.fireId})` : ''}: the leader enqueues it, a worker runs it.`,
        'ok',
      );
    } catch (err) {
      notify(explain(err, `run ${name}`));
    }
  });
}

function applyPaused(name, paused) {
  const job = state.jobs.get(name);
  if (!job) return;
  liveAt.set(`${name}:paused`, Date.now());
  job.paused = paused;
  updateCard(name);
}

// --- live events ------------------------------------------------------------------------------

function addFeed(kind, text, data = {}) {
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
  while (els.feed.children.length > FEED_MAX) els.feed.lastElementChild.remove();
  els.feedEmpty.hidden = true;
}

function flash(name) {
  const card = state.cards.get(name);
  if (!card) return;
  card.el.classList.remove('flash');
  void card.el.offsetWidth; // restart the animation
  card.el.classList.add('flash');
}

const onEvent = {
  leader(e) {
    state.leader = e.leader ?? null;
    state.token = e.token ?? null;
    renderCluster();
    addFeed(
      'leader',
      e.leader
        ? `${e.leader} leads (fencing token ${e.token})`
        : 'No leader: waiting for an election',
    );
  },
  members(e) {
    const members = e.members ?? [];
    const signature = membersSignature(members);
    setMembers(members);
    if (signature !== state.membersSignature) {
      state.membersSignature = signature;
      addFeed(
        'members',
        members.length
          ? `Replicas: ${members.map((m) => `${m.id} (${m.state})`).join(', ')}`
          : 'No live replicas',
      );
    }
  },
  fire(e) {
    const job = state.jobs.get(e.job);
    addFeed(
      'fire',
      e.manual
        ? `${e.job}: manual run enqueued`
        : `${e.job}: fired for ${timeOfDay(e.scheduledAt, job?.timezone)}`,
      { job: e.job, fireId: e.fireId },
    );
    if (e.manual) flash(e.job);
    requestJobsRefresh();
  },
  skip(e) {
    const what = e.count === 1 ? '1 fire' : `${e.count} fires`;
    addFeed('skip', `${e.job}: ${what} skipped (${e.reason})`, { job: e.job });
    requestJobsRefresh();
  },
  run(e) {
    applyRun(e);
    addFeed('run', `${fireLabel(e.job, e.fireId)} ${runWords(e)}`, {
      job: e.job,
      fireId: e.fireId,
      status: e.status,
    });
  },
  dropped(e) {
    // The server dropped events this page read too slowly: fetch the state instead.
    addFeed('dropped', `${e.count} events skipped (this page fell behind); state refreshed`);
    void loadStatus();
    requestJobsRefresh();
  },
  paused(e) {
    applyPaused(e.job, e.paused ?? null);
    addFeed(
      'paused',
      e.paused
        ? `${e.job} paused${e.paused.by ? ` by ${e.paused.by}` : ''}${e.paused.reason ? `: ${e.paused.reason}` : ''}`
        : `${e.job} resumed`,
      { job: e.job },
    );
  },
};

function applyRun(e) {
  const job = state.jobs.get(e.job);
  if (job) {
    const now = Date.now();
    const prev = job.lastRun;
    const sameStart = prev && prev.fireId === e.fireId && prev.attempt === e.attempt;
    const startedAt =
      sameStart && prev.startedAt
        ? prev.startedAt
        : new Date(typeof e.durationMs === 'number' ? now - e.durationMs : now).toISOString();
    liveAt.set(`${e.job}:lastRun`, now);
    job.lastRun = {
      ...(sameStart ? prev : {}),
      fireId: e.fireId,
      scheduledAt: scheduledOf(e.fireId),
      manual: scheduledOf(e.fireId) === null,
      reason: e.reason ?? null,
      willRetry: Boolean(e.willRetry),
      status: e.status,
      attempt: e.attempt,
      durationMs: typeof e.durationMs === 'number' ? e.durationMs : null,
      error: e.error ?? null,
      worker: e.worker ?? null,
      startedAt,
      endedAt: e.status === 'running' ? null : new Date(now).toISOString(),
    };
    updateCard(e.job);
  }
  detailChanged(e.job);
}

let source = null;
let connectedOnce = false;
let retryMs = 1_000;

function setConnection(stateName, text) {
  els.connection.dataset.state = stateName;
  setText($('.connection-text', els.connection), text);
}

/**
 * The event stream. EventSource reconnects by itself after a network error; when the server
 * answered with an error it gives up (CLOSED), and this retries with backoff. Events missed
 * while disconnected are made up for by fetching the status and jobs again on reconnect.
 */
function connect() {
  source = new EventSource(`${API}/events`);
  source.addEventListener('open', () => {
    retryMs = 1_000;
    setConnection('live', 'Live');
    if (connectedOnce) {
      void loadStatus();
      requestJobsRefresh();
    }
    connectedOnce = true;
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      setConnection('offline', `Offline, retrying in ${span(retryMs)}`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    } else {
      setConnection('reconnecting', 'Reconnecting…');
    }
  });
  for (const [name, handle] of Object.entries(onEvent)) {
    source.addEventListener(name, (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      handle(data);
    });
  }
}

// --- clock ------------------------------------------------------------------------------------

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time[data-at]')) {
    const diff = Number(el.dataset.at) - now;
    const future = el.dataset.future === '1';
    setText(el, relative(diff, future));
    // A next fire that has passed leaves the list until the jobs are fetched again.
    if (future && diff < -1000) el.closest('li')?.setAttribute('hidden', '');
  }
  for (const el of document.querySelectorAll('.age[data-since]')) {
    const age = now - Number(el.dataset.since);
    setText(el, since(age));
    el.closest('.member')?.toggleAttribute('data-late', age > HEARTBEAT_LATE_MS);
  }
  if (now > state.earliestNext + 500) requestJobsRefresh();
}

function safetyRefresh() {
  const live = els.connection.dataset.state === 'live';
  setTimeout(
    () => {
      void loadStatus();
      requestJobsRefresh();
      safetyRefresh();
    },
    live ? SAFETY_REFRESH_MS : OFFLINE_REFRESH_MS,
  );
}

// --- token form -------------------------------------------------------------------------------

function renderTokenState() {
  const saved = Boolean(readToken());
  els.tokenForm.dataset.saved = saved ? 'true' : 'false';
  els.tokenForget.hidden = !saved;
  els.tokenInput.placeholder = saved ? 'Token saved' : 'BATON_API_TOKEN';
  setText(
    els.tokenState,
    saved
      ? 'A token is saved in this browser: pause, resume and run now are enabled.'
      : 'No token saved: the dashboard is read-only.',
  );
}

els.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = els.tokenInput.value.trim();
  if (!token) {
    notify('Paste the API token in the field, then save.');
    return;
  }
  writeToken(token);
  els.tokenInput.value = '';
  renderTokenState();
  notify('Token saved in this browser.', 'ok');
});
els.tokenForget.addEventListener('click', () => {
  writeToken('');
  renderTokenState();
  els.tokenInput.focus();
  notify('Token removed from this browser.', 'ok');
});
window.addEventListener('hashchange', () => {
  if (takeTokenFromFragment()) {
    renderTokenState();
    notify('Token from the link saved in this browser.', 'ok');
  }
});
window.addEventListener('storage', (event) => {
  if (event.key === TOKEN_KEY) renderTokenState();
});

els.operator.value = readSetting(OPERATOR_KEY);
els.operator.addEventListener('change', () => {
  writeSetting(OPERATOR_KEY, els.operator.value.trim());
});

let filterTimer = null;
els.filter.addEventListener('input', () => {
  state.filter = els.filter.value;
  renderJobs(); // narrows what is loaded at once; the API's answer follows
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => void loadJobs(), FILTER_DEBOUNCE_MS);
});

// --- start ------------------------------------------------------------------------------------

const fromLink = takeTokenFromFragment();
renderTokenState();
if (fromLink) notify('Token from the link saved in this browser.', 'ok');
void loadStatus();
void loadJobs();
connect();
setInterval(tick, 1_000);
safetyRefresh();
