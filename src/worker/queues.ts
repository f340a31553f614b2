import { Worker as BullWorker, type BackoffStrategy, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

/** What every BullMQ worker of a {@link QueueSet} is made with. */
export interface QueueSettings {
  redis: Redis;
  prefix: string;
  concurrency: number;
  lockMs: number;
  stalledMs: number;
  maxStalled: number;
  backoffStrategy: BackoffStrategy | undefined;
  /** BullMQ worker name. */
  name: string;
  logger: Logger;
  process: (job: Job, token: string | undefined) => Promise<unknown>;
  /** BullMQ could not renew the locks of these jobs. */
  onLockLost: (bullJobIds: string[]) => void;
}

/**
 * One BullMQ `Worker` per queue, all on one connection. Queues are added created-but-paused
 * (`autorun: false`) and run once {@link runAll} (or `add(q, true)`) says so, so that nothing
 * is taken before the caller is ready.
 */
export class QueueSet {
  private readonly workers = new Map<string, BullWorker>();

  constructor(private readonly s: QueueSettings) {}

  names(): string[] {
    return [...this.workers.keys()];
  }

  has(queue: string): boolean {
    return this.workers.has(queue);
  }

  /** Creates the queue's worker and waits until it is ready; takes runs at once when `run`. */
  async add(queue: string, run: boolean): Promise<void> {
    if (this.workers.has(queue)) return;
    const s = this.s;
    const w = new BullWorker(queue, (job: Job, token?: string) => s.process(job, token), {
      autorun: false,
      connection: s.redis,
      prefix: s.prefix,
      concurrency: s.concurrency,
      lockDuration: s.lockMs,
      stalledInterval: s.stalledMs,
      maxStalledCount: s.maxStalled,
      name: s.name,
      ...(s.backoffStrategy ? { settings: { backoffStrategy: s.backoffStrategy } } : {}),
    });
    w.on('error', (err) => s.logger.warn({ err, queue }, 'queue error'));
    w.on('lockRenewalFailed', (ids: string[]) => s.onLockLost(ids));
    this.workers.set(queue, w);
    await w.waitUntilReady();
    if (run) this.run(w);
  }

  /** Starts taking runs on every queue added so far. */
  runAll(): void {
    for (const w of this.workers.values()) this.run(w);
  }

  /** Closes every queue's worker (BullMQ waits for the running handlers). */
  close(): Promise<void> {
    return Promise.allSettled([...this.workers.values()].map((w) => w.close())).then(
      () => undefined,
    );
  }

  private run(w: BullWorker): void {
    if (w.isRunning()) return;
    w.run().catch((err: unknown) =>
      this.s.logger.error({ err, queue: w.name }, 'queue worker stopped'),
    );
  }
}
