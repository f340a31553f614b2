import type { CatchUpSkipReason } from '../fire.js';
import type { CompiledSchedule } from './schedule.js';

/** How missed fires are handled (the job definition's `catchUp`). */
export type CatchUpPolicy = 'none' | 'latest' | 'all';

/** Why a range of missed fires is not run. */
export type SkipReason = CatchUpSkipReason;

/** A run of consecutive missed fires skipped for one reason. */
export interface SkippedRange {
  reason: SkipReason;
  /** First and last skipped fire instants (epoch ms), inclusive. */
  first: number;
  last: number;
  /** Exact number of fires from first to last. */
  count: number;
}

export interface CatchUpInput {
  schedule: CompiledSchedule;
  /** The last fire committed for the job; null for a job never fired (nothing is missed). */
  lastFireMs: number | null;
  nowMs: number;
  policy: CatchUpPolicy;
  /** With policy 'all': the most fires run (the newest ones). */
  limit: number;
  /** A fire older than nowMs - startingDeadlineMs is skipped. null = no deadline. */
  startingDeadlineMs: number | null;
}

export interface CatchUpPlan {
  /** Missed fires to run now, ascending. */
  run: number[];
  /** Skipped fires, one range per reason, ascending (past-deadline first). */
  skipped: SkippedRange[];
}

function whole(name: string, v: number): number {
  if (!Number.isFinite(v)) throw new RangeError(`${name} must be a finite number, got ${v}`);
  return Math.floor(v);
}

/**
 * Decides what to do with the fires missed in (lastFireMs, nowMs].
 *
 * - Fires older than nowMs - startingDeadlineMs are skipped as 'past-deadline'.
 * - Of the rest: 'none' skips all ('catch-up-none'); 'latest' runs the newest and skips the
 *   others ('catch-up-latest'); 'all' runs the newest `limit` ones and skips the older ones
 *   ('beyond-limit').
 *
 * Bounded: fires are counted arithmetically (work grows with the days in the gap, not the
 * number of fires) and only the fires to run (at most `limit`) are listed. Counts are exact.
 */
export function planCatchUp(input: CatchUpInput): CatchUpPlan {
  const { schedule, policy } = input;
  const now = whole('nowMs', input.nowMs);
  const limit = whole('limit', input.limit);
  if (limit < 0) throw new RangeError(`limit must be 0 or more, got ${limit}`);
  if (input.lastFireMs === null) return { run: [], skipped: [] };
  let from = whole('lastFireMs', input.lastFireMs);
  const skipped: SkippedRange[] = [];
  const run: number[] = [];
  if (from >= now) return { run, skipped };

  const range = (reason: SkipReason, fromExclusive: number, toInclusive: number, count: number) => {
    const first = schedule.next(fromExclusive);
    const last = schedule.prev(toInclusive);
    if (count > 0 && first !== null && last !== null) skipped.push({ reason, first, last, count });
  };

  if (input.startingDeadlineMs !== null) {
    const deadline = whole('startingDeadlineMs', input.startingDeadlineMs);
    if (deadline < 0) throw new RangeError(`startingDeadlineMs must be 0 or more, got ${deadline}`);
    // A fire f is past its deadline when now - f > deadline, i.e. f <= now - deadline - 1.
    const lastLate = Math.min(now - deadline - 1, now);
    if (lastLate > from) {
      range('past-deadline', from, lastLate, schedule.count(from, lastLate));
      from = lastLate;
    }
  }
  if (from >= now) return { run, skipped };

  const missed = schedule.count(from, now);
  if (missed === 0) return { run, skipped };

  if (policy === 'none') {
    range('catch-up-none', from, now, missed);
    return { run, skipped };
  }
  const toRun = policy === 'latest' ? 1 : Math.min(limit, missed);
  let cur = now;
  for (let i = 0; i < toRun; i++) {
    const f = schedule.prev(cur);
    if (f === null || f <= from) break;
    run.push(f);
    cur = f - 1;
  }
  run.reverse();
  if (missed > run.length) {
    range(policy === 'latest' ? 'catch-up-latest' : 'beyond-limit', from, cur, missed - run.length);
  }
  return { run, skipped };
}
