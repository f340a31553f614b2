import type { Redis } from 'ioredis';
import { backfillFireId, fireId } from '../fire.js';
import { checkPipeline } from '../redis/connection.js';
import type { RedisKeys } from '../redis/keys.js';
import type { RunRecord } from './records.js';

/** Statuses of a run record that mean the handler started (as the audit counts executions). */
const EXECUTED = new Set(['running', 'completed', 'failed', 'aborted']);

/** What is known of one instant of a job before it is backfilled. */
export interface InstantRan {
  at: number;
  /** The fire id that ran or is enqueued (`<job>@<ms>` or `<job>@backfill-<ms>`), or null. */
  ran: string | null;
}

/**
 * Which of `instants` already ran, from the publisher's fire markers and the workers' run history
 * of the scheduled fire id (`<job>@<ms>`) and the backfill fire id (`<job>@backfill-<ms>`):
 * - the scheduled fire ran when its first start is recorded as an execution, or when its marker
 *   says it was enqueued (`pending`, `done`) and no start is recorded yet (waiting for a worker);
 *   a scheduled fire a worker skipped or refused did not run, and is backfilled;
 * - the backfill fire id ran when it has a marker or a start of any kind: it is never enqueued
 *   twice (its marker would refuse it anyway).
 * Known for as long as markers (the job's retention age, at most a day) and history (its
 * retention) keep them. One pipelined round trip.
 */
export async function ranInstants(
  redis: Redis,
  keys: RedisKeys,
  job: string,
  instants: readonly number[],
): Promise<InstantRan[]> {
  if (instants.length === 0) return [];
  const records = keys.run(job).records;
  const p = redis.pipeline();
  for (const at of instants) {
    const s = fireId(job, at);
    const b = backfillFireId(job, at);
    p.get(keys.fired(s));
    p.hget(records, `${s}#1`);
    p.get(keys.fired(b));
    p.hexists(records, `${b}#1`);
  }
  const r = checkPipeline(await p.exec());
  return instants.map((at, i) => {
    const [sMarker, sRecord, bMarker, bRecord] = r.slice(4 * i, 4 * i + 4) as [
      string | null,
      string | null,
      string | null,
      number,
    ];
    if (bMarker !== null || bRecord === 1) return { at, ran: backfillFireId(job, at) };
    if (sRecord !== null) {
      let status = '';
      try {
        status = (JSON.parse(sRecord) as RunRecord).status;
      } catch {
        // not written by baton
      }
      return { at, ran: EXECUTED.has(status) ? fireId(job, at) : null };
    }
    return { at, ran: sMarker === 'pending' || sMarker === 'done' ? fireId(job, at) : null };
  });
}

/**
 * Whether the run `fireId` of `queue` has finished (completed, or failed for good): its BullMQ
 * job has `finishedOn`, or it was published (marker set) and retention removed it since. A run
 * not yet published (no marker, no job) has not finished.
 */
export async function runFinished(
  redis: Redis,
  keys: RedisKeys,
  queue: string,
  id: string,
): Promise<boolean> {
  const r = checkPipeline(
    await redis
      .pipeline()
      .exists(keys.queueJob(queue, id))
      .hexists(keys.queueJob(queue, id), 'finishedOn')
      .get(keys.fired(id))
      .exec(),
  ) as [number, number, string | null];
  if (r[0] === 1) return r[1] === 1;
  return r[2] !== null && r[2] !== 'pending';
}

/** Whether a run holds the job's overlap lock (jobs with `overlap: forbid` or `replace`). */
export async function overlapLockHeld(
  redis: Redis,
  keys: RedisKeys,
  job: string,
): Promise<boolean> {
  return (await redis.exists(keys.run(job).active)) === 1;
}
