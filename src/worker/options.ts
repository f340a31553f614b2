import { hostname } from 'node:os';
import type { BackoffStrategy } from 'bullmq';
import { resolveConfig, type ResolvedConfig } from '../config/index.js';
import type { JobDefinition } from '../definitions/types.js';
import { createLogger, type Logger } from '../log.js';
import { redisKeysOf, type RedisKeys } from '../redis/keys.js';
import type { Handler } from './handler.js';
import { HandlerRegistry } from './registry.js';

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
  /** Runs processed at once, per queue (BullMQ `concurrency`). @defaultValue 5 */
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
  /**
   * BullMQ `settings.backoffStrategy`: the delay before a retry for jobs whose `backoff.type` is
   * neither `fixed` nor `exponential` (baton's own jobs use those two). @defaultValue none
   */
  backoffStrategy?: BackoffStrategy;
  /**
   * How often the run events of this process are published, as one message (a JSON array), on
   * the events channel. @defaultValue 50
   */
  eventsIntervalMs?: number;
  /** How often a summary of the runs (counters) is logged at info; 0 for never. @defaultValue 60_000 */
  summaryIntervalMs?: number;
  /** Worker id in history and logs. @defaultValue `config.replicaId`, else `<hostname>-<pid>` */
  workerId?: string;
  /** @defaultValue a pino logger to stdout */
  logger?: Logger;
}

/** {@link WorkerOptions} with every default applied and checked. */
export interface ResolvedWorkerOptions {
  config: ResolvedConfig;
  prefix: string;
  keys: RedisKeys;
  workerId: string;
  logger: Logger;
  registry: HandlerRegistry;
  concurrency: number;
  graceMs: number;
  abortGraceMs: number;
  lockMs: number;
  stalledMs: number;
  maxStalled: number;
  backoffStrategy: BackoffStrategy | undefined;
  eventsIntervalMs: number;
  summaryIntervalMs: number;
  /** The queues given, or null to follow the definitions. */
  fixedQueues: string[] | null;
  jobsDir: string | null;
  definitions: JobDefinition[] | undefined;
  watch: boolean;
}

/** Applies the defaults of {@link WorkerOptions}. @throws RangeError on a bad concurrency. */
export function resolveWorkerOptions(options: WorkerOptions = {}): ResolvedWorkerOptions {
  const config =
    options.config ??
    resolveConfig(
      {
        redis: options.redisUrl,
        queuePrefix: options.prefix ?? 'bull',
        namespace: options.namespace ?? 'baton',
      },
      {},
    );
  const workerId = options.workerId ?? options.config?.replicaId ?? `${hostname()}-${process.pid}`;
  const concurrency = options.concurrency ?? 5;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a whole number >= 1, got ${concurrency}`);
  }
  return {
    config,
    prefix: config.queuePrefix,
    keys: redisKeysOf(config),
    workerId,
    logger: (options.logger ?? createLogger()).child({ worker: workerId }),
    registry:
      options.handlers instanceof HandlerRegistry
        ? options.handlers
        : new HandlerRegistry(options.handlers ?? []),
    concurrency,
    graceMs: options.shutdownGraceMs ?? 30_000,
    abortGraceMs: options.abortGraceMs ?? 2_000,
    lockMs: options.lockDurationMs ?? 30_000,
    stalledMs: options.stalledIntervalMs ?? 30_000,
    maxStalled: options.maxStalledCount ?? 1,
    backoffStrategy: options.backoffStrategy,
    eventsIntervalMs: options.eventsIntervalMs ?? 50,
    summaryIntervalMs: options.summaryIntervalMs ?? 60_000,
    fixedQueues: options.queues && options.queues.length > 0 ? [...options.queues] : null,
    jobsDir: options.jobsDir !== undefined ? options.jobsDir : (options.config?.jobsDir ?? null),
    definitions: options.definitions,
    watch: options.watch !== false,
  };
}
