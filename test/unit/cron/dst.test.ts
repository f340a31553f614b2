// Fire instants around real DST transitions. Every expected value below was worked out by hand
// from the zone's published rules (tzdata), not by running the code:
//   America/New_York    2024-03-10 02:00 EST -> 03:00 EDT   2024-11-03 02:00 EDT -> 01:00 EST
//   Europe/London       2024-03-31 01:00 GMT -> 02:00 BST   2024-10-27 02:00 BST -> 01:00 GMT
//   Australia/Sydney    2024-04-07 03:00 +11 -> 02:00 +10   2024-10-06 02:00 +10 -> 03:00 +11
//   Australia/Lord_Howe 2024-04-07 02:00 +11 -> 01:30 +10:30 2024-10-06 02:00 +10:30 -> 02:30 +11
//   Pacific/Apia        2011-12-29 23:59:59 -10 -> 2011-12-31 00:00 +14 (30 December skipped)
import { describe, expect, it } from 'vitest';
import { compileSchedule, formatInstant, nextFires } from '../../../src/cron/index.js';

interface Case {
  name: string;
  expr: string;
  /** Start (exclusive), ISO with offset. */
  after: string;
  expected: string[];
}

function check(zone: string, c: Case): void {
  const s = compileSchedule(c.expr, zone);
  const fires = nextFires(s, Date.parse(c.after), c.expected.length);
  // Both the instants (parsed independently by Date.parse) and their rendering.
  expect(fires).toEqual(c.expected.map((iso) => Date.parse(iso)));
  expect(fires.map((f) => formatInstant(f, zone))).toEqual(c.expected);
}

const tables: Record<string, Case[]> = {
  'America/New_York': [
    {
      name: 'fixed-time in the skipped hour runs at the transition',
      expr: '30 2 * * *',
      after: '2024-03-09T12:00:00-05:00',
      expected: ['2024-03-10T03:00:00-04:00', '2024-03-11T02:30:00-04:00'],
    },
    {
      name: 'fixed-time at the start of the skipped hour',
      expr: '0 2 * * *',
      after: '2024-03-09T12:00:00-05:00',
      expected: ['2024-03-10T03:00:00-04:00', '2024-03-11T02:00:00-04:00'],
    },
    {
      name: 'a skipped time and the time at the transition are one fire',
      expr: '0 2,3 * * *',
      after: '2024-03-10T00:00:00-05:00',
      expected: [
        '2024-03-10T03:00:00-04:00',
        '2024-03-11T02:00:00-04:00',
        '2024-03-11T03:00:00-04:00',
      ],
    },
    {
      name: 'fixed-time in the repeated hour runs once, at the first occurrence',
      expr: '30 1 * * *',
      after: '2024-11-02T12:00:00-04:00',
      expected: ['2024-11-03T01:30:00-04:00', '2024-11-04T01:30:00-05:00'],
    },
    {
      name: 'fixed-time: starting inside the second pass does not fire again',
      expr: '30 1 * * *',
      after: '2024-11-03T01:10:00-05:00',
      expected: ['2024-11-04T01:30:00-05:00'],
    },
    {
      name: 'hourly across the spring gap',
      expr: '0 * * * *',
      after: '2024-03-10T00:30:00-05:00',
      expected: [
        '2024-03-10T01:00:00-05:00',
        '2024-03-10T03:00:00-04:00',
        '2024-03-10T04:00:00-04:00',
      ],
    },
    {
      name: 'hourly fires on both 01:00',
      expr: '0 * * * *',
      after: '2024-11-02T23:30:00-04:00',
      expected: [
        '2024-11-03T00:00:00-04:00',
        '2024-11-03T01:00:00-04:00',
        '2024-11-03T01:00:00-05:00',
        '2024-11-03T02:00:00-05:00',
      ],
    },
    {
      name: '*/15 across the spring gap',
      expr: '*/15 * * * *',
      after: '2024-03-10T01:20:00-05:00',
      expected: [
        '2024-03-10T01:30:00-05:00',
        '2024-03-10T01:45:00-05:00',
        '2024-03-10T03:00:00-04:00',
        '2024-03-10T03:15:00-04:00',
      ],
    },
    {
      name: '*/15 through the repeated hour',
      expr: '*/15 * * * *',
      after: '2024-11-03T01:40:00-04:00',
      expected: [
        '2024-11-03T01:45:00-04:00',
        '2024-11-03T01:00:00-05:00',
        '2024-11-03T01:15:00-05:00',
        '2024-11-03T01:30:00-05:00',
        '2024-11-03T01:45:00-05:00',
        '2024-11-03T02:00:00-05:00',
      ],
    },
    {
      name: 'wildcard minute in the skipped hour never fires that day',
      expr: '* 2 * * *',
      after: '2024-03-10T01:58:00-05:00',
      expected: ['2024-03-11T02:00:00-04:00', '2024-03-11T02:01:00-04:00'],
    },
    {
      name: 'seconds field (wildcard) through both passes of 01:59',
      expr: '*/20 59 1 * * *',
      after: '2024-11-03T01:58:00-04:00',
      expected: [
        '2024-11-03T01:59:00-04:00',
        '2024-11-03T01:59:20-04:00',
        '2024-11-03T01:59:40-04:00',
        '2024-11-03T01:59:00-05:00',
        '2024-11-03T01:59:20-05:00',
        '2024-11-03T01:59:40-05:00',
        '2024-11-04T01:59:00-05:00',
      ],
    },
    {
      name: 'seconds field (fixed) in the skipped hour',
      expr: '15 30 2 * * *',
      after: '2024-03-10T00:00:00-05:00',
      expected: ['2024-03-10T03:00:00-04:00', '2024-03-11T02:30:15-04:00'],
    },
  ],
  'Europe/London': [
    {
      name: 'fixed-time in the skipped hour',
      expr: '30 1 * * *',
      after: '2024-03-30T12:00:00+00:00',
      expected: ['2024-03-31T02:00:00+01:00', '2024-04-01T01:30:00+01:00'],
    },
    {
      name: 'fixed-time in the repeated hour',
      expr: '30 1 * * *',
      after: '2024-10-26T12:00:00+01:00',
      expected: ['2024-10-27T01:30:00+01:00', '2024-10-28T01:30:00+00:00'],
    },
    {
      name: 'hourly, spring',
      expr: '0 * * * *',
      after: '2024-03-30T23:30:00+00:00',
      expected: [
        '2024-03-31T00:00:00+00:00',
        '2024-03-31T02:00:00+01:00',
        '2024-03-31T03:00:00+01:00',
      ],
    },
    {
      name: 'hourly, autumn',
      expr: '0 * * * *',
      after: '2024-10-26T23:30:00+01:00',
      expected: [
        '2024-10-27T00:00:00+01:00',
        '2024-10-27T01:00:00+01:00',
        '2024-10-27T01:00:00+00:00',
        '2024-10-27T02:00:00+00:00',
      ],
    },
    {
      name: '*/15, spring',
      expr: '*/15 * * * *',
      after: '2024-03-31T00:40:00+00:00',
      expected: [
        '2024-03-31T00:45:00+00:00',
        '2024-03-31T02:00:00+01:00',
        '2024-03-31T02:15:00+01:00',
      ],
    },
    {
      name: '*/15, autumn',
      expr: '*/15 * * * *',
      after: '2024-10-27T01:40:00+01:00',
      expected: [
        '2024-10-27T01:45:00+01:00',
        '2024-10-27T01:00:00+00:00',
        '2024-10-27T01:15:00+00:00',
      ],
    },
  ],
  'Australia/Sydney': [
    {
      name: 'fixed-time in the repeated hour (April)',
      expr: '30 2 * * *',
      after: '2024-04-06T12:00:00+11:00',
      expected: ['2024-04-07T02:30:00+11:00', '2024-04-08T02:30:00+10:00'],
    },
    {
      name: 'fixed-time in the skipped hour (October)',
      expr: '30 2 * * *',
      after: '2024-10-05T12:00:00+10:00',
      expected: ['2024-10-06T03:00:00+11:00', '2024-10-07T02:30:00+11:00'],
    },
    {
      name: 'hourly, April',
      expr: '0 * * * *',
      after: '2024-04-07T00:30:00+11:00',
      expected: [
        '2024-04-07T01:00:00+11:00',
        '2024-04-07T02:00:00+11:00',
        '2024-04-07T02:00:00+10:00',
        '2024-04-07T03:00:00+10:00',
      ],
    },
    {
      name: 'hourly, October',
      expr: '0 * * * *',
      after: '2024-10-06T00:30:00+10:00',
      expected: [
        '2024-10-06T01:00:00+10:00',
        '2024-10-06T03:00:00+11:00',
        '2024-10-06T04:00:00+11:00',
      ],
    },
    {
      name: '*/15, April',
      expr: '*/15 * * * *',
      after: '2024-04-07T02:40:00+11:00',
      expected: [
        '2024-04-07T02:45:00+11:00',
        '2024-04-07T02:00:00+10:00',
        '2024-04-07T02:15:00+10:00',
      ],
    },
    {
      name: '*/15, October',
      expr: '*/15 * * * *',
      after: '2024-10-06T01:40:00+10:00',
      expected: [
        '2024-10-06T01:45:00+10:00',
        '2024-10-06T03:00:00+11:00',
        '2024-10-06T03:15:00+11:00',
      ],
    },
  ],
  'Australia/Lord_Howe': [
    {
      name: 'fixed-time in the repeated half hour (April)',
      expr: '45 1 * * *',
      after: '2024-04-06T12:00:00+11:00',
      expected: ['2024-04-07T01:45:00+11:00', '2024-04-08T01:45:00+10:30'],
    },
    {
      name: 'fixed-time in the skipped half hour (October)',
      expr: '15 2 * * *',
      after: '2024-10-05T12:00:00+10:30',
      expected: ['2024-10-06T02:30:00+11:00', '2024-10-07T02:15:00+11:00'],
    },
    {
      name: 'skipped 02:00 and existing 02:30 share the transition instant',
      expr: '0,30 2 * * *',
      after: '2024-10-06T00:00:00+10:30',
      expected: ['2024-10-06T02:30:00+11:00', '2024-10-07T02:00:00+11:00'],
    },
    {
      name: 'hourly, April (02:00 only exists after the change)',
      expr: '0 * * * *',
      after: '2024-04-07T00:30:00+11:00',
      expected: [
        '2024-04-07T01:00:00+11:00',
        '2024-04-07T02:00:00+10:30',
        '2024-04-07T03:00:00+10:30',
      ],
    },
    {
      name: 'hourly, October (02:00 skipped)',
      expr: '0 * * * *',
      after: '2024-10-06T00:30:00+10:30',
      expected: ['2024-10-06T01:00:00+10:30', '2024-10-06T03:00:00+11:00'],
    },
    {
      name: '*/15, April',
      expr: '*/15 * * * *',
      after: '2024-04-07T01:20:00+11:00',
      expected: [
        '2024-04-07T01:30:00+11:00',
        '2024-04-07T01:45:00+11:00',
        '2024-04-07T01:30:00+10:30',
        '2024-04-07T01:45:00+10:30',
        '2024-04-07T02:00:00+10:30',
      ],
    },
    {
      name: '*/15, October',
      expr: '*/15 * * * *',
      after: '2024-10-06T01:40:00+10:30',
      expected: [
        '2024-10-06T01:45:00+10:30',
        '2024-10-06T02:30:00+11:00',
        '2024-10-06T02:45:00+11:00',
      ],
    },
  ],
  'Pacific/Apia': [
    {
      name: 'a whole skipped day: the daily fire runs at the transition',
      expr: '0 9 * * *',
      after: '2011-12-29T00:00:00-10:00',
      expected: [
        '2011-12-29T09:00:00-10:00',
        '2011-12-31T00:00:00+14:00',
        '2011-12-31T09:00:00+14:00',
      ],
    },
    {
      name: 'hourly across the skipped day',
      expr: '0 * * * *',
      after: '2011-12-29T22:30:00-10:00',
      expected: [
        '2011-12-29T23:00:00-10:00',
        '2011-12-31T00:00:00+14:00',
        '2011-12-31T01:00:00+14:00',
      ],
    },
  ],
};

describe.each(Object.entries(tables))('%s', (zone, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => check(zone, c));
});

describe('counts over a transition day (whole local day)', () => {
  // (zone, local day start, next local day start, expression, expected number of fires)
  const rows: [string, string, string, string, number][] = [
    // 23-hour day: 23 * 4
    [
      'America/New_York',
      '2024-03-10T00:00:00-05:00',
      '2024-03-11T00:00:00-04:00',
      '*/15 * * * *',
      92,
    ],
    // 25-hour day
    [
      'America/New_York',
      '2024-11-03T00:00:00-04:00',
      '2024-11-04T00:00:00-05:00',
      '*/15 * * * *',
      100,
    ],
    ['America/New_York', '2024-11-03T00:00:00-04:00', '2024-11-04T00:00:00-05:00', '0 * * * *', 25],
    ['America/New_York', '2024-03-10T00:00:00-05:00', '2024-03-11T00:00:00-04:00', '0 * * * *', 23],
    // fixed-time jobs fire exactly once whatever the day's length
    ['America/New_York', '2024-03-10T00:00:00-05:00', '2024-03-11T00:00:00-04:00', '30 2 * * *', 1],
    ['America/New_York', '2024-11-03T00:00:00-04:00', '2024-11-04T00:00:00-05:00', '30 1 * * *', 1],
    // every hour listed explicitly is fixed-time: 24 local hours, 02:00 skipped -> at 03:00 (dedup)
    [
      'America/New_York',
      '2024-03-10T00:00:00-05:00',
      '2024-03-11T00:00:00-04:00',
      '0 0-23 * * *',
      23,
    ],
    [
      'America/New_York',
      '2024-11-03T00:00:00-04:00',
      '2024-11-04T00:00:00-05:00',
      '0 0-23 * * *',
      24,
    ],
    // Lord Howe: 24.5 h and 23.5 h days
    [
      'Australia/Lord_Howe',
      '2024-04-07T00:00:00+11:00',
      '2024-04-08T00:00:00+10:30',
      '*/15 * * * *',
      98,
    ],
    [
      'Australia/Lord_Howe',
      '2024-10-06T00:00:00+10:30',
      '2024-10-07T00:00:00+11:00',
      '*/15 * * * *',
      94,
    ],
    [
      'Australia/Lord_Howe',
      '2024-04-07T00:00:00+11:00',
      '2024-04-08T00:00:00+10:30',
      '0 * * * *',
      24,
    ],
    [
      'Australia/Lord_Howe',
      '2024-10-06T00:00:00+10:30',
      '2024-10-07T00:00:00+11:00',
      '0 * * * *',
      23,
    ],
    [
      'Australia/Lord_Howe',
      '2024-10-06T00:00:00+10:30',
      '2024-10-07T00:00:00+11:00',
      '0,30 2 * * *',
      1,
    ],
  ];
  it.each(rows)('%s %s %s', (zone, from, to, expr, expected) => {
    const s = compileSchedule(expr, zone);
    // (day start - 1 ms, next day start - 1 ms]
    expect(s.count(Date.parse(from) - 1, Date.parse(to) - 1)).toBe(expected);
    expect(nextFires(s, Date.parse(from) - 1, 200).filter((f) => f < Date.parse(to))).toHaveLength(
      expected,
    );
  });
});

describe('prev', () => {
  it('walks back through the repeated hour of a wildcard job', () => {
    const s = compileSchedule('0 * * * *', 'America/New_York');
    expect(
      formatInstant(s.prev(Date.parse('2024-11-03T01:30:00-05:00'))!, 'America/New_York'),
    ).toBe('2024-11-03T01:00:00-05:00');
    // one ms before 01:00 EST is 01:59:59.999 EDT
    expect(
      formatInstant(s.prev(Date.parse('2024-11-03T01:00:00-05:00') - 1)!, 'America/New_York'),
    ).toBe('2024-11-03T01:00:00-04:00');
  });
  it('a wildcard job whose local times were all skipped finds the day before', () => {
    const s = compileSchedule('* 2 * * *', 'America/New_York');
    expect(
      formatInstant(s.prev(Date.parse('2024-03-11T01:00:00-04:00'))!, 'America/New_York'),
    ).toBe('2024-03-09T02:59:00-05:00');
  });
  it('finds the transition instant of a skipped fixed-time fire', () => {
    const s = compileSchedule('30 2 * * *', 'America/New_York');
    expect(
      formatInstant(s.prev(Date.parse('2024-03-10T05:00:00-04:00'))!, 'America/New_York'),
    ).toBe('2024-03-10T03:00:00-04:00');
    // at or before: the instant itself
    expect(s.prev(Date.parse('2024-03-10T03:00:00-04:00'))).toBe(
      Date.parse('2024-03-10T03:00:00-04:00'),
    );
    expect(
      formatInstant(s.prev(Date.parse('2024-03-10T02:59:59-04:00'))!, 'America/New_York'),
    ).toBe('2024-03-09T02:30:00-05:00');
  });
  it('a repeated fixed time is found at its first occurrence', () => {
    const s = compileSchedule('30 1 * * *', 'America/New_York');
    expect(
      formatInstant(s.prev(Date.parse('2024-11-03T01:45:00-05:00'))!, 'America/New_York'),
    ).toBe('2024-11-03T01:30:00-04:00');
  });
});
