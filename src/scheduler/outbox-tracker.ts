import type { OutboxEntry } from '../coordination/ledger.js';

/**
 * How long after a publish an `appendfsync everysec` Redis has certainly written and fsynced it:
 * it fsyncs every second, and postpones a write by up to 2 s while a slow fsync runs.
 */
export const DEFAULT_DURABLE_MS = 3000;
/** Without AOF (or `appendfsync no`) nothing bounds it; the kernel writes back within ~30 s. */
export const UNBOUNDED_DURABLE_MS = 30_000;

/** What {@link OutboxTracker.settle} decided for the batches whose durability window passed. */
export interface Settled {
  /** Outbox batches all in Redis and on its disk: to delete from etcd. */
  acknowledge: string[];
  /** Orders of batches a restarted Redis may have lost: to publish again. */
  republish: OutboxEntry[];
}

/**
 * The publisher's bookkeeping, without I/O: which committed orders are still to publish, which
 * outbox batches are all in Redis, and when each is durable there and may leave the outbox.
 * Times are monotonic ms passed by the caller.
 */
export class OutboxTracker {
  private toPublish: OutboxEntry[] = [];
  private readonly toAcknowledge: string[] = [];
  /** Orders of each outbox batch not yet published. */
  private readonly unpublished = new Map<string, number>();
  /** The orders of every outbox batch not yet acknowledged (to publish again if Redis lost them). */
  private readonly batchEntries = new Map<string, OutboxEntry[]>();
  /**
   * Batches all published, waiting to be durable in Redis before they leave the outbox: when
   * their last order was published, and the Redis run id read before it was.
   */
  private readonly undurable: { batch: string; publishedAt: number; runId: string }[] = [];
  /** The Redis run id the parts of a batch published so far went to (`restarted` if several). */
  private readonly batchRunId = new Map<string, string>();

  /** How long Redis may hold an acknowledged write before it is on disk (from its config). */
  durableMs = DEFAULT_DURABLE_MS;

  /** Orders waiting to be published. */
  get pending(): number {
    return this.toPublish.length;
  }

  /** Batches waiting to be acknowledged. */
  get acknowledgeable(): number {
    return this.toAcknowledge.length;
  }

  /** True while some published batch waits for its durability window. */
  get settling(): boolean {
    return this.undurable.length > 0;
  }

  /** Committed orders to publish (in order, after those already waiting). */
  add(entries: readonly OutboxEntry[]): void {
    for (const e of entries) {
      this.unpublished.set(e.batch, (this.unpublished.get(e.batch) ?? 0) + 1);
      const kept = this.batchEntries.get(e.batch);
      if (kept) kept.push(e);
      else this.batchEntries.set(e.batch, [e]);
    }
    // concat, not push(...): a takeover can bring hundreds of thousands of orders.
    this.toPublish = this.toPublish.length === 0 ? [...entries] : this.toPublish.concat(entries);
  }

  /** Takes up to `max` orders to publish; {@link untake} them if the publish fails. */
  take(max: number): OutboxEntry[] {
    return this.toPublish.splice(0, max);
  }

  /** Puts orders whose publish failed back in front, to be published again first. */
  untake(entries: OutboxEntry[]): void {
    this.toPublish = entries.concat(this.toPublish);
  }

  /**
   * `entries` are in Redis (whose run id was `runId` before they were sent), at `at`. A batch
   * all published waits {@link durableMs} before it is acknowledged: a Redis crash loses what it
   * acknowledged but had not yet written, and the outbox is what publishes it again.
   */
  published(entries: readonly OutboxEntry[], runId: string, at: number): void {
    for (const e of entries) {
      // A batch published in parts is durable only if Redis did not restart between the parts.
      const seen = this.batchRunId.get(e.batch);
      this.batchRunId.set(e.batch, seen === undefined || seen === runId ? runId : 'restarted');
      const left = (this.unpublished.get(e.batch) ?? 1) - 1;
      if (left > 0) {
        this.unpublished.set(e.batch, left);
      } else {
        this.unpublished.delete(e.batch);
        this.undurable.push({
          batch: e.batch,
          publishedAt: at,
          runId: this.batchRunId.get(e.batch)!,
        });
        this.batchRunId.delete(e.batch);
      }
    }
  }

  /** True when some batch's durability window has passed at `at` (then call {@link settle}). */
  settleDue(at: number): boolean {
    const oldest = this.undurable[0];
    return oldest !== undefined && at - oldest.publishedAt >= this.durableMs;
  }

  /**
   * Batches whose window has passed at `at`: those published to the Redis still running as
   * `runId` are durable and become acknowledgeable; those of a Redis that restarted since are
   * returned to publish again (they may be lost; fire markers keep what survived from being
   * added twice), and are added back to the orders to publish.
   */
  settle(at: number, runId: string): Settled {
    const republish: OutboxEntry[] = [];
    const acknowledge: string[] = [];
    while (this.undurable.length > 0 && at - this.undurable[0]!.publishedAt >= this.durableMs) {
      const u = this.undurable.shift()!;
      if (u.runId === runId) {
        this.toAcknowledge.push(u.batch);
        acknowledge.push(u.batch);
      } else {
        const entries = this.batchEntries.get(u.batch) ?? [];
        this.batchEntries.delete(u.batch);
        republish.push(...entries);
      }
    }
    if (republish.length > 0) this.add(republish);
    return { acknowledge, republish };
  }

  /** Ms from `at` until the next batch's durability window ends, or null when none waits. */
  nextSettleIn(at: number): number | null {
    const oldest = this.undurable[0];
    return oldest ? Math.max(0, oldest.publishedAt + this.durableMs - at) : null;
  }

  /** Takes every acknowledgeable batch; {@link acknowledged} or {@link unacknowledged} after. */
  takeAcknowledgements(): string[] {
    return this.toAcknowledge.splice(0, this.toAcknowledge.length);
  }

  /** The batches are deleted from the outbox: forget them. */
  acknowledged(batches: readonly string[]): void {
    for (const b of batches) this.batchEntries.delete(b);
  }

  /** Deleting them failed: acknowledge them again next time. */
  unacknowledged(batches: readonly string[]): void {
    this.toAcknowledge.unshift(...batches);
  }
}
