import type { Redis } from 'ioredis';
import {
  Backfills,
  backfillLimits,
  backfillRange,
  checkOverlap,
  DEFAULT_BACKFILL_RATE,
  defaultOverlap,
  newBackfill,
  planInstants,
  type BackfillLimits,
  type BackfillOverlap,
  type BackfillRecord,
  type CancelOutcome,
} from '../coordination/backfills.js';
import type { Watermark } from '../coordination/ledger.js';
import { compileSchedule } from '../cron/index.js';
import type { JobDefinition } from '../definitions/types.js';
import { UnknownJobError, UsageError } from '../errors.js';
import { backfillFireId } from '../fire.js';
import { ranInstants } from '../history/ran.js';
import { redisKeysOf } from '../redis/keys.js';
import { etcdCall, type ControlContext } from './context.js';

/** What an operator asks for (CLI flags or the API body), not yet checked. */
export interface BackfillInput {
  job: string;
  from?: string;
  to?: string;
  overlap?: BackfillOverlap;
  /** Runs per second. @defaultValue {@link DEFAULT_BACKFILL_RATE} */
  rate?: number;
  by: string;
}

/** One instant of a plan. */
export interface PlannedInstant {
  at: string;
  /** The fire id the backfill would run it as. */
  fireId: string;
  /**
   * `run`: would be enqueued; `already-ran`: a run of the instant executed or is enqueued
   * (`ranAs` names it); `not-due`: after the job's watermark, left to the scheduler.
   */
  action: 'run' | 'already-ran' | 'not-due';
  ranAs: string | null;
}

/** What `--dry-run` prints: the instants, and what the leader would do with each (as of now). */
export interface BackfillPlan {
  job: string;
  from: string;
  to: string;
  overlap: BackfillOverlap;
  rate: number;
  count: number;
  run: number;
  alreadyRan: number;
  notDue: number;
  instants: PlannedInstant[];
}

/** A checked request: the job's definition, the range, and the settings with defaults applied. */
interface Checked {
  def: JobDefinition;
  range: { from: number; to: number };
  overlap: BackfillOverlap;
  rate: number;
  instants: number[];
}

/**
 * Checks a request against the definitions and the limits, with one clear error for each
 * problem: unknown job, missing or bad times, `from` after `to`, `to` in the future, a range or
 * an instant count over the limits, a schedule with no instant in the range, `--overlap allow`
 * for a job whose runs may not overlap.
 */
export function checkBackfill(
  definitions: readonly JobDefinition[],
  input: BackfillInput,
  now = Date.now(),
  limits: BackfillLimits = backfillLimits(),
): Checked {
  const def = definitions.find((d) => d.name === input.job);
  if (!def) throw new UnknownJobError(input.job);
  const range = backfillRange(input.from, input.to, now, limits);
  const rate = input.rate ?? DEFAULT_BACKFILL_RATE;
  if (!Number.isInteger(rate) || rate < 1 || rate > limits.maxRate) {
    throw new UsageError(`rate must be runs per second from 1 to ${limits.maxRate}, got ${rate}`);
  }
  const overlap = input.overlap ?? defaultOverlap(def.overlap);
  checkOverlap(def.name, def.overlap, overlap);
  const instants = planInstants(
    def.name,
    compileSchedule(def.schedule, def.timezone),
    range,
    limits,
  );
  return { def, range, overlap, rate, instants };
}

/** Writes a checked request for the leader; returns the record (state `pending`). */
export async function requestBackfill(
  ctx: ControlContext,
  definitions: readonly JobDefinition[],
  input: BackfillInput,
): Promise<BackfillRecord> {
  const c = checkBackfill(definitions, input);
  const record = newBackfill({
    job: c.def.name,
    from: new Date(c.range.from).toISOString(),
    to: new Date(c.range.to).toISOString(),
    overlap: c.overlap,
    rate: c.rate,
    by: input.by,
  });
  await etcdCall(ctx, 'request the backfill', () =>
    new Backfills(ctx.etcd, ctx.keys).request(record),
  );
  return record;
}

/**
 * The plan of a request, changing nothing: every instant and whether it would run, already ran
 * (fire markers and run history in Redis) or is not yet decided by the scheduler (etcd watermark).
 */
export async function planBackfill(
  ctx: ControlContext,
  redis: Redis,
  definitions: readonly JobDefinition[],
  input: BackfillInput,
): Promise<BackfillPlan> {
  const c = checkBackfill(definitions, input);
  const text = await etcdCall(ctx, 'read the watermark', () =>
    ctx.etcd.get(ctx.keys.fire(c.def.name)).string(),
  );
  let watermark: number | null = null;
  try {
    watermark = text === null ? null : (JSON.parse(text) as Watermark).at;
  } catch {
    // unreadable: nothing is known to be decided
  }
  const ran = await ranInstants(redis, redisKeysOf(ctx.config), c.def.name, c.instants);
  const instants: PlannedInstant[] = ran.map(({ at, ran: by }) => ({
    at: new Date(at).toISOString(),
    fireId: backfillFireId(c.def.name, at),
    action: watermark === null || at > watermark ? 'not-due' : by !== null ? 'already-ran' : 'run',
    ranAs: by,
  }));
  const count = (a: PlannedInstant['action']) => instants.filter((i) => i.action === a).length;
  return {
    job: c.def.name,
    from: new Date(c.range.from).toISOString(),
    to: new Date(c.range.to).toISOString(),
    overlap: c.overlap,
    rate: c.rate,
    count: instants.length,
    run: count('run'),
    alreadyRan: count('already-ran'),
    notDue: count('not-due'),
    instants,
  };
}

/** Every backfill request and its progress, oldest first. */
export async function listBackfills(ctx: ControlContext): Promise<BackfillRecord[]> {
  return (await etcdCall(ctx, 'list the backfills', () => new Backfills(ctx.etcd, ctx.keys).list()))
    .backfills;
}

/** One request and its progress, or null. */
export async function getBackfill(ctx: ControlContext, id: string): Promise<BackfillRecord | null> {
  return etcdCall(ctx, 'read the backfill', () => new Backfills(ctx.etcd, ctx.keys).get(id));
}

/**
 * Cancels a pending or running request (see {@link Backfills.cancel}): `cancelled` once the
 * cancel is committed in etcd, `finished` for a request already done, failed or cancelled (the
 * record as it is), `unknown` for no such request. Works with or without a leader.
 */
export async function cancelBackfill(
  ctx: ControlContext,
  id: string,
  by: string,
): Promise<CancelOutcome> {
  return etcdCall(ctx, 'cancel the backfill', () =>
    new Backfills(ctx.etcd, ctx.keys).cancel(id, by),
  );
}
