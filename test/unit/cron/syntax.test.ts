// Supported cron syntax and error messages. Calendar facts used below (checked by hand):
// 2024-01-01 is a Monday; 2024-02-01 a Thursday; 2024-03-01 a Friday; 2024 is a leap year.
import { describe, expect, it } from 'vitest';
import { BatonError } from '../../../src/errors.js';
import {
  compileSchedule,
  formatInstant,
  nextFires,
  ScheduleError,
} from '../../../src/cron/index.js';

function utc(expr: string, afterIso: string, n: number): string[] {
  const s = compileSchedule(expr, 'UTC');
  return nextFires(s, Date.parse(afterIso), n).map((f) => new Date(f).toISOString());
}

describe('fields', () => {
  it('5 fields fire on whole minutes', () => {
    const s = compileSchedule('*/20 * * * *', 'UTC');
    expect(s.hasSeconds).toBe(false);
    expect(utc('*/20 * * * *', '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-01T00:20:00.000Z',
      '2024-01-01T00:40:00.000Z',
      '2024-01-01T01:00:00.000Z',
    ]);
  });

  it('6 fields put seconds first', () => {
    const s = compileSchedule('*/20 * * * * *', 'UTC');
    expect(s.hasSeconds).toBe(true);
    expect(s.fixedTime).toBe(false);
    expect(utc('*/20 * * * * *', '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-01T00:00:20.000Z',
      '2024-01-01T00:00:40.000Z',
      '2024-01-01T00:01:00.000Z',
    ]);
    expect(utc('30 15 10 * * *', '2024-01-01T12:00:00Z', 2)).toEqual([
      '2024-01-02T10:15:30.000Z',
      '2024-01-03T10:15:30.000Z',
    ]);
    expect(compileSchedule('30 15 10 * * *', 'UTC').fixedTime).toBe(true);
  });

  it('next is strictly after, also from a non-whole-second instant', () => {
    expect(utc('* * * * * *', '2024-01-01T00:00:00Z', 1)).toEqual(['2024-01-01T00:00:01.000Z']);
    expect(utc('* * * * * *', '2024-01-01T00:00:00.500Z', 1)).toEqual(['2024-01-01T00:00:01.000Z']);
    expect(utc('0 9 * * *', '2024-01-01T09:00:00Z', 1)).toEqual(['2024-01-02T09:00:00.000Z']);
  });

  it('ranges, lists, steps, single-value steps', () => {
    expect(utc('10-30/10 * * * *', '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-01T00:10:00.000Z',
      '2024-01-01T00:20:00.000Z',
      '2024-01-01T00:30:00.000Z',
      '2024-01-01T01:10:00.000Z',
    ]);
    // n/step means n-max/step
    expect(utc('5/20 * * * *', '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-01T00:05:00.000Z',
      '2024-01-01T00:25:00.000Z',
      '2024-01-01T00:45:00.000Z',
      '2024-01-01T01:05:00.000Z',
    ]);
    expect(utc('0 8,12-13 * * *', '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-01T08:00:00.000Z',
      '2024-01-01T12:00:00.000Z',
      '2024-01-01T13:00:00.000Z',
      '2024-01-02T08:00:00.000Z',
    ]);
  });

  it('list items may overlap (as in Vixie cron)', () => {
    expect(utc('0 1-3,2 * * *', '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-01T01:00:00.000Z',
      '2024-01-01T02:00:00.000Z',
      '2024-01-01T03:00:00.000Z',
      '2024-01-02T01:00:00.000Z',
    ]);
  });

  it('no fire beyond year 9999; bad instants are rejected', () => {
    const s = compileSchedule('@yearly', 'UTC');
    expect(s.next(Date.UTC(9999, 5, 1))).toBeNull();
    expect(s.prev(Date.UTC(9999, 5, 1))).toBe(Date.UTC(9999, 0, 1));
    expect(() => s.next(Number.NaN)).toThrow(RangeError);
    expect(nextFires(s, 0, 0)).toEqual([]);
  });

  it('month and day names, any case', () => {
    expect(utc('0 0 1 JAN,jul *', '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-07-01T00:00:00.000Z',
      '2025-01-01T00:00:00.000Z',
      '2025-07-01T00:00:00.000Z',
    ]);
    // Saturday 2024-01-06 -> Monday, Tuesday
    expect(utc('0 9 * * MON-fri', '2024-01-06T00:00:00Z', 2)).toEqual([
      '2024-01-08T09:00:00.000Z',
      '2024-01-09T09:00:00.000Z',
    ]);
  });

  it('day-of-week 7 is Sunday', () => {
    expect(utc('0 0 * * 7', '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-07T00:00:00.000Z',
      '2024-01-14T00:00:00.000Z',
    ]);
  });

  it('L in day-of-month is the last day of the month', () => {
    expect(utc('0 0 L * *', '2024-01-15T00:00:00Z', 4)).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
      '2024-04-30T00:00:00.000Z',
    ]);
    expect(utc('0 0 L 2 *', '2023-01-01T00:00:00Z', 2)).toEqual([
      '2023-02-28T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
    ]);
    expect(utc('0 0 1,L * *', '2024-01-15T00:00:00Z', 3)).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-02-01T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
    ]);
  });

  it('<day>L in day-of-week is the last such weekday of the month', () => {
    expect(utc('0 0 * * 5L', '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-26T00:00:00.000Z',
      '2024-02-23T00:00:00.000Z',
      '2024-03-29T00:00:00.000Z',
    ]);
    expect(utc('0 0 * * FRIL', '2024-01-01T00:00:00Z', 1)).toEqual(['2024-01-26T00:00:00.000Z']);
    // June 2023 has Fridays 2, 9, 16, 23 and 30: the 23rd is not the last one
    expect(utc('0 0 * * 5L', '2023-06-01T00:00:00Z', 1)).toEqual(['2023-06-30T00:00:00.000Z']);
  });

  it('<day>#<n> in day-of-week is the n-th such weekday of the month', () => {
    expect(utc('0 9 * * MON#2', '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-08T09:00:00.000Z',
      '2024-02-12T09:00:00.000Z',
      '2024-03-11T09:00:00.000Z',
    ]);
    // 5th Friday exists in March 2024 (1, 8, 15, 22, 29), not in January or February
    expect(utc('0 0 * * 5#5', '2024-01-01T00:00:00Z', 1)).toEqual(['2024-03-29T00:00:00.000Z']);
  });

  it('day-of-month and day-of-week both restricted: either matches (Vixie)', () => {
    // the 13th, or any Friday
    expect(utc('0 0 13 * 5', '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-05T00:00:00.000Z',
      '2024-01-12T00:00:00.000Z',
      '2024-01-13T00:00:00.000Z',
      '2024-01-19T00:00:00.000Z',
    ]);
    // a day field starting with * makes it AND: days 1,11,21,31 that are Fridays
    expect(utc('0 0 */10 * 5', '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-03-01T00:00:00.000Z',
      '2024-05-31T00:00:00.000Z',
    ]);
    expect(utc('0 0 13 * *', '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-13T00:00:00.000Z',
      '2024-02-13T00:00:00.000Z',
    ]);
    // ? means *
    expect(utc('0 0 ? * MON', '2024-01-02T00:00:00Z', 2)).toEqual([
      '2024-01-08T00:00:00.000Z',
      '2024-01-15T00:00:00.000Z',
    ]);
    // day 31 never occurs in February, but with the OR rule every weekday of February matches
    expect(utc('0 0 31 2 0-7', '2024-02-10T12:00:00Z', 2)).toEqual([
      '2024-02-11T00:00:00.000Z',
      '2024-02-12T00:00:00.000Z',
    ]);
  });

  it('rare dates: 29 February', () => {
    expect(utc('0 0 29 2 *', '2024-03-01T00:00:00Z', 3)).toEqual([
      '2028-02-29T00:00:00.000Z',
      '2032-02-29T00:00:00.000Z',
      '2036-02-29T00:00:00.000Z',
    ]);
    // 2100 is not a leap year
    expect(utc('0 0 29 2 *', '2097-01-01T00:00:00Z', 1)).toEqual(['2104-02-29T00:00:00.000Z']);
  });
});

describe('macros', () => {
  it.each([
    ['@yearly', '2025-01-01T00:00:00.000Z', true],
    ['@annually', '2025-01-01T00:00:00.000Z', true],
    ['@monthly', '2024-02-01T00:00:00.000Z', true],
    // 2024-01-03 is a Wednesday; next Sunday is the 7th
    ['@weekly', '2024-01-07T00:00:00.000Z', true],
    ['@daily', '2024-01-04T00:00:00.000Z', true],
    ['@midnight', '2024-01-04T00:00:00.000Z', true],
    ['@hourly', '2024-01-03T13:00:00.000Z', false],
    ['@DAILY', '2024-01-04T00:00:00.000Z', true],
  ])('%s', (macro, expected, fixed) => {
    const s = compileSchedule(macro, 'UTC');
    expect(s.fixedTime).toBe(fixed);
    expect(s.hasSeconds).toBe(false);
    expect(s.expression).toBe(macro);
    expect(utc(macro, '2024-01-03T12:30:00Z', 1)).toEqual([expected]);
  });
});

describe('wildcard / fixed-time classification', () => {
  it.each([
    ['*/5 * * * *', false],
    ['0 * * * *', false],
    ['* 9 * * *', false],
    ['0 */2 * * *', false],
    ['*/10 0 9 * * *', false],
    ['0 9 * * 1-5', true],
    ['30 2 * * *', true],
    ['0 0,12 * * *', true],
    ['0 1-3 * * *', true],
    ['0-59 0-23 * * *', true],
    ['15 30 2 * * *', true],
  ])('%s fixedTime=%s', (expr, fixed) => {
    expect(compileSchedule(expr, 'UTC').fixedTime).toBe(fixed);
  });
});

describe('errors', () => {
  function message(expr: string, zone = 'UTC'): string {
    try {
      compileSchedule(expr, zone);
    } catch (err) {
      expect(err).toBeInstanceOf(ScheduleError);
      expect(err).toBeInstanceOf(BatonError);
      expect((err as ScheduleError).code).toBe('INVALID_SCHEDULE');
      expect((err as ScheduleError).retryable).toBe(false);
      return (err as Error).message;
    }
    throw new Error(`"${expr}" in ${zone} was accepted`);
  }

  it('out of range values name the field and the allowed range', () => {
    expect(message('61 * * * *')).toBe(
      'invalid cron expression "61 * * * *": minute 61 is out of range (allowed 0-59)',
    );
    expect(message('* 24 * * *')).toContain('hour 24 is out of range (allowed 0-23)');
    expect(message('* * 0 * *')).toContain('day-of-month 0 is out of range (allowed 1-31)');
    expect(message('* * 32 * *')).toContain('day-of-month 32 is out of range (allowed 1-31)');
    expect(message('* * * 13 *')).toContain('month 13 is out of range (allowed 1-12 or JAN-DEC)');
    expect(message('* * * * 8')).toContain('day-of-week 8 is out of range (allowed 0-7');
    expect(message('60 * * * * *')).toContain('second 60 is out of range (allowed 0-59)');
    expect(message('0-60 * * * *')).toContain('minute 60 is out of range');
    expect(message('0 0 * * 1#6')).toContain('occurrence #6 is out of range (allowed 1-5)');
  });

  it('wrong number of fields', () => {
    expect(message('* * * * * * *')).toBe(
      'invalid cron expression "* * * * * * *": cron expression must have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, or be one of @yearly @annually @monthly @weekly @daily @midnight @hourly; got 7 fields',
    );
    expect(message('* * * *')).toContain('got 4 fields');
    expect(message('  ')).toContain('cron expression is empty');
    expect(message('@reboot')).toContain(
      'unknown macro "@reboot" (allowed: @yearly @annually @monthly @weekly @daily @midnight @hourly)',
    );
  });

  it('bad time zones', () => {
    expect(message('* * * * *', 'Mars/Base')).toBe(
      'unknown time zone "Mars/Base" (use an IANA zone such as "Europe/London" or "UTC")',
    );
    expect(message('* * * * *', '')).toContain('unknown time zone ""');
    expect(message('* * * * *', '+05:00')).toContain('unknown time zone "+05:00"');
  });

  it('garbage tokens', () => {
    expect(message('abc * * * *')).toBe(
      'invalid cron expression "abc * * * *": minute "abc" is not valid (allowed: *, a value 0-59, a range a-b, a step */n or a-b/n, and comma-separated lists of these)',
    );
    expect(message('1-2-3 * * * *')).toContain('minute "1-2-3" is not valid');
    expect(message('5- * * * *')).toContain('minute "5-" is not valid');
    expect(message('1,,2 * * * *')).toContain('minute "1,,2" has an empty list item');
    expect(message('*/x * * * *')).toContain('minute step "x" in "*/x" must be a whole number');
    expect(message('*/0 * * * *')).toContain('minute step 0 in "*/0" is not allowed');
    expect(message('30-10 * * * *')).toContain('minute range 30-10 is reversed');
    expect(message('* * * FOO *')).toContain('unknown month name "FOO"');
    expect(message('* * * * FUN')).toContain('unknown day-of-week name "FUN"');
    expect(message('* JAN * * *')).toContain('hour "JAN" is not valid');
    expect(message('1.5 * * * *')).toContain('minute "1.5" is not valid');
  });

  it('unsupported special characters', () => {
    expect(message('0 0 15W * *')).toContain(
      '"W" (nearest weekday) in day-of-month is not supported',
    );
    expect(message('0 0 LW * *')).toContain('"W" (nearest weekday)');
    expect(message('0 0 L-3 * *')).toContain('only a plain "L"');
    expect(message('H * * * *')).toContain('"H" (hashed values) in minute is not supported');
    expect(message('H/5 * * * *')).toContain('"H" (hashed values)');
    expect(message('0 0 * * L')).toContain('"L" in day-of-week needs a day before it');
    expect(message('L * * * *')).toContain('"L" is not allowed in minute');
    expect(message('0 0 * * 1#2,3')).toContain('"#" must be the whole field');
    expect(message('? * * * *')).toContain('"?" is only allowed in day-of-month and day-of-week');
  });

  it('expressions that can never fire are rejected', () => {
    expect(message('0 0 30 2 *')).toBe(
      'invalid cron expression "0 0 30 2 *": it would never fire: no calendar date matches day-of-month "30", month "2" and day-of-week "*" together',
    );
    expect(message('0 0 31 4,6,9,11 *')).toContain('it would never fire');
    // */30 is days 1 and 31: 1 February exists
    expect(() => compileSchedule('0 0 */30 2 *', 'UTC')).not.toThrow();
  });
});

describe('formatInstant', () => {
  it('prints the zone offset, seconds precision', () => {
    const ms = Date.UTC(2024, 2, 10, 7, 0, 0);
    expect(formatInstant(ms, 'America/New_York')).toBe('2024-03-10T03:00:00-04:00');
    expect(formatInstant(ms - 1000, 'America/New_York')).toBe('2024-03-10T01:59:59-05:00');
    expect(formatInstant(ms + 5, 'America/New_York')).toBe('2024-03-10T03:00:00.005-04:00');
    expect(formatInstant(ms, 'Asia/Kathmandu')).toBe('2024-03-10T12:45:00+05:45');
    expect(formatInstant(ms, 'UTC')).toBe('2024-03-10T07:00:00Z');
    expect(() => formatInstant(ms, 'Mars/Base')).toThrow(ScheduleError);
  });
});
