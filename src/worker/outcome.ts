// What a run's start and end mean, decided without I/O: given the BEGIN script's answer, the
// handler's outcome, the attempts and the abort reason, which record, event and BullMQ action.
// The worker (run.ts) does the I/O around these decisions; test/unit/worker/ covers them.
import { Backoffs, UnrecoverableError, type BackoffOptions } from 'bullmq';
import { BatonError } from '../errors.js';
import type { OverlapPolicy } from '../definitions/types.js';
import type { RunStatus } from '../history/records.js';
import { RunAbortedError } from './errors.js';
import type { BeginResult } from './scripts.js';

/** How a handler's attempt ended, as the run saw it. */
export type HandlerOutcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: RunAbortedError }
  /** The worker handed the run back to its queue (shutdown past the abort grace). */
  | { kind: 'released' }
  /** No handler of that name in this worker. */
  | { kind: 'unknown-handler'; error: UnrecoverableError };

/** What BullMQ is told: done, fail and retry if attempts remain, fail for good, back to wait. */
export type RunAction = 'complete' | 'retryable' | 'final' | 'requeue';

export type EndStatus = Exclude<RunStatus, 'running'>;

/** The decided end of a run: its record fields, the BullMQ action and the overlap lock. */
export interface RunEnd {
  status: EndStatus;
  reason: string | null;
  /** The error the run ended with (null for a completed run). */
  error: unknown;
  /** Its message, as stored in the history. */
  message: string | null;
  action: RunAction;
  willRetry: boolean;
  /** The handler's result as stored (JSON, at most {@link RESULT_MAX_CHARS} characters). */
  storedResult: unknown;
  /** The handler's result as returned to BullMQ. */
  returnedResult: unknown;
  /** What the END script does with the overlap lock. */
  lockAction: 'release' | 'keep' | 'none';
}

export const RESULT_MAX_CHARS = 2_000;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isBullUnrecoverable(err: unknown): boolean {
  return err instanceof UnrecoverableError || (err as Error | null)?.name === 'UnrecoverableError';
}

/** Not worth retrying: BullMQ's UnrecoverableError, or a baton error marked not retryable. */
export function isUnrecoverable(err: unknown): boolean {
  return isBullUnrecoverable(err) || (err instanceof BatonError && !err.retryable);
}

/** The result as kept in the history (bounded) and as returned to BullMQ. */
export function jsonResult(value: unknown): { stored: unknown; returned: unknown } {
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

/** A start the BEGIN script refused or skipped: the run does not execute. */
export interface BeginRefusal {
  status: 'stale' | 'skipped';
  reason: string;
  /** For the log line and the event; null for a skip. */
  error: string | null;
  /** Log level: a stale run is a warning, a skip is recorded at info. */
  level: 'warn' | 'info';
  logMessage: string;
}

/**
 * The meaning of the BEGIN script's answer: null when the run goes ahead, else the refusal
 * (the script has already written its record and counters).
 */
export function decideBegin(
  begin: BeginResult,
  run: { fireId: string; token: string; revision: string | null | undefined },
): BeginRefusal | null {
  if (begin.kind === 'run') return null;
  if (begin.kind === 'stale') {
    const message = `stale run ${run.fireId}: fencing token ${run.token} claims a commit at etcd revision ${run.revision ?? '?'}, after the leader with token ${begin.newerToken} took over at revision ${begin.takeoverRevision}: no valid leader committed it`;
    return {
      status: 'stale',
      reason: 'stale-token',
      error: message,
      level: 'warn',
      logMessage: message,
    };
  }
  return {
    status: 'skipped',
    reason: begin.reason,
    error: null,
    level: 'info',
    logMessage:
      begin.reason === 'overlap'
        ? `skipped: run ${begin.active} is still active (overlap: forbid)`
        : begin.reason === 'duplicate'
          ? `skipped: fire ${run.fireId} already started from an earlier copy of this run`
          : `skipped: newer run ${begin.active} replaced it (overlap: replace)`,
  };
}

/**
 * The end of a run that executed (or was to): status, reason, retry, BullMQ action and lock.
 *
 * - a handler that returned: `completed` (even after an abort it ignored);
 * - handed back on shutdown, or aborted for shutdown: `aborted`/`shutdown`, back to the queue;
 * - timeout: `failed`/`timeout`, retryable;
 * - unknown handler: `failed`/`unknown-handler`, final;
 * - aborted by a newer run (`overlap: replace`): `aborted`/`replaced`, final;
 * - any other error: `failed`, retryable unless unrecoverable.
 *
 * `willRetry` when retryable and attempts remain (`attemptsMade` is BullMQ's count before this
 * attempt). The overlap lock is kept while the run may still execute (retry or hand-back).
 */
export function decideEnd(input: {
  outcome: HandlerOutcome;
  /** The run's signal's reason when it was aborted, else undefined. */
  abortReason: unknown;
  attemptsMade: number;
  attempts: number;
  overlap: OverlapPolicy;
}): RunEnd {
  const { outcome, abortReason } = input;
  const aborted = abortReason instanceof RunAbortedError ? abortReason.abortCause : null;
  let status: EndStatus;
  let reason: string | null = null;
  let error: unknown = null;
  let action: RunAction;
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
  } else if (outcome.kind === 'unknown-handler') {
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
  const willRetry = action === 'retryable' && input.attemptsMade + 1 < input.attempts;
  return {
    status,
    reason,
    error,
    message: error === null ? null : errorMessage(error),
    action,
    willRetry,
    storedResult: result.stored,
    returnedResult: result.returned,
    lockAction:
      input.overlap === 'allow' ? 'none' : willRetry || action === 'requeue' ? 'keep' : 'release',
  };
}

/**
 * The longest BullMQ will wait before the retry after attempt `attemptsMade + 1` failed: BullMQ's
 * own computation (`Backoffs.calculate`, as `Job.moveToFailed` calls it) of the job's `backoff`
 * option, without its random jitter (jitter only shortens the wait). 0 for none or a type this
 * worker does not know (a custom strategy is not used by baton's jobs).
 */
export function retryDelayMs(
  backoff: number | BackoffOptions | undefined,
  attemptsMade: number,
): number {
  if (backoff === undefined) return 0;
  const normalized = Backoffs.normalize(backoff);
  if (!normalized) return 0;
  try {
    const delay = Backoffs.calculate(
      { ...normalized, jitter: 0 },
      attemptsMade + 1,
      new Error(),
      undefined as never,
    );
    return typeof delay === 'number' && Number.isFinite(delay) && delay > 0 ? delay : 0;
  } catch {
    return 0;
  }
}
