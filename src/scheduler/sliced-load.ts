import type { JobDefinition } from '../definitions/types.js';
import type { JobDecision, Watermark } from '../coordination/ledger.js';
import type { LoadResult, Planner } from './planner.js';

/**
 * Definitions decided, and their decisions committed, per slice of a takeover or reload: about
 * 20 ms of CPU and 17 fenced txns for jobs seen the first time, so the event loop (the session's
 * lease keep-alives, the HTTP API) runs at least every few tens of milliseconds.
 */
export const LOAD_SLICE = 2000;

/** Lets every timer and I/O callback that is due run before going on (one event-loop turn). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Brings `planner` in line with `defs` ({@link Planner.startLoad}) a slice at a time: decides a
 * slice, hands its decisions to `commit`, lets the event loop run, and decides the next slice
 * while the previous one commits. At most one slice's commit is in flight and a slice is
 * committed only after the one before it succeeded, so memory holds two slices of decisions
 * at most and a failed commit (leadership lost) stops every later one: the error is thrown
 * after the slice being decided, which is never committed (the planner is then discarded with
 * its leadership). Decisions of one job are always in one slice, so the ledger's order within a
 * commit (a job's overflow orders before its watermark) still holds.
 */
export async function loadInSlices(
  planner: Planner,
  defs: readonly JobDefinition[],
  watermarks: ReadonlyMap<string, Watermark>,
  now: number,
  takeover: boolean,
  commit: (decisions: JobDecision[]) => Promise<void>,
  slice = LOAD_SLICE,
): Promise<Omit<LoadResult, 'decisions'>> {
  const loading = planner.startLoad(takeover);
  const out: Omit<LoadResult, 'decisions'> = { fresh: [], problems: [] };
  let inFlight: Promise<void> | null = null;
  for (let i = 0; i < defs.length; i += slice) {
    const part = loading.add(defs.slice(i, i + slice), watermarks, now);
    for (const d of part.fresh) out.fresh.push(d);
    for (const p of part.problems) out.problems.push(p);
    if (inFlight) await inFlight;
    if (part.decisions.length > 0) {
      inFlight = commit(part.decisions);
      // Awaited before the next slice commits; until then a rejection is not unhandled.
      inFlight.catch(() => undefined);
    } else {
      inFlight = null;
    }
    await yieldToEventLoop();
  }
  if (inFlight) await inFlight;
  loading.finish();
  return out;
}
