import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import {
  DEFAULT_QUEUE,
  openDefinitions,
  type DefinitionsSource,
  type JobDefinition,
} from '../definitions/index.js';
import { claimQueuePrefix } from '../dispatch/namespace.js';
import { EventBatcher } from '../events/bus.js';
import { redisError } from '../failures.js';
import { redactUrl, type Logger } from '../log.js';
import { createRedis, lastConnectionError } from '../redis/connection.js';
import type { RedisKeys } from '../redis/keys.js';
import { ActiveRuns } from './active.js';
import { AbortChannel } from './aborts.js';
import { LockRenewer } from './locks.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import { QueueSet } from './queues.js';
import type { HandlerRegistry } from './registry.js';
import { RunProcessor, type RunEvent } from './run.js';
import { RunScripts } from './scripts.js';
import { ShutdownEscalation } from './shutdown.js';

export type { WorkerOptions } from './options.js';
export type { RunEvent } from './run.js';

type Phase = 'new' | 'running' | 'draining' | 'aborting' | 'releasing' | 'closed';

/** Parts that exist once the worker is connected. */
interface Connected {
  redis: Redis;
  queues: QueueSet;
  aborts: AbortChannel;
  locks: LockRenewer;
  events: EventBatcher;
}

/**
 * BullMQ workers for baton's queues: the fencing check, overlap policy, timeout and history
 * around every handler run. See docs/handlers.md for the exact semantics.
 *
 * The parts: options.ts (defaults), the shared definitions source (src/definitions/source.ts),
 * queues.ts (one BullMQ worker per queue), run.ts + outcome.ts (one run and what its outcome
 * means), aborts.ts (the abort channel), locks.ts (overlap lock renewal), shutdown.ts (the
 * grace → abort → hand-back escalation of `close()`).
 */
export class Worker extends EventEmitter<{ run: [RunEvent] }> {
  readonly registry: HandlerRegistry;
  readonly workerId: string;
  readonly prefix: string;
  /** The Redis key layout of this worker's namespace. */
  readonly keys: RedisKeys;
  private readonly o: ResolvedWorkerOptions;
  private readonly config: ResolvedConfig;
  private readonly logger: Logger;

  private c: Connected | null = null;
  private source: DefinitionsSource | null = null;
  private defs = new Map<string, JobDefinition>();
  private readonly missingDefWarned = new Set<string>();
  private readonly active = new ActiveRuns();
  private phase: Phase = 'new';
  private shutdown: ShutdownEscalation | null = null;
  private closing: Promise<void> | null = null;
  private starting: Promise<void> | null = null;
  private readonly counters = new Map<string, number>();
  private summaryTimer: NodeJS.Timeout | undefined;
  private summarised = new Map<string, number>();

  constructor(options: WorkerOptions = {}) {
    super();
    this.o = resolveWorkerOptions(options);
    this.config = this.o.config;
    this.prefix = this.o.prefix;
    this.keys = this.o.keys;
    this.workerId = this.o.workerId;
    this.logger = this.o.logger;
    this.registry = this.o.registry;
  }

  /** Queues being worked on. */
  queues(): string[] {
    return this.c?.queues.names() ?? [];
  }

  /** Counters of this process since start: `completed`, `failed`, `stale`, `skipped`, ... */
  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /** Runs currently executing in this process (fire ids). */
  activeRuns(): string[] {
    return this.active.fireIds();
  }

  /** Loads the definitions, connects, and starts taking runs. Resolves once every queue is ready. */
  start(): Promise<void> {
    if (this.phase !== 'new') return Promise.reject(new Error('worker already started'));
    this.phase = 'running';
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const o = this.o;
    this.source = await openDefinitions({
      definitions: o.definitions,
      dir: o.jobsDir,
      watch: o.watch,
      logger: this.logger,
      onChange: (s) => {
        this.logger.info({ jobs: s.jobs.length, hash: s.hash }, 'definitions reloaded');
        this.setDefinitions(s.jobs);
      },
    });
    this.setDefinitions(this.source.current());
    const redis = createRedis(this.config, 'worker');
    // The queue prefix must be this namespace's before the worker takes anything from it.
    try {
      await claimQueuePrefix(redis, this.keys, this.config.redisUrl);
    } catch (err) {
      redis.disconnect();
      throw redisError(
        err,
        'claim the queue prefix',
        this.config.redisUrl,
        lastConnectionError(redis),
      );
    }
    const scripts = new RunScripts(redis);
    const aborts = new AbortChannel(redis, this.keys, this.active);
    // Run outcomes also go to the cluster's live event stream (the API's SSE), batched.
    const events = new EventBatcher(redis, this.keys, o.eventsIntervalMs);
    const processor = new RunProcessor({
      scripts,
      aborts,
      active: this.active,
      keys: this.keys,
      registry: this.registry,
      workerId: this.workerId,
      lockMs: o.lockMs,
      logger: this.logger,
      definition: (job) => this.definition(job),
      phase: () => this.shutdown?.phase ?? this.phase,
      count: (...names) => this.count(...names),
      report: (e) => {
        this.count(e.status, e.reason);
        this.emit('run', e);
        events.publish({
          type: 'run',
          job: e.job,
          fireId: e.fireId,
          status: e.status,
          attempt: e.attempt,
          durationMs: e.durationMs,
          error: e.error,
          worker: this.workerId,
          reason: e.reason,
          willRetry: e.willRetry,
        });
      },
    });
    const queues = new QueueSet({
      redis,
      prefix: this.prefix,
      concurrency: o.concurrency,
      lockMs: o.lockMs,
      stalledMs: o.stalledMs,
      maxStalled: o.maxStalled,
      backoffStrategy: o.backoffStrategy,
      name: this.workerId,
      logger: this.logger,
      process: (job, token) => processor.process(job, token),
      onLockLost: (ids) => this.active.lockLost(ids),
    });
    this.c = {
      redis,
      queues,
      aborts,
      locks: new LockRenewer(scripts, this.active, o.lockMs),
      events,
    };
    await aborts.start();
    await Promise.all(this.wantedQueues().map((q) => queues.add(q, false)));
    if (this.phase !== 'running') return; // closed while starting
    // Taking runs starts only now, so a `run` listener added right after `await start()` (or
    // `await startWorker()`) sees every run.
    queues.runAll();
    this.c.locks.start();
    if (o.summaryIntervalMs > 0) {
      this.summaryTimer = setInterval(() => this.logSummary(), o.summaryIntervalMs);
      this.summaryTimer.unref();
    }
    this.logger.info(
      {
        queues: this.queues(),
        handlers: this.registry.names(),
        concurrency: o.concurrency,
        redis: redactUrl(this.config.redisUrl),
        prefix: this.prefix,
      },
      'worker ready',
    );
  }

  /**
   * Stops taking runs, waits up to `shutdownGraceMs` for running handlers, then aborts their
   * signals (`shutdown`), waits `abortGraceMs`, and hands every run still going back to its
   * queue (another worker runs it again, same fire id and attempt). Then closes connections.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.phase === 'new') {
      this.phase = 'closed';
      return;
    }
    this.phase = 'draining';
    // Closed while starting: let the start finish (bounded) so every queue worker gets closed.
    await Promise.race([
      this.starting?.catch(() => undefined),
      new Promise((r) => setTimeout(r, this.o.graceMs).unref()),
    ]);
    this.logger.info({ active: this.activeRuns(), graceMs: this.o.graceMs }, 'worker closing');
    const c = this.c;
    if (c) {
      this.shutdown = new ShutdownEscalation({
        graceMs: this.o.graceMs,
        abortGraceMs: this.o.abortGraceMs,
        logger: this.logger,
        active: () => this.activeRuns(),
        onAbort: () => this.active.abortAll('shutdown'),
        onRelease: () => this.active.releaseAll(),
      });
      await this.shutdown.run(c.queues.close());
      c.locks.stop();
    }
    clearInterval(this.summaryTimer);
    await this.source?.close().catch(() => undefined);
    if (c) {
      c.events.flush();
      c.aborts.close();
      await Promise.race([
        c.redis.quit().catch(() => undefined),
        new Promise((r) => setTimeout(r, 1_000).unref()),
      ]);
      c.redis.disconnect();
    }
    this.logSummary();
    this.phase = 'closed';
    this.logger.info('worker closed');
  }

  // --- definitions and queues -------------------------------------------------------------

  private setDefinitions(jobs: readonly JobDefinition[]): void {
    this.defs = new Map(jobs.map((j) => [j.name, j]));
    this.missingDefWarned.clear();
    const c = this.c;
    if (c && this.phase === 'running' && this.o.fixedQueues === null) {
      for (const q of this.wantedQueues()) {
        if (c.queues.has(q)) continue;
        c.queues
          .add(q, true)
          .then(() =>
            this.logger.info({ queue: q }, 'new queue from the definitions: taking its runs'),
          )
          .catch((err: unknown) =>
            this.logger.error({ err, queue: q }, 'cannot start a worker for the queue'),
          );
      }
    }
  }

  private wantedQueues(): string[] {
    if (this.o.fixedQueues) return this.o.fixedQueues;
    const fromDefs = [...new Set([...this.defs.values()].map((d) => d.queue))].sort();
    return fromDefs.length > 0 ? fromDefs : [DEFAULT_QUEUE];
  }

  private definition(job: string): JobDefinition | undefined {
    const def = this.defs.get(job);
    if (!def && this.defs.size > 0 && !this.missingDefWarned.has(job)) {
      this.missingDefWarned.add(job);
      this.logger.warn(
        { job },
        'no definition for this job here: running it with defaults (handler = job name, no timeout, overlap allow)',
      );
    }
    return def;
  }

  // --- counters -----------------------------------------------------------------------------

  private count(...names: (string | null)[]): void {
    for (const n of names) if (n) this.counters.set(n, (this.counters.get(n) ?? 0) + 1);
  }

  /** One info line with the counters that moved since the last summary (none: no line). */
  private logSummary(): void {
    const delta: Record<string, number> = {};
    let any = false;
    for (const [k, v] of this.counters) {
      const d = v - (this.summarised.get(k) ?? 0);
      if (d > 0) {
        delta[k] = d;
        any = true;
      }
    }
    this.summarised = new Map(this.counters);
    if (any)
      this.logger.info(
        { runs: delta, active: this.active.fireIds().length },
        'runs since the last summary',
      );
  }
}

/** Creates a {@link Worker} and starts it. */
export async function startWorker(options: WorkerOptions = {}): Promise<Worker> {
  const worker = new Worker(options);
  try {
    await worker.start();
  } catch (err) {
    await worker.close().catch(() => undefined);
    throw err;
  }
  return worker;
}
