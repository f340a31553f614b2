import type { SkipReason } from '../fire.js';

/** What the leader reports as it works (logged by the replica, awaited by tests). */
export type LeaderEvent =
  | {
      type: 'takeover';
      outbox: number;
      jobs: number;
      ms: number;
      /** The longest the event loop was kept from running a timer during the takeover. */
      loopDelayMaxMs: number;
    }
  | {
      type: 'fire';
      job: string;
      fireId: string;
      token: string;
      scheduledAt: number;
      manual: boolean;
    }
  | {
      type: 'skip';
      job: string;
      reason: SkipReason;
      first: number;
      last: number;
      count: number;
      detail?: string;
    }
  /** One fenced txn committed: its scheduled and manual fire ids, and how many skip records. */
  | { type: 'committed'; fireIds: string[]; manualIds: string[]; skips: number }
  | {
      type: 'published';
      count: number;
      /** Lag of the oldest scheduled (not manual) run of the batch: now - scheduled instant. */
      lagMs: number | null;
      /** Lag of every scheduled run of the batch (negative: published ahead of its instant). */
      lagsMs: number[];
    }
  | { type: 'redis'; ready: boolean; error?: string }
  /** Redis restarted (new run id) while orders were not yet durable: they are published again. */
  | { type: 'redis-restarted'; republished: number }
  | { type: 'trigger-rejected'; id: string; job: string; reason: string };
