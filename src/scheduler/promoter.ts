import type { Logger } from '../log.js';
import type { OutboxEntry } from '../coordination/ledger.js';
import { MinHeap } from './heap.js';

/**
 * Runs promoted per instant and queue. A worker woken by one promoted run promotes every run
 * due by then itself (BullMQ's `moveToActive` does, in batches of 1,000), so a few suffice to
 * wake the idle workers; the rest of a burst costs Redis nothing extra.
 */
export const PROMOTE_PER_INSTANT = 64;

/** Runs already this far past their time when published were added without a delay. */
const LATE_MS = 1000;

/** What promotion needs of Redis (the {@link Dispatcher}). */
export interface PromoteTarget {
  /** Moves these delayed runs of `queue` to waiting (those no longer delayed are left alone). */
  promote(queue: string, ids: string[]): Promise<number>;
}

/**
 * Makes delayed runs available at their instant, on the leader's timer. A delayed BullMQ job
 * becomes available when Redis checks its timers (`hz`, 10 times a second by default), so a worker
 * waiting for it would start it up to 100 ms late; the leader's timer is accurate to a
 * millisecond. Runs are published ahead (the look-ahead) as delayed jobs, and this moves them to
 * waiting when their time (instant + jitter) has come. The delayed copy stays the durable
 * fallback: if the leader dies first, Redis's own promotion still makes them available.
 * Promotion changes only when a run becomes available, never whether it runs: the worker's start
 * script still decides that (fence, duplicates, overlap).
 */
export class Promoter {
  private readonly heap = new MinHeap<number>((a, b) => a - b);
  /** Runs to promote per due time (schedule clock, epoch ms) and queue. */
  private readonly due = new Map<number, Map<string, string[]>>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt: number | null = null;
  private stopped = false;

  constructor(
    private readonly target: PromoteTarget,
    /** The schedule's clock (the one `availableAt` is on). */
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  /** Runs just published: each still delayed is promoted at its `availableAt`. */
  add(entries: readonly OutboxEntry[]): void {
    if (this.stopped) return;
    const now = this.now();
    for (const e of entries) {
      const o = e.order;
      // A run that was due before its publish began went straight to waiting (no delay).
      if (o.kind !== 'run' || o.availableAt <= now - LATE_MS) continue;
      let byQueue = this.due.get(o.availableAt);
      if (!byQueue) {
        byQueue = new Map();
        this.due.set(o.availableAt, byQueue);
        this.heap.push(o.availableAt);
      }
      const ids = byQueue.get(o.queue);
      if (!ids) byQueue.set(o.queue, [o.data.fireId]);
      else if (ids.length < PROMOTE_PER_INSTANT) ids.push(o.data.fireId);
    }
    this.arm();
  }

  /** Leadership ended: promote nothing more (Redis's own promotion takes over). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.due.clear();
  }

  /** How many instants wait for promotion. */
  get waiting(): number {
    return this.due.size;
  }

  private arm(): void {
    const next = this.heap.peek();
    if (next === undefined || this.stopped) return;
    if (this.timerAt !== null && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    // Node's timers may fire a millisecond early (the loop's clock is read once per turn), so
    // fire() checks the clock and re-arms rather than promote before the instant.
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - this.now()));
  }

  private fire(): void {
    this.timer = null;
    this.timerAt = null;
    const now = this.now();
    for (let at = this.heap.peek(); at !== undefined && at <= now; at = this.heap.peek()) {
      this.heap.pop();
      const byQueue = this.due.get(at);
      this.due.delete(at);
      for (const [queue, ids] of byQueue ?? []) {
        this.target.promote(queue, ids).catch((err: Error) => {
          // Redis promotes them itself on its next timer check.
          this.logger.debug({ queue, err }, 'cannot promote delayed runs');
        });
      }
    }
    this.arm();
  }
}
