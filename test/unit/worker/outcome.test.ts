import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { BatonError, StaleTokenError } from '../../../src/errors.js';
import { RunAbortedError } from '../../../src/worker/errors.js';
import {
  decideBegin,
  decideEnd,
  jsonResult,
  RESULT_MAX_CHARS,
  retryDelayMs,
  type HandlerOutcome,
} from '../../../src/worker/outcome.js';

const run = { fireId: 'j@1000', token: '7', revision: '120' };

function end(
  outcome: HandlerOutcome,
  o: {
    abortReason?: unknown;
    attemptsMade?: number;
    attempts?: number;
    overlap?: 'allow' | 'forbid' | 'replace';
  } = {},
) {
  return decideEnd({
    outcome,
    abortReason: o.abortReason,
    attemptsMade: o.attemptsMade ?? 0,
    attempts: o.attempts ?? 3,
    overlap: o.overlap ?? 'forbid',
  });
}

describe('decideBegin: the meaning of the BEGIN script answer', () => {
  it('lets a run go ahead', () => {
    expect(decideBegin({ kind: 'run', abort: null }, run)).toBeNull();
    expect(decideBegin({ kind: 'run', abort: 'j@500' }, run)).toBeNull();
  });

  it('refuses a stale run with the takeover in the message, at warn', () => {
    const r = decideBegin({ kind: 'stale', newerToken: '10', takeoverRevision: '100' }, run);
    expect(r).toMatchObject({ status: 'stale', reason: 'stale-token', level: 'warn' });
    expect(r!.error).toBe(
      'stale run j@1000: fencing token 7 claims a commit at etcd revision 120, after the leader with token 10 took over at revision 100: no valid leader committed it',
    );
    expect(
      decideBegin(
        { kind: 'stale', newerToken: '10', takeoverRevision: '100' },
        { ...run, revision: null },
      )!.error,
    ).toContain('etcd revision ?');
  });

  it('records each skip with its reason and no error', () => {
    for (const [reason, text] of [
      ['overlap', 'skipped: run j@500 is still active (overlap: forbid)'],
      ['duplicate', 'skipped: fire j@1000 already started from an earlier copy of this run'],
      ['superseded', 'skipped: newer run j@500 replaced it (overlap: replace)'],
    ] as const) {
      expect(decideBegin({ kind: 'skip', reason, active: 'j@500' }, run)).toEqual({
        status: 'skipped',
        reason,
        error: null,
        level: 'info',
        logMessage: text,
      });
    }
  });
});

describe('decideEnd: status, retry, BullMQ action and overlap lock of a run', () => {
  it('a handler that returned completes (even after an abort it ignored) and releases the lock', () => {
    const e = end({ kind: 'ok', value: { n: 1 } });
    expect(e).toMatchObject({
      status: 'completed',
      reason: null,
      error: null,
      message: null,
      action: 'complete',
      willRetry: false,
      storedResult: { n: 1 },
      returnedResult: { n: 1 },
      lockAction: 'release',
    });
    const ignored = end(
      { kind: 'ok', value: undefined },
      { abortReason: new RunAbortedError('shutdown', 'worker shutting down') },
    );
    expect(ignored).toMatchObject({ status: 'completed', action: 'complete', storedResult: null });
  });

  it('an error is retried while attempts remain, keeping the lock through the wait', () => {
    const first = end(
      { kind: 'error', error: new Error('boom') },
      { attemptsMade: 0, attempts: 2 },
    );
    expect(first).toMatchObject({
      status: 'failed',
      reason: null,
      message: 'boom',
      action: 'retryable',
      willRetry: true,
      lockAction: 'keep',
    });
    const last = end({ kind: 'error', error: new Error('boom') }, { attemptsMade: 1, attempts: 2 });
    expect(last).toMatchObject({ action: 'retryable', willRetry: false, lockAction: 'release' });
    expect(end({ kind: 'error', error: 'text' }, { overlap: 'allow' })).toMatchObject({
      message: 'text',
      lockAction: 'none',
    });
  });

  it('unrecoverable errors and non-retryable baton errors fail at once', () => {
    for (const error of [
      new UnrecoverableError('no'),
      new StaleTokenError('refused downstream'),
      new BatonError('X', 'not retryable', { retryable: false }),
    ]) {
      expect(end({ kind: 'error', error })).toMatchObject({
        status: 'failed',
        action: 'final',
        willRetry: false,
        lockAction: 'release',
      });
    }
  });

  it('timeout fails the attempt as retryable; unknown handler fails for good', () => {
    const timeout = new RunAbortedError('timeout', 'timed out after 1s');
    expect(end({ kind: 'timeout', error: timeout })).toMatchObject({
      status: 'failed',
      reason: 'timeout',
      error: timeout,
      action: 'retryable',
      willRetry: true,
    });
    expect(
      end({ kind: 'unknown-handler', error: new UnrecoverableError('unknown handler "x"') }),
    ).toMatchObject({
      status: 'failed',
      reason: 'unknown-handler',
      action: 'final',
      willRetry: false,
    });
  });

  it('aborts: replaced is final, shutdown and hand-back go back to the queue holding the lock', () => {
    const replaced = new RunAbortedError('replaced', 'run replaced by j@2000 (overlap: replace)');
    expect(end({ kind: 'error', error: replaced }, { abortReason: replaced })).toMatchObject({
      status: 'aborted',
      reason: 'replaced',
      action: 'final',
      willRetry: false,
      lockAction: 'release',
    });
    const shutdown = new RunAbortedError('shutdown', 'worker shutting down');
    expect(end({ kind: 'error', error: shutdown }, { abortReason: shutdown })).toMatchObject({
      status: 'aborted',
      reason: 'shutdown',
      action: 'requeue',
      willRetry: false,
      lockAction: 'keep',
    });
    const handedBack = end({ kind: 'released' });
    expect(handedBack).toMatchObject({
      status: 'aborted',
      reason: 'shutdown',
      message: 'worker shutting down',
      action: 'requeue',
      lockAction: 'keep',
    });
  });

  it('a lock-lost abort followed by an error is an ordinary, retryable failure', () => {
    const lost = new RunAbortedError('lock-lost', 'BullMQ lock lost');
    expect(end({ kind: 'error', error: lost }, { abortReason: lost })).toMatchObject({
      status: 'failed',
      reason: null,
      action: 'retryable',
    });
  });
});

describe('results and retry delays', () => {
  it('keeps a result up to the bound, cut beyond it, and returns it whole', () => {
    expect(jsonResult(undefined)).toEqual({ stored: null, returned: null });
    const big = 'x'.repeat(RESULT_MAX_CHARS + 10);
    const r = jsonResult(big);
    expect(r.returned).toBe(big);
    expect(typeof r.stored === 'string' && r.stored.length).toBe(RESULT_MAX_CHARS + 1);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonResult(cyclic)).toEqual({ stored: null, returned: null });
  });

  it("are BullMQ's own backoff: fixed, exponential doubling from the delay, jitter's upper bound", () => {
    expect(retryDelayMs({ type: 'fixed', delay: 300 }, 0)).toBe(300);
    expect(retryDelayMs({ type: 'fixed', delay: 300 }, 4)).toBe(300);
    expect([0, 1, 2].map((n) => retryDelayMs({ type: 'exponential', delay: 100 }, n))).toEqual([
      100, 200, 400,
    ]);
    expect(retryDelayMs({ type: 'exponential', delay: 100, jitter: 0.5 }, 2)).toBe(400);
    expect(retryDelayMs(250, 3)).toBe(250);
    expect(retryDelayMs(undefined, 0)).toBe(0);
    expect(retryDelayMs({ type: 'custom-nobody-knows' }, 0)).toBe(0);
  });
});
