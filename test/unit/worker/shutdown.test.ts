import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { ShutdownEscalation } from '../../../src/worker/shutdown.js';

afterEach(() => vi.useRealTimers());

function escalation() {
  const calls: string[] = [];
  const s = new ShutdownEscalation({
    graceMs: 1_000,
    abortGraceMs: 200,
    releaseWaitMs: 500,
    logger: silentLogger(),
    active: () => ['j@1'],
    onAbort: () => calls.push('abort'),
    onRelease: () => calls.push('release'),
  });
  return { s, calls };
}

describe('ShutdownEscalation (fake clock)', () => {
  it('ends without escalating when the queues close within the grace period', async () => {
    vi.useFakeTimers();
    const { s, calls } = escalation();
    let close!: () => void;
    const done = s.run(new Promise<void>((r) => (close = r)));
    await vi.advanceTimersByTimeAsync(999);
    close();
    await done;
    expect(calls).toEqual([]);
    expect(s.phase).toBe('draining');
  });

  it('aborts after the grace period, and stops there when handlers then return', async () => {
    vi.useFakeTimers();
    const { s, calls } = escalation();
    let close!: () => void;
    const done = s.run(new Promise<void>((r) => (close = r)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toEqual(['abort']);
    expect(s.phase).toBe('aborting');
    close();
    await done;
    expect(calls).toEqual(['abort']);
  });

  it('hands the runs back after the abort grace, and gives up after the release wait', async () => {
    vi.useFakeTimers();
    const { s, calls } = escalation();
    let finished = false;
    const done = s.run(new Promise<void>(() => undefined)).then(() => (finished = true));
    await vi.advanceTimersByTimeAsync(1_200);
    expect(calls).toEqual(['abort', 'release']);
    expect(s.phase).toBe('releasing');
    await vi.advanceTimersByTimeAsync(499);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(finished).toBe(true);
  });
});
