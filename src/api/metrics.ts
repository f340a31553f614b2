import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REPLICA_STATES } from '../coordination/members.js';
import { CATCH_UP_SKIP_REASONS } from '../fire.js';
import { RUN_OUTCOMES } from '../history/records.js';
import type { Logger } from '../log.js';
import type { RedisKeys } from '../redis/keys.js';
import type { LeaderEvent } from '../scheduler/fire-loop.js';
import type { Replica, StateChange } from '../scheduler/replica.js';
import { EndedRunsTail } from '../history/tail.js';
import type { AlertDelivery } from '../alerts/index.js';

export interface MetricsOptions {
  replica: Replica;
  redis: Redis;
  /** The Redis key layout of the namespace (src/redis/keys.ts). */
  keys: RedisKeys;
  logger: Logger;
  /** Also export prom-client's default process metrics. @defaultValue true */
  processMetrics?: boolean;
  /** The scheduler's clock (shifted by BATON_CLOCK_OFFSET_MS). @defaultValue Date.now */
  now?: () => number;
}

/** Statuses of runs whose handler actually ran: their durations go into the histogram. */
const TIMED_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'aborted']);
/** Leader skip reasons counted as `missed` (catch-up policy and deadline). */
const MISSED: ReadonlySet<string> = new Set(CATCH_UP_SKIP_REASONS);
/** A scheduled fire decided this late after its instant was caught up, not on time. */
const LATE_MS = 1000;
/** Redis-derived values are read at most once per this period, however many families ask. */
const SNAPSHOT_MS = 1000;

interface RedisSnapshot {
  counts: Map<string, Record<string, string>>;
  skipCounts: Map<string, Record<string, string>>;
}

/**
 * The Prometheus metrics of one replica (prom-client, own registry).
 *
 * - From this process: `baton_leader`, `baton_replica_state`, `baton_redis_ready`,
 *   `baton_elections_total`, and, while
 *   it leads, `baton_fires_total` (except `skipped_overlap`) and `baton_fire_lag_seconds`.
 * - From Redis at scrape time, for the jobs this replica has loaded (cluster-wide values, the
 *   same on every replica): `baton_runs_total` and `baton_stale_token_rejections_total` from the
 *   workers' counters, `baton_fires_total{outcome="skipped_overlap"}` from the skip counters, and
 *   `baton_run_duration_seconds` from the run history: each scrape reads the history records
 *   written since the last scrape and observes the duration of every run that has ended, so the
 *   histogram counts the runs this process has seen end (at first, those still in the history).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly fires = new Map<string, { job: string; outcome: string; n: number }>();
  private readonly tail: EndedRunsTail;
  private snapshotAt = 0;
  private snapshotPromise: Promise<RedisSnapshot | null> | null = null;
  private takingOver = false;
  private readonly lag: Histogram<string>;
  private readonly durations: Histogram<'job' | 'status'>;
  private readonly elections: Counter<'replica'>;
  private readonly stepDowns: Counter<'replica' | 'cause'>;
  private readonly detach: (() => void)[] = [];

  constructor(private readonly options: MetricsOptions) {
    const replica = options.replica;
    const registry = this.registry;
    this.tail = new EndedRunsTail(options.redis, options.keys);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- collect() gets the metric as `this`
    const self = this;

    new Gauge({
      name: 'baton_leader',
      help: '1 while this replica leads, else 0',
      labelNames: ['replica'],
      registers: [registry],
      collect() {
        this.set({ replica: replica.id }, replica.state === 'leader' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'baton_replica_state',
      help: 'State of this replica: 1 for the current state, 0 for the others',
      labelNames: ['replica', 'state'],
      registers: [registry],
      collect() {
        for (const state of REPLICA_STATES)
          this.set({ replica: replica.id, state }, replica.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'baton_redis_ready',
      help: '1 while this replica reaches Redis (its last ping or publish succeeded), else 0',
      labelNames: ['replica'],
      registers: [registry],
      collect() {
        this.set({ replica: replica.id }, replica.redisIsReady ? 1 : 0);
      },
    });
    this.elections = new Counter({
      name: 'baton_elections_total',
      help: 'Times this replica became leader',
      labelNames: ['replica'],
      registers: [registry],
    });
    this.elections.inc({ replica: replica.id }, 0);
    this.stepDowns = new Counter({
      name: 'baton_step_downs_total',
      help:
        'Times this replica stopped leading, by cause: shutdown, lease_expired (no keepalive ' +
        'acknowledged within the TTL: a stalled process or etcd out of reach), key_deleted, ' +
        'fence_refused, watch_failed, auth (etcd refused its credentials or rights), ' +
        'redis_unreachable (Redis out of reach while a follower reaches it), etcd_error',
      labelNames: ['replica', 'cause'],
      registers: [registry],
    });

    new Gauge({
      name: 'baton_backend_error',
      help:
        '1 while this replica cannot use etcd or Redis, by cause: unavailable, auth (credentials ' +
        'or rights refused), invalid_argument',
      labelNames: ['replica', 'service', 'cause'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of replica.serviceProblems())
          this.set({ replica: replica.id, service: p.service, cause: p.cause }, 1);
      },
    });

    new Counter({
      name: 'baton_fires_total',
      help:
        'Fires by outcome: enqueued, caught_up, manual, skipped_paused, skipped_excluded, ' +
        'skipped_inactive, missed (counted by the leader ' +
        'process), skipped_overlap (all replicas: from Redis)',
      labelNames: ['job', 'outcome'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const f of self.fires.values()) this.inc({ job: f.job, outcome: f.outcome }, f.n);
        const snap = await self.snapshot();
        if (!snap) return;
        for (const [job, counts] of snap.skipCounts) {
          const n = Number(counts.overlap ?? 0);
          if (n > 0) this.inc({ job, outcome: 'skipped_overlap' }, n);
        }
      },
    });

    this.lag = new Histogram({
      name: 'baton_fire_lag_seconds',
      help:
        'Scheduled instant to published in Redis, per scheduled fire (negative: published ahead ' +
        'of its instant by the look-ahead; below -1 s counted in the lowest bucket)',
      buckets: [-1, -0.5, -0.25, -0.1, 0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });

    new Counter({
      name: 'baton_stale_token_rejections_total',
      help: 'Runs refused by workers because their fencing token was stale (from Redis)',
      labelNames: ['job'],
      registers: [registry],
      async collect() {
        this.reset();
        const snap = await self.snapshot();
        if (!snap) return;
        for (const [job, counts] of snap.counts) this.inc({ job }, Number(counts.stale ?? 0));
      },
    });

    new Counter({
      name: 'baton_runs_total',
      help: 'Run starts by final status, counted by workers (from Redis)',
      labelNames: ['job', 'status'],
      registers: [registry],
      async collect() {
        this.reset();
        const snap = await self.snapshot();
        if (!snap) return;
        for (const [job, counts] of snap.counts)
          for (const status of RUN_OUTCOMES) {
            const n = Number(counts[status] ?? 0);
            if (n > 0) this.inc({ job, status }, n);
          }
      },
    });

    this.durations = new Histogram({
      name: 'baton_run_duration_seconds',
      help: 'Duration of ended runs (completed, failed, aborted), read from the run history in Redis',
      labelNames: ['job', 'status'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
      async collect() {
        await self.scanDurations();
      },
    });

    const alertDeliveries = new Counter({
      name: 'baton_alert_deliveries_total',
      help:
        'Alert webhook attempts settled by this replica as leader, by event (failure, missed, ' +
        'stale, recovered) and outcome: delivered, retried (failed, tried again later), failed ' +
        '(given up)',
      labelNames: ['event', 'outcome'],
      registers: [registry],
    });

    if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

    const onState = (e: StateChange) => {
      if (e.from === 'leader') {
        this.stepDowns.inc({ replica: replica.id, cause: e.cause ?? 'etcd_error' });
      }
      if (e.to === 'leader') {
        this.elections.inc({ replica: replica.id });
        this.takingOver = true;
      } else {
        this.takingOver = false;
      }
    };
    const onLeader = (e: LeaderEvent) => this.onLeaderEvent(e);
    const onAlert = (e: AlertDelivery) =>
      alertDeliveries.inc({ event: e.event, outcome: e.outcome });
    replica.on('state', onState);
    replica.on('leader', onLeader);
    replica.on('alert', onAlert);
    this.detach.push(
      () => replica.off('state', onState),
      () => replica.off('leader', onLeader),
      () => replica.off('alert', onAlert),
    );
  }

  close(): void {
    for (const d of this.detach.splice(0)) d();
  }

  private countFire(job: string, outcome: string, n: number): void {
    const key = `${job}\u0000${outcome}`;
    const f = this.fires.get(key);
    if (f) f.n += n;
    else this.fires.set(key, { job, outcome, n });
  }

  private onLeaderEvent(e: LeaderEvent): void {
    switch (e.type) {
      case 'takeover':
        this.takingOver = false;
        break;
      case 'fire': {
        // Catch-up runs are decided at takeover (instants missed while no replica led) or by a
        // loop that woke late; on-time fires are decided ahead of their instant (look-ahead).
        const outcome = e.manual
          ? 'manual'
          : this.takingOver || (this.options.now ?? Date.now)() - e.scheduledAt > LATE_MS
            ? 'caught_up'
            : 'enqueued';
        this.countFire(e.job, outcome, 1);
        break;
      }
      case 'skip':
        if (e.reason === 'paused') this.countFire(e.job, 'skipped_paused', e.count);
        else if (e.reason === 'excluded') this.countFire(e.job, 'skipped_excluded', e.count);
        else if (e.reason === 'inactive') this.countFire(e.job, 'skipped_inactive', e.count);
        else if (MISSED.has(e.reason)) this.countFire(e.job, 'missed', e.count);
        break;
      case 'published':
        for (const ms of e.lagsMs) this.lag.observe(ms / 1000);
        break;
      default:
        break;
    }
  }

  private jobs(): string[] {
    return this.options.replica.definitions().map((d) => d.name);
  }

  /** Counters of every loaded job from Redis, read at most once per {@link SNAPSHOT_MS}. */
  private snapshot(): Promise<RedisSnapshot | null> {
    const now = Date.now();
    if (this.snapshotPromise && now - this.snapshotAt < SNAPSHOT_MS) return this.snapshotPromise;
    this.snapshotAt = now;
    this.snapshotPromise = this.readSnapshot();
    return this.snapshotPromise;
  }

  private async readSnapshot(): Promise<RedisSnapshot | null> {
    const { redis, keys } = this.options;
    const jobs = this.jobs();
    const snap: RedisSnapshot = { counts: new Map(), skipCounts: new Map() };
    if (jobs.length === 0) return snap;
    try {
      const p = redis.pipeline();
      for (const job of jobs) {
        p.hgetall(keys.run(job).counts);
        p.hgetall(keys.skips(job).counts);
      }
      const results = await p.exec();
      if (!results) return null;
      jobs.forEach((job, i) => {
        const [e1, counts] = results[2 * i] ?? [null, {}];
        const [e2, skips] = results[2 * i + 1] ?? [null, {}];
        if (!e1) snap.counts.set(job, counts as Record<string, string>);
        if (!e2) snap.skipCounts.set(job, skips as Record<string, string>);
      });
      return snap;
    } catch (err) {
      this.options.logger.debug({ err }, 'metrics: cannot read Redis');
      return null;
    }
  }

  /** Observes the duration of every run that ended since the last scrape (from the history). */
  private async scanDurations(): Promise<void> {
    try {
      for (const { job, record } of await this.tail.next(this.jobs()))
        if (TIMED_STATUSES.has(record.status) && typeof record.durationMs === 'number')
          this.durations.observe({ job, status: record.status }, record.durationMs / 1000);
    } catch (err) {
      this.options.logger.debug({ err }, 'metrics: cannot read history');
    }
  }
}
