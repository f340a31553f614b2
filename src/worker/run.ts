import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { DEFAULT_RETENTION, formatDuration } from '../definitions/index.js';
import type { JobDefinition } from '../definitions/types.js';
import { dedupeWindowMs } from '../dispatch/producer.js';
import { StaleTokenError } from '../errors.js';
import type { RunData } from '../fire.js';
import type { RunRecord } from '../history/records.js';
import type { Logger } from '../log.js';
import type { RedisKeys, RunKeys } from '../redis/keys.js';
import { abortRun, type ActiveRun, type ActiveRuns } from './active.js';
import type { AbortChannel } from './aborts.js';
import { RunAbortedError } from './errors.js';
import type { Handler, RunContext } from './handler.js';
import {
  decideBegin,
  decideEnd,
  isBullUnrecoverable,
  retryDelayMs,
  type EndStatus,
  type HandlerOutcome,
} from './outcome.js';
import type { HandlerRegistry } from './registry.js';
import type { RunScripts } from './scripts.js';
import { canonicalToken } from './token.js';

/** Reported after every run start that ended in a decision (event `run`). */
export interface RunEvent {
  job: string;
  fireId: string;
  attempt: number;
  status: EndStatus;
  reason: string | null;
  error: string | null;
  willRetry: boolean;
  durationMs: number;
  token: string;
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

/** What {@link RunProcessor} works with: the worker's parts it shares. */
export interface RunProcessorDeps {
  scripts: RunScripts;
  aborts: AbortChannel;
  active: ActiveRuns;
  keys: RedisKeys;
  registry: HandlerRegistry;
  workerId: string;
  lockMs: number;
  logger: Logger;
  /** The job's definition here, if any. */
  definition: (job: string) => JobDefinition | undefined;
  /** The shutdown step the worker is in (a run starting while aborting is aborted at once). */
  phase: () => string;
  /** Every decided start (the run's end, its refusal or skip): counted and reported. */
  report: (event: RunEvent) => void;
  /** Adds one to each counter named. */
  count: (...names: string[]) => void;
}

/**
 * One run, start to end: the BEGIN script (fence, duplicate, overlap, `running` record), the
 * handler with its timeout and signal, then the END script (record, counters, lock) and the
 * answer to BullMQ. What each outcome means is decided in outcome.ts.
 */
export class RunProcessor {
  /** Each job's keys, built once (a worker sees few jobs, many runs each). */
  private readonly runKeys = new Map<string, RunKeys>();

  constructor(private readonly d: RunProcessorDeps) {}

  private keysOf(job: string): RunKeys {
    let keys = this.runKeys.get(job);
    if (!keys) {
      if (this.runKeys.size >= 10_000) this.runKeys.clear();
      keys = this.d.keys.run(job);
      this.runKeys.set(job, keys);
    }
    return keys;
  }

  async process(job: Job, token: string | undefined): Promise<unknown> {
    const d = this.d;
    const data: unknown = job.data;
    if (!isRunData(data)) {
      d.count('failed', 'invalid-run');
      d.logger.error(
        { queue: job.queueName, bullJobId: job.id },
        'not a baton run (job.data needs job, fireId, scheduledAt and a decimal fencingToken): failed without retry',
      );
      throw new UnrecoverableError(
        'not a baton run: job.data needs job, fireId, scheduledAt and a decimal fencingToken',
      );
    }
    const fencingToken = canonicalToken(data.fencingToken)!;
    const def = d.definition(data.job);
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
    const keys = this.keysOf(data.job);
    // The run's child logger is made on first use: most runs never log.
    let runLogger: Logger | undefined;
    const logger = (): Logger =>
      (runLogger ??= d.logger.child({
        job: data.job,
        fireId: data.fireId,
        token: fencingToken,
        attempt,
      }));
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
      worker: d.workerId,
      token: fencingToken,
      manual: data.manual === true,
      ...(typeof data.backfill === 'string' ? { backfill: data.backfill } : {}),
      result: null,
    };
    const report = (e: Omit<RunEvent, 'job' | 'fireId' | 'attempt' | 'token'>): void =>
      d.report({ job: data.job, fireId: data.fireId, attempt, token: fencingToken, ...e });

    const begin = await d.scripts.begin({
      keys,
      fenceKey: d.keys.fence,
      startedKey: d.keys.started(data.fireId),
      job: data.job,
      token: fencingToken,
      revision: canonicalToken(data.revision),
      copy: String(job.timestamp),
      startedTtlMs: dedupeWindowMs(retention.ageMs),
      fireId: data.fireId,
      overlap,
      lockTtlMs: d.lockMs,
      scheduledAtMs,
      member,
      previousMember: start > 1 ? `${data.fireId}#${start - 1}` : null,
      recordJson: JSON.stringify(record),
      nowMs: startedAtMs,
      retention,
    });

    const refusal = decideBegin(begin, {
      fireId: data.fireId,
      token: fencingToken,
      revision: data.revision,
    });
    if (refusal) {
      if (begin.kind === 'stale') {
        const stale = new StaleTokenError(refusal.logMessage);
        logger().warn(
          {
            newerToken: begin.newerToken,
            takeoverRevision: begin.takeoverRevision,
            code: stale.code,
          },
          stale.message,
        );
        report({
          status: 'stale',
          reason: refusal.reason,
          error: stale.message,
          willRetry: false,
          durationMs: 0,
        });
        const err = new UnrecoverableError(stale.message);
        (err as Error & { cause?: unknown }).cause = stale;
        throw err;
      }
      const active = begin.kind === 'skip' ? begin.active : '';
      logger().info({ reason: refusal.reason, active, overlap }, refusal.logMessage);
      report({
        status: 'skipped',
        reason: refusal.reason,
        error: null,
        willRetry: false,
        durationMs: 0,
      });
      return { status: 'skipped', reason: refusal.reason, active };
    }

    // The run goes ahead.
    const lockValue = `${scheduledAtMs} ${data.fireId}`;
    if (begin.kind === 'run' && begin.abort) {
      const previous = d.active.get(begin.abort);
      if (previous) abortRun(previous, 'replaced', data.fireId);
      logger().info({ replaced: begin.abort }, 'replacing the active run (overlap: replace)');
      d.aborts.publish(data.job, begin.abort, data.fireId, logger());
    }
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const controller = new AbortController();
    const run: ActiveRun = {
      job: data.job,
      fireId: data.fireId,
      bullJobId: job.id,
      overlap,
      lockValue,
      keys,
      controller,
      release,
      released,
      get logger() {
        return logger();
      },
      lockWarned: false,
    };
    d.active.add(run);
    try {
      if (d.phase() === 'aborting') abortRun(run, 'shutdown');
      if (d.phase() === 'releasing') run.release();
      const handler = d.registry.get(handlerName);
      let outcome: HandlerOutcome;
      if (!handler) {
        outcome = {
          kind: 'unknown-handler',
          error: new UnrecoverableError(
            `unknown handler "${handlerName}" for job ${data.job}: this worker has ${
              d.registry.names().join(', ') || 'no handlers'
            }`,
          ),
        };
      } else {
        if (d.logger.isLevelEnabled('debug')) {
          logger().debug({ handler: handlerName, scheduledAt: record.scheduledAt }, 'run started');
        }
        const ctx = {
          job: data.job,
          scheduledAt: new Date(scheduledAtMs),
          fireId: data.fireId,
          fencingToken,
          attempt,
          payload: data.payload,
          manual: data.manual === true,
          signal: controller.signal,
        } as RunContext;
        Object.defineProperty(ctx, 'logger', { get: logger, enumerable: true });
        outcome = await execute(handler, ctx, run, timeoutMs);
      }

      const end = decideEnd({
        outcome,
        abortReason: controller.signal.aborted ? (controller.signal.reason as unknown) : undefined,
        attemptsMade: job.attemptsMade,
        attempts: job.opts.attempts ?? 1,
        overlap,
      });
      const endedAtMs = Date.now();
      const durationMs = endedAtMs - startedAtMs;
      const final: RunRecord = {
        ...record,
        status: end.status,
        reason: end.reason,
        endedAt: new Date(endedAtMs).toISOString(),
        durationMs,
        error: end.message,
        willRetry: end.willRetry,
        result: end.storedResult,
      };
      try {
        await d.scripts.end({
          keys,
          member,
          recordJson: JSON.stringify(final),
          startedAtMs,
          lockAction: end.lockAction,
          lockValue,
          // A retry keeps the lock through BullMQ's backoff wait, then a lock duration.
          keepMs: (end.willRetry ? retryDelayMs(job.opts.backoff, job.attemptsMade) : 0) + d.lockMs,
          nowMs: endedAtMs,
          retention,
          counters: end.reason ? [end.status, end.reason] : [end.status],
        });
      } catch (err) {
        logger().error({ err }, 'cannot record the end of the run in Redis');
      }
      report({
        status: end.status,
        reason: end.reason,
        error: end.message,
        willRetry: end.willRetry,
        durationMs,
      });
      const log = {
        status: end.status,
        reason: end.reason,
        durationMs,
        willRetry: end.willRetry,
        error: end.message ?? undefined,
      };
      if (end.status !== 'completed') {
        logger().warn(log, `run ${end.status}${end.reason ? ` (${end.reason})` : ''}`);
      } else if (d.logger.isLevelEnabled('debug')) {
        logger().debug(log, 'run completed');
      }

      switch (end.action) {
        case 'complete':
          return end.returnedResult;
        case 'requeue':
          if (token !== undefined) {
            try {
              await job.moveToWait(token);
            } catch (err) {
              logger().warn(
                { err },
                'cannot hand the run back to the queue; the stalled check will',
              );
            }
          }
          throw new WaitingError();
        case 'final': {
          if (isBullUnrecoverable(end.error)) throw end.error;
          const e = new UnrecoverableError(end.message ?? end.status);
          (e as Error & { cause?: unknown }).cause = end.error;
          throw e;
        }
        case 'retryable':
          throw end.error instanceof Error ? end.error : new Error(end.message ?? 'handler failed');
      }
    } finally {
      d.active.remove(run);
    }
  }
}

/** Runs the handler, racing its timeout and the hand-back of the run. */
async function execute(
  handler: Handler,
  ctx: RunContext,
  run: ActiveRun,
  timeoutMs: number | null,
): Promise<HandlerOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const races: Promise<HandlerOutcome>[] = [
    Promise.resolve()
      .then(() => handler.run(ctx))
      .then(
        (value): HandlerOutcome => ({ kind: 'ok', value }),
        (error: unknown): HandlerOutcome => ({ kind: 'error', error }),
      ),
    run.released.then((): HandlerOutcome => ({ kind: 'released' })),
  ];
  if (timeoutMs !== null) {
    races.push(
      new Promise<HandlerOutcome>((resolve) => {
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
