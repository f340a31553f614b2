import { describe, expect, it } from 'vitest';
import {
  compileSchedule,
  describeSkip,
  dstNote,
  formatInstant,
  gateOf,
  gateRange,
  instantsAhead,
  localDayStart,
  nextGatedFires,
  nextToDecide,
  type ExclusionSpec,
  type HolidayRule,
} from '../../../src/cron/index.js';

const NY = 'America/New_York';
const iso = (ms: number, zone = NY) => formatInstant(ms, zone);
const at = (text: string) => Date.parse(text);
const US: HolidayRule = { country: 'US', state: null, region: null, types: ['public'] };
const usHolidays = { calendar: { name: 'us-holidays', dates: [], holidays: US } };

function spec(over: Partial<ExclusionSpec>): ExclusionSpec {
  return { timezone: NY, ...over };
}

describe('exclusions: dates and ranges in the job zone', () => {
  const daily = compileSchedule('0 9 * * *', NY);

  it('skips the instants whose local date is excluded, with the rule as detail', () => {
    const gate = gateOf(spec({ exclude: [{ from: '2026-12-24', to: '2026-12-26' }] }))!;
    const r = gateRange(daily, gate, at('2026-12-20T00:00:00Z'), at('2026-12-31T00:00:00Z'));
    expect(r.skipped).toEqual([
      {
        reason: 'excluded',
        detail: '2026-12-24..2026-12-26',
        first: at('2026-12-24T14:00:00Z'),
        last: at('2026-12-26T14:00:00Z'),
        count: 3,
      },
    ]);
    expect(r.schedule.count(at('2026-12-20T00:00:00Z'), at('2026-12-31T00:00:00Z'))).toBe(8);
    expect(iso(r.schedule.next(at('2026-12-23T15:00:00Z'))!)).toBe('2026-12-27T09:00:00-05:00');
    expect(iso(r.schedule.prev(at('2026-12-27T00:00:00Z'))!)).toBe('2026-12-23T09:00:00-05:00');
  });

  it('reads the date in the job zone, not in UTC', () => {
    // 22:00 in New York on 24 December is 03:00 UTC on the 25th.
    const late = compileSchedule('0 22 * * *', NY);
    const gate = gateOf(spec({ exclude: [{ from: '2026-12-25', to: '2026-12-25' }] }))!;
    const fires = nextGatedFires(late, gate, at('2026-12-24T12:00:00Z'), 2).map((f) => iso(f));
    expect(fires).toEqual(['2026-12-24T22:00:00-05:00', '2026-12-26T22:00:00-05:00']);
    const utc = gateOf({ timezone: 'UTC', exclude: [{ from: '2026-12-25', to: '2026-12-25' }] })!;
    expect(gate.causeAt(at('2026-12-25T03:00:00Z'))).toBeNull();
    expect(utc.causeAt(at('2026-12-25T03:00:00Z'))).toEqual({
      reason: 'excluded',
      detail: '2026-12-25',
    });
  });

  it('an excluded DST day holds 23 or 25 hourly instants', () => {
    const hourly = compileSchedule('0 * * * *', NY);
    for (const [day, hours] of [
      ['2026-03-08', 23],
      ['2026-11-01', 25],
    ] as const) {
      const gate = gateOf(spec({ exclude: [{ from: day, to: day }] }))!;
      const r = gateRange(
        hourly,
        gate,
        at(`${day}T00:00:00Z`) - 86_400_000,
        at(`${day}T00:00:00Z`) + 3 * 86_400_000,
      );
      expect(r.skipped).toHaveLength(1);
      expect(r.skipped[0]!.count).toBe(hours);
      expect(iso(r.skipped[0]!.first)).toBe(
        `${day}T00:00:00${day.endsWith('08') ? '-05:00' : '-04:00'}`,
      );
    }
  });

  it('the first rule written names a day listed twice', () => {
    const gate = gateOf(
      spec({
        exclude: [{ from: '2026-12-25', to: '2026-12-25' }, usHolidays],
      }),
    )!;
    expect(gate.causeAt(at('2026-12-25T14:00:00Z'))).toEqual({
      reason: 'excluded',
      detail: '2026-12-25',
    });
    expect(gate.causeAt(at('2027-01-01T14:00:00Z'))).toEqual({
      reason: 'excluded',
      detail: "calendar us-holidays (New Year's Day)",
    });
  });

  it('gated next/prev/count agree with filtering every instant', () => {
    const every15 = compileSchedule('*/15 * * * *', NY);
    const gate = gateOf(
      spec({
        exclude: [{ from: '2026-03-08', to: '2026-03-08' }, usHolidays],
        activeFrom: { text: 'x', ms: at('2026-03-05T10:07:00Z') },
        activeUntil: { text: 'y', ms: at('2026-03-12T00:00:00Z') },
      }),
    )!;
    const from = at('2026-03-01T00:00:00Z');
    const to = at('2026-03-15T00:00:00Z');
    const r = gateRange(every15, gate, from, to);
    const kept: number[] = [];
    let skippedCount = 0;
    for (let f = every15.next(from); f !== null && f <= to; f = every15.next(f)) {
      if (gate.causeAt(f) === null) kept.push(f);
      else skippedCount++;
    }
    expect(r.schedule.count(from, to)).toBe(kept.length);
    expect(r.skipped.reduce((n, s) => n + s.count, 0)).toBe(skippedCount);
    const listed: number[] = [];
    for (let f = r.schedule.next(from); f !== null; f = r.schedule.next(f)) listed.push(f);
    expect(listed).toEqual(kept);
    expect(r.schedule.prev(to)).toBe(kept[kept.length - 1]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['inactive', 'excluded', 'inactive']);
  });
});

describe('active window', () => {
  const everySecond = compileSchedule('* * * * * *', 'UTC');
  const from = at('2026-12-01T00:00:00Z');
  const until = at('2026-12-01T00:00:05Z');
  const gate = gateOf({
    timezone: 'UTC',
    activeFrom: { text: '2026-12-01T00:00:00Z', ms: from },
    activeUntil: { text: '2026-12-01T00:00:05Z', ms: until },
  })!;

  it('both edges are inside: from and until fire, one second either side does not', () => {
    expect(gate.causeAt(from)).toBeNull();
    expect(gate.causeAt(until)).toBeNull();
    expect(gate.causeAt(from - 1000)).toEqual({
      reason: 'inactive',
      detail: 'before activeFrom 2026-12-01T00:00:00Z',
    });
    expect(gate.causeAt(until + 1000)).toEqual({
      reason: 'inactive',
      detail: 'after activeUntil 2026-12-01T00:00:05Z',
    });
    expect(nextGatedFires(everySecond, gate, from - 10_000, 100)).toEqual(
      [0, 1, 2, 3, 4, 5].map((s) => from + s * 1000),
    );
  });

  it('the loop wakes for the first instant inside the window, and never after it', () => {
    expect(nextToDecide(everySecond, gate, from - 3_600_000)).toBe(from);
    expect(nextToDecide(everySecond, gate, until)).toBeNull();
    // The hour before the window is recorded as one range when the window opens.
    const r = gateRange(everySecond, gate, from - 3_600_000, from + 500);
    expect(r.skipped).toEqual([
      {
        reason: 'inactive',
        detail: 'before activeFrom 2026-12-01T00:00:00Z',
        first: from - 3_599_000,
        last: from - 1000,
        count: 3599,
      },
    ]);
    expect(r.schedule.next(from - 3_600_000)).toBe(from);
  });

  it('a local date as bound covers the whole local day, DST included', () => {
    expect(iso(localDayStart(NY, '2026-03-08'))).toBe('2026-03-08T00:00:00-05:00');
    // Havana skips midnight on its spring change: the day starts at 01:00.
    expect(formatInstant(localDayStart('America/Havana', '2026-03-08'), 'America/Havana')).toBe(
      '2026-03-08T01:00:00-04:00',
    );
  });

  it('instants ahead: the stretch before the window is one entry, counted', () => {
    const entries = [
      ...take(instantsAhead(everySecond, gate, at('2026-11-01T00:00:00Z'), true), 3),
    ];
    expect(entries[0]).toMatchObject({
      at: at('2026-11-01T00:00:01Z'),
      last: from - 1000,
      count: 30 * 86_400 - 1,
    });
    expect(describeSkip(entries[0]!.skip!)).toBe(
      'inactive: before activeFrom 2026-12-01T00:00:00Z',
    );
    expect(entries.slice(1).map((e) => [e.at, e.skip])).toEqual([
      [from, null],
      [from + 1000, null],
    ]);
  });
});

function* take<T>(it: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  for (const x of it) {
    yield x;
    if (--n <= 0) return;
  }
}

describe('holiday calendars (date-holidays)', () => {
  const weekdays = compileSchedule('0 9 * * 1-5', NY);

  it('US public holidays 2026, substitute days included, optional ones not', () => {
    const gate = gateOf(spec({ exclude: [usHolidays] }))!;
    const r = gateRange(weekdays, gate, at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z'));
    expect(r.skipped.map((s) => `${iso(s.first).slice(0, 10)} ${s.detail}`)).toEqual([
      "2026-01-01 calendar us-holidays (New Year's Day)",
      '2026-01-19 calendar us-holidays (Martin Luther King Jr. Day)',
      "2026-02-16 calendar us-holidays (Washington's Birthday)",
      '2026-05-25 calendar us-holidays (Memorial Day)',
      '2026-06-19 calendar us-holidays (Juneteenth)',
      '2026-07-03 calendar us-holidays (Independence Day (substitute day))',
      '2026-09-07 calendar us-holidays (Labor Day)',
      '2026-10-12 calendar us-holidays (Columbus Day)',
      '2026-11-11 calendar us-holidays (Veterans Day)',
      '2026-11-26 calendar us-holidays (Thanksgiving Day)',
      '2026-12-25 calendar us-holidays (Christmas Day)',
    ]);
    // Christmas Eve is "optional" in date-holidays: only listed types count.
    expect(gate.causeAt(at('2026-12-24T14:00:00Z'))).toBeNull();
    const withOptional = gateOf(
      spec({
        exclude: [
          {
            calendar: { name: 'us', dates: [], holidays: { ...US, types: ['public', 'optional'] } },
          },
        ],
      }),
    )!;
    expect(withOptional.causeAt(at('2026-12-24T14:00:00Z'))?.detail).toBe(
      'calendar us (Christmas Eve)',
    );
  });

  it('a state adds its own holidays', () => {
    const ny = gateOf(
      spec({
        exclude: [{ calendar: { name: 'ny', dates: [], holidays: { ...US, state: 'NY' } } }],
      }),
    )!;
    expect(ny.causeAt(at('2026-02-12T14:00:00Z'))?.detail).toBe("calendar ny (Lincoln's Birthday)");
  });
});

describe('DST notes for baton next --explain', () => {
  it('names a skipped local time and where the fire lands, and repeated ones', () => {
    const fixed = compileSchedule('30 2 * * *', NY);
    const f = fixed.next(at('2026-03-07T12:00:00Z'))!;
    expect(iso(f)).toBe('2026-03-08T03:00:00-04:00');
    expect(dstNote(fixed, f, fixed.prev(f - 1))).toBe(
      '02:30 does not exist on 2026-03-08 in America/New_York: fires at 03:00',
    );
    expect(dstNote(fixed, fixed.next(f)!, f)).toBeNull();
    const repeated = compileSchedule('30 1 * * *', NY);
    const r = repeated.next(at('2026-10-31T12:00:00Z'))!;
    expect(dstNote(repeated, r, null)).toBe(
      '01:30 occurs twice on 2026-11-01 in America/New_York: fires once, at the first (-04:00)',
    );
    const hourly = compileSchedule('0 * * * *', NY);
    const first = hourly.next(at('2026-11-01T04:30:00Z'))!;
    const second = hourly.next(first)!;
    expect(dstNote(hourly, first, null)).toMatch(/this is the first \(-04:00\)$/);
    expect(dstNote(hourly, second, first)).toMatch(/this is the second \(-05:00\)$/);
    const halfPast = compileSchedule('30 * * * *', NY);
    const after = halfPast.next(at('2026-03-08T06:45:00Z'))!;
    expect(iso(after)).toBe('2026-03-08T03:30:00-04:00');
    expect(dstNote(halfPast, after, halfPast.prev(after - 1))).toBe(
      '02:30 does not exist on 2026-03-08 in America/New_York: not fired',
    );
  });
});
