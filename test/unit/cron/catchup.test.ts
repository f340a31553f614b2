import { describe, expect, it } from 'vitest';
import {
  compileSchedule,
  planCatchUp,
  type CatchUpInput,
  type CompiledSchedule,
} from '../../../src/cron/index.js';

const T = (iso: string): number => Date.parse(iso);
const MIN = 60_000;

// Every 10 minutes; last fire at 00:00, now 01:05 -> missed 00:10 00:20 00:30 00:40 00:50 01:00.
const every10 = compileSchedule('*/10 * * * *', 'UTC');
const base = {
  schedule: every10,
  lastFireMs: T('2024-01-01T00:00:00Z'),
  nowMs: T('2024-01-01T01:05:00Z'),
  limit: 100,
  startingDeadlineMs: null,
} satisfies Omit<CatchUpInput, 'policy'>;

describe('planCatchUp policies', () => {
  it('none skips every missed fire', () => {
    expect(planCatchUp({ ...base, policy: 'none' })).toEqual({
      run: [],
      skipped: [
        {
          reason: 'catch-up-none',
          first: T('2024-01-01T00:10:00Z'),
          last: T('2024-01-01T01:00:00Z'),
          count: 6,
        },
      ],
    });
  });

  it('latest runs only the newest', () => {
    expect(planCatchUp({ ...base, policy: 'latest' })).toEqual({
      run: [T('2024-01-01T01:00:00Z')],
      skipped: [
        {
          reason: 'catch-up-latest',
          first: T('2024-01-01T00:10:00Z'),
          last: T('2024-01-01T00:50:00Z'),
          count: 5,
        },
      ],
    });
  });

  it('all runs every missed fire within the limit, ascending', () => {
    expect(planCatchUp({ ...base, policy: 'all' })).toEqual({
      run: [10, 20, 30, 40, 50, 60].map((m) => T('2024-01-01T00:00:00Z') + m * MIN),
      skipped: [],
    });
  });

  it('all runs the newest `limit` and skips older ones as beyond-limit', () => {
    expect(planCatchUp({ ...base, policy: 'all', limit: 2 })).toEqual({
      run: [T('2024-01-01T00:50:00Z'), T('2024-01-01T01:00:00Z')],
      skipped: [
        {
          reason: 'beyond-limit',
          first: T('2024-01-01T00:10:00Z'),
          last: T('2024-01-01T00:40:00Z'),
          count: 4,
        },
      ],
    });
    expect(planCatchUp({ ...base, policy: 'all', limit: 0 })).toEqual({
      run: [],
      skipped: [
        {
          reason: 'beyond-limit',
          first: T('2024-01-01T00:10:00Z'),
          last: T('2024-01-01T01:00:00Z'),
          count: 6,
        },
      ],
    });
  });

  it('a fire exactly at now is part of the missed range', () => {
    const plan = planCatchUp({ ...base, policy: 'latest', nowMs: T('2024-01-01T01:00:00Z') });
    expect(plan.run).toEqual([T('2024-01-01T01:00:00Z')]);
    expect(plan.skipped[0]?.count).toBe(5);
  });

  it('null lastFire (new job), lastFire >= now, or nothing missed -> empty plan', () => {
    for (const policy of ['none', 'latest', 'all'] as const) {
      expect(planCatchUp({ ...base, policy, lastFireMs: null })).toEqual({ run: [], skipped: [] });
      expect(planCatchUp({ ...base, policy, lastFireMs: base.nowMs })).toEqual({
        run: [],
        skipped: [],
      });
      expect(planCatchUp({ ...base, policy, nowMs: T('2024-01-01T00:09:59Z') })).toEqual({
        run: [],
        skipped: [],
      });
    }
  });

  it('rejects nonsensical numbers', () => {
    expect(() => planCatchUp({ ...base, policy: 'all', limit: -1 })).toThrow(RangeError);
    expect(() => planCatchUp({ ...base, policy: 'all', nowMs: Number.NaN })).toThrow(RangeError);
    expect(() => planCatchUp({ ...base, policy: 'all', startingDeadlineMs: -5 })).toThrow(
      RangeError,
    );
  });
});

describe('planCatchUp startingDeadline', () => {
  it('fires older than now - deadline are past-deadline; one exactly at the deadline still runs', () => {
    // now 01:05, deadline 25 min -> fires before 00:40 are past deadline; 00:40 is exactly 25 min late
    const plan = planCatchUp({ ...base, policy: 'latest', startingDeadlineMs: 25 * MIN });
    expect(plan).toEqual({
      run: [T('2024-01-01T01:00:00Z')],
      skipped: [
        {
          reason: 'past-deadline',
          first: T('2024-01-01T00:10:00Z'),
          last: T('2024-01-01T00:30:00Z'),
          count: 3,
        },
        {
          reason: 'catch-up-latest',
          first: T('2024-01-01T00:40:00Z'),
          last: T('2024-01-01T00:50:00Z'),
          count: 2,
        },
      ],
    });
    const all = planCatchUp({ ...base, policy: 'all', startingDeadlineMs: 25 * MIN });
    expect(all.run).toEqual([40, 50, 60].map((m) => T('2024-01-01T00:00:00Z') + m * MIN));
    expect(all.skipped.map((r) => r.reason)).toEqual(['past-deadline']);
  });

  it('a deadline shorter than the lateness of every fire skips them all', () => {
    expect(planCatchUp({ ...base, policy: 'all', startingDeadlineMs: MIN })).toEqual({
      run: [],
      skipped: [
        {
          reason: 'past-deadline',
          first: T('2024-01-01T00:10:00Z'),
          last: T('2024-01-01T01:00:00Z'),
          count: 6,
        },
      ],
    });
  });

  it('deadline 0: only a fire due exactly now runs', () => {
    const plan = planCatchUp({
      ...base,
      policy: 'all',
      nowMs: T('2024-01-01T01:00:00Z'),
      startingDeadlineMs: 0,
    });
    expect(plan.run).toEqual([T('2024-01-01T01:00:00Z')]);
    expect(plan.skipped).toEqual([
      {
        reason: 'past-deadline',
        first: T('2024-01-01T00:10:00Z'),
        last: T('2024-01-01T00:50:00Z'),
        count: 5,
      },
    ]);
  });

  it('past-deadline, then beyond-limit, ascending and non-overlapping', () => {
    const plan = planCatchUp({ ...base, policy: 'all', limit: 1, startingDeadlineMs: 25 * MIN });
    expect(plan.skipped.map((r) => [r.reason, r.count])).toEqual([
      ['past-deadline', 3],
      ['beyond-limit', 2],
    ]);
    expect(plan.skipped[0]!.last).toBeLessThan(plan.skipped[1]!.first);
    expect(plan.skipped[1]!.last).toBeLessThan(plan.run[0]!);
  });
});

describe('planCatchUp over DST', () => {
  it('all: a skipped-hour fixed-time fire is one of the missed fires', () => {
    const s = compileSchedule('30 2 * * *', 'America/New_York');
    const plan = planCatchUp({
      schedule: s,
      lastFireMs: T('2024-03-09T02:30:00-05:00'),
      nowMs: T('2024-03-12T12:00:00-04:00'),
      policy: 'all',
      limit: 10,
      startingDeadlineMs: null,
    });
    expect(plan).toEqual({
      run: [
        T('2024-03-10T03:00:00-04:00'),
        T('2024-03-11T02:30:00-04:00'),
        T('2024-03-12T02:30:00-04:00'),
      ],
      skipped: [],
    });
  });

  it('hourly over the repeated hour counts both 01:00', () => {
    const s = compileSchedule('0 * * * *', 'America/New_York');
    const plan = planCatchUp({
      schedule: s,
      lastFireMs: T('2024-11-03T00:00:00-04:00'),
      nowMs: T('2024-11-03T02:30:00-05:00'),
      policy: 'none',
      limit: 10,
      startingDeadlineMs: null,
    });
    // 01:00-04:00, 01:00-05:00, 02:00-05:00
    expect(plan.skipped).toEqual([
      {
        reason: 'catch-up-none',
        first: T('2024-11-03T01:00:00-04:00'),
        last: T('2024-11-03T02:00:00-05:00'),
        count: 3,
      },
    ]);
  });
});

describe('planCatchUp with millions of missed fires', () => {
  const DAY = 86_400_000;
  function timed(input: CatchUpInput) {
    const started = performance.now();
    const plan = planCatchUp(input);
    return { plan, ms: performance.now() - started };
  }

  it.each(['UTC', 'America/New_York'])(
    'every-second job missed for 30 days (%s) is planned quickly with exact counts',
    (zone) => {
      const s: CompiledSchedule = compileSchedule('* * * * * *', zone);
      // spans the New York spring change: a wildcard job follows real time, so one fire per second
      const last = T('2024-03-01T00:00:00Z');
      const now = last + 30 * DAY;
      const all = timed({
        schedule: s,
        lastFireMs: last,
        nowMs: now,
        policy: 'all',
        limit: 100,
        startingDeadlineMs: null,
      });
      expect(all.ms).toBeLessThan(1000);
      expect(all.plan.run).toHaveLength(100);
      expect(all.plan.run[0]).toBe(now - 99_000);
      expect(all.plan.run[99]).toBe(now);
      expect(all.plan.skipped).toEqual([
        {
          reason: 'beyond-limit',
          first: last + 1000,
          last: now - 100_000,
          count: 30 * 86_400 - 100,
        },
      ]);

      const none = timed({
        schedule: s,
        lastFireMs: last,
        nowMs: now,
        policy: 'none',
        limit: 100,
        startingDeadlineMs: 3_600_000,
      });
      expect(none.ms).toBeLessThan(1000);
      expect(none.plan).toEqual({
        run: [],
        skipped: [
          // (last, now - 1 h): all 30 * 86 400 fires minus the 3 601 of [now - 1 h, now]
          {
            reason: 'past-deadline',
            first: last + 1000,
            last: now - 3_601_000,
            count: 30 * 86_400 - 3_601,
          },
          // [now - 1 h, now]
          { reason: 'catch-up-none', first: now - 3_600_000, last: now, count: 3_601 },
        ],
      });
    },
  );

  it('a fixed-time job that fires every minute, missed for a year, counts exactly', () => {
    // fixed-time (no field starts with *): 1440 local minutes a day; in New York 2024 the spring
    // day loses 60 local minutes (02:00-02:59 map to one fire at 03:00, which also is a
    // matching minute), the autumn day repeats 60 minutes that fire only once.
    const s = compileSchedule('0-59 0-23 * * *', 'America/New_York');
    const plan = timed({
      schedule: s,
      lastFireMs: T('2023-12-31T23:59:00-05:00'),
      nowMs: T('2024-12-31T23:59:00-05:00'),
      policy: 'latest',
      limit: 1,
      startingDeadlineMs: null,
    }).plan;
    expect(plan.run).toEqual([T('2024-12-31T23:59:00-05:00')]);
    expect(plan.skipped[0]!.count).toBe(366 * 1440 - 60 - 1);
  });
});
