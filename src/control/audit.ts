import type { Redis } from 'ioredis';
import {
  Backfills,
  decidedOf,
  type BackfillCancel,
  type BackfillRecord,
  type BackfillState,
} from '../coordination/backfills.js';
import { Ledger, type Watermark } from '../coordination/ledger.js';
import type { JobDefinition } from '../definitions/types.js';
import { checkPipeline } from '../redis/connection.js';
import { fireId as makeFireId } from '../fire.js';
import {
  causesBetween,
  compileSchedule,
  gateOf,
  type CompiledSchedule,
  type InstantGate,
  type SkipCause,
} from '../cron/index.js';
import { toSkipEntry, type RunRecord, type SkipEntry } from '../history/records.js';
import { redisKeysOf } from '../redis/keys.js';
import { UsageError } from '../errors.js';
import { etcdCall, type ControlContext } from './context.js';

/**
 * `baton audit`: for every instant a job's schedule says should have happened in a range, what
 * became of it, from the records baton keeps (the leader's skip records, the workers' run
 * history, the job's watermark in etcd), and every execution nothing accounts for.
 */

/** What became of one instant. */
export type InstantOutcome =
  /** Its handler ran, once (retries of a failed attempt included). */
  | 'ran'
  /** Its handler ran again after a worker died mid-run (at-least-once, accounted). */
  | 're-executed'
  /** Decided not to run, with a recorded reason (paused, catch-up, deadline, overlap, ...). */
  | 'skipped'
  /** Refused by the workers' fence (no valid leader committed it). */
  | 'refused'
  /** Two copies of the fire both ran: not accounted for. */
  | 'duplicate'
  /** Nothing recorded: not accounted for. */
  | 'missing'
  /** Not due yet, not yet decided, or decided and waiting for a worker (within the grace). */
  | 'pending';

export interface InstantAudit {
  /** The scheduled instant (ISO 8601, UTC). */
  at: string;
  fireId: string;
  outcome: InstantOutcome;
  /** Skip reason, refusal or failure detail. */
  reason: string | null;
  /** For `excluded` / `inactive` skips: the date rule, calendar or window bound. */
  detail?: string;
  /** Starts of the handler for this fire (attempts and re-runs). */
  executions: number;
  /** Status of its last execution (`completed`, `failed`, ...), or null. */
  lastStatus: string | null;
}

export interface JobAudit {
  job: string;
  from: string;
  to: string;
  /** Instants the schedule names in the range (pending ones included). */
  expected: number;
  counts: Record<InstantOutcome, number>;
  /** Skipped instants by reason. */
  skippedBy: Record<string, number>;
  /** Executions of scheduled fire ids that are not instants of the schedule in the range. */
  unaccounted: { fireId: string; startedAt: string; status: string }[];
  /** Manual runs started in the range (operator triggers: accounted by their trigger). */
  manual: number;
  /**
   * Backfill runs (`<job>@backfill-<epochMs>`) started in the range: accounted by their backfill
   * request (the run record names it), not as unexplained executions.
   */
  backfill: number;
  /** Backfill fire ids that two copies of the run executed (not accounted for). */
  backfillDuplicates: string[];
  /**
   * The job's backfill requests active in the range (asked for by its end, last changed after
   * its start), with their state: a `cancelled` one says who cancelled it and how many instants
   * were decided before (its enqueued runs ran; no later instant was enqueued).
   */
  backfills: AuditBackfill[];
  /**
   * Instants before this were never due: the job did not exist yet (first seen by a leader then),
   * or, for jobs first seen before baton 0.2, the oldest record kept (history retention).
   */
  knownSince: string | null;
  /** Every instant not `ran`, and with `all`, every instant. */
  instants: InstantAudit[];
  /** True when every instant is accounted for: no `missing`, no `duplicate`, nothing unaccounted. */
  ok: boolean;
}

/** A backfill request as the audit shows it. */
export interface AuditBackfill {
  id: string;
  state: BackfillState;
  by: string;
  /** Instants in the request's range (null until a leader started it). */
  total: number | null;
  /** Instants decided so far: enqueued plus skipped. */
  decided: number;
  enqueued: number;
  cancel: BackfillCancel | null;
}

/** The longest range one audit may cover, and the most instants per job. */
export const AUDIT_MAX_RANGE_MS = 31 * 24 * 3600 * 1000;
export const AUDIT_MAX_INSTANTS = 100_000;
/**
 * A decided instant this recent with no record yet may still be waiting for a worker: pending,
 * not missing.
 */
export const AUDIT_PENDING_GRACE_MS = 60_000;

export interface AuditInput {
  job: string;
  schedule: CompiledSchedule;
  from: number;
  to: number;
  now: number;
  /** The job's watermark in etcd, or null when no leader has decided for it yet. */
  watermark: Watermark | null;
  runs: readonly RunRecord[];
  skips: readonly SkipEntry[];
  /** Include every instant in {@link JobAudit.instants}, not only those not `ran`. */
  all?: boolean;
  /**
   * The job's exclusions and active window: an instant they skip is accounted for as skipped
   * (`excluded` / `inactive`) even without a skip record (e.g. after `activeUntil`, where the
   * leader no longer wakes for the job).
   */
  gate?: InstantGate | null;
  /** @defaultValue {@link AUDIT_PENDING_GRACE_MS} */
  graceMs?: number;
  /** Backfill requests (any job's: those of `job` active in the range are kept). */
  backfills?: readonly BackfillRecord[];
}

const EXECUTED = new Set(['running', 'completed', 'failed', 'aborted']);

/** The audit of one job (pure: records in, verdicts out). */
export function auditJob(input: AuditInput): JobAudit {
  const { job, schedule, from, to, now, watermark } = input;
  const byFire = new Map<string, RunRecord[]>();
  let manual = 0;
  let backfill = 0;
  const backfillFresh = new Map<string, number>();
  let oldestRecord = Infinity;
  for (const r of input.runs) {
    const started = Date.parse(r.startedAt);
    if (r.backfill !== undefined || r.fireId.includes('@backfill-')) {
      if (!EXECUTED.has(r.status) || started < from || started > to) continue;
      backfill++;
      if (r.attempt === 1 && r.start === 1)
        backfillFresh.set(r.fireId, (backfillFresh.get(r.fireId) ?? 0) + 1);
      continue;
    }
    oldestRecord = Math.min(oldestRecord, Date.parse(r.scheduledAt));
    if (r.manual) {
      if (started >= from && started <= to) manual++;
      continue;
    }
    const list = byFire.get(r.fireId);
    if (list) list.push(r);
    else byFire.set(r.fireId, [r]);
  }
  const skips = input.skips.map((s) => ({
    first: Date.parse(s.first),
    last: Date.parse(s.last),
    reason: s.reason,
    detail: s.detail ?? null,
  }));
  const causeOf = input.gate ? causesBetween(input.gate, from, to + 1) : () => null;
  for (const s of skips) oldestRecord = Math.min(oldestRecord, s.first);
  const since =
    watermark?.since ?? (Number.isFinite(oldestRecord) ? oldestRecord : (watermark?.at ?? null));

  const counts: Record<InstantOutcome, number> = {
    ran: 0,
    're-executed': 0,
    skipped: 0,
    refused: 0,
    duplicate: 0,
    missing: 0,
    pending: 0,
  };
  const skippedBy: Record<string, number> = {};
  const instants: InstantAudit[] = [];
  const expectedIds = new Set<string>();
  let expected = 0;
  // Instants in [from, to] at or after `since` (earlier ones were never due).
  const start = Math.max(from, since ?? from);
  for (let at = schedule.next(start - 1); at !== null && at <= to; at = schedule.next(at)) {
    if (++expected > AUDIT_MAX_INSTANTS) break;
    const id = makeFireId(job, at);
    expectedIds.add(id);
    const verdict = judge(
      at,
      id,
      byFire.get(id) ?? [],
      skips,
      watermark,
      now - (input.graceMs ?? AUDIT_PENDING_GRACE_MS),
      causeOf,
    );
    counts[verdict.outcome]++;
    if (verdict.outcome === 'skipped' && verdict.reason)
      skippedBy[verdict.reason] = (skippedBy[verdict.reason] ?? 0) + 1;
    if (input.all || verdict.outcome !== 'ran') instants.push(verdict);
  }
  const unaccounted: JobAudit['unaccounted'] = [];
  for (const [id, list] of byFire) {
    if (expectedIds.has(id)) continue;
    const at = Number(id.slice(id.lastIndexOf('@') + 1));
    if (!Number.isFinite(at) || at < from || at > to) continue;
    for (const r of list)
      if (EXECUTED.has(r.status))
        unaccounted.push({ fireId: id, startedAt: r.startedAt, status: r.status });
  }
  const backfillDuplicates = [...backfillFresh].filter(([, n]) => n > 1).map(([id]) => id);
  const backfills = (input.backfills ?? [])
    .filter((b) => b.job === job && Date.parse(b.at) <= to && Date.parse(b.updatedAt) >= from)
    .map((b): AuditBackfill => ({
      id: b.id,
      state: b.state,
      by: b.by,
      total: b.total,
      decided: decidedOf(b),
      enqueued: b.enqueued,
      cancel: b.cancel ?? null,
    }));
  return {
    job,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    expected: Math.min(expected, AUDIT_MAX_INSTANTS),
    counts,
    skippedBy,
    unaccounted,
    manual,
    backfill,
    backfillDuplicates,
    backfills,
    knownSince: since === null ? null : new Date(since).toISOString(),
    instants,
    ok:
      counts.missing === 0 &&
      counts.duplicate === 0 &&
      unaccounted.length === 0 &&
      backfillDuplicates.length === 0,
  };
}

function judge(
  at: number,
  id: string,
  records: RunRecord[],
  skips: { first: number; last: number; reason: string; detail: string | null }[],
  watermark: Watermark | null,
  /** Instants after this may still wait for a worker. */
  pendingAfter: number,
  causeOf: (at: number) => SkipCause | null,
): InstantAudit {
  const iso = new Date(at).toISOString();
  const executions = records
    .filter((r) => EXECUTED.has(r.status))
    .sort((a, b) => a.start - b.start || Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const last = executions[executions.length - 1] ?? null;
  const base = {
    at: iso,
    fireId: id,
    executions: executions.length,
    lastStatus: last?.status ?? null,
  };
  if (executions.length > 0) {
    // Two copies of one fire each started afresh (first attempt, first start): ran twice.
    const fresh = executions.filter((r) => r.attempt === 1 && r.start === 1).length;
    if (fresh > 1) return { ...base, outcome: 'duplicate', reason: `${fresh} copies ran` };
    const rerun = executions.some((r) => r.reason === 'interrupted');
    return {
      ...base,
      outcome: rerun ? 're-executed' : 'ran',
      reason: last?.status === 'failed' ? (last.error ?? 'failed') : null,
    };
  }
  const skip = skips.find((s) => s.first <= at && at <= s.last);
  if (skip) {
    return {
      ...base,
      outcome: 'skipped',
      reason: skip.reason,
      ...(skip.detail === null ? {} : { detail: skip.detail }),
    };
  }
  // Excluded or outside the active window by the definition: never a fire, so never missing.
  const cause = causeOf(at);
  if (cause) return { ...base, outcome: 'skipped', reason: cause.reason, detail: cause.detail };
  const workerSkip = records.find((r) => r.status === 'skipped');
  if (workerSkip) return { ...base, outcome: 'skipped', reason: workerSkip.reason ?? 'skipped' };
  if (records.some((r) => r.status === 'stale'))
    return { ...base, outcome: 'refused', reason: 'stale-token' };
  const decided = watermark !== null && at <= watermark.at;
  if (!decided || at > pendingAfter)
    return {
      ...base,
      outcome: 'pending',
      reason: decided ? 'waiting for a worker' : 'not decided yet',
    };
  return { ...base, outcome: 'missing', reason: null };
}

/**
 * Reads what {@link auditJob} needs (the watermarks from etcd; every job's run starts since
 * `from` and skip records up to `to` from Redis, in two pipelined round trips however many jobs)
 * and audits each job.
 */
export async function auditJobs(
  ctx: ControlContext,
  redis: Redis,
  definitions: readonly JobDefinition[],
  range: { from: number; to: number; all?: boolean; graceMs?: number },
  now = Date.now(),
): Promise<JobAudit[]> {
  const keys = redisKeysOf(ctx.config);
  const watermarks = await etcdCall(ctx, 'read the watermarks', () =>
    new Ledger(ctx.etcd, ctx.keys).readWatermarks(),
  );
  const { backfills } = await etcdCall(ctx, 'list the backfills', () =>
    new Backfills(ctx.etcd, ctx.keys).list(),
  );
  const lists = redis.pipeline();
  for (const def of definitions) {
    // Runs start at or after their instant: every start since `from`.
    lists.zrangebyscore(keys.run(def.name).history, range.from, '+inf');
    // Skip ranges are scored by their first instant.
    lists.zrangebyscore(keys.skips(def.name).list, '-inf', range.to);
  }
  const listed = checkPipeline(await lists.exec()) as string[][];
  const records = redis.pipeline();
  definitions.forEach((def, i) => {
    const ids = listed[2 * i]!;
    if (ids.length > 0) records.hmget(keys.run(def.name).records, ...ids);
  });
  const values = checkPipeline(await records.exec()) as (string | null)[][];
  let next = 0;
  return definitions.map((def, i) => {
    const runs: RunRecord[] = [];
    if (listed[2 * i]!.length > 0) {
      for (const v of values[next++]!) {
        if (v === null) continue; // trimmed between the two reads
        try {
          runs.push(JSON.parse(v) as RunRecord);
        } catch {
          // not written by baton
        }
      }
    }
    const skips = listed[2 * i + 1]!.map(toSkipEntry).filter((e): e is SkipEntry => e !== null);
    return auditJob({
      job: def.name,
      schedule: compileSchedule(def.schedule, def.timezone),
      from: range.from,
      to: range.to,
      now,
      watermark: watermarks.get(def.name) ?? null,
      runs,
      skips,
      all: range.all,
      graceMs: range.graceMs,
      gate: gateOf(def),
      backfills,
    });
  });
}

function instant(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `${flag} must be an ISO 8601 time such as 2026-01-31T09:00:00Z, got "${text}"`,
    );
  }
  return ms;
}

/** Parses --from/--to (default: the last 24 hours up to now) and checks the limits. */
export function auditRange(
  from: string | undefined,
  to: string | undefined,
  now = Date.now(),
): { from: number; to: number } {
  const end = instant(to, '--to', now);
  const start = instant(from, '--from', end - 24 * 3600 * 1000);
  if (start >= end) throw new UsageError('--from must be earlier than --to');
  if (end - start > AUDIT_MAX_RANGE_MS) {
    throw new UsageError(
      `the range is at most ${AUDIT_MAX_RANGE_MS / 86_400_000} days; audit a longer period in parts`,
    );
  }
  return { from: start, to: end };
}
