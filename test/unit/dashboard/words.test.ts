import { describe, expect, it } from 'vitest';
import type { HistoryEntry, JobAudit } from '../../../src/api/types.js';
// The dashboard's browser modules: these functions touch no DOM, so they run here as they are.
import { auditWords } from '../../../src/dashboard/public/assets/audit.js';
import {
  entryStatus,
  entryWords,
  startLag,
} from '../../../src/dashboard/public/assets/timeline.js';

const run = (over: Partial<Extract<HistoryEntry, { kind: 'run' }>> = {}): HistoryEntry => ({
  kind: 'run',
  fireId: 'tick@1764669600000',
  job: 'tick',
  scheduledAt: '2025-12-02T10:00:00.000Z',
  status: 'completed',
  reason: null,
  attempt: 1,
  start: 1,
  startedAt: '2025-12-02T10:00:00.120Z',
  endedAt: '2025-12-02T10:00:00.432Z',
  durationMs: 312,
  error: null,
  willRetry: false,
  worker: 'w-1',
  token: '7',
  manual: false,
  result: null,
  ...over,
});

function audit(counts: Partial<JobAudit['counts']>, expected: number, unaccounted = 0): JobAudit {
  return {
    job: 'tick',
    from: '2025-12-01T10:00:00.000Z',
    to: '2025-12-02T10:00:00.000Z',
    expected,
    counts: {
      ran: 0,
      're-executed': 0,
      skipped: 0,
      refused: 0,
      duplicate: 0,
      missing: 0,
      pending: 0,
      ...counts,
    },
    skippedBy: {},
    unaccounted: Array.from({ length: unaccounted }, () => ({
      fireId: 'tick@1',
      startedAt: '2025-12-02T00:00:00Z',
      status: 'completed',
    })),
    manual: 0,
    backfill: 0,
    backfillDuplicates: [],
    backfills: [],
    knownSince: null,
    instants: [],
    ok: true,
  };
}

describe('dashboard words', () => {
  it('says what a run and a skip range were, in the job zone', () => {
    expect(entryWords(run(), 'UTC')).toBe(
      'completed · fire of Tue, Dec 2, 10:00 UTC · started 10:00:00 UTC · start lag 120 ms · took 312 ms · on w-1',
    );
    const failed = run({ status: 'failed', reason: 'timeout', attempt: 2, error: 'boom' });
    expect(entryWords(failed, 'UTC')).toMatch(/^failed \(timeout\) · .* · attempt 2 · boom$/);
    const skip: HistoryEntry = {
      kind: 'skip',
      job: 'tick',
      reason: 'paused',
      first: '2025-12-02T10:00:00.000Z',
      last: '2025-12-02T10:05:00.000Z',
      count: 6,
      decidedAt: '2025-12-02T10:05:00.000Z',
      token: '7',
      leader: 'a',
    };
    expect(entryWords(skip, 'UTC')).toBe(
      'skipped 6 × paused: Tue, Dec 2, 10:00 UTC – Tue, Dec 2, 10:05 UTC',
    );
    expect(entryStatus(skip)).toBe('skipped');
    expect(entryStatus(run({ status: 'stale' }))).toBe('stale');
  });

  it('measures start lag of scheduled runs only', () => {
    expect(startLag(run())).toBe(120);
    expect(startLag(run({ manual: true }))).toBeNull();
  });

  it('summarises an audit, other counts only when not zero', () => {
    expect(auditWords(audit({ ran: 1440 }, 1440))).toBe(
      'last 24 h: 1,440 expected, 1,440 ran once',
    );
    expect(auditWords(audit({ ran: 1436, missing: 2, duplicate: 1, refused: 1 }, 1440, 3))).toBe(
      'last 24 h: 1,440 expected, 1,436 ran once, 1 refused, 2 missing, 1 duplicate, 3 unaccounted',
    );
  });
});
