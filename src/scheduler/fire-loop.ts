import { performance } from 'node:perf_hooks';
import type { Etcd3, Watcher } from 'etcd3';
import type { JobDefinition } from '../definitions/types.js';
import { NotLeaderError, SessionEnd } from '../errors.js';
import {
  fireId,
  manualFireId,
  type Order,
  type RunOrder,
  type SkipReason,
  type SkipRecord,
} from '../fire.js';
import type { Logger } from '../log.js';
import type { Leadership } from '../coordination/election.js';
import type { PauseRecord, TriggerRecord } from '../coordination/intents.js';
import { Intents } from '../coordination/intents.js';
import type { Keys } from '../coordination/keys.js';
import {
  Ledger,
  MAX_TXN_OPS,
  type JobDecision,
  type OutboxEntry,
  type Watermark,
} from '../coordination/ledger.js';
import type { Session } from '../coordination/session.js';
import { openWatch } from '../coordination/watch.js';
import type { Dispatcher } from '../dispatch/producer.js';
import { compileSchedule, jitterMs, planCatchUp, type CompiledSchedule } from '../cron/index.js';
import { BackfillRunner } from './backfill.js';
import { MinHeap } from './heap.js';

/** What the leader reports as it works (logged by the replica, awaited by tests). */
export type LeaderEvent =
  | { type: 'takeover'; outbox: number; jobs: number; ms: number }
  | {
      type: 'fire';
      job: string;
      fireId: string;
      token: string;
      scheduledAt: number;
      manual: boolean;
    }
  | { type: 'skip'; job: string; reason: SkipReason; first: number; last: number; count: number }
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
   * Decide and publish fires this long before their instant, as BullMQ delayed jobs that become
   * available exactly at the instant, so etcd and Redis round trips do not delay a run.
   * @defaultValue 250
   */
  lookaheadMs?: number;
  now?: () => number;
}

interface JobState {
  def: JobDefinition;
  schedule: CompiledSchedule;
  /** Every instant <= watermark is decided. */
  watermark: number;
  /** When a leader first saw the job (epoch ms), or null for jobs first seen before 0.2. */
  since: number | null;
  /** Next instant after the watermark, or null when the schedule never fires again. */
  next: number | null;
  /** Bumped when the entry is replaced so stale heap entries are ignored. */
  version: number;
}

/** Orders one decision may hold so that it fits one txn with its watermark and skip records. */
const MAX_RUNS_PER_DECISION = MAX_TXN_OPS - 10;
const MAX_TIMER_MS = 60 * 60 * 1000;
/** Look-ahead never exceeds this, so a pause always takes effect within a second. */
const MAX_LOOKAHEAD_MS = 1000;
/**
 * Cost of one job in a burst before any was measured: 10,000 jobs took ~1.3 s to decide, commit
 * and publish on the 2-core benchmark machine (bench/results/).
 */
const PRIOR_MS_PER_JOB = 0.13;
/** Orders per {@link Dispatcher.publish} call; a drained batch publishes several at once. */
const PUBLISH_SLICE = 1000;
/**
 * How long after a publish an `appendfsync everysec` Redis has certainly written and fsynced it:
 * it fsyncs every second, and postpones a write by up to 2 s while a slow fsync runs.
 */
const DEFAULT_DURABLE_MS = 3000;
/** Redis `hz` below this delays the start of delayed runs noticeably (1000/hz ms at most). */
const RECOMMENDED_REDIS_HZ = 100;
/** Without AOF (or `appendfsync no`) nothing bounds it; the kernel writes back within ~30 s. */
const UNBOUNDED_DURABLE_MS = 30_000;
/** A tick needs this many jobs to measure {@link FireLoop.msPerJob} from (round trips dominate below). */
const MEASURE_MIN_JOBS = 1000;

/**
 * The leader's fire loop. Takeover first (publish the outbox again, apply every job's catch-up
 * policy from its watermark), then: wake at the earliest next instant, decide everything due in
 * fenced etcd txns, publish to Redis in bulk, acknowledge the outbox. Returns (or throws
 * {@link NotLeaderError}) when leadership ends; it never decides after that.
 */
export class FireLoop {
  private readonly ledger: Ledger;
  private readonly intents: Intents;
  private readonly jobs = new Map<string, JobState>();
  private readonly schedules = new Map<string, CompiledSchedule>();
  private readonly heap = new MinHeap<{ at: number; job: string; version: number }>(
    (a, b) => a.at - b.at,
  );
  private paused = new Map<string, PauseRecord>();
  private readonly triggers: TriggerRecord[] = [];
  private readonly seenTriggers = new Set<string>();
  private readonly toPublish: OutboxEntry[] = [];
  /** Outbox batch ids whose orders are all published. */
  private readonly toAcknowledge: string[] = [];
  /** Orders of each outbox batch not yet published. */
  private readonly unpublished = new Map<string, number>();
  /** The orders of every outbox batch not yet acknowledged (to publish again if Redis lost them). */
  private readonly batchEntries = new Map<string, OutboxEntry[]>();
  /**
   * Batches all published, waiting to be durable in Redis before they leave the outbox: when
   * (monotonic ms) their last order was published, and the Redis run id read before it was.
   */
  private readonly undurable: { batch: string; publishedAt: number; runId: string }[] = [];
  /** The Redis run id the parts of a batch published so far went to (`restarted` if several). */
  private readonly batchRunId = new Map<string, string>();
  /** How long Redis may hold an acknowledged write before it is on disk (from its config). */
  private durableMs = DEFAULT_DURABLE_MS;
  /** The etcd revision this leader took over at (its outbox read); recorded in Redis first. */
  private takeoverRevision: string | null = null;
  private takeoverRecorded = false;
  private readonly watchers: Watcher[] = [];
  private wakeUp: (() => void) | null = null;
  private reloadPending = false;
  private drainRunning = false;
  private drainWake: (() => void) | null = null;
  private redisReady = true;
  private readonly now: () => number;
  private readonly lookahead: number;
  /** When the last tick started, and how long its decide + commit + publish took (ms). */
  private tickStartedAt = 0;
  private tickJobs = 0;
  /** A tick's orders are still being published (so the time to the empty queue is its length). */
  private tickMeasuring = false;
  private lastTickMs = 0;
  /** Decide + commit + publish time per job of the last large tick (ms); a prior until then. */
  private msPerJob = PRIOR_MS_PER_JOB;
  /** How many heap entries wait at each instant (stale ones included: an over-estimate). */
  private readonly dueAt = new Map<number, number>();
  private readonly abort: AbortController;

  constructor(private readonly deps: FireLoopDeps) {
    this.ledger = new Ledger(deps.etcd, deps.keys);
    this.intents = new Intents(deps.etcd, deps.keys);
    this.now = deps.now ?? Date.now;
    this.lookahead = Math.max(0, deps.lookaheadMs ?? 250);
    this.abort = new AbortController();
    const stop = () => {
      this.abort.abort(deps.leadership.signal.reason);
      this.wake();
      this.drainWake?.();
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
    const log = this.deps.logger;
    try {
      const started = this.now();
      // 1. Committed-but-unpublished decisions of earlier leaders, published again under this
      //    leader's token (same ids, so anything already in Redis is left as is).
      this.deps.dispatcher.overlapSkipped = (o) => {
        const at = Date.parse(o.data.scheduledAt);
        this.deps.emit({
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
      this.takeoverRevision = outbox.revision;
      this.queuePublish(outbox.entries);
      this.startDrain();

      // 2. Operator intents, then watches from the revision they were read at.
      const [pausedRead, triggerRead] = await Promise.all([
        this.intents.readPaused(),
        this.intents.readTriggers(),
      ]);
      this.paused = pausedRead.paused;
      for (const t of triggerRead.triggers) this.addTrigger(t);
      await this.watchIntents(pausedRead.revision, triggerRead.revision);

      // 3. Catch-up of every job from its watermark.
      await this.applyDefinitions(true);
      this.deps.emit({
        type: 'takeover',
        outbox: outbox.entries.length,
        jobs: this.jobs.size,
        ms: this.now() - started,
      });

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
        logger: log,
        now: this.now,
      }).run();

      // 4. The loop.
      while (!signal.aborted) {
        if (this.reloadPending) {
          this.reloadPending = false;
          await this.applyDefinitions(false);
        }
        if (this.triggers.length > 0) await this.consumeTriggers();
        const now = this.now();
        const lookahead = this.effectiveLookahead();
        const horizon = now + lookahead;
        const due = this.popDue(horizon);
        if (due.length > 0) {
          await this.fire(due, horizon);
          continue;
        }
        const next = this.heap.peek()?.at;
        await this.sleepUntil(next === undefined ? null : next - lookahead);
      }
    } catch (err) {
      if (!signal.aborted) log.error({ err: (err as Error).message }, 'fire loop stopped');
      throw err;
    } finally {
      this.deps.dispatcher.overlapSkipped = null;
      this.abort.abort('fire loop ended');
      this.drainWake?.();
      await Promise.allSettled(this.watchers.map((w) => w.cancel()));
    }
  }

  /**
   * The configured look-ahead, stretched (up to {@link MAX_LOOKAHEAD_MS}) for a burst: by how long
   * the jobs due at the next instant should take at the measured cost per job, and by how long
   * the last tick took. So a burst of thousands of jobs is in Redis before its instant, the first
   * time as well.
   */
  private effectiveLookahead(): number {
    if (this.lookahead === 0) return 0;
    const next = this.heap.peek()?.at;
    const dueNext = next === undefined ? 0 : (this.dueAt.get(next) ?? 0);
    const expected = Math.max(this.lastTickMs, dueNext * this.msPerJob);
    return Math.min(MAX_LOOKAHEAD_MS, Math.max(this.lookahead, Math.ceil(1.5 * expected)));
  }

  private get fence() {
    return { key: this.deps.leadership.key, token: this.deps.leadership.token };
  }

  private async watchIntents(pausedRevision: string, triggerRevision: string): Promise<void> {
    const { etcd, keys } = this.deps;
    const next = (rev: string) => (BigInt(rev) + 1n).toString();
    const failed = (err: Error) =>
      this.deps.session.end('watch_failed', `intent watch failed: ${err.message}`);
    const paused = await openWatch(
      etcd.watch().prefix(keys.pausedPrefix).startRevision(next(pausedRevision)),
      (w) => {
        w.on('put', (kv) => {
          const job = kv.key.toString().slice(keys.pausedPrefix.length);
          try {
            this.paused.set(job, JSON.parse(kv.value.toString()) as PauseRecord);
          } catch {
            return; // not a pause record written by baton
          }
          this.withdrawDecided(job);
        });
        w.on('delete', (kv) => {
          this.paused.delete(kv.key.toString().slice(keys.pausedPrefix.length));
        });
        w.on('error', failed);
      },
    );
    this.watchers.push(paused);
    const triggers = await openWatch(
      etcd.watch().prefix(keys.triggersPrefix).startRevision(next(triggerRevision)),
      (w) => {
        w.on('put', (kv) => {
          try {
            this.addTrigger(JSON.parse(kv.value.toString()) as TriggerRecord);
            this.wake();
          } catch {
            // not a trigger written by baton
          }
        });
        w.on('error', failed);
      },
    );
    this.watchers.push(triggers);
  }

  /**
   * A pause seen while leading: the job's runs already decided for instants after now (inside the
   * look-ahead) are withdrawn from Redis unless a worker has taken them, and recorded as skipped
   * (`paused`). Best effort: a run being published at this very moment still runs.
   */
  private withdrawDecided(job: string): void {
    const state = this.jobs.get(job);
    if (!state) return;
    const now = this.now();
    const runs: { run: RunOrder; skip: SkipRecord }[] = [];
    for (
      let at = state.schedule.next(now);
      at !== null && at <= state.watermark && runs.length < MAX_RUNS_PER_DECISION;
      at = state.schedule.next(at)
    ) {
      runs.push({
        run: this.runOrder(state.def, at, fireId(job, at), false, state.def.payload),
        skip: this.skip(job, 'paused', at, at, 1),
      });
    }
    if (runs.length === 0) return;
    this.deps.dispatcher.withdraw(runs).then(
      (withdrawn) => {
        for (const { skip } of withdrawn) {
          this.deps.emit({
            type: 'skip',
            job,
            reason: 'paused',
            first: skip.first,
            last: skip.last,
            count: 1,
          });
        }
      },
      (err: Error) =>
        this.deps.logger.warn(
          { job, err: err.message },
          'cannot withdraw the runs decided before the pause; they run',
        ),
    );
  }

  private addTrigger(t: TriggerRecord): void {
    if (this.seenTriggers.has(t.id)) return;
    this.seenTriggers.add(t.id);
    this.triggers.push(t);
  }

  /**
   * Brings the job table in line with the definitions. At takeover every job's catch-up policy
   * is applied from its watermark. On a reload, known jobs keep their watermark (a changed
   * schedule continues after it, so no decided instant fires again and none is skipped) and only
   * jobs new to this leader read theirs.
   */
  private async applyDefinitions(takeover: boolean): Promise<void> {
    const defs = this.deps.definitions();
    const unknown = defs.some((d) => takeover || !this.jobs.has(d.name));
    const watermarks = unknown ? await this.ledger.readWatermarks() : new Map<string, Watermark>();
    const now = this.now();
    const decisions: JobDecision[] = [];
    const seen = new Set<string>();
    const fresh: JobDefinition[] = [];
    for (const def of defs) {
      seen.add(def.name);
      const existing = takeover ? undefined : this.jobs.get(def.name);
      if (
        existing &&
        existing.def.schedule === def.schedule &&
        existing.def.timezone === def.timezone
      ) {
        existing.def = def;
        continue;
      }
      let schedule: CompiledSchedule;
      try {
        schedule = this.compile(def.schedule, def.timezone);
      } catch (err) {
        // Validated definitions compile; this guards the leader against a definitions bug.
        this.deps.logger.error(
          { job: def.name, err: (err as Error).message },
          'cannot compile schedule',
        );
        continue;
      }
      if (existing) {
        this.setJob(def, schedule, existing.watermark, existing.since);
        continue;
      }
      const wm = watermarks.get(def.name);
      if (!wm) {
        // First sight of the job: its history starts now, recorded so that a leader change before
        // its first fire cannot lose one.
        fresh.push(def);
        decisions.push({ job: def.name, watermark: now, since: now, orders: [] });
        this.setJob(def, schedule, now, now);
        continue;
      }
      const through = Math.max(now, wm.at);
      const orders = this.catchUp(def, schedule, wm.at, now);
      // Nothing was due since the watermark: leave it (it still precedes every undecided
      // instant), so a takeover of 100,000 quiet jobs writes nothing.
      const since = wm.since ?? null;
      if (orders.length > 0) decisions.push(...this.split(def.name, orders, through, since));
      this.setJob(def, schedule, through, since);
    }
    for (const name of [...this.jobs.keys()]) if (!seen.has(name)) this.jobs.delete(name);
    await this.commitAndPublish(decisions);
    for (const def of fresh) {
      if (def.paused && !this.paused.has(def.name)) {
        const record = await this.intents.pause(
          def.name,
          'definition',
          'paused: true in the definition',
        );
        this.paused.set(def.name, record);
      }
    }
  }

  /** Compiled schedules are immutable: jobs with the same expression and zone share one. */
  private compile(expression: string, timezone: string): CompiledSchedule {
    const key = `${timezone}\u0000${expression}`;
    let s = this.schedules.get(key);
    if (!s) {
      s = compileSchedule(expression, timezone);
      this.schedules.set(key, s);
    }
    return s;
  }

  private setJob(
    def: JobDefinition,
    schedule: CompiledSchedule,
    watermark: number,
    since: number | null,
  ): void {
    const version = (this.jobs.get(def.name)?.version ?? 0) + 1;
    const next = schedule.next(watermark);
    this.jobs.set(def.name, { def, schedule, watermark, since, next, version });
    if (next !== null) {
      this.heap.push({ at: next, job: def.name, version });
      this.dueAt.set(next, (this.dueAt.get(next) ?? 0) + 1);
    }
  }

  /** Orders for the instants in (from, now] of one job under its policy (takeover) or 'all' (late loop). */
  private catchUp(
    def: JobDefinition,
    schedule: CompiledSchedule,
    from: number,
    now: number,
    steady = false,
  ): Order[] {
    if (this.paused.has(def.name)) {
      const plan = planCatchUp({
        schedule,
        lastFireMs: from,
        nowMs: now,
        policy: 'none',
        limit: 0,
        startingDeadlineMs: null,
      });
      return plan.skipped.map((s) => this.skip(def.name, 'paused', s.first, s.last, s.count));
    }
    if (steady) {
      // The common case, without planning: exactly one instant due and within its deadline.
      const first = schedule.next(from);
      if (first !== null && first <= now) {
        const second = schedule.next(first);
        const onTime =
          def.startingDeadlineMs === null || first >= this.now() - def.startingDeadlineMs;
        if ((second === null || second > now) && onTime) {
          return [this.runOrder(def, first, fireId(def.name, first), false, def.payload)];
        }
      }
    }
    const plan = planCatchUp({
      schedule,
      lastFireMs: from,
      nowMs: now,
      policy: steady ? 'all' : def.catchUp,
      limit: def.catchUpLimit,
      startingDeadlineMs: def.startingDeadlineMs,
    });
    const orders: Order[] = plan.skipped.map((s) =>
      this.skip(def.name, s.reason, s.first, s.last, s.count),
    );
    for (const at of plan.run)
      orders.push(this.runOrder(def, at, fireId(def.name, at), false, def.payload));
    return orders;
  }

  /** A job's orders as decisions of at most one txn each; the watermark goes with the last. */
  private split(
    job: string,
    orders: Order[],
    watermark: number,
    since: number | null,
  ): JobDecision[] {
    const out: JobDecision[] = [];
    for (let i = 0; i < orders.length; i += MAX_RUNS_PER_DECISION) {
      out.push({ job, watermark: null, orders: orders.slice(i, i + MAX_RUNS_PER_DECISION) });
    }
    if (out.length === 0) return [{ job, watermark, since, orders: [] }];
    const last = out[out.length - 1]!;
    last.watermark = watermark;
    last.since = since;
    return out;
  }

  private runOrder(
    def: JobDefinition,
    at: number,
    id: string,
    manual: boolean,
    payload: unknown,
  ): RunOrder {
    return {
      kind: 'run',
      queue: def.queue,
      data: {
        job: def.name,
        scheduledAt: new Date(at).toISOString(),
        fireId: id,
        fencingToken: this.deps.leadership.token,
        leader: this.deps.replicaId,
        payload,
        manual,
      },
      availableAt: manual ? at : at + jitterMs(def.name, at, def.jitterMs),
      attempts: def.retries.attempts,
      backoff: { type: def.retries.backoff, delay: def.retries.delayMs },
      keep: { ageSeconds: Math.ceil(def.retention.ageMs / 1000), count: def.retention.count },
      forbidOverlap: def.overlap === 'forbid' && !manual,
    };
  }

  private skip(
    job: string,
    reason: SkipReason,
    first: number,
    last: number,
    count: number,
  ): SkipRecord {
    return {
      kind: 'skip',
      job,
      reason,
      first,
      last,
      count,
      decidedAt: this.now(),
      fencingToken: this.deps.leadership.token,
      leader: this.deps.replicaId,
    };
  }

  private popDue(now: number): string[] {
    const due: string[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > now) break;
      this.heap.pop();
      const left = (this.dueAt.get(top.at) ?? 1) - 1;
      if (left > 0) this.dueAt.set(top.at, left);
      else this.dueAt.delete(top.at);
      const state = this.jobs.get(top.job);
      if (state && state.version === top.version && state.next === top.at) due.push(top.job);
    }
    return due;
  }

  /**
   * Decides every instant of the due jobs up to `horizon` (now + look-ahead): runs are published
   * as delayed jobs available at their instant; each job's watermark moves to the horizon.
   */
  private async fire(due: string[], horizon: number): Promise<void> {
    const t0 = performance.now();
    this.tickStartedAt = t0;
    this.tickJobs = due.length;
    this.tickMeasuring = true;
    const decisions: JobDecision[] = [];
    for (const name of due) {
      const s = this.jobs.get(name)!;
      // Normally one instant; more only when the loop was late (a long pause of this process).
      const orders = this.catchUp(s.def, s.schedule, s.watermark, horizon, true);
      decisions.push(...this.split(name, orders, horizon, s.since));
    }
    const t1 = performance.now();
    await this.commitAndPublish(decisions);
    const t2 = performance.now();
    for (const name of due) {
      const s = this.jobs.get(name)!;
      this.setJob(s.def, s.schedule, horizon, s.since);
    }
    this.deps.logger.debug(
      { jobs: due.length, planMs: t1 - t0, commitMs: t2 - t1, nextMs: performance.now() - t2 },
      'tick',
    );
  }

  private async consumeTriggers(): Promise<void> {
    const now = this.now();
    const batch = this.triggers.splice(0, this.triggers.length);
    const decisions: JobDecision[] = [];
    for (const t of batch) {
      const consume = [this.deps.keys.trigger(t.id)];
      const state = this.jobs.get(t.job);
      if (!state) {
        this.deps.emit({ type: 'trigger-rejected', id: t.id, job: t.job, reason: 'unknown job' });
        decisions.push({
          job: t.job,
          watermark: null,
          orders: [this.skip(t.job, 'unknown-job', now, now, 1)],
          consume,
        });
        continue;
      }
      const payload = t.payload === undefined ? state.def.payload : t.payload;
      decisions.push({
        job: t.job,
        watermark: null,
        orders: [this.runOrder(state.def, now, manualFireId(t.job, t.id), true, payload)],
        consume,
      });
    }
    await this.commitAndPublish(decisions);
  }

  /** Fenced commit, then hand the committed orders to the publisher. */
  private async commitAndPublish(decisions: JobDecision[]): Promise<void> {
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
    for (const e of committed) {
      if (e.order.kind === 'run') {
        const d = e.order.data;
        this.deps.emit({
          type: 'fire',
          job: d.job,
          fireId: d.fireId,
          token: d.fencingToken,
          scheduledAt: Date.parse(d.scheduledAt),
          manual: d.manual,
        });
      } else {
        const s = e.order;
        this.deps.emit({
          type: 'skip',
          job: s.job,
          reason: s.reason,
          first: s.first,
          last: s.last,
          count: s.count,
        });
      }
    }
    this.queuePublish(committed);
  }

  private queuePublish(entries: OutboxEntry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) {
      this.unpublished.set(e.batch, (this.unpublished.get(e.batch) ?? 0) + 1);
      const kept = this.batchEntries.get(e.batch);
      if (kept) kept.push(e);
      else this.batchEntries.set(e.batch, [e]);
    }
    this.toPublish.push(...entries);
    this.drainWake?.();
  }

  /**
   * Outbox batches whose orders are all in Redis wait until Redis has them on disk
   * ({@link durableMs}) before they are acknowledged: a Redis crash loses what it acknowledged
   * but had not yet written, and the outbox is what publishes it again.
   */
  private published(entries: OutboxEntry[], runId: string): void {
    const publishedAt = performance.now();
    for (const e of entries) {
      // A batch published in parts is durable only if Redis did not restart between the parts.
      const seen = this.batchRunId.get(e.batch);
      this.batchRunId.set(e.batch, seen === undefined || seen === runId ? runId : 'restarted');
      const left = (this.unpublished.get(e.batch) ?? 1) - 1;
      if (left > 0) {
        this.unpublished.set(e.batch, left);
      } else {
        this.unpublished.delete(e.batch);
        this.undurable.push({ batch: e.batch, publishedAt, runId: this.batchRunId.get(e.batch)! });
        this.batchRunId.delete(e.batch);
      }
    }
  }

  /**
   * Moves the batches published long enough ago to {@link toAcknowledge} if Redis has not
   * restarted since (same run id); publishes those of a restarted Redis again (they may be lost;
   * fire markers keep what survived from being added twice). Returns ms until the next is due.
   */
  private async settleDurable(): Promise<number | null> {
    if (this.undurable.length === 0) return null;
    const now = performance.now();
    const due = this.undurable.filter((u) => now - u.publishedAt >= this.durableMs);
    if (due.length > 0) {
      const runId = await this.deps.dispatcher.serverRunId();
      const lost: OutboxEntry[] = [];
      for (const u of due) {
        this.undurable.splice(this.undurable.indexOf(u), 1);
        if (u.runId === runId) {
          this.toAcknowledge.push(u.batch);
        } else {
          const entries = this.batchEntries.get(u.batch) ?? [];
          this.batchEntries.delete(u.batch);
          lost.push(...entries);
        }
      }
      if (lost.length > 0) {
        this.deps.logger.warn(
          { orders: lost.length },
          'redis restarted before the last orders were surely on disk; publishing them again',
        );
        this.deps.emit({ type: 'redis-restarted', republished: lost.length });
        this.queuePublish(lost);
      }
    }
    const oldest = this.undurable[0];
    return oldest ? Math.max(0, oldest.publishedAt + this.durableMs - performance.now()) : null;
  }

  /** Reads Redis's persistence settings once, to know how long an acknowledged write may be lost. */
  private async learnDurability(): Promise<void> {
    const d = await this.deps.dispatcher.durability();
    if (d.appendonly === false || d.appendfsync === 'no') {
      this.durableMs = UNBOUNDED_DURABLE_MS;
      this.deps.logger.warn(
        { appendonly: d.appendonly, appendfsync: d.appendfsync },
        'redis does not fsync its append-only file: a Redis crash can lose runs published up to 30 s earlier; run Redis with appendonly yes (docs/operations.md)',
      );
    } else if (d.appendfsync === 'always') {
      this.durableMs = 0;
    } else {
      this.durableMs = DEFAULT_DURABLE_MS;
    }
    if (d.hz !== null && d.hz < RECOMMENDED_REDIS_HZ) {
      this.deps.logger.warn(
        { hz: d.hz },
        `redis checks its timers ${d.hz} times a second: workers waiting for a delayed run start it up to ${Math.round(1000 / d.hz)} ms after its instant; set hz ${RECOMMENDED_REDIS_HZ} for precise dispatch (docs/operations.md)`,
      );
    }
  }

  /**
   * Publishes queued orders to Redis and acknowledges them in etcd, in the background so a Redis
   * outage never stalls deciding: fires keep going into the outbox, and this drains it once Redis
   * is back. Stops when leadership ends (the outbox stays for the next leader).
   */
  private startDrain(): void {
    if (this.drainRunning) return;
    this.drainRunning = true;
    const signal = this.abort.signal;
    void (async () => {
      let delay = 50;
      let durabilityKnown = false;
      let settleIn: number | null = null;
      while (!signal.aborted) {
        if (this.toPublish.length === 0 && this.toAcknowledge.length === 0) {
          await new Promise<void>((resolve) => {
            const timer = settleIn === null ? null : setTimeout(resolve, settleIn);
            this.drainWake = () => {
              if (timer) clearTimeout(timer);
              resolve();
            };
          });
          this.drainWake = null;
          settleIn = null;
          if (this.undurable.length === 0) continue;
        }
        try {
          if (!durabilityKnown) {
            await this.learnDurability();
            durabilityKnown = true;
          }
          if (this.toPublish.length > 0) {
            const batch = this.toPublish.splice(0, 5000);
            try {
              // A stale leader must not publish: its lease may be gone while it was stopped.
              this.deps.session.assertValid();
              if (signal.aborted) break;
              if (!this.takeoverRecorded) {
                // Before anything of this leader reaches workers: runs of older leaders committed
                // after this revision cannot exist, and workers refuse any that claims to.
                await this.deps.dispatcher.recordTakeover(
                  this.deps.leadership.token,
                  this.takeoverRevision!,
                );
                this.takeoverRecorded = true;
              }
              // Read before publishing: a restart after this read changes it, so the batch is
              // published again rather than taken as durable (see settleDurable).
              const runId = await this.deps.dispatcher.serverRunId();
              this.deps.session.assertValid();
              if (signal.aborted) break;
              // Slices in flight together: Node encodes one while Redis runs another.
              const slices: Promise<void>[] = [];
              for (let i = 0; i < batch.length; i += PUBLISH_SLICE)
                slices.push(
                  this.deps.dispatcher.publish(batch.slice(i, i + PUBLISH_SLICE), this.now),
                );
              const failed = (await Promise.allSettled(slices)).find(
                (r) => r.status === 'rejected',
              );
              if (failed) throw (failed as PromiseRejectedResult).reason;
              let oldest: number | null = null;
              const publishedAt = this.now();
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
              this.published(batch, runId);
              if (this.toPublish.length === 0) this.tickPublished();
              this.setRedis(true);
            } catch (err) {
              this.toPublish.unshift(...batch);
              if (err instanceof NotLeaderError) break;
              this.setRedis(false, (err as Error).message);
              throw err;
            }
          }
          settleIn = await this.settleDurable();
          if (this.toAcknowledge.length > 0) {
            const ids = this.toAcknowledge.splice(0, this.toAcknowledge.length);
            try {
              await this.ledger.acknowledge(ids);
              for (const id of ids) this.batchEntries.delete(id);
            } catch (err) {
              this.toAcknowledge.unshift(...ids);
              throw err;
            }
          }
          delay = 50;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 2000);
          // Batches waiting to be durable are checked again even if nothing new is published.
          settleIn = this.undurable.length > 0 ? 0 : null;
        }
      }
      this.drainRunning = false;
    })();
  }

  /** The last tick's orders are all in Redis: measure it, and let the loop plan with that. */
  private tickPublished(): void {
    if (!this.tickMeasuring) return;
    this.tickMeasuring = false;
    this.lastTickMs = performance.now() - this.tickStartedAt;
    if (this.tickJobs >= MEASURE_MIN_JOBS) this.msPerJob = this.lastTickMs / this.tickJobs;
    // The loop may be asleep on a look-ahead computed before this was known.
    this.wake();
  }

  private setRedis(ready: boolean, error?: string): void {
    if (ready === this.redisReady) return;
    this.redisReady = ready;
    this.deps.emit(
      error === undefined ? { type: 'redis', ready } : { type: 'redis', ready, error },
    );
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
