import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { RedisKeys } from '../redis/keys.js';
import { abortRun, type ActiveRuns } from './active.js';

/**
 * The abort channel of a namespace (`<prefix>:baton:<ns>:abort`): a run that replaces another
 * (`overlap: replace`) publishes `{ job, fireId, by }`, and the worker running that fire, wherever
 * it is, aborts its signal.
 */
export class AbortChannel {
  private subscriber: Redis | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Pick<RedisKeys, 'abort'>,
    private readonly active: ActiveRuns,
  ) {}

  /** Subscribes (on a connection of its own). */
  async start(): Promise<void> {
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    await sub.subscribe(this.keys.abort);
  }

  /** Asks the worker running `fireId` of `job` to abort it (best effort). */
  publish(job: string, fireId: string, by: string, logger: Logger): void {
    this.redis
      .publish(this.keys.abort, JSON.stringify({ job, fireId, by }))
      .catch((err: unknown) =>
        logger.warn({ err }, 'cannot publish the abort of the replaced run'),
      );
  }

  close(): void {
    this.subscriber?.disconnect();
  }

  private onMessage(message: string): void {
    try {
      const m = JSON.parse(message) as { job?: string; fireId?: string; by?: string };
      if (typeof m.fireId !== 'string') return;
      const run = this.active.get(m.fireId);
      if (run && run.job === m.job) abortRun(run, 'replaced', m.by);
    } catch {
      // not ours
    }
  }
}
