import type { Logger } from '../log.js';

/** What a handler gets for one run. */
export interface RunContext<P = unknown> {
  job: string;
  /** The scheduled instant (for a triggered run, when it was requested; for a backfill run, the backfilled instant). */
  scheduledAt: Date;
  /** `<job>@<epochMs>`, `<job>@manual-<id>` or `<job>@backfill-<epochMs>`: the same on every attempt; use it as an idempotency key. */
  fireId: string;
  /**
   * Fencing token of the leader that decided the run (decimal string; compare as BigInt). Pass it
   * to downstream systems that can refuse writes older than the newest token they saw.
   */
  fencingToken: string;
  /** 1 for the first attempt. */
  attempt: number;
  payload: P;
  manual: boolean;
  /** Child logger carrying job, fireId and token. */
  logger: Logger;
  /** Aborted on timeout, on `overlap: replace`, and on worker shutdown past its grace period. */
  signal: AbortSignal;
}

/** A named handler; `run` may return a JSON-serialisable result kept in the run history. */
export interface Handler<P = unknown> {
  name: string;
  run(ctx: RunContext<P>): Promise<unknown>;
}

/** Declares a handler. Workers run it for every job whose `handler` is `name`. */
export function defineHandler<P = unknown>(
  name: string,
  run: (ctx: RunContext<P>) => Promise<unknown>,
): Handler<P> {
  return { name, run };
}
