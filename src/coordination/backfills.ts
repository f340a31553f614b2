import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { CompiledSchedule } from '../cron/index.js';
import { parseDuration } from '../definitions/duration.js';
import type { OverlapPolicy } from '../definitions/types.js';
import { UsageError } from '../errors.js';
import { excerpt } from '../text.js';
import type { Keys } from './keys.js';
import { scanPrefix } from './scan.js';

/**
 * Backfill requests (`<ns>/backfills/<id>`): an operator asks for the instants of a job's
 * schedule in a past range to run now. The CLI or API writes the request; the leader decides its
 * instants as fenced orders and keeps its progress in the same record, in the same fenced txns
 * (src/scheduler/backfill.ts). This file holds the record, the limits and the pure planning both
 * sides share.
 */

/**
 * How backfill runs may overlap other runs of the job:
 * - `allow`: enqueued at the rate, whatever runs;
 * - `forbid`: an instant is skipped (counted, not run) when, at the moment it is due to be
 *   enqueued, the previous run of the backfill has not finished or a run holds the job's overlap
 *   lock;
 * - `buffer`: one at a time: the next instant is enqueued only once the previous run of the
 *   backfill has finished and no run holds the job's overlap lock.
 */
export type BackfillOverlap = 'allow' | 'forbid' | 'buffer';
export const BACKFILL_OVERLAPS: readonly BackfillOverlap[] = ['allow', 'forbid', 'buffer'];

export type BackfillState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

/** States after which the leader decides nothing more for a request. */
export const FINISHED_BACKFILL_STATES: readonly BackfillState[] = ['done', 'failed', 'cancelled'];

/** An operator's cancel of a request, recorded in the record by the cancel's own txn. */
export interface BackfillCancel {
  /** Who cancelled (the rule of `by`) and when (ISO). */
  by: string;
  at: string;
  /**
   * Instants decided (enqueued or skipped) before the cancel: `enqueued + skipped.*` as the
   * cancel found them. No slice is committed after the cancel, so these are final; the
   * `enqueued` ones are committed runs and run.
   */
  decided: number;
}

/** A backfill request and its progress, as stored in etcd. */
export interface BackfillRecord {
  id: string;
  job: string;
  /** The range, both ends included (ISO 8601, UTC). */
  from: string;
  to: string;
  overlap: BackfillOverlap;
  /** Runs enqueued per second at most. */
  rate: number;
  /** Who asked, and when (ISO). */
  by: string;
  at: string;
  state: BackfillState;
  /** Every instant of the range up to this one (ISO) is decided: enqueued or skipped. */
  cursor: string | null;
  /** Instants of the schedule in the range (set by the leader when it starts the backfill). */
  total: number | null;
  /** Runs committed (each as `<job>@backfill-<epochMs>`). */
  enqueued: number;
  skipped: {
    /** Instants that had already run (a scheduled or backfill run of the instant executed). */
    alreadyRan: number;
    /** `overlap: forbid`: a run of the job was still running. */
    overlap: number;
    /** After the job's watermark: not yet decided by the scheduler, which runs them itself. */
    notDue: number;
  };
  /** Fire id of the last run enqueued (`buffer` and `forbid` wait for it to finish). */
  last: string | null;
  /** Why the leader refused or stopped the backfill (`state: failed`). */
  error: string | null;
  /** Set with `state: cancelled` (absent in records written before cancel existed). */
  cancel?: BackfillCancel | null;
  /** Last change (ISO) and the fencing token of the leader that made it (null: the request). */
  updatedAt: string;
  token: string | null;
}

/** Limits of one backfill request. */
export interface BackfillLimits {
  /** Most instants one request may cover. Env `BATON_BACKFILL_MAX_INSTANTS`. */
  maxInstants: number;
  /** Longest range, ms. Env `BATON_BACKFILL_MAX_RANGE` (a duration such as `90d`). */
  maxRangeMs: number;
  /** Highest `--rate` (runs per second). */
  maxRate: number;
}

export const DEFAULT_BACKFILL_LIMITS: BackfillLimits = {
  maxInstants: 10_000,
  maxRangeMs: 366 * 86_400_000,
  maxRate: 1000,
};
/** Runs per second when `--rate` is not given. */
export const DEFAULT_BACKFILL_RATE = 10;

/** The limits, from `BATON_BACKFILL_MAX_INSTANTS` and `BATON_BACKFILL_MAX_RANGE` when set. */
export function backfillLimits(env: NodeJS.ProcessEnv = process.env): BackfillLimits {
  const limits = { ...DEFAULT_BACKFILL_LIMITS };
  const count = env.BATON_BACKFILL_MAX_INSTANTS;
  if (count !== undefined && count !== '') {
    const n = Number(count);
    if (!/^\d+$/.test(count) || !Number.isSafeInteger(n) || n < 1 || n > 1_000_000) {
      throw new UsageError(
        `BATON_BACKFILL_MAX_INSTANTS must be a whole number from 1 to 1000000, got ${excerpt(count)}`,
      );
    }
    limits.maxInstants = n;
  }
  const range = env.BATON_BACKFILL_MAX_RANGE;
  if (range !== undefined && range !== '') {
    let ms: number;
    try {
      ms = parseDuration(range, 'BATON_BACKFILL_MAX_RANGE');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (ms <= 0) throw new UsageError('BATON_BACKFILL_MAX_RANGE must be longer than 0');
    limits.maxRangeMs = ms;
  }
  return limits;
}

/** Parses `--rate`: `N/s` or `N` (runs per second, whole, 1..maxRate). */
export function parseRate(text: string, limits: BackfillLimits = DEFAULT_BACKFILL_LIMITS): number {
  const m = /^(\d+)(?:\/s)?$/.exec(text.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > limits.maxRate) {
    throw new UsageError(
      `--rate must be runs per second from 1 to ${limits.maxRate}, such as 10/s, got ${excerpt(text)}`,
    );
  }
  return n;
}

/** Parses `--overlap`; without it, the job's own setting decides (see {@link defaultOverlap}). */
export function parseOverlap(text: string): BackfillOverlap {
  if ((BACKFILL_OVERLAPS as readonly string[]).includes(text)) return text as BackfillOverlap;
  throw new UsageError(
    `--overlap must be one of ${BACKFILL_OVERLAPS.join(', ')}, got ${excerpt(text)}`,
  );
}

/**
 * The backfill's overlap when none is given: `allow` for a job whose runs may overlap, `buffer`
 * (one at a time) for a job with `overlap: forbid` or `replace`, whose workers would otherwise
 * skip or abort backfill runs that meet each other.
 */
export function defaultOverlap(job: OverlapPolicy): BackfillOverlap {
  return job === 'allow' ? 'allow' : 'buffer';
}

/**
 * Refuses `allow` for a job whose definition forbids overlapping runs (`forbid`, `replace`): its
 * workers would skip or abort the backfill runs that meet another run.
 */
export function checkOverlap(
  job: string,
  jobOverlap: OverlapPolicy,
  wanted: BackfillOverlap,
): void {
  if (wanted === 'allow' && jobOverlap !== 'allow') {
    throw new UsageError(
      `--overlap allow: job ${job} has overlap: ${jobOverlap}, so its workers would ${
        jobOverlap === 'forbid' ? 'skip' : 'abort'
      } backfill runs that meet another run; use --overlap buffer (one at a time) or forbid`,
    );
  }
}

function instant(text: string, flag: string): number {
  // A date alone or a time without a zone would be read in this machine's zone: refused.
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;
  const ms = zoned.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `${flag} must be an ISO 8601 time with a zone, such as 2026-01-31T09:00:00Z, got ${excerpt(text)}`,
    );
  }
  return ms;
}

/**
 * Parses and checks `--from`/`--to`: both required, `from` not after `to`, `to` not in the
 * future (later instants are the scheduler's), at most `maxRangeMs` apart.
 */
export function backfillRange(
  from: string | undefined,
  to: string | undefined,
  now: number,
  limits: BackfillLimits,
): { from: number; to: number } {
  if (from === undefined || to === undefined) {
    throw new UsageError('a backfill needs --from and --to (ISO 8601 times, both included)');
  }
  const start = instant(from, '--from');
  const end = instant(to, '--to');
  if (start > end) throw new UsageError(`--from ${from} is after --to ${to}`);
  if (end > now) {
    throw new UsageError(
      `--to ${to} is in the future: a backfill covers past instants (the scheduler fires the others)`,
    );
  }
  if (end - start > limits.maxRangeMs) {
    throw new UsageError(
      `the range is longer than ${Math.floor(limits.maxRangeMs / 86_400_000)} days (${Math.round(limits.maxRangeMs / 3_600_000)} h), the limit (BATON_BACKFILL_MAX_RANGE); backfill in parts`,
    );
  }
  return { from: start, to: end };
}

/**
 * The instants of `schedule` in `[from, to]` (both included) after `cursor` (exclusive; null:
 * from the start), at most `max`.
 */
export function instantsAfter(
  schedule: CompiledSchedule,
  range: { from: number; to: number },
  cursor: number | null,
  max: number,
): number[] {
  const out: number[] = [];
  let at = schedule.next(Math.max(range.from - 1, cursor ?? -Infinity));
  while (at !== null && at <= range.to && out.length < max) {
    out.push(at);
    at = schedule.next(at);
  }
  return out;
}

/**
 * The instants of a request, checked against the limits: one clear error when the schedule has
 * none in the range or more than `maxInstants`.
 */
export function planInstants(
  job: string,
  schedule: CompiledSchedule,
  range: { from: number; to: number },
  limits: BackfillLimits,
): number[] {
  const all = instantsAfter(schedule, range, null, limits.maxInstants + 1);
  const iso = (ms: number) => new Date(ms).toISOString();
  if (all.length === 0) {
    throw new UsageError(
      `the schedule of ${job} has no instant from ${iso(range.from)} to ${iso(range.to)}`,
    );
  }
  if (all.length > limits.maxInstants) {
    throw new UsageError(
      `${job} has more than ${limits.maxInstants} instants from ${iso(range.from)} to ${iso(range.to)}, the limit (BATON_BACKFILL_MAX_INSTANTS); backfill a shorter range`,
    );
  }
  return all;
}

/**
 * How many instants to decide in one fenced txn and how long one such slice takes at `rate`:
 * about ten slices a second, at most 100 instants each (one outbox key).
 */
export function sliceOf(rate: number, overlap: BackfillOverlap): { size: number; everyMs: number } {
  const size = overlap === 'buffer' ? 1 : Math.max(1, Math.min(100, Math.ceil(rate / 10)));
  return { size, everyMs: (size * 1000) / rate };
}

/** A new request record (state `pending`), with a time-sortable id. */
export function newBackfill(
  input: Pick<BackfillRecord, 'job' | 'from' | 'to' | 'overlap' | 'rate' | 'by'>,
  now = Date.now(),
): BackfillRecord {
  const at = new Date(now).toISOString();
  return {
    id: `${now.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`,
    ...input,
    at,
    state: 'pending',
    cursor: null,
    total: null,
    enqueued: 0,
    skipped: { alreadyRan: 0, overlap: 0, notDue: 0 },
    last: null,
    error: null,
    cancel: null,
    updatedAt: at,
    token: null,
  };
}

/** Instants of a record decided so far: enqueued or skipped. */
export function decidedOf(r: BackfillRecord): number {
  return r.enqueued + r.skipped.alreadyRan + r.skipped.overlap + r.skipped.notDue;
}

/** What {@link Backfills.cancel} found. */
export type CancelOutcome =
  | { outcome: 'cancelled'; record: BackfillRecord; revision: string }
  | { outcome: 'finished'; record: BackfillRecord }
  | { outcome: 'unknown' };

/** Cancel attempts before giving up when the leader keeps writing progress in between. */
const CANCEL_ATTEMPTS = 50;

/** Reads and writes backfill records (`<ns>/backfills/<id>`). */
export class Backfills {
  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
  ) {}

  /** Writes a new request; the leader picks it up through its watch. */
  async request(record: BackfillRecord): Promise<void> {
    await this.etcd.put(this.keys.backfill(record.id)).value(JSON.stringify(record));
  }

  /** Every record, oldest request first, and the revision they were read at. */
  async list(): Promise<{ backfills: BackfillRecord[]; revision: string }> {
    const read = await this.listRaw();
    return { backfills: read.entries.map((e) => e.record), revision: read.revision };
  }

  /** Every record with its stored text, oldest request first, and the revision read at. */
  async listRaw(): Promise<{
    entries: { record: BackfillRecord; text: string }[];
    revision: string;
  }> {
    const res = await scanPrefix(this.etcd, this.keys.backfillsPrefix);
    const entries: { record: BackfillRecord; text: string }[] = [];
    for (const kv of res.kvs) {
      const text = kv.value.toString();
      const record = parseBackfill(text);
      if (record) entries.push({ record, text });
    }
    entries.sort((a, b) => (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0));
    return { entries, revision: res.revision };
  }

  async get(id: string): Promise<BackfillRecord | null> {
    return (await this.getRaw(id))?.record ?? null;
  }

  /** One record and its stored text (what a guarded write compares against), or null. */
  async getRaw(
    id: string,
  ): Promise<{ record: BackfillRecord; text: string; modRevision: string } | null> {
    const res = await this.etcd.get(this.keys.backfill(id)).exec();
    const kv = res.kvs[0];
    if (!kv) return null;
    const text = kv.value.toString();
    const record = parseBackfill(text);
    return record ? { record, text, modRevision: String(kv.mod_revision) } : null;
  }

  /**
   * Cancels a pending or running request: one txn that writes `state: cancelled`, who, when and
   * the instants decided so far, on condition that the record's mod revision is still the one
   * read. The leader's progress txns compare the record with the value it last saw, so once this
   * txn commits no slice of the request can commit: the counts it copies are final. When the
   * leader committed a slice in between, the record is read again and the cancel retried.
   */
  async cancel(id: string, by: string, now = Date.now()): Promise<CancelOutcome> {
    for (let attempt = 0; attempt < CANCEL_ATTEMPTS; attempt++) {
      const raw = await this.getRaw(id);
      if (!raw) return { outcome: 'unknown' };
      const rec = raw.record;
      if (FINISHED_BACKFILL_STATES.includes(rec.state)) return { outcome: 'finished', record: rec };
      const at = new Date(now).toISOString();
      const next: BackfillRecord = {
        ...rec,
        state: 'cancelled',
        cancel: { by, at, decided: decidedOf(rec) },
        updatedAt: at,
        token: null,
      };
      const key = this.keys.backfill(id);
      const res = await this.etcd
        .if(key, 'Mod', '==', raw.modRevision)
        .then(this.etcd.put(key).value(JSON.stringify(next)))
        .commit();
      if (res.succeeded)
        return { outcome: 'cancelled', record: next, revision: res.header.revision };
    }
    throw new Error(
      `backfill ${id} changed ${CANCEL_ATTEMPTS} times while cancelling it; try again`,
    );
  }
}

/** What a backfill id looks like (`newBackfill`): `<base36 ms>-<8 hex>`. */
export const BACKFILL_ID_PATTERN = /^[0-9a-z]{1,16}-[0-9a-f]{1,16}$/;
export const BACKFILL_ID_RULE = 'ids look like miy3k2x0a-1f2e3d4c (baton backfills lists them)';

/** Checks an operator-given backfill id; one clear error when it cannot be one. */
export function checkBackfillId(id: string): string {
  if (!BACKFILL_ID_PATTERN.test(id))
    throw new UsageError(`backfill id ${excerpt(id)}: ${BACKFILL_ID_RULE}`);
  return id;
}

/** A record written by baton, or null. */
export function parseBackfill(text: string): BackfillRecord | null {
  try {
    const r = JSON.parse(text) as BackfillRecord;
    return typeof r.id === 'string' && typeof r.job === 'string' ? r : null;
  } catch {
    return null;
  }
}
