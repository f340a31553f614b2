import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import type { JobDefinition } from '../definitions/types.js';
import { NotLeaderError, SessionEnd } from '../errors.js';
import type { Logger } from '../log.js';
import type { Leadership } from '../coordination/election.js';
import type { TriggerRecord } from '../coordination/intents.js';
import { Intents } from '../coordination/intents.js';
import type { Keys } from '../coordination/keys.js';
import {
  Ledger,
  type JobDecision,
  type OutboxEntry,
  type Watermark,
} from '../coordination/ledger.js';
import type { Session } from '../coordination/session.js';
import type { Dispatcher } from '../dispatch/producer.js';
import { BackfillRunner } from './backfill.js';
import { IntentWatch } from './intent-watch.js';
import type { LeaderEvent } from './leader-events.js';
import { AdaptiveLookahead } from './lookahead.js';
import { Planner } from './planner.js';
import { Promoter } from './promoter.js';
import { Publisher } from './publisher.js';
import { loadInSlices } from './sliced-load.js';
import { Withdrawal } from './withdrawal.js';

export type { LeaderEvent } from './leader-events.js';

export interface FireLoopDeps {
  etcd: Etcd3;
  keys: Keys;
  session: Session;
  leadership: Leadership;
  dispatcher: Dispatcher;
  replicaId: string;
  logger: Logger;
  /** The current valid definitions (last good set). */
  definitions: () => readonly JobDefinition[];
  emit: (event: LeaderEvent) => void;
  /**
   * Decide and publish fires this long before their instant, as BullMQ delayed jobs that the
   * leader makes available exactly at the instant, so etcd and Redis round trips do not delay a
   * run.
   * @defaultValue 250
   */
  lookaheadMs?: number;
  /**
   * How far the schedule's clock is ahead of the real one (`BATON_CLOCK_OFFSET_MS`, tests and
   * demos). @defaultValue 0
   */
  clockOffsetMs?: number;
}

const MAX_TIMER_MS = 60 * 60 * 1000;

/**
 * The leader's fire loop. Takeover first (publish the outbox again, apply every job's catch-up
 * policy from its watermark), then: wake at the earliest next instant minus the look-ahead,
 * decide everything due ({@link Planner}), commit it in fenced etcd txns, hand it to the
 * background {@link Publisher} (Redis, then the outbox acknowledgement) and the {@link Promoter}
 * (available at the instant). Returns (or throws {@link NotLeaderError}) when leadership ends;
 * it never decides after that.
 */
export class FireLoop {
  private readonly ledger: Ledger;
  private readonly intents: Intents;
  private readonly planner: Planner;
  private readonly lookahead: AdaptiveLookahead;
  private readonly promoter: Promoter;
  private readonly withdrawal: Withdrawal;
  private readonly watch: IntentWatch;
  private publisher: Publisher | null = null;
  private readonly triggers: TriggerRecord[] = [];
  private readonly seenTriggers = new Set<string>();
  private wakeUp: (() => void) | null = null;
  private reloadPending = false;
  private readonly now: () => number;
  private readonly clockOffsetMs: number;
  private readonly abort: AbortController;

  constructor(private readonly deps: FireLoopDeps) {
    this.ledger = new Ledger(deps.etcd, deps.keys);
    this.intents = new Intents(deps.etcd, deps.keys);
    this.clockOffsetMs = deps.clockOffsetMs ?? 0;
    const offset = this.clockOffsetMs;
    this.now = offset === 0 ? Date.now : () => Date.now() + offset;
    this.planner = new Planner({ token: deps.leadership.token, id: deps.replicaId });
    this.lookahead = new AdaptiveLookahead(Math.max(0, deps.lookaheadMs ?? 250));
    this.promoter = new Promoter(deps.dispatcher, this.now, deps.logger);
    this.withdrawal = new Withdrawal(deps.dispatcher, deps.emit, deps.logger);
    this.watch = new IntentWatch(deps.etcd, deps.keys, {
      paused: (job) => {
        this.planner.setPaused(job, true);
        void this.withdrawal.withdraw(job, this.planner.withdrawable(job, this.now()));
      },
      resumed: (job) => this.planner.setPaused(job, false),
      triggered: (t) => {
        this.addTrigger(t);
        this.wake();
      },
      failed: (err) => deps.session.end('watch_failed', `intent watch failed: ${err.message}`),
    });
    this.abort = new AbortController();
    const stop = () => {
      this.abort.abort(deps.leadership.signal.reason);
      this.wake();
    };
    if (deps.leadership.signal.aborted) stop();
    else deps.leadership.signal.addEventListener('abort', stop, { once: true });
  }

  /** Ask the loop to pick up a new definitions set (hot reload). */
  reload(): void {
    this.reloadPending = true;
    this.wake();
  }

  /** Runs until leadership ends. */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    const { deps } = this;
    // How long the takeover kept timers (the session's keep-alives among them) from running.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    try {
      const started = this.now();
      // 1. Committed-but-unpublished decisions of earlier leaders, published again under this
      //    leader's token (same ids, so anything already in Redis is left as is).
      deps.dispatcher.overlapSkipped = (o) => {
        const at = Date.parse(o.data.scheduledAt);
        deps.emit({
          type: 'skip',
          job: o.data.job,
          reason: 'overlap',
          first: at,
          last: at,
          count: 1,
        });
      };
      //    Orders are published as committed, with their deciding leader's token and commit
      //    revision: that leader was valid when it committed them, so they must run.
      const outbox = await this.ledger.readOutbox();
      this.startPublisher(outbox.revision);
      this.publisher!.enqueue(outbox.entries);

      // 2. Operator intents, then watches from the revision they were read at.
      const [pausedRead, triggerRead] = await Promise.all([
        this.intents.readPaused(),
        this.intents.readTriggers(),
      ]);
      for (const job of pausedRead.paused.keys()) this.planner.setPaused(job, true);
      for (const t of triggerRead.triggers) this.addTrigger(t);
      await this.watch.open(pausedRead.revision, triggerRead.revision);

      // 3. Catch-up of every job from its watermark.
      await this.applyDefinitions(true);
      deps.emit({
        type: 'takeover',
        outbox: outbox.entries.length,
        jobs: this.planner.size,
        ms: this.now() - started,
        loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
      });
      loopDelay.disable();

      // Operator backfills: decided through the same fenced commit (src/scheduler/backfill.ts).
      void new BackfillRunner({
        etcd: this.deps.etcd,
        keys: this.deps.keys,
        redis: this.deps.dispatcher.redis,
        redisKeys: this.deps.dispatcher.keys,
        token: this.deps.leadership.token,
        replicaId: this.deps.replicaId,
        definitions: this.deps.definitions,
        commit: (d) => this.commitAndPublish(d),
        signal,
        logger: deps.logger,
        now: this.now,
      }).run();

      // 4. The loop.
      while (!signal.aborted) {
        if (this.reloadPending) {
          this.reloadPending = false;
          await this.applyDefinitions(false);
        }
        if (this.triggers.length > 0) await this.consumeTriggers();
        const next = this.planner.nextInstant();
        const lookahead = this.lookahead.effective(next === null ? 0 : this.planner.dueCount(next));
        const now = this.now();
        if (next !== null && next <= now + lookahead) {
          await this.tick(now, now + lookahead, null);
          continue;
        }
        // A burst further ahead is planned as early as it should take to publish (bounded).
        const burst = this.planner.nextBurst(now + lookahead);
        const lead = burst === null ? 0 : this.lookahead.effective(this.planner.dueCount(burst));
        if (burst !== null && burst <= now + lead) {
          await this.tick(now, burst, burst);
          continue;
        }
        const wakeAt = next === null ? null : next - lookahead;
        await this.sleepUntil(burst === null ? wakeAt : Math.min(wakeAt ?? Infinity, burst - lead));
      }
    } catch (err) {
      if (!signal.aborted) deps.logger.error({ err }, 'fire loop stopped');
      throw err;
    } finally {
      loopDelay.disable();
      deps.dispatcher.overlapSkipped = null;
      this.abort.abort('fire loop ended');
      this.promoter.stop();
      await this.watch.close();
    }
  }

  private startPublisher(takeoverRevision: string): void {
    const { deps } = this;
    this.publisher = new Publisher({
      target: deps.dispatcher,
      acknowledge: (batches) => this.ledger.acknowledge(batches),
      assertValid: () => deps.session.assertValid(),
      signal: this.abort.signal,
      token: deps.leadership.token,
      takeoverRevision,
      logger: deps.logger,
      emit: deps.emit,
      now: this.now,
      clockOffsetMs: this.clockOffsetMs,
      onPublished: (entries) => this.promoter.add(entries),
      onDrained: () => {
        // The loop may be asleep on a look-ahead computed before this tick was measured.
        if (this.lookahead.published(performance.now())) this.wake();
      },
    });
    void this.publisher.start();
  }

  private get fence() {
    return { key: this.deps.leadership.key, token: this.deps.leadership.token };
  }

  private addTrigger(t: TriggerRecord): void {
    if (this.seenTriggers.has(t.id)) return;
    this.seenTriggers.add(t.id);
    this.triggers.push(t);
  }

  /**
   * Brings the planner in line with the definitions (takeover: every job's catch-up), a slice of
   * jobs at a time ({@link loadInSlices}).
   */
  private async applyDefinitions(takeover: boolean): Promise<void> {
    const defs = this.deps.definitions();
    const watermarks = this.planner.needsWatermarks(defs, takeover)
      ? await this.ledger.readWatermarks()
      : new Map<string, Watermark>();
    // A slice at a time, each committed while the next is decided, with event-loop turns in
    // between: 100,000 jobs decided and committed in one go kept the loop busy for seconds (the
    // session's keep-alives starved on a loaded machine) and held every decision and txn at once.
    const result = await loadInSlices(
      this.planner,
      defs,
      watermarks,
      this.now(),
      takeover,
      (decisions) => this.commitAndPublish(decisions),
    );
    for (const p of result.problems) {
      // Validated definitions compile; this guards the leader against a definitions bug.
      this.deps.logger.error({ job: p.job, err: p.message }, 'cannot compile schedule');
    }
    for (const def of result.fresh) {
      if (def.paused && !this.planner.isPaused(def.name)) {
        await this.intents.pause(def.name, 'definition', 'paused: true in the definition');
        this.planner.setPaused(def.name, true);
      }
    }
  }

  /**
   * Decides every instant of the due jobs up to `horizon` (now + look-ahead), or only the jobs
   * due at `burst`: runs are published as delayed jobs available at their instant; each job's
   * watermark moves to the horizon.
   */
  private async tick(now: number, horizon: number, burst: number | null): Promise<void> {
    const t0 = performance.now();
    const { jobs, decisions } =
      burst === null ? this.planner.tick(now, horizon) : this.planner.tickBurst(now, burst);
    this.lookahead.started(jobs, t0);
    const t1 = performance.now();
    await this.commitAndPublish(decisions);
    this.deps.logger.debug(
      { jobs, planMs: t1 - t0, commitMs: performance.now() - t1, horizonMs: horizon - now },
      'tick',
    );
  }

  private async consumeTriggers(): Promise<void> {
    const batch = this.triggers.splice(0, this.triggers.length);
    const { decisions, rejected } = this.planner.triggers(batch, this.now(), (id) =>
      this.deps.keys.trigger(id),
    );
    for (const t of rejected) {
      this.deps.emit({ type: 'trigger-rejected', id: t.id, job: t.job, reason: 'unknown job' });
    }
    await this.commitAndPublish(decisions);
  }

  /**
   * Fenced commit, then hand the committed orders to the publisher. Also the entry point for
   * other leader-side deciders (they pass decisions the same way).
   */
  async commitAndPublish(decisions: JobDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    this.deps.session.assertValid();
    if (this.abort.signal.aborted) {
      throw new NotLeaderError(
        String(this.abort.signal.reason),
        SessionEnd.of(this.abort.signal.reason),
      );
    }
    try {
      await this.ledger.commit(this.fence, decisions, (committed) => this.committed(committed));
    } catch (err) {
      if (err instanceof NotLeaderError) this.deps.session.end(err.ending);
      throw err;
    }
  }

  /** One txn's orders are in etcd: report them and publish them at once. */
  private committed(committed: OutboxEntry[]): void {
    const { emit } = this.deps;
    const fireIds: string[] = [];
    const manualIds: string[] = [];
    let skips = 0;
    for (const e of committed) {
      if (e.order.kind === 'run') {
        const d = e.order.data;
        (d.manual ? manualIds : fireIds).push(d.fireId);
        emit({
          type: 'fire',
          job: d.job,
          fireId: d.fireId,
          token: d.fencingToken,
          scheduledAt: Date.parse(d.scheduledAt),
          manual: d.manual,
        });
      } else {
        const s = e.order;
        skips++;
        emit({
          type: 'skip',
          job: s.job,
          reason: s.reason,
          first: s.first,
          last: s.last,
          count: s.count,
          ...(s.detail === undefined ? {} : { detail: s.detail }),
        });
      }
    }
    emit({ type: 'committed', fireIds, manualIds, skips });
    this.publisher!.enqueue(committed);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private async sleepUntil(at: number | null): Promise<void> {
    if (this.abort.signal.aborted || this.reloadPending || this.triggers.length > 0) return;
    await new Promise<void>((resolve) => {
      const delay =
        at === null ? MAX_TIMER_MS : Math.min(Math.max(0, at - this.now()), MAX_TIMER_MS);
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, delay);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
