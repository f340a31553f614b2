import { describe, expect, it } from 'vitest';
import { auditJob } from '../../../src/control/audit.js';
import { compileSchedule, gateOf } from '../../../src/cron/index.js';
import type { RunRecord, SkipEntry } from '../../../src/history/records.js';

const T0 = Date.UTC(2026, 11, 24, 0, 0, 0);
const hourly = compileSchedule('0 * * * *', 'UTC');

function ran(at: number): RunRecord {
  return {
    fireId: `tick@${at}`,
    job: 'tick',
    scheduledAt: new Date(at).toISOString(),
    status: 'completed',
    reason: null,
    attempt: 1,
    start: 1,
    startedAt: new Date(at + 5).toISOString(),
    endedAt: new Date(at + 10).toISOString(),
    durationMs: 5,
    error: null,
    willRetry: false,
    worker: 'w1',
    token: '7',
    manual: false,
    result: null,
  };
}

describe('auditJob with exclusions and an active window', () => {
  // 24 Dec runs every hour; 25 Dec is excluded; the window ends at 26 Dec 05:00.
  const def = {
    timezone: 'UTC',
    exclude: [{ from: '2026-12-25', to: '2026-12-25' }],
    activeUntil: { text: '2026-12-26T05:00:00Z', ms: T0 + 53 * 3_600_000 },
  };
  const runs: RunRecord[] = [];
  for (let h = 0; h < 24; h++) runs.push(ran(T0 + h * 3_600_000));
  for (let h = 48; h <= 53; h++) runs.push(ran(T0 + h * 3_600_000));
  const base = {
    job: 'tick',
    schedule: hourly,
    from: T0,
    to: T0 + 72 * 3_600_000 - 1,
    now: T0 + 100 * 3_600_000,
    watermark: { at: T0 + 100 * 3_600_000, token: '7', since: T0 - 1 },
    runs,
  };

  it('an excluded or out-of-window instant is skipped with its reason, not missing', () => {
    // Half of 25 December was recorded by the leader; the rest is known from the definition.
    const skips: SkipEntry[] = [
      {
        job: 'tick',
        reason: 'excluded',
        detail: '2026-12-25',
        first: new Date(T0 + 24 * 3_600_000).toISOString(),
        last: new Date(T0 + 35 * 3_600_000).toISOString(),
        count: 12,
        decidedAt: new Date(T0 + 35 * 3_600_000).toISOString(),
        token: '7',
        leader: 'r1',
      },
    ];
    const a = auditJob({ ...base, skips, gate: gateOf(def) });
    expect(a.expected).toBe(72);
    expect(a.counts).toMatchObject({ ran: 30, skipped: 42, missing: 0 });
    expect(a.skippedBy).toEqual({ excluded: 24, inactive: 18 });
    expect(a.ok).toBe(true);
    const christmas = a.instants.find((i) => i.at === '2026-12-25T20:00:00.000Z');
    expect(christmas).toMatchObject({
      outcome: 'skipped',
      reason: 'excluded',
      detail: '2026-12-25',
    });
    expect(a.instants.find((i) => i.at === '2026-12-26T06:00:00.000Z')).toMatchObject({
      outcome: 'skipped',
      reason: 'inactive',
      detail: 'after activeUntil 2026-12-26T05:00:00Z',
    });
  });

  it('without the gate the same instants are missing (the audit can fail)', () => {
    const a = auditJob({ ...base, skips: [] });
    expect(a.counts.missing).toBe(42);
    expect(a.ok).toBe(false);
  });
});
