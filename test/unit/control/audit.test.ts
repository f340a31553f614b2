import { describe, expect, it } from 'vitest';
import { auditJob, type AuditInput } from '../../../src/control/audit.js';
import { compileSchedule, gateOf } from '../../../src/cron/index.js';
import type { RunRecord, SkipEntry } from '../../../src/history/records.js';

const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);
const every10s = compileSchedule('*/10 * * * * *', 'UTC');

function run(at: number, over: Partial<RunRecord> = {}): RunRecord {
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
    ...over,
  };
}

function skip(first: number, last: number, reason: string): SkipEntry {
  return {
    job: 'tick',
    reason,
    first: new Date(first).toISOString(),
    last: new Date(last).toISOString(),
    count: (last - first) / 10_000 + 1,
    decidedAt: new Date(last).toISOString(),
    token: '7',
    leader: 'r1',
  };
}

function input(over: Partial<AuditInput>): AuditInput {
  return {
    job: 'tick',
    schedule: every10s,
    from: T0,
    to: T0 + 90_000,
    now: T0 + 3_600_000,
    watermark: { at: T0 + 3_600_000, token: '7', since: T0 - 60_000 },
    runs: [],
    skips: [],
    ...over,
  };
}

describe('auditJob', () => {
  it('accounts for every instant: ran, re-executed, skipped, refused; ok', () => {
    const runs: RunRecord[] = [];
    for (let i = 0; i < 10; i++) runs.push(run(T0 + i * 10_000));
    // 20 s: its first worker died mid-run, the second start re-ran it.
    runs[2] = run(T0 + 20_000, { status: 'failed', reason: 'interrupted', willRetry: true });
    runs.push(run(T0 + 20_000, { start: 2 }));
    // 30-40 s skipped by the leader (paused); 50 s refused; 60 s skipped by a worker (overlap).
    runs.splice(3, 2);
    const skips = [skip(T0 + 30_000, T0 + 40_000, 'paused')];
    const idx50 = runs.findIndex((r) => r.fireId === `tick@${T0 + 50_000}`);
    runs[idx50] = run(T0 + 50_000, { status: 'stale', reason: 'stale-token' });
    const idx60 = runs.findIndex((r) => r.fireId === `tick@${T0 + 60_000}`);
    runs[idx60] = run(T0 + 60_000, { status: 'skipped', reason: 'overlap' });
    const a = auditJob(input({ runs, skips }));
    expect(a.expected).toBe(10);
    expect(a.counts).toMatchObject({
      ran: 5,
      're-executed': 1,
      skipped: 3,
      refused: 1,
      missing: 0,
      duplicate: 0,
    });
    expect(a.skippedBy).toEqual({ paused: 2, overlap: 1 });
    expect(a.ok).toBe(true);
    expect(a.instants.map((i) => i.outcome)).not.toContain('ran');
  });

  it('a missing instant, a fire that ran twice and an execution nothing accounts for are not ok', () => {
    const runs: RunRecord[] = [];
    for (let i = 0; i < 10; i++) if (i !== 4) runs.push(run(T0 + i * 10_000));
    runs.push(run(T0 + 70_000, { startedAt: new Date(T0 + 80_000).toISOString() }));
    runs.push(run(T0 + 15_000)); // not an instant of */10
    const a = auditJob(input({ runs }));
    expect(a.counts.missing).toBe(1);
    expect(a.instants.find((i) => i.outcome === 'missing')?.fireId).toBe(`tick@${T0 + 40_000}`);
    expect(a.counts.duplicate).toBe(1);
    expect(a.unaccounted.map((u) => u.fireId)).toEqual([`tick@${T0 + 15_000}`]);
    expect(a.ok).toBe(false);
  });

  it('instants before the job existed are not expected; recent or undecided ones are pending', () => {
    const since = T0 + 45_000;
    const runs = [run(T0 + 50_000), run(T0 + 60_000)];
    const a = auditJob(
      input({ runs, now: T0 + 80_000, watermark: { at: T0 + 70_000, token: '7', since } }),
    );
    // 50..90 s: 50 and 60 ran; 70 and 80 decided but recent or not decided; 90 not due.
    expect(a.expected).toBe(5);
    expect(a.counts).toMatchObject({ ran: 2, pending: 3, missing: 0 });
    expect(a.knownSince).toBe(new Date(since).toISOString());
    expect(a.ok).toBe(true);
  });
});

const XMAS_EVE = Date.UTC(2026, 11, 24, 0, 0, 0);
const hourly = compileSchedule('0 * * * *', 'UTC');

describe('auditJob with exclusions and an active window', () => {
  // 24 Dec runs every hour; 25 Dec is excluded; the window ends at 26 Dec 05:00.
  const def = {
    timezone: 'UTC',
    exclude: [{ from: '2026-12-25', to: '2026-12-25' }],
    activeUntil: { text: '2026-12-26T05:00:00Z', ms: XMAS_EVE + 53 * 3_600_000 },
  };
  const runs: RunRecord[] = [];
  for (let h = 0; h < 24; h++) runs.push(run(XMAS_EVE + h * 3_600_000));
  for (let h = 48; h <= 53; h++) runs.push(run(XMAS_EVE + h * 3_600_000));
  const base = {
    job: 'tick',
    schedule: hourly,
    from: XMAS_EVE,
    to: XMAS_EVE + 72 * 3_600_000 - 1,
    now: XMAS_EVE + 100 * 3_600_000,
    watermark: { at: XMAS_EVE + 100 * 3_600_000, token: '7', since: XMAS_EVE - 1 },
    runs,
  };

  it('an excluded or out-of-window instant is skipped with its reason, not missing', () => {
    // Half of 25 December was recorded by the leader; the rest is known from the definition.
    const skips: SkipEntry[] = [
      {
        job: 'tick',
        reason: 'excluded',
        detail: '2026-12-25',
        first: new Date(XMAS_EVE + 24 * 3_600_000).toISOString(),
        last: new Date(XMAS_EVE + 35 * 3_600_000).toISOString(),
        count: 12,
        decidedAt: new Date(XMAS_EVE + 35 * 3_600_000).toISOString(),
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
