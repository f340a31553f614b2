import {
  ExponentialBackoff,
  handleAll,
  noJitterGenerator,
  retry,
  type IBackoff,
  type RetryPolicy,
} from 'cockatiel';

/**
 * How a loop waits between attempts: `initialMs` after the first failure, doubling up to `maxMs`,
 * without jitter (every caller is one process retrying its own backend, not a crowd).
 */
export interface RetrySchedule {
  initialMs: number;
  maxMs: number;
}

/** A replica's etcd session: 100 ms doubling to 5 s (docs/architecture.md, "Replica states"). */
export const SESSION_RETRY: RetrySchedule = { initialMs: 100, maxMs: 5000 };

/** An API process's cluster view reading etcd again after a failed watch: 200 ms doubling to 5 s. */
export const WATCH_RETRY: RetrySchedule = { initialMs: 200, maxMs: 5000 };

/** The leader's publish/acknowledge loop: 50 ms doubling to 2 s (docs/architecture.md). */
export const PUBLISH_RETRY: RetrySchedule = { initialMs: 50, maxMs: 2000 };

function factory(schedule: RetrySchedule): ExponentialBackoff<number> {
  return new ExponentialBackoff({
    initialDelay: schedule.initialMs,
    maxDelay: schedule.maxMs,
    exponent: 2,
    generator: noJitterGenerator,
  });
}

/**
 * The delays of a {@link RetrySchedule}, for a loop that decides itself when an attempt failed
 * (a session that ended, a publish step that threw): `next()` is the wait before the next attempt,
 * `reset()` after a success starts over at `initialMs`.
 */
export class Backoff {
  private readonly factory: ExponentialBackoff<number>;
  private current: IBackoff<unknown> | null = null;

  constructor(schedule: RetrySchedule) {
    this.factory = factory(schedule);
  }

  /** Milliseconds to wait before the next attempt (the first call: `initialMs`). */
  next(): number {
    this.current = this.current === null ? this.factory.next() : this.current.next(undefined);
    return this.current.duration;
  }

  reset(): void {
    this.current = null;
  }
}

/**
 * A cockatiel policy that retries a call on any error, forever (until `signal` passed to
 * `execute` aborts), waiting per `schedule`: `retryPolicy(SESSION_RETRY).execute(fn, signal)`.
 */
export function retryPolicy(schedule: RetrySchedule): RetryPolicy {
  return retry(handleAll, { maxAttempts: Infinity, backoff: factory(schedule) });
}

/** Resolves after `ms`, or at once when `signal` aborts (or has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
