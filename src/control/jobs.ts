import cronstrue from 'cronstrue';
import { publicAlerts } from '../definitions/alerts.js';
import type { Redis } from 'ioredis';
import { Intents, type PauseRecord } from '../coordination/intents.js';
import type { JobDefinition } from '../definitions/types.js';
import { checkPipeline } from '../redis/connection.js';
import { UnknownJobError } from '../errors.js';
import {
  compileSchedule,
  describeSkip,
  formatInstant,
  gateOf,
  instantsAhead,
  nextGatedFires,
  type CompiledSchedule,
} from '../cron/index.js';
// Read-only models of the worker's Redis records (no worker code runs here).
import {
  readHistory,
  toSkipEntry,
  type HistoryEntry,
  type JobHistory,
  type RunRecord,
  type SkipEntry,
} from '../history/records.js';
import { redisKeysOf, type RedisKeys } from '../redis/keys.js';
import { etcdCall, redisCall, type ControlContext } from './context.js';

/** One job as operators see it: the definition's essentials, what comes next, what happened. */
export interface JobSummary {
  name: string;
  /** The cron expression or macro as written. */
  schedule: string;
  /** The schedule in words (English), e.g. "At 09:00 AM, Monday through Friday". */
  scheduleText: string;
  timezone: string;
  queue: string;
  handler: string;
  overlap: JobDefinition['overlap'];
  catchUp: JobDefinition['catchUp'];
  description: string | null;
  owner: string | null;
  tags: string[];
  /** The next fire instants (ISO 8601 with the zone's offset). */
  nextFires: string[];
  /** The operator's pause (who, why, when), or null. */
  paused: PauseRecord | null;
  /** The newest run record (any status, `running` included), or null. */
  lastRun: HistoryEntry | null;
}

/** One instant ahead: it fires, or it is skipped (`excluded: …`, `inactive: …`). */
export interface UpcomingInstant {
  at: string;
  skipped?: string;
}

/** One job in detail (GET /api/v1/jobs/:name). */
export interface JobDetail {
  job: JobSummary & { definition: JobDefinition };
  /** The next 10 instants that fire (excluded and out-of-window ones left out). */
  nextFires: string[];
  /** The next 10 instants of the schedule, skipped ones included with their reason. */
  upcoming: UpcomingInstant[];
  /** The newest run records, newest first (kind `run`). */
  recentRuns: HistoryEntry[];
  /** The newest skip records of the leader (and overlap skips), newest first. */
  skips: SkipEntry[];
  /** Run outcome counters of the job. */
  counts: Record<string, number>;
  /** Skipped fires by reason, `total` included. */
  skipCounts: Record<string, number>;
}

const compiled = new Map<string, CompiledSchedule>();

/**
 * How far ahead the API looks through a job's exclusions for its next instants: a year (each
 * year of a holiday calendar costs ~15 ms of this replica's event loop, which also fires jobs).
 */
export const API_AHEAD_MS = 366 * 86_400_000;

function schedule(def: Pick<JobDefinition, 'schedule' | 'timezone'>): CompiledSchedule {
  const key = `${def.timezone}\u0000${def.schedule}`;
  let s = compiled.get(key);
  if (!s) {
    if (compiled.size > 10_000) compiled.clear();
    s = compileSchedule(def.schedule, def.timezone);
    compiled.set(key, s);
  }
  return s;
}

const texts = new Map<string, string>();

/** A cron expression in words ("At 09:00 AM, Monday through Friday"); the expression if not. */
export function scheduleText(expression: string): string {
  let text = texts.get(expression);
  if (text === undefined) {
    try {
      text = cronstrue.toString(expression, { throwExceptionOnParseError: true, verbose: false });
    } catch {
      text = expression;
    }
    if (texts.size > 10_000) texts.clear();
    texts.set(expression, text);
  }
  return text;
}

/**
 * The next `count` fires of a job strictly after `now`, ISO 8601 with the zone's offset;
 * excluded and out-of-window instants are left out (they do not fire).
 */
export function upcomingFires(def: JobDefinition, now: number, count: number): string[] {
  return nextGatedFires(schedule(def), gateOf(def), now, count, API_AHEAD_MS).map((ms) =>
    formatInstant(ms, def.timezone),
  );
}

/** The next `count` instants of a job's schedule after `now`, skipped ones with their reason. */
export function upcomingInstants(
  def: JobDefinition,
  now: number,
  count: number,
): UpcomingInstant[] {
  const out: UpcomingInstant[] = [];
  if (count <= 0) return out;
  for (const e of instantsAhead(schedule(def), gateOf(def), now, false, API_AHEAD_MS)) {
    const at = formatInstant(e.at, def.timezone);
    out.push(e.skip === null ? { at } : { at, skipped: describeSkip(e.skip) });
    if (out.length >= count) break;
  }
  return out;
}

export function summarize(
  def: JobDefinition,
  paused: PauseRecord | null,
  lastRun: HistoryEntry | null,
  now: number,
  fires = 3,
): JobSummary {
  return {
    name: def.name,
    schedule: def.schedule,
    scheduleText: scheduleText(def.schedule),
    timezone: def.timezone,
    queue: def.queue,
    handler: def.handler,
    overlap: def.overlap,
    catchUp: def.catchUp,
    description: def.description,
    owner: def.owner,
    tags: [...def.tags],
    nextFires: upcomingFires(def, now, fires),
    paused,
    lastRun,
  };
}

/** Every pause record of the namespace (one range read). */
export async function readPausedJobs(ctx: ControlContext): Promise<Map<string, PauseRecord>> {
  return etcdCall(ctx, 'read the paused jobs', async () => {
    const { paused } = await new Intents(ctx.etcd, ctx.keys).readPaused();
    return paused;
  });
}

/** The pause record of one job, or null. */
export async function readPause(ctx: ControlContext, job: string): Promise<PauseRecord | null> {
  const text = await etcdCall(ctx, 'read the pause of the job', () =>
    ctx.etcd.get(ctx.keys.paused(job)).string(),
  );
  if (text === null) return null;
  try {
    return JSON.parse(text) as PauseRecord;
  } catch {
    return null;
  }
}

function runEntry(json: string | null): HistoryEntry | null {
  if (json === null) return null;
  try {
    return { kind: 'run', ...(JSON.parse(json) as RunRecord) };
  } catch {
    return null;
  }
}

/** The newest run record of each job (two pipelined round trips however many jobs). */
export async function readLastRuns(
  redis: Redis,
  keys: RedisKeys,
  jobs: readonly string[],
): Promise<Map<string, HistoryEntry>> {
  const out = new Map<string, HistoryEntry>();
  if (jobs.length === 0) return out;
  const newest = redis.pipeline();
  for (const job of jobs) newest.zrevrange(keys.run(job).history, 0, 0);
  const ids = checkPipeline(await newest.exec()) as string[][];
  const wanted: { job: string; id: string }[] = [];
  jobs.forEach((job, i) => {
    const id = ids[i]?.[0];
    if (id !== undefined) wanted.push({ job, id });
  });
  if (wanted.length === 0) return out;
  const records = redis.pipeline();
  for (const w of wanted) records.hget(keys.run(w.job).records, w.id);
  const values = checkPipeline(await records.exec()) as (string | null)[];
  wanted.forEach((w, i) => {
    const entry = runEntry(values[i] ?? null);
    if (entry) out.set(w.job, entry);
  });
  return out;
}

/**
 * Every job of `definitions` (this process's loaded set) with its pause record from etcd and
 * its newest run from Redis.
 */
export async function listJobs(
  ctx: ControlContext,
  redis: Redis,
  definitions: readonly JobDefinition[],
  now = Date.now(),
): Promise<JobSummary[]> {
  return (await listJobsPage(ctx, redis, definitions, {}, now)).jobs;
}

/** Which jobs {@link listJobsPage} returns. */
export interface JobsPageQuery {
  /**
   * Words (any case), each found in the name, description, owner, handler, queue or a tag of the
   * job; the dashboard's filter.
   */
  q?: string;
  /** Only jobs whose name sorts after this (the `next` of the previous page). */
  after?: string;
  /** At most this many jobs; every match when absent. */
  limit?: number;
}

/** One page of {@link listJobsPage}: `next` is the cursor of the following page, or null. */
export interface JobsPage {
  jobs: JobSummary[];
  /** How many jobs match `q` (all pages together). */
  total: number;
  next: string | null;
}

/**
 * The jobs matching `q`, sorted by name, from just after `after`, at most `limit` of them, with
 * their pause and last run. Only the page's jobs are summarised and looked up in Redis, so a
 * page costs the same with 100 or 100,000 definitions.
 */
export async function listJobsPage(
  ctx: ControlContext,
  redis: Redis,
  definitions: readonly JobDefinition[],
  query: JobsPageQuery,
  now = Date.now(),
): Promise<JobsPage> {
  const words = (query.q ?? '').toLowerCase().split(/\s+/).filter(Boolean);
  const matches = (d: JobDefinition) => {
    if (words.length === 0) return true;
    const text = [d.name, d.description, d.owner, d.handler, d.queue, ...d.tags]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    return words.every((w) => text.includes(w));
  };
  const sorted = definitions.filter(matches).sort((a, b) => compareNames(a.name, b.name));
  let start = 0;
  if (query.after !== undefined) {
    const after = query.after;
    start = sorted.findIndex((d) => compareNames(d.name, after) > 0);
    if (start < 0) start = sorted.length;
  }
  const end =
    query.limit === undefined ? sorted.length : Math.min(sorted.length, start + query.limit);
  const page = sorted.slice(start, end);
  const names = page.map((d) => d.name);
  const [paused, lastRuns] = await Promise.all([
    readPausedJobs(ctx),
    redisCall(ctx.config, 'read the last runs', () =>
      readLastRuns(redis, redisKeysOf(ctx.config), names),
    ),
  ]);
  return {
    jobs: page.map((d) =>
      summarize(d, paused.get(d.name) ?? null, lastRuns.get(d.name) ?? null, now),
    ),
    total: sorted.length,
    next: end < sorted.length && page.length > 0 ? page[page.length - 1]!.name : null,
  };
}

/** The order of job names everywhere (code points, so a cursor compares the same way). */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One job in detail: definition, next 10 fires, pause, the newest 20 runs and 20 skips. */
export async function getJob(
  ctx: ControlContext,
  redis: Redis,
  definitions: readonly JobDefinition[],
  name: string,
  now = Date.now(),
): Promise<JobDetail> {
  const def = definitions.find((d) => d.name === name);
  if (!def) throw new UnknownJobError(name);
  const keys = redisKeysOf(ctx.config);
  const [paused, history] = await Promise.all([
    readPause(ctx, name),
    redisCall(ctx.config, 'read the history', async () => {
      const k = keys.run(name);
      const s = keys.skips(name);
      const [ids, skipJson, counts, skipCounts] = checkPipeline(
        await redis
          .pipeline()
          .zrevrange(k.history, 0, 19)
          .zrevrange(s.list, 0, 19)
          .hgetall(k.counts)
          .hgetall(s.counts)
          .exec(),
      ) as [string[], string[], Record<string, string>, Record<string, string>];
      const values = ids.length > 0 ? await redis.hmget(k.records, ...ids) : [];
      return {
        runs: values.map(runEntry).filter((e): e is HistoryEntry => e !== null),
        skips: skipJson
          .map(toSkipEntry)
          .filter((e): e is SkipEntry => e !== null)
          .sort((a, b) => Date.parse(b.decidedAt) - Date.parse(a.decidedAt)),
        counts: numbers(counts),
        skipCounts: numbers(skipCounts),
      };
    }),
  ]);
  const summary = summarize(def, paused, history.runs[0] ?? null, now);
  return {
    // Webhook URLs and header values may be secrets: the API shows them redacted.
    job: { ...summary, definition: { ...def, alerts: publicAlerts(def.alerts) } },
    nextFires: upcomingFires(def, now, 10),
    upcoming: upcomingInstants(def, now, 10),
    recentRuns: history.runs,
    skips: history.skips,
    counts: history.counts,
    skipCounts: history.skipCounts,
  };
}

/** A job's history (runs and skips merged, newest first), as `baton history --json` prints it. */
export async function jobHistory(
  ctx: ControlContext,
  redis: Redis,
  job: string,
  limit: number,
): Promise<JobHistory> {
  return redisCall(ctx.config, 'read the history', () =>
    readHistory(redis, redisKeysOf(ctx.config), job, { limit }),
  );
}

function numbers(hash: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(hash)) out[k] = Number(v);
  return out;
}
