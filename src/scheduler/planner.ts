import type { JobDefinition } from '../definitions/types.js';
import {
  fireId,
  manualFireId,
  runOrder,
  type Order,
  type RunOrder,
  type SkipReason,
  type SkipRecord,
} from '../fire.js';
import type { TriggerRecord } from '../coordination/intents.js';
import { MAX_TXN_OPS, type JobDecision, type Watermark } from '../coordination/ledger.js';
import {
  compileSchedule,
  gateOf,
  gateRange,
  jitterMs,
  nextToDecide,
  planCatchUp,
  type CompiledSchedule,
} from '../cron/index.js';
import { MinHeap } from './heap.js';

/** Orders one decision may hold so that it fits one txn with its watermark and skip records. */
export const MAX_RUNS_PER_DECISION = MAX_TXN_OPS - 10;
/**
 * Jobs due at one instant that make it a burst, planned further ahead than the look-ahead: below
 * this, deciding, committing and publishing them fits the default 250 ms.
 */
export const BURST_MIN_JOBS = 500;

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

/** What bringing the job table in line with a definitions set decided. */
export interface LoadResult {
  /** To commit: catch-up orders and watermarks of known jobs, first watermarks of new ones. */
  decisions: JobDecision[];
  /** Jobs seen for the first time (their `paused: true` becomes a pause record). */
  fresh: JobDefinition[];
  /** Jobs whose schedule did not compile (validated definitions always do). */
  problems: { job: string; message: string }[];
}

/** A {@link Planner.load} taken a slice of definitions at a time ({@link Planner.startLoad}). */
export interface LoadInProgress {
  /** Decides the definitions of one slice: what to commit before the next slice. */
  add(
    defs: readonly JobDefinition[],
    watermarks: ReadonlyMap<string, Watermark>,
    now: number,
  ): LoadResult;
  /** After the last slice: drops the jobs that no slice named. */
  finish(): void;
}

/** What one wake-up of the loop decided. */
export interface TickResult {
  /** Jobs that had an instant up to the horizon. */
  jobs: number;
  decisions: JobDecision[];
}

/** A run already decided that a pause can still withdraw, with the skip record that replaces it. */
export interface Withdrawable {
  run: RunOrder;
  skip: SkipRecord;
}

/**
 * The leader's decisions, without I/O and without a clock: every method takes the instant it
 * decides at (`now`, epoch ms on the schedule's clock) and returns what to commit. It keeps the
 * job table (definition, compiled schedule, watermark) and a min-heap of every job's next instant.
 *
 * The caller commits the returned decisions in fenced txns; a planner whose commit failed is
 * discarded with its leadership (its table then runs ahead of etcd, which nobody reads).
 */
export class Planner {
  private readonly jobs = new Map<string, JobState>();
  /** Compiled schedules are immutable: jobs with the same expression and zone share one. */
  private readonly schedules = new Map<string, CompiledSchedule>();
  private readonly heap = new MinHeap<{ at: number; job: string; version: number }>(
    (a, b) => a.at - b.at,
  );
  /** The jobs whose next instant is each instant (exact). */
  private readonly dueAt = new Map<number, Set<string>>();
  /** Instants that had {@link BURST_MIN_JOBS} jobs or more (some may have fewer now, or be past). */
  private readonly bursts = new MinHeap<number>((a, b) => a - b);
  private readonly paused = new Set<string>();

  constructor(
    /** Fencing token and replica id of the deciding leader, written into every order. */
    private readonly leader: { token: string; id: string },
  ) {}

  /** Number of jobs in the table. */
  get size(): number {
    return this.jobs.size;
  }

  has(job: string): boolean {
    return this.jobs.has(job);
  }

  /** The watermark the planner holds for `job` (every instant up to it is decided). */
  watermark(job: string): number | undefined {
    return this.jobs.get(job)?.watermark;
  }

  setPaused(job: string, paused: boolean): void {
    if (paused) this.paused.add(job);
    else this.paused.delete(job);
  }

  isPaused(job: string): boolean {
    return this.paused.has(job);
  }

  /**
   * Whether {@link load} needs the watermarks from etcd: at takeover always, on a reload only
   * for jobs new to this leader.
   */
  needsWatermarks(defs: readonly JobDefinition[], takeover: boolean): boolean {
    return takeover || defs.some((d) => !this.jobs.has(d.name));
  }

  /**
   * Brings the job table in line with the definitions. At takeover every job's catch-up policy
   * is applied from its watermark to `now`. On a reload, known jobs keep their watermark (a
   * changed schedule continues after it, so no decided instant fires again and none is skipped)
   * and only jobs new to this leader use `watermarks`. A job without a watermark is new: its
   * history starts at `now`, committed so that a leader change before its first fire cannot
   * lose one. The same as {@link startLoad} with every definition in one slice.
   */
  load(
    defs: readonly JobDefinition[],
    watermarks: ReadonlyMap<string, Watermark>,
    now: number,
    takeover: boolean,
  ): LoadResult {
    const loading = this.startLoad(takeover);
    const result = loading.add(defs, watermarks, now);
    loading.finish();
    return result;
  }

  /**
   * {@link load} a slice of the definitions at a time, so that the caller can commit each slice's
   * decisions and let the event loop run between slices (100,000 jobs take about a second of CPU
   * to decide). Each definition is decided once, in the slice that holds it; {@link LoadInProgress.finish}
   * then drops the jobs that no slice named. The caller passes the same `now` to every slice:
   * instants after it are left to the loop, which decides them as late ones. The table is not
   * consistent with the definitions until `finish`: do not {@link tick} in between.
   */
  startLoad(takeover: boolean): LoadInProgress {
    const seen = new Set<string>();
    return {
      add: (defs, watermarks, now) => this.loadSlice(defs, watermarks, now, takeover, seen),
      finish: () => {
        // Deleting the entry being visited is safe in a Map iteration; no copy of 100,000 entries.
        for (const [name, state] of this.jobs) {
          if (seen.has(name)) continue;
          this.unindex(name, state.next);
          this.jobs.delete(name);
        }
      },
    };
  }

  private loadSlice(
    defs: readonly JobDefinition[],
    watermarks: ReadonlyMap<string, Watermark>,
    now: number,
    takeover: boolean,
    seen: Set<string>,
  ): LoadResult {
    const result: LoadResult = { decisions: [], fresh: [], problems: [] };
    for (const def of defs) {
      seen.add(def.name);
      const existing = takeover ? undefined : this.jobs.get(def.name);
      if (
        existing &&
        existing.def.schedule === def.schedule &&
        existing.def.timezone === def.timezone &&
        existing.def.activeFrom?.ms === def.activeFrom?.ms &&
        existing.def.activeUntil?.ms === def.activeUntil?.ms
      ) {
        existing.def = def;
        continue;
      }
      let schedule: CompiledSchedule;
      try {
        schedule = this.compile(def.schedule, def.timezone);
      } catch (err) {
        result.problems.push({ job: def.name, message: (err as Error).message });
        continue;
      }
      if (existing) {
        this.setJob(def, schedule, existing.watermark, existing.since);
        continue;
      }
      const wm = watermarks.get(def.name);
      if (!wm) {
        result.fresh.push(def);
        result.decisions.push({ job: def.name, watermark: now, since: now, orders: [] });
        this.setJob(def, schedule, now, now);
        continue;
      }
      const through = Math.max(now, wm.at);
      const orders = this.catchUp(def, schedule, wm.at, now, now, def.catchUp);
      // Nothing was due since the watermark: leave it (it still precedes every undecided
      // instant), so a takeover of 100,000 quiet jobs writes nothing.
      const since = wm.since ?? null;
      if (orders.length > 0) result.decisions.push(...split(def.name, orders, through, since));
      this.setJob(def, schedule, through, since);
    }
    return result;
  }

  /** The earliest undecided instant of any job (epoch ms), or null when none will come. */
  nextInstant(): number | null {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return null;
      if (this.live(top)) return top.at;
      this.popTop();
    }
  }

  /** How many jobs have their next instant at `at` (an upper bound). */
  dueCount(at: number): number {
    return this.dueAt.get(at)?.size ?? 0;
  }

  /**
   * Decides every instant up to `horizon` (now + look-ahead) of the jobs due by then, and moves
   * their watermarks to the horizon. Instants up to `now` that were missed (the loop was late: a
   * long pause of this process) are caught up under `all` with the job's `catchUpLimit` and
   * `startingDeadline`; instants after `now` are planned ahead and all run; a paused job's
   * instants are recorded as skipped (`paused`).
   */
  tick(now: number, horizon: number): TickResult {
    const due: string[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > horizon) break;
      this.popTop();
      if (this.live(top)) due.push(top.job);
    }
    return this.decide(due, horizon, now);
  }

  /**
   * The first instant after `after` at which {@link BURST_MIN_JOBS} jobs or more are due, or
   * null: a burst the loop may plan further ahead than the look-ahead ({@link tickBurst}).
   */
  nextBurst(after: number): number | null {
    for (;;) {
      const at = this.bursts.peek();
      if (at === undefined) return null;
      if (at > after && this.dueCount(at) >= BURST_MIN_JOBS) return at;
      // Past (the loop decides it as any instant) or shrunk (decided, or jobs removed).
      this.bursts.pop();
    }
  }

  /**
   * Decides, ahead of time, every job whose next instant is `at` (a burst, {@link nextBurst}):
   * one run each (or a `paused` skip), watermark `at`. Jobs due before `at` are left to
   * {@link tick} at their own time, so only the burst is decided early.
   */
  tickBurst(now: number, at: number): TickResult {
    return this.decide([...(this.dueAt.get(at) ?? [])], at, now);
  }

  /** Decides every instant up to `through` of the named jobs and moves their watermarks there. */
  private decide(names: readonly string[], through: number, now: number): TickResult {
    const decisions: JobDecision[] = [];
    for (const name of names) {
      const s = this.jobs.get(name)!;
      const orders = this.catchUp(s.def, s.schedule, s.watermark, through, now, 'all');
      decisions.push(...split(name, orders, through, s.since));
      this.setJob(s.def, s.schedule, through, s.since);
    }
    return { jobs: names.length, decisions };
  }

  /**
   * Operator triggers: one manual run each (available at `now`, with the trigger's payload or
   * the definition's), or a skip record (`unknown-job`) for a job the leader does not know. Each
   * trigger key is consumed in the txn of its decision.
   */
  triggers(
    triggers: readonly TriggerRecord[],
    now: number,
    triggerKey: (id: string) => string,
  ): { decisions: JobDecision[]; rejected: TriggerRecord[] } {
    const decisions: JobDecision[] = [];
    const rejected: TriggerRecord[] = [];
    for (const t of triggers) {
      const consume = [triggerKey(t.id)];
      const state = this.jobs.get(t.job);
      if (!state) {
        rejected.push(t);
        decisions.push({
          job: t.job,
          watermark: null,
          orders: [this.skip(t.job, 'unknown-job', now, now, 1, now)],
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
    return { decisions, rejected };
  }

  /**
   * The runs of `job` already decided for instants after `now` (inside the look-ahead), which a
   * pause seen now can still withdraw, each with its `paused` skip record.
   */
  withdrawable(job: string, now: number): Withdrawable[] {
    const state = this.jobs.get(job);
    if (!state) return [];
    const runs: Withdrawable[] = [];
    for (
      let at = state.schedule.next(now);
      at !== null && at <= state.watermark && runs.length < MAX_RUNS_PER_DECISION;
      at = state.schedule.next(at)
    ) {
      runs.push({
        run: this.runOrder(state.def, at, fireId(job, at), false, state.def.payload),
        skip: this.skip(job, 'paused', at, at, 1, now),
      });
    }
    return runs;
  }

  private live(entry: { at: number; job: string; version: number }): boolean {
    const state = this.jobs.get(entry.job);
    return !!state && state.version === entry.version && state.next === entry.at;
  }

  private popTop(): void {
    this.heap.pop();
  }

  private unindex(job: string, at: number | null): void {
    if (at === null) return;
    const set = this.dueAt.get(at);
    if (!set) return;
    set.delete(job);
    if (set.size === 0) this.dueAt.delete(at);
  }

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
    const old = this.jobs.get(def.name);
    if (old) this.unindex(def.name, old.next);
    const version = (old?.version ?? 0) + 1;
    // Excluded instants are decided (and recorded) as they come; none outside the active window.
    const next = nextToDecide(schedule, gateOf(def), watermark);
    this.jobs.set(def.name, { def, schedule, watermark, since, next, version });
    if (next !== null) {
      this.heap.push({ at: next, job: def.name, version });
      let set = this.dueAt.get(next);
      if (!set) this.dueAt.set(next, (set = new Set()));
      set.add(def.name);
      if (set.size === BURST_MIN_JOBS) this.bursts.push(next);
    }
  }

  /**
   * Orders for the instants in (from, through] of one job: those excluded (`exclude:`) or outside
   * its active window are skipped with their reason (`excluded`, `inactive`) and detail; the
   * others are planned by {@link plan}.
   */
  private catchUp(
    def: JobDefinition,
    schedule: CompiledSchedule,
    from: number,
    through: number,
    now: number,
    policy: JobDefinition['catchUp'],
  ): Order[] {
    const gate = gateOf(def);
    if (gate === null) return this.plan(def, schedule, from, through, now, policy);
    const split = gateRange(schedule, gate, from, through);
    return [
      ...split.skipped.map((s) =>
        this.skip(def.name, s.reason, s.first, s.last, s.count, now, s.detail),
      ),
      ...this.plan(def, split.schedule, from, through, now, policy),
    ];
  }

  /**
   * Orders for the instants in (from, through] of one job: those up to `now` under `policy`
   * (with the job's limit and deadline), those after `now` all run; every one skipped when the
   * job is paused.
   */
  private plan(
    def: JobDefinition,
    schedule: CompiledSchedule,
    from: number,
    through: number,
    now: number,
    policy: JobDefinition['catchUp'],
  ): Order[] {
    if (this.paused.has(def.name)) {
      const plan = planCatchUp({
        schedule,
        lastFireMs: from,
        nowMs: through,
        policy: 'none',
        limit: 0,
        startingDeadlineMs: null,
      });
      return plan.skipped.map((s) => this.skip(def.name, 'paused', s.first, s.last, s.count, now));
    }
    const orders: Order[] = [];
    const lateUntil = Math.min(now, through);
    const first = schedule.next(from);
    if (lateUntil > from) {
      // The common case, without planning: exactly one instant due and within its deadline,
      // under `all` (catchUpLimit is at least 1).
      const single =
        policy === 'all' &&
        first !== null &&
        first <= lateUntil &&
        (schedule.next(first) ?? Infinity) > lateUntil &&
        (def.startingDeadlineMs === null || first >= now - def.startingDeadlineMs);
      if (single) {
        orders.push(this.runOrder(def, first, fireId(def.name, first), false, def.payload));
      } else if (first !== null && first <= lateUntil) {
        const plan = planCatchUp({
          schedule,
          lastFireMs: from,
          nowMs: lateUntil,
          policy,
          limit: def.catchUpLimit,
          startingDeadlineMs: def.startingDeadlineMs,
        });
        for (const s of plan.skipped)
          orders.push(this.skip(def.name, s.reason, s.first, s.last, s.count, now));
        for (const at of plan.run)
          orders.push(this.runOrder(def, at, fireId(def.name, at), false, def.payload));
      }
    }
    // Ahead of time: the look-ahead spans seconds at most and cron's resolution is a second.
    for (
      let at = first !== null && first > now ? first : schedule.next(Math.max(from, now));
      at !== null && at <= through;
      at = schedule.next(at)
    ) {
      orders.push(this.runOrder(def, at, fireId(def.name, at), false, def.payload));
    }
    return orders;
  }

  private runOrder(
    def: JobDefinition,
    at: number,
    id: string,
    manual: boolean,
    payload: unknown,
  ): RunOrder {
    return runOrder(def, {
      at,
      fireId: id,
      manual,
      payload,
      availableAt: manual ? at : at + jitterMs(def.name, at, def.jitterMs),
      fencingToken: this.leader.token,
      leader: this.leader.id,
    });
  }

  private skip(
    job: string,
    reason: SkipReason,
    first: number,
    last: number,
    count: number,
    decidedAt: number,
    detail?: string,
  ): SkipRecord {
    return {
      kind: 'skip',
      job,
      reason,
      first,
      last,
      count,
      ...(detail === undefined ? {} : { detail }),
      decidedAt,
      fencingToken: this.leader.token,
      leader: this.leader.id,
    };
  }
}

/** A job's orders as decisions of at most one txn each; the watermark goes with the last. */
function split(
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
