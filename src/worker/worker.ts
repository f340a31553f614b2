import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker as BullWorker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { resolveConfig, type ResolvedConfig } from '../config/index.js';
import {
  DEFAULT_QUEUE,
  DEFAULT_RETENTION,
  formatDuration,
  loadDefinitions,
  watchDefinitions,
  type DefinitionsWatcher,
  type JobDefinition,
  type OverlapPolicy,
} from '../definitions/index.js';
import { publishEvent } from '../events/bus.js';
import { claimQueuePrefix } from '../dispatch/namespace.js';
import { dedupeWindowMs } from '../dispatch/producer.js';
import { createRedis, lastConnectionError } from '../redis/connection.js';
import { redisError } from '../failures.js';
import { BatonError, formatProblem, StaleTokenError } from '../errors.js';
import type { RunData } from '../fire.js';
import { createLogger, redactUrl, type Logger } from '../log.js';
import { redisKeysOf, type RedisKeys, type RunKeys } from '../redis/keys.js';
import { RunAbortedError } from './errors.js';
import type { Handler, RunContext } from './handler.js';
import type { RunRecord, RunStatus } from '../history/records.js';
import { HandlerRegistry } from './registry.js';
import { RunScripts } from './scripts.js';
import { canonicalToken } from './token.js';

/** Options of {@link Worker} and {@link startWorker}. */
export interface WorkerOptions {
  /** Resolved configuration (Redis URL, queue prefix, worker id, jobs folder). */
  config?: ResolvedConfig;
  /** Redis URL when no `config` is given. @defaultValue 'redis://127.0.0.1:6379' */
  redisUrl?: string;
  /** BullMQ key prefix when no `config` is given. @defaultValue 'bull' */
  prefix?: string;
  /**
   * baton namespace when no `config` is given: the worker's records are
   * `<prefix>:baton:<namespace>:...`, and the prefix must belong to this namespace.
   * @defaultValue 'baton'
   */
  namespace?: string;
  /**
   * Queues to work on. @defaultValue every queue used by the definitions (queues added by a
   * later reload are picked up too), or `['baton']` without definitions
   */
  queues?: string[];
  /** The handlers this worker runs (or a registry to share). */
  handlers?: Handler[] | HandlerRegistry;
  /** Runs processed at once, per queue. @defaultValue 5 */
  concurrency?: number;
  /**
   * Folder of job definitions, for timeout, overlap, retention and the handler name of each job.
   * `null` for none (every job then runs with defaults: handler = job name, no timeout,
   * `overlap: allow`). @defaultValue `config.jobsDir` when `config` is given, else none
   */
  jobsDir?: string | null;
  /** Definitions given directly instead of a folder (takes precedence over `jobsDir`). */
  definitions?: JobDefinition[];
  /** Reload the definitions folder when its files change. @defaultValue true */
  watch?: boolean;
  /** How long `close()` waits for running handlers before aborting them. @defaultValue 30_000 */
  shutdownGraceMs?: number;
  /**
   * After aborting the signals on shutdown, how long handlers get to return before their runs
   * are handed back to the queue regardless. @defaultValue 2_000
   */
  abortGraceMs?: number;
  /**
   * BullMQ job lock (ms): a worker silent this long is presumed dead and its runs are handed out
   * again by the stalled check. Also the TTL of the overlap lock. @defaultValue 30_000
   */
  lockDurationMs?: number;
  /** How often BullMQ looks for stalled runs. @defaultValue 30_000 */
  stalledIntervalMs?: number;
  /** Times a run may stall (its worker died) before it fails. @defaultValue 1 */
  maxStalledCount?: number;
  /** Worker id in history and logs. @defaultValue `config.replicaId`, else `<hostname>-<pid>` */
  workerId?: string;
  /** @defaultValue a pino logger to stdout */
  logger?: Logger;
}

/** Reported after every run start that ended in a decision (event `run`). */
export interface RunEvent {
  job: string;
  fireId: string;
  attempt: number;
  status: Exclude<RunStatus, 'running'>;
  reason: string | null;
  error: string | null;
  willRetry: boolean;
  durationMs: number;
  token: string;
}

interface ActiveRun {
  job: string;
  fireId: string;
  bullJobId: string | undefined;
  overlap: OverlapPolicy;
  lockValue: string;
  keys: RunKeys;
  controller: AbortController;
  release: () => void;
  released: Promise<void>;
  logger: Logger;
  lockWarned: boolean;
}

type Outcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: RunAbortedError }
  | { kind: 'released' };

const RESULT_MAX_CHARS = 2_000;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isBullUnrecoverable(err: unknown): boolean {
  return err instanceof UnrecoverableError || (err as Error | null)?.name === 'UnrecoverableError';
}

/** Not worth retrying: BullMQ's UnrecoverableError, or a baton error marked not retryable. */
function isUnrecoverable(err: unknown): boolean {
  return isBullUnrecoverable(err) || (err instanceof BatonError && !err.retryable);
}

function isRunData(data: unknown): data is RunData {
  const d = data as Partial<RunData> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.job === 'string' &&
    typeof d.fireId === 'string' &&
    typeof d.scheduledAt === 'string' &&
    canonicalToken(d.fencingToken) !== null
  );
}

/** BullMQ's built-in backoff for the retry after attempt `attemptsMade + 1` failed. */
export function retryDelayMs(backoff: unknown, attemptsMade: number): number {
  if (typeof backoff === 'number') return backoff;
  const b = backoff as { type?: string; delay?: number } | undefined;
  const delay = b?.delay ?? 0;
  return b?.type === 'exponential' ? Math.round(2 ** attemptsMade * delay) : delay;
}

function jsonResult(value: unknown): { stored: unknown; returned: unknown } {
  if (value === undefined) return { stored: null, returned: null };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined) return { stored: null, returned: null };
  return {
    stored: json.length <= RESULT_MAX_CHARS ? value : `${json.slice(0, RESULT_MAX_CHARS)}…`,
    returned: value,
  };
}

/**
 * BullMQ workers for baton's queues: the fencing check, overlap policy, timeout and history
 * around every handler run. See docs/handlers.md for the exact semantics.
 */
export class Worker extends EventEmitter<{ run: [RunEvent] }> {
  readonly registry: HandlerRegistry;
  readonly workerId: string;
  readonly prefix: string;
  /** The Redis key layout of this worker's namespace. */
  readonly keys: RedisKeys;
  private readonly config: ResolvedConfig;
  private readonly logger: Logger;
  private readonly concurrency: number;
  private readonly graceMs: number;
  private readonly abortGraceMs: number;
  private readonly lockMs: number;
  private readonly stalledMs: number;
  private readonly maxStalled: number;
  private readonly fixedQueues: string[] | null;
  private readonly jobsDir: string | null;

  private redis: Redis | null = null;
  private subscriber: Redis | null = null;
  private scripts: RunScripts | null = null;
  private watcher: DefinitionsWatcher | null = null;
  private defs = new Map<string, JobDefinition>();
  private readonly missingDefWarned = new Set<string>();
  private readonly bull = new Map<string, BullWorker>();
  private readonly active = new Map<string, ActiveRun>();
  private renewTimer: NodeJS.Timeout | undefined;
  private phase: 'new' | 'running' | 'draining' | 'aborting' | 'releasing' | 'closed' = 'new';
  private closing: Promise<void> | null = null;
  private starting: Promise<void> | null = null;
  private readonly counters = new Map<string, number>();

  constructor(private readonly options: WorkerOptions = {}) {
    super();
    this.config =
      options.config ??
      resolveConfig(
        {
          redis: options.redisUrl,
          queuePrefix: options.prefix ?? 'bull',
          namespace: options.namespace ?? 'baton',
        },
        {},
      );
    this.prefix = this.config.queuePrefix;
    this.keys = redisKeysOf(this.config);
    this.workerId = options.workerId ?? options.config?.replicaId ?? `${hostname()}-${process.pid}`;
    this.logger = (options.logger ?? createLogger()).child({ worker: this.workerId });
    this.registry =
      options.handlers instanceof HandlerRegistry
        ? options.handlers
        : new HandlerRegistry(options.handlers ?? []);
    this.concurrency = options.concurrency ?? 5;
    this.graceMs = options.shutdownGraceMs ?? 30_000;
    this.abortGraceMs = options.abortGraceMs ?? 2_000;
    this.lockMs = options.lockDurationMs ?? 30_000;
    this.stalledMs = options.stalledIntervalMs ?? 30_000;
    this.maxStalled = options.maxStalledCount ?? 1;
    this.fixedQueues = options.queues && options.queues.length > 0 ? [...options.queues] : null;
    this.jobsDir =
      options.jobsDir !== undefined ? options.jobsDir : (options.config?.jobsDir ?? null);
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RangeError(`concurrency must be a whole number >= 1, got ${this.concurrency}`);
    }
  }

  /** Queues being worked on. */
  queues(): string[] {
    return [...this.bull.keys()];
  }

  /** Counters of this process since start: `completed`, `failed`, `stale`, `skipped`, ... */
  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /** Runs currently executing in this process (fire ids). */
  activeRuns(): string[] {
    return [...this.active.keys()];
  }

  /** Loads the definitions, connects, and starts taking runs. Resolves once every queue is ready. */
  start(): Promise<void> {
    if (this.phase !== 'new') return Promise.reject(new Error('worker already started'));
    this.phase = 'running';
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    await this.loadDefinitions();
    this.redis = createRedis(this.config, 'worker');
    // The queue prefix must be this namespace's before the worker takes anything from it.
    const redis = this.redis;
    try {
      await claimQueuePrefix(redis, this.keys, this.config.redisUrl);
    } catch (err) {
      throw redisError(
        err,
        'claim the queue prefix',
        this.config.redisUrl,
        lastConnectionError(redis),
      );
    }
    this.scripts = new RunScripts(this.redis);
    // Every run outcome also goes to the cluster's live event stream (the API's SSE).
    const events = this.redis;
    this.on('run', (e) =>
      publishEvent(events, this.keys, {
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
      }),
    );
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, message: string) =>
      this.onAbortMessage(message),
    );
    await this.subscriber.subscribe(this.keys.abort);
    await Promise.all(this.wantedQueues().map((q) => this.addQueue(q, false)));
    if (this.phase !== 'running') return; // closed while starting
    // Taking runs starts only now, so a `run` listener added right after `await start()` (or
    // `await startWorker()`) sees every run.
    for (const w of this.bull.values()) this.runQueue(w);
    const every = Math.max(50, Math.floor(this.lockMs / 3));
    this.renewTimer = setInterval(() => void this.renewLocks(), every);
    this.renewTimer.unref();
    this.logger.info(
      {
        queues: this.queues(),
        handlers: this.registry.names(),
        concurrency: this.concurrency,
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
      new Promise((r) => setTimeout(r, this.graceMs).unref()),
    ]);
    this.logger.info({ active: this.activeRuns(), graceMs: this.graceMs }, 'worker closing');
    const bullClosed = Promise.allSettled([...this.bull.values()].map((w) => w.close())).then(
      () => undefined,
    );
    const within = (ms: number) =>
      new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), ms);
        void bullClosed.then(() => {
          clearTimeout(t);
          resolve(true);
        });
      });
    if (!(await within(this.graceMs))) {
      this.phase = 'aborting';
      this.logger.warn(
        { active: this.activeRuns() },
        'grace period over: aborting the signals of running handlers',
      );
      for (const run of this.active.values()) this.abortRun(run, 'shutdown');
      if (!(await within(this.abortGraceMs))) {
        this.phase = 'releasing';
        this.logger.warn(
          { active: this.activeRuns() },
          'handlers still running: handing their runs back to the queue',
        );
        for (const run of this.active.values()) run.release();
        if (!(await within(10_000))) {
          this.logger.error('BullMQ did not close in time; disconnecting');
        }
      }
    }
    clearInterval(this.renewTimer);
    await this.watcher?.close().catch(() => undefined);
    this.subscriber?.disconnect();
    if (this.redis) {
      await Promise.race([
        this.redis.quit().catch(() => undefined),
        new Promise((r) => setTimeout(r, 1_000).unref()),
      ]);
      this.redis.disconnect();
    }
    this.phase = 'closed';
    this.logger.info('worker closed');
  }

  // --- definitions and queues -------------------------------------------------------------

  private setDefinitions(jobs: JobDefinition[]): void {
    this.defs = new Map(jobs.map((j) => [j.name, j]));
    this.missingDefWarned.clear();
    if (this.phase === 'running' && this.fixedQueues === null) {
      for (const q of this.wantedQueues()) {
        if (!this.bull.has(q)) {
          this.addQueue(q, true).catch((err: unknown) =>
            this.logger.error({ err, queue: q }, 'cannot start a worker for the queue'),
          );
        }
      }
    }
  }

  private async loadDefinitions(): Promise<void> {
    if (this.options.definitions) {
      this.setDefinitions(this.options.definitions);
      return;
    }
    if (this.jobsDir === null) return;
    const logProblems = (
      problems: { file: string; line: number; col: number; message: string }[],
    ) => {
      for (const p of problems)
        this.logger.warn({ problem: formatProblem(p) }, 'definition problem');
    };
    if (this.options.watch === false) {
      const loaded = await loadDefinitions(this.jobsDir);
      logProblems(loaded.problems);
      this.setDefinitions(loaded.jobs);
      return;
    }
    this.watcher = await watchDefinitions(this.jobsDir, {
      onChange: (s) => {
        this.logger.info({ jobs: s.jobs.length, hash: s.hash }, 'definitions reloaded');
        this.setDefinitions(s.jobs);
      },
      onProblems: logProblems,
      onError: (err) => this.logger.warn({ err }, 'definitions watch error'),
    });
    this.setDefinitions(this.watcher.current());
  }

  private wantedQueues(): string[] {
    if (this.fixedQueues) return this.fixedQueues;
    const fromDefs = [...new Set([...this.defs.values()].map((d) => d.queue))].sort();
    return fromDefs.length > 0 ? fromDefs : [DEFAULT_QUEUE];
  }

  private runQueue(w: BullWorker): void {
    w.run().catch((err: unknown) =>
      this.logger.error({ err: errorMessage(err), queue: w.name }, 'queue worker stopped'),
    );
  }

  private async addQueue(queue: string, run: boolean): Promise<void> {
    if (this.bull.has(queue) || !this.redis) return;
    const w = new BullWorker(queue, (job: Job, token?: string) => this.process(job, token), {
      autorun: false,
      connection: this.redis,
      prefix: this.prefix,
      concurrency: this.concurrency,
      lockDuration: this.lockMs,
      stalledInterval: this.stalledMs,
      maxStalledCount: this.maxStalled,
      name: this.workerId,
    });
    w.on('error', (err) => this.logger.warn({ err: errorMessage(err), queue }, 'queue error'));
    w.on('lockRenewalFailed', (ids: string[]) => {
      for (const run of this.active.values()) {
        if (run.bullJobId !== undefined && ids.includes(run.bullJobId)) {
          this.abortRun(run, 'lock-lost');
        }
      }
    });
    this.bull.set(queue, w);
    await w.waitUntilReady();
    if (run && this.phase === 'running') {
      this.runQueue(w);
      this.logger.info({ queue }, 'new queue from the definitions: taking its runs');
    }
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

  // --- aborts and locks ---------------------------------------------------------------------

  private abortRun(run: ActiveRun, cause: RunAbortedError['abortCause'], detail?: string): void {
    if (run.controller.signal.aborted) return;
    const message =
      cause === 'replaced'
        ? `run replaced${detail ? ` by ${detail}` : ''} (overlap: replace)`
        : cause === 'shutdown'
          ? 'worker shutting down'
          : cause === 'lock-lost'
            ? 'BullMQ lock lost: the run may be handed to another worker'
            : 'timed out';
    run.logger.warn({ cause }, `aborting the run: ${message}`);
    run.controller.abort(new RunAbortedError(cause, message));
  }

  private onAbortMessage(message: string): void {
    try {
      const m = JSON.parse(message) as { job?: string; fireId?: string; by?: string };
      if (typeof m.fireId !== 'string') return;
      const run = this.active.get(m.fireId);
      if (run && run.job === m.job) this.abortRun(run, 'replaced', m.by);
    } catch {
      // not ours
    }
  }

  private async renewLocks(): Promise<void> {
    if (!this.scripts) return;
    for (const run of this.active.values()) {
      if (run.overlap === 'allow') continue;
      try {
        const ours = await this.scripts.renew(run.keys.active, run.lockValue, this.lockMs);
        if (ours || !this.active.has(run.fireId)) continue;
        if (run.overlap === 'replace') {
          this.abortRun(run, 'replaced', 'a newer run (the overlap lock was taken)');
        } else if (!run.lockWarned) {
          run.lockWarned = true;
          run.logger.warn(
            'overlap lock lost (this worker was silent longer than the lock duration): another run of the job may start',
          );
        }
      } catch (err) {
        run.logger.warn({ err: errorMessage(err) }, 'cannot renew the overlap lock');
      }
    }
  }

  private count(...names: (string | null)[]): void {
    for (const n of names) if (n) this.counters.set(n, (this.counters.get(n) ?? 0) + 1);
  }

  // --- one run ------------------------------------------------------------------------------

  private async process(job: Job, token: string | undefined): Promise<unknown> {
    const scripts = this.scripts;
    if (!scripts || !this.redis) throw new Error('worker not started');
    const data: unknown = job.data;
    if (!isRunData(data)) {
      this.count('failed', 'invalid-run');
      this.logger.error(
        { queue: job.queueName, bullJobId: job.id },
        'not a baton run (job.data needs job, fireId, scheduledAt and a decimal fencingToken): failed without retry',
      );
      throw new UnrecoverableError(
        'not a baton run: job.data needs job, fireId, scheduledAt and a decimal fencingToken',
      );
    }
    const fencingToken = canonicalToken(data.fencingToken)!;
    const def = this.definition(data.job);
    const overlap = def?.overlap ?? 'allow';
    const retention = def?.retention ?? DEFAULT_RETENTION;
    const handlerName = def?.handler ?? data.job;
    const timeoutMs = def?.timeoutMs ?? null;
    const attempt = job.attemptsMade + 1;
    const start = Math.max(1, job.attemptsStarted || 1);
    const member = `${data.fireId}#${start}`;
    const parsedAt = Date.parse(data.scheduledAt);
    const scheduledAtMs = Number.isFinite(parsedAt) ? parsedAt : job.timestamp;
    const startedAtMs = Date.now();
    const keys = this.keys.run(data.job);
    const logger = this.logger.child({
      job: data.job,
      fireId: data.fireId,
      token: fencingToken,
      attempt,
    });
    const record: RunRecord = {
      fireId: data.fireId,
      job: data.job,
      scheduledAt: new Date(scheduledAtMs).toISOString(),
      status: 'running',
      reason: null,
      attempt,
      start,
      startedAt: new Date(startedAtMs).toISOString(),
      endedAt: null,
      durationMs: null,
      error: null,
      willRetry: false,
      worker: this.workerId,
      token: fencingToken,
      manual: data.manual === true,
      ...(typeof data.backfill === 'string' ? { backfill: data.backfill } : {}),
      result: null,
    };

    const begin = await scripts.begin({
      keys,
      fenceKey: this.keys.fence,
      startedKey: this.keys.started(data.fireId),
      job: data.job,
      token: fencingToken,
      revision: canonicalToken(data.revision),
      copy: String(job.timestamp),
      startedTtlMs: dedupeWindowMs(retention.ageMs),
      fireId: data.fireId,
      overlap,
      lockTtlMs: this.lockMs,
      scheduledAtMs,
      member,
      previousMember: start > 1 ? `${data.fireId}#${start - 1}` : null,
      recordJson: JSON.stringify(record),
      nowMs: startedAtMs,
      retention,
    });

    const event = (e: Omit<RunEvent, 'job' | 'fireId' | 'attempt' | 'token'>): void => {
      this.count(e.status, e.reason);
      this.emit('run', {
        job: data.job,
        fireId: data.fireId,
        attempt,
        token: fencingToken,
        ...e,
      });
    };

    if (begin.kind === 'stale') {
      const stale = new StaleTokenError(
        `stale run ${data.fireId}: fencing token ${fencingToken} claims a commit at etcd revision ${data.revision ?? '?'}, after the leader with token ${begin.newerToken} took over at revision ${begin.takeoverRevision}: no valid leader committed it`,
      );
      logger.warn(
        {
          newerToken: begin.newerToken,
          takeoverRevision: begin.takeoverRevision,
          code: stale.code,
        },
        stale.message,
      );
      event({
        status: 'stale',
        reason: 'stale-token',
        error: stale.message,
        willRetry: false,
        durationMs: 0,
      });
      const err = new UnrecoverableError(stale.message);
      (err as Error & { cause?: unknown }).cause = stale;
      throw err;
    }
    if (begin.kind === 'skip') {
      logger.info(
        { reason: begin.reason, active: begin.active, overlap },
        begin.reason === 'overlap'
          ? `skipped: run ${begin.active} is still active (overlap: forbid)`
          : begin.reason === 'duplicate'
            ? `skipped: fire ${data.fireId} already started from an earlier copy of this run`
            : `skipped: newer run ${begin.active} replaced it (overlap: replace)`,
      );
      event({
        status: 'skipped',
        reason: begin.reason,
        error: null,
        willRetry: false,
        durationMs: 0,
      });
      return { status: 'skipped', reason: begin.reason, active: begin.active };
    }

    // The run goes ahead.
    const lockValue = `${scheduledAtMs} ${data.fireId}`;
    if (begin.abort) {
      const previous = this.active.get(begin.abort);
      if (previous) this.abortRun(previous, 'replaced', data.fireId);
      logger.info({ replaced: begin.abort }, 'replacing the active run (overlap: replace)');
      this.redis
        .publish(
          this.keys.abort,
          JSON.stringify({ job: data.job, fireId: begin.abort, by: data.fireId }),
        )
        .catch((err: unknown) =>
          logger.warn({ err: errorMessage(err) }, 'cannot publish the abort of the replaced run'),
        );
    }
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const run: ActiveRun = {
      job: data.job,
      fireId: data.fireId,
      bullJobId: job.id,
      overlap,
      lockValue,
      keys,
      controller: new AbortController(),
      release,
      released,
      logger,
      lockWarned: false,
    };
    this.active.set(data.fireId, run);
    try {
      if (this.phase === 'aborting') this.abortRun(run, 'shutdown');
      if (this.phase === 'releasing') run.release();
      const handler = this.registry.get(handlerName);
      let outcome: Outcome;
      let unknownHandler = false;
      if (!handler) {
        unknownHandler = true;
        outcome = {
          kind: 'error',
          error: new UnrecoverableError(
            `unknown handler "${handlerName}" for job ${data.job}: this worker has ${
              this.registry.names().join(', ') || 'no handlers'
            }`,
          ),
        };
      } else {
        logger.info({ handler: handlerName, scheduledAt: record.scheduledAt }, 'run started');
        outcome = await this.execute(
          handler,
          {
            job: data.job,
            scheduledAt: new Date(scheduledAtMs),
            fireId: data.fireId,
            fencingToken,
            attempt,
            payload: data.payload,
            manual: data.manual === true,
            logger,
            signal: run.controller.signal,
          },
          run,
          timeoutMs,
        );
      }
      return await this.settle({
        job,
        token,
        run,
        outcome,
        unknownHandler,
        record,
        member,
        startedAtMs,
        retention,
        event,
      });
    } finally {
      if (this.active.get(data.fireId) === run) this.active.delete(data.fireId);
    }
  }

  private async execute(
    handler: Handler,
    ctx: RunContext,
    run: ActiveRun,
    timeoutMs: number | null,
  ): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const races: Promise<Outcome>[] = [
      Promise.resolve()
        .then(() => handler.run(ctx))
        .then(
          (value): Outcome => ({ kind: 'ok', value }),
          (error: unknown): Outcome => ({ kind: 'error', error }),
        ),
      run.released.then((): Outcome => ({ kind: 'released' })),
    ];
    if (timeoutMs !== null) {
      races.push(
        new Promise<Outcome>((resolve) => {
          timer = setTimeout(() => {
            const error = new RunAbortedError(
              'timeout',
              `timed out after ${formatDuration(timeoutMs)} (the job's timeout)`,
            );
            run.logger.warn({ timeoutMs }, error.message);
            run.controller.abort(error);
            resolve({ kind: 'timeout', error });
          }, timeoutMs);
        }),
      );
    }
    try {
      return await Promise.race(races);
    } finally {
      clearTimeout(timer);
    }
  }

  private async settle(s: {
    job: Job;
    token: string | undefined;
    run: ActiveRun;
    outcome: Outcome;
    unknownHandler: boolean;
    record: RunRecord;
    member: string;
    startedAtMs: number;
    retention: { ageMs: number; count: number };
    event: (e: Omit<RunEvent, 'job' | 'fireId' | 'attempt' | 'token'>) => void;
  }): Promise<unknown> {
    const { job, run, outcome } = s;
    const abortReason: unknown = run.controller.signal.aborted
      ? run.controller.signal.reason
      : undefined;
    const aborted = abortReason instanceof RunAbortedError ? abortReason.abortCause : null;

    let status: Exclude<RunStatus, 'running'>;
    let reason: string | null = null;
    let error: unknown = null;
    let action: 'complete' | 'retryable' | 'final' | 'requeue';
    let result: { stored: unknown; returned: unknown } = { stored: null, returned: null };
    if (outcome.kind === 'ok') {
      status = 'completed';
      action = 'complete';
      result = jsonResult(outcome.value);
    } else if (outcome.kind === 'released') {
      status = 'aborted';
      reason = 'shutdown';
      error = abortReason ?? new RunAbortedError('shutdown', 'worker shutting down');
      action = 'requeue';
    } else if (outcome.kind === 'timeout') {
      status = 'failed';
      reason = 'timeout';
      error = outcome.error;
      action = 'retryable';
    } else if (s.unknownHandler) {
      status = 'failed';
      reason = 'unknown-handler';
      error = outcome.error;
      action = 'final';
    } else if (aborted === 'replaced') {
      status = 'aborted';
      reason = 'replaced';
      error = abortReason;
      action = 'final';
    } else if (aborted === 'shutdown') {
      status = 'aborted';
      reason = 'shutdown';
      error = abortReason;
      action = 'requeue';
    } else {
      status = 'failed';
      error = outcome.error;
      action = isUnrecoverable(outcome.error) ? 'final' : 'retryable';
    }
    const attempts = job.opts.attempts ?? 1;
    const willRetry = action === 'retryable' && job.attemptsMade + 1 < attempts;
    const endedAtMs = Date.now();
    const durationMs = endedAtMs - s.startedAtMs;
    const message = error === null ? null : errorMessage(error);
    const final: RunRecord = {
      ...s.record,
      status,
      reason,
      endedAt: new Date(endedAtMs).toISOString(),
      durationMs,
      error: message,
      willRetry,
      result: result.stored,
    };
    const keepMs = willRetry
      ? retryDelayMs(job.opts.backoff, job.attemptsMade) + this.lockMs
      : this.lockMs;
    try {
      await this.scripts!.end({
        keys: run.keys,
        member: s.member,
        recordJson: JSON.stringify(final),
        startedAtMs: s.startedAtMs,
        lockAction:
          run.overlap === 'allow' ? 'none' : willRetry || action === 'requeue' ? 'keep' : 'release',
        lockValue: run.lockValue,
        keepMs,
        nowMs: endedAtMs,
        retention: s.retention,
        counters: reason ? [status, reason] : [status],
      });
    } catch (err) {
      run.logger.error({ err: errorMessage(err) }, 'cannot record the end of the run in Redis');
    }
    s.event({ status, reason, error: message, willRetry, durationMs });
    const log = { status, reason, durationMs, willRetry, error: message ?? undefined };
    if (status === 'completed') run.logger.info(log, 'run completed');
    else run.logger.warn(log, `run ${status}${reason ? ` (${reason})` : ''}`);

    switch (action) {
      case 'complete':
        return result.returned;
      case 'requeue':
        if (s.token !== undefined) {
          try {
            await job.moveToWait(s.token);
          } catch (err) {
            run.logger.warn(
              { err: errorMessage(err) },
              'cannot hand the run back to the queue; the stalled check will',
            );
          }
        }
        throw new WaitingError();
      case 'final': {
        if (isBullUnrecoverable(error)) throw error;
        const e = new UnrecoverableError(message ?? status);
        (e as Error & { cause?: unknown }).cause = error;
        throw e;
      }
      case 'retryable':
        throw error instanceof Error ? error : new Error(message ?? 'handler failed');
    }
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
