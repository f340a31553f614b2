/**
 * Alert events, pure: which events a run record or a stretch of instants raises, their ids, and
 * the bodies sent to webhooks (JSON and Slack). No I/O, no clock.
 */
import { ExponentialBackoff, noJitterGenerator } from 'cockatiel';
import type { AlertEvent, AlertFormat } from '../definitions/alerts.js';
import type { RunRecord, SkipEntry } from '../history/records.js';
import { redactText } from '../log.js';

/** What happened, as named in event ids and in the body's `event`. */
export type AlertKind = 'failure' | 'missed' | 'stale' | 'recovered';

/** The definition key (`alerts.onFailure`, ...) of each kind. */
export const EVENT_KEY: Record<AlertKind, AlertEvent> = {
  failure: 'onFailure',
  missed: 'onMissed',
  stale: 'onStale',
  recovered: 'onRecovered',
};

/**
 * The JSON body of a webhook (format `json`), also stored with each pending delivery. Documented
 * in docs/operations.md ("Alerts"); fields are only ever added.
 */
export interface AlertPayload {
  /** Deterministic: `<event>:<fireId>` (`missed:<job>@<firstInstantMs>`); also `Baton-Event-Id`. */
  id: string;
  event: AlertKind;
  job: string;
  /** The fire the event is about (for `missed`, the first missed instant's). */
  fireId: string;
  /** ISO instant of that fire (a manual run: when it was requested). */
  scheduledAt: string;
  /** `failed`, `stale`, `completed` (recovered) or `missed`. */
  status: string;
  /** Why: the run's reason (`timeout`, `stale-token`, ...) or, for `missed`, the leader's skip reason or `not-started`. */
  reason: string | null;
  /** Attempts the run made (failure, recovered); null when none started. */
  attempts: number | null;
  /** The error message of the last attempt (at most 1,000 characters), or null. */
  error: string | null;
  /** The worker of the run, or null. */
  worker: string | null;
  /** When it happened (ISO): the run's end, or for `missed` when the deadline passed. */
  occurredAt: string;
  /** For `missed`: the stretch of consecutive missed instants. */
  missed: { first: string; last: string; count: number } | null;
  /** For `recovered`: the failed fire it recovers from. */
  recoveredFrom: string | null;
  /** The leader replica that raised the event. */
  replica: string;
  /** Where to look (null when the leader serves no HTTP). */
  links: { dashboard: string | null; history: string | null };
}

/** The id of an event: `<kind>:<fireId>`. */
export function eventId(kind: AlertKind, fireId: string): string {
  return `${kind}:${fireId}`;
}

const MAX_ERROR = 1000;

function errorText(error: string | null): string | null {
  if (error === null) return null;
  const text = redactText(error);
  return text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR)}…` : text;
}

/** A run that ended for good in failure (no retry left). */
export function isFinalFailure(r: Pick<RunRecord, 'status' | 'willRetry'>): boolean {
  return r.status === 'failed' && !r.willRetry;
}

/** Who raises, and the HTTP base for links. */
export interface RaiseContext {
  replica: string;
  /** The leader's advertised HTTP base URL, or null. */
  http: string | null;
}

function links(ctx: RaiseContext, job: string): AlertPayload['links'] {
  if (ctx.http === null) return { dashboard: null, history: null };
  const base = ctx.http.replace(/\/+$/, '');
  return {
    dashboard: `${base}/`,
    history: `${base}/api/v1/jobs/${encodeURIComponent(job)}/history`,
  };
}

/**
 * The events one ended run raises: `failure` (failed with no retry left), `stale` (refused by the
 * workers' fence) and `recovered` (completed, and the job's previous ended run, `previous`,
 * was a final failure).
 */
export function runEvents(
  record: RunRecord,
  previous: RunRecord | null,
  ctx: RaiseContext,
): AlertPayload[] {
  const base = {
    job: record.job,
    fireId: record.fireId,
    scheduledAt: record.scheduledAt,
    status: record.status,
    reason: record.reason,
    attempts: record.attempt,
    error: errorText(record.error),
    worker: record.worker,
    occurredAt: record.endedAt ?? record.startedAt,
    missed: null,
    recoveredFrom: null,
    replica: ctx.replica,
    links: links(ctx, record.job),
  };
  if (isFinalFailure(record)) {
    return [{ id: eventId('failure', record.fireId), event: 'failure', ...base }];
  }
  if (record.status === 'stale') {
    return [{ id: eventId('stale', record.fireId), event: 'stale', ...base, attempts: null }];
  }
  if (record.status === 'completed' && previous !== null && isFinalFailure(previous)) {
    return [
      {
        id: eventId('recovered', record.fireId),
        event: 'recovered',
        ...base,
        error: null,
        recoveredFrom: previous.fireId,
      },
    ];
  }
  return [];
}

/** Leader skip reasons that mean "missed" (no leader decided it in time); others are deliberate. */
export const MISSED_SKIP_REASONS: ReadonlySet<string> = new Set([
  'catch-up-none',
  'catch-up-latest',
  'beyond-limit',
  'past-deadline',
]);
/** Run statuses of a start whose handler ran. */
const STARTED: ReadonlySet<string> = new Set(['running', 'completed', 'failed', 'aborted']);

/** One instant the dead-man check looks at: it should have started by `deadlineAt`. */
export interface CheckedInstant {
  at: number;
  deadlineAt: number;
}

/** A stretch of consecutive missed instants with one reason. */
export interface MissedRange {
  first: number;
  last: number;
  count: number;
  /** The leader's skip reason (`catch-up-latest`, ...), `stale`, or `not-started`. */
  reason: string;
  /** When the last deadline of the stretch passed (epoch ms). */
  deadlineAt: number;
}

/**
 * The dead-man check: which of `instants` (ascending, of job `job`) were missed, as stretches of
 * consecutive instants. An instant is missed unless a run of it started (running, completed,
 * failed, aborted) by its deadline, or it was skipped on purpose: by a worker (overlap,
 * superseded, duplicate) or by the leader for a reason other than the catch-up and deadline
 * rules (paused, an exclusion, ...). `runs` are the job's history records around the
 * instants, `skips` its leader skip records.
 */
export function missedRanges(
  job: string,
  instants: readonly CheckedInstant[],
  runs: readonly RunRecord[],
  skips: readonly Pick<SkipEntry, 'first' | 'last' | 'reason'>[],
): MissedRange[] {
  const byFire = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const list = byFire.get(r.fireId);
    if (list) list.push(r);
    else byFire.set(r.fireId, [r]);
  }
  const parsedSkips = skips.map((s) => ({
    first: Date.parse(s.first),
    last: Date.parse(s.last),
    reason: s.reason,
  }));
  const out: MissedRange[] = [];
  /** Index in `instants` of the last instant added to `out`. */
  let lastIndex = -2;
  instants.forEach(({ at, deadlineAt }, i) => {
    const records = byFire.get(`${job}@${at}`) ?? [];
    let reason: string | null = 'not-started';
    if (records.some((r) => STARTED.has(r.status) && Date.parse(r.startedAt) <= deadlineAt)) {
      reason = null;
    } else if (records.some((r) => r.status === 'skipped')) {
      reason = null;
    } else {
      const skip = parsedSkips.find((s) => s.first <= at && at <= s.last);
      if (skip !== undefined) reason = MISSED_SKIP_REASONS.has(skip.reason) ? skip.reason : null;
      else if (records.some((r) => r.status === 'stale')) reason = 'stale';
    }
    if (reason === null) return;
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.reason === reason && lastIndex === i - 1) {
      prev.last = at;
      prev.count++;
      prev.deadlineAt = deadlineAt;
    } else {
      out.push({ first: at, last: at, count: 1, reason, deadlineAt });
    }
    lastIndex = i;
  });
  return out;
}

/** The event of a missed stretch: id `missed:<job>@<first>`. */
export function missedEvent(job: string, range: MissedRange, ctx: RaiseContext): AlertPayload {
  const fireId = `${job}@${range.first}`;
  return {
    id: eventId('missed', fireId),
    event: 'missed',
    job,
    fireId,
    scheduledAt: new Date(range.first).toISOString(),
    status: 'missed',
    reason: range.reason,
    attempts: null,
    error: null,
    worker: null,
    occurredAt: new Date(range.deadlineAt).toISOString(),
    missed: {
      first: new Date(range.first).toISOString(),
      last: new Date(range.last).toISOString(),
      count: range.count,
    },
    recoveredFrom: null,
    replica: ctx.replica,
    links: links(ctx, job),
  };
}

/** Slack's mrkdwn needs `&`, `<` and `>` escaped. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One line of plain words saying what happened. */
export function summary(p: AlertPayload): string {
  switch (p.event) {
    case 'failure':
      return `job ${p.job} failed after ${p.attempts ?? 1} attempt(s): ${p.error ?? p.reason ?? 'no error message'}`;
    case 'stale':
      return `job ${p.job}: a run was refused by the fence (${p.reason ?? 'stale token'})`;
    case 'recovered':
      return `job ${p.job} recovered: it completed after the failure of ${p.recoveredFrom ?? 'its previous run'}`;
    case 'missed':
      return p.missed !== null && p.missed.count > 1
        ? `job ${p.job} missed ${p.missed.count} fires from ${p.missed.first} to ${p.missed.last} (${p.reason ?? 'not started'})`
        : `job ${p.job} missed its fire of ${p.scheduledAt} (${p.reason ?? 'not started'})`;
  }
}

const ICON: Record<AlertKind, string> = {
  failure: ':red_circle:',
  stale: ':warning:',
  missed: ':hourglass:',
  recovered: ':large_green_circle:',
};

/** The request body for a target's format: the payload itself, or Slack's `{ text }`. */
export function formatBody(p: AlertPayload, format: AlertFormat): string {
  if (format === 'json') return JSON.stringify(p);
  const lines = [
    `${ICON[p.event]} *baton* ${slackEscape(summary(p))}`,
    `fire \`${slackEscape(p.fireId)}\` scheduled ${p.scheduledAt} · leader ${slackEscape(p.replica)}${p.worker === null ? '' : ` · worker ${slackEscape(p.worker)}`}`,
  ];
  if (p.links.history !== null) lines.push(`<${p.links.history}|history>`);
  return JSON.stringify({ text: lines.join('\n') });
}

/** Delivery attempts of one event to one webhook before it is given up (`failed`). */
export const MAX_DELIVERY_ATTEMPTS = 10;

/**
 * The delay before attempt `attempt + 1` after `attempt` failed: exponential from 1 s, doubling,
 * at most 5 minutes (cockatiel's ExponentialBackoff without jitter), so the 10 attempts span about
 * 8.5 minutes (1 + 2 + 4 + ... + 256 s).
 */
export function retryDelayMs(attempt: number): number {
  let backoff = new ExponentialBackoff({
    initialDelay: 1000,
    maxDelay: 300_000,
    generator: noJitterGenerator,
  }).next();
  for (let i = 1; i < Math.max(1, attempt); i++) backoff = backoff.next(undefined);
  return backoff.duration;
}
