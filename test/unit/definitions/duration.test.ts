import { describe, expect, it } from 'vitest';
import { DurationError, formatDuration, parseDuration } from '../../../src/definitions/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['0s', 0],
    ['0', 0],
    [0, 0],
  ] as const)('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['5 minutes', '5', '1.5h', '-1s', '1h 30m', '1H', '', 'ms', '1s1s', '30sec'])(
    'refuses %j and says what is allowed',
    (text) => {
      expect(() => parseDuration(text, 'jitter')).toThrow(DurationError);
      expect(() => parseDuration(text, 'jitter')).toThrow(
        `bad duration ${JSON.stringify(text)} for jitter (use a number with a unit: 500ms, 30s, 5m, 1h, 7d)`,
      );
    },
  );

  it('refuses plain numbers other than 0 (ambiguous unit)', () => {
    expect(() => parseDuration(5000)).toThrow(
      'bad duration 5000 (use a number with a unit: 500ms, 30s, 5m, 1h, 7d)',
    );
  });

  it('refuses durations beyond the safe integer range', () => {
    expect(() => parseDuration('99999999999999999d')).toThrow(DurationError);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0'],
    [500, '500ms'],
    [30_000, '30s'],
    [5_400_000, '1h30m'],
    [604_800_000, '7d'],
    [60_500, '1m500ms'],
    [-1_000, '-1s'],
  ])('formats %d as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips with parseDuration', () => {
    for (const ms of [1, 999, 1_000, 61_001, 86_400_000 + 1, 123_456_789]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
