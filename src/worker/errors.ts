import { BatonError } from '../errors.js';

/** Why a run's signal was aborted. */
export type AbortCause = 'timeout' | 'replaced' | 'shutdown' | 'lock-lost';

/**
 * The `reason` of a run's aborted {@link AbortSignal}: `signal.reason.abortCause` says why.
 * - `timeout`: the job's `timeout` passed; the attempt fails and is retried per `retries`.
 * - `replaced`: a newer run of the job started with `overlap: replace`; not retried.
 * - `shutdown`: the worker is closing and the grace period is over; the run goes back to the
 *   queue and another worker runs it again (same fire id, same attempt number).
 * - `lock-lost`: BullMQ could not renew the run's lock; another worker may run it again.
 */
export class RunAbortedError extends BatonError {
  constructor(
    readonly abortCause: AbortCause,
    message: string,
  ) {
    super('RUN_ABORTED', message, { retryable: abortCause !== 'replaced' });
  }
}
