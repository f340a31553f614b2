import { performance } from 'node:perf_hooks';
import { NotLeaderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxEntry } from '../coordination/ledger.js';
import type { Durability } from '../dispatch/producer.js';
import { Backoff, PUBLISH_RETRY, sleep } from '../retry.js';
import type { LeaderEvent } from './leader-events.js';
import { DEFAULT_DURABLE_MS, OutboxTracker, UNBOUNDED_DURABLE_MS } from './outbox-tracker.js';

/** Orders per publish call; a drained batch publishes several at once. */
export const PUBLISH_SLICE = 1000;
/** Orders taken from the queue per round (several slices in flight together). */
export const PUBLISH_ROUND = 5000;
/** Redis `hz` below this delays the start of delayed runs noticeably (1000/hz ms at most). */
const RECOMMENDED_REDIS_HZ = 100;

/** What the publisher needs of Redis (the {@link Dispatcher}). */
export interface PublishTarget {
  publish(entries: OutboxEntry[], clockOffsetMs: number): Promise<void>;
  serverRunId(): Promise<string>;
  durability(): Promise<Durability>;
  recordTakeover(token: string, revision: string): Promise<void>;
}

export interface PublisherDeps {
  target: PublishTarget;
  /** Deletes outbox batches from etcd (the ledger's unfenced acknowledge). */
  acknowledge: (batches: string[]) => Promise<void>;
  /** Throws {@link NotLeaderError} when this leader's lease may be gone. */
  assertValid: () => void;
  /** Ends with leadership; the outbox stays for the next leader. */
  signal: AbortSignal;
  /** The leader's fencing token and the revision it took over at (recorded before any publish). */
  token: string;
  takeoverRevision: string;
  logger: Logger;
  emit: (event: LeaderEvent) => void;
  /** The schedule's clock (epoch ms), `clockOffsetMs` ahead of the real one. */
  now: () => number;
  clockOffsetMs: number;
  /** Monotonic ms (durability windows). @defaultValue performance.now */
  monotonic?: () => number;
  /** Orders that are in Redis now (in publish order). */
  onPublished?: (entries: readonly OutboxEntry[]) => void;
  /** Every order handed to the publisher so far is in Redis. */
  onDrained?: () => void;
}

/**
 * Publishes committed orders to Redis and acknowledges them in etcd, in the background so a Redis
 * outage never stalls deciding: fires keep going into the outbox, and this drains it once Redis is
 * back, retrying with {@link PUBLISH_RETRY}. A batch leaves the outbox only once Redis has it on
 * disk ({@link OutboxTracker}). Stops when leadership ends.
 */
export class Publisher {
  private readonly tracker = new OutboxTracker();
  private wakeUp: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private redisReady = true;
  private takeoverRecorded = false;
  private readonly monotonic: () => number;

  constructor(private readonly deps: PublisherDeps) {
    this.monotonic = deps.monotonic ?? (() => performance.now());
    deps.signal.addEventListener('abort', () => this.wake(), { once: true });
  }

  /** Committed orders to publish, after those already queued. */
  enqueue(entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    this.tracker.add(entries);
    this.wake();
  }

  /** Starts the background loop (once); resolves when it has stopped. */
  start(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private async loop(): Promise<void> {
    const { signal } = this.deps;
    const backoff = new Backoff(PUBLISH_RETRY);
    let durabilityKnown = false;
    while (!signal.aborted) {
      const t = this.tracker;
      if (t.pending === 0 && t.acknowledgeable === 0 && !t.settleDue(this.monotonic())) {
        const settleIn = t.nextSettleIn(this.monotonic());
        await new Promise<void>((resolve) => {
          const timer = settleIn === null ? null : setTimeout(resolve, settleIn);
          this.wakeUp = () => {
            if (timer) clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = null;
        continue;
      }
      try {
        if (!durabilityKnown) {
          await this.learnDurability();
          durabilityKnown = true;
        }
        if (t.pending > 0 && !(await this.publishRound())) break;
        if (t.settleDue(this.monotonic())) await this.settle();
        if (t.acknowledgeable > 0) {
          const ids = t.takeAcknowledgements();
          try {
            await this.deps.acknowledge(ids);
            t.acknowledged(ids);
          } catch (err) {
            t.unacknowledged(ids);
            throw err;
          }
        }
        backoff.reset();
      } catch {
        await sleep(backoff.next(), signal);
      }
    }
  }

  /**
   * Publishes one round of queued orders. Returns false when this leader must stop (its lease
   * may be gone); throws (orders put back) when Redis failed.
   */
  private async publishRound(): Promise<boolean> {
    const { deps, tracker } = this;
    const batch = tracker.take(PUBLISH_ROUND);
    try {
      // A stale leader must not publish: its lease may be gone while it was stopped.
      deps.assertValid();
      if (deps.signal.aborted) return false;
      if (!this.takeoverRecorded) {
        // Before anything of this leader reaches workers: runs of older leaders committed after
        // this revision cannot exist, and workers refuse any that claims to.
        await deps.target.recordTakeover(deps.token, deps.takeoverRevision);
        this.takeoverRecorded = true;
      }
      // Read before publishing: a restart after this read changes it, so the batch is published
      // again rather than taken as durable (see OutboxTracker.settle).
      const runId = await deps.target.serverRunId();
      deps.assertValid();
      if (deps.signal.aborted) return false;
      // Slices in flight together: Node encodes one while Redis runs another.
      const slices: Promise<void>[] = [];
      for (let i = 0; i < batch.length; i += PUBLISH_SLICE)
        slices.push(deps.target.publish(batch.slice(i, i + PUBLISH_SLICE), deps.clockOffsetMs));
      const failed = (await Promise.allSettled(slices)).find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      this.report(batch);
      tracker.published(batch, runId, this.monotonic());
      deps.onPublished?.(batch);
      if (tracker.pending === 0) deps.onDrained?.();
      this.setRedis(true);
      return true;
    } catch (err) {
      tracker.untake(batch);
      if (err instanceof NotLeaderError) return false;
      this.setRedis(false, (err as Error).message);
      throw err;
    }
  }

  private report(batch: readonly OutboxEntry[]): void {
    let oldest: number | null = null;
    const publishedAt = this.deps.now();
    const lagsMs: number[] = [];
    for (const e of batch) {
      if (e.order.kind === 'run' && !e.order.data.manual) {
        const at = Date.parse(e.order.data.scheduledAt);
        oldest = oldest === null ? at : Math.min(oldest, at);
        lagsMs.push(publishedAt - at);
      }
    }
    this.deps.emit({
      type: 'published',
      count: batch.length,
      lagMs: oldest === null ? null : publishedAt - oldest,
      lagsMs,
    });
  }

  /** Acknowledges durable batches; publishes again those a restarted Redis may have lost. */
  private async settle(): Promise<void> {
    const runId = await this.deps.target.serverRunId();
    const { republish } = this.tracker.settle(this.monotonic(), runId);
    if (republish.length > 0) {
      this.deps.logger.warn(
        { orders: republish.length },
        'redis restarted before the last orders were surely on disk; publishing them again',
      );
      this.deps.emit({ type: 'redis-restarted', republished: republish.length });
    }
  }

  /** Reads Redis's persistence settings once, to know how long an acknowledged write may be lost. */
  private async learnDurability(): Promise<void> {
    const d = await this.deps.target.durability();
    const log = this.deps.logger;
    if (d.appendonly === false || d.appendfsync === 'no') {
      this.tracker.durableMs = UNBOUNDED_DURABLE_MS;
      log.warn(
        { appendonly: d.appendonly, appendfsync: d.appendfsync },
        'redis does not fsync its append-only file: a Redis crash can lose runs published up to 30 s earlier; run Redis with appendonly yes (docs/operations.md)',
      );
    } else if (d.appendfsync === 'always') {
      this.tracker.durableMs = 0;
    } else {
      this.tracker.durableMs = DEFAULT_DURABLE_MS;
    }
    if (d.hz !== null && d.hz < RECOMMENDED_REDIS_HZ) {
      log.info(
        { hz: d.hz },
        `redis checks its timers ${d.hz} times a second: the leader promotes each delayed run at its instant, but if it dies, workers start runs up to ${Math.round(1000 / d.hz)} ms late until the next leader leads; hz ${RECOMMENDED_REDIS_HZ} narrows that (docs/operations.md)`,
      );
    }
  }

  private setRedis(ready: boolean, error?: string): void {
    if (ready === this.redisReady) return;
    this.redisReady = ready;
    this.deps.emit(
      error === undefined ? { type: 'redis', ready } : { type: 'redis', ready, error },
    );
  }
}
