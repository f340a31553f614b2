import { describe, expect, it } from 'vitest';
import {
  backfillLimits,
  backfillRange,
  checkOverlap,
  DEFAULT_BACKFILL_LIMITS,
  defaultOverlap,
  instantsAfter,
  newBackfill,
  parseOverlap,
  parseRate,
  planInstants,
  sliceOf,
} from '../../../src/coordination/backfills.js';
import { checkBackfill } from '../../../src/control/backfill.js';
import { compileSchedule } from '../../../src/cron/index.js';
import { backfillFireId, fireId, manualFireId } from '../../../src/fire.js';
import type { JobDefinition } from '../../../src/definitions/types.js';

const T = (iso: string) => Date.parse(iso);
const hourly = compileSchedule('0 * * * *', 'UTC');
const limits = DEFAULT_BACKFILL_LIMITS;

describe('backfill planning', () => {
  it('takes the instants of [from, to], both ends included', () => {
    const range = { from: T('2026-11-01T00:00:00Z'), to: T('2026-11-01T03:00:00Z') };
    expect(instantsAfter(hourly, range, null, 100).map((t) => new Date(t).toISOString())).toEqual([
      '2026-11-01T00:00:00.000Z',
      '2026-11-01T01:00:00.000Z',
      '2026-11-01T02:00:00.000Z',
      '2026-11-01T03:00:00.000Z',
    ]);
  });

  it('resumes after the committed cursor, never repeating or losing an instant', () => {
    const range = { from: T('2026-11-01T00:00:00Z'), to: T('2026-11-01T09:59:59Z') };
    const all = instantsAfter(hourly, range, null, 1000);
    expect(all).toHaveLength(10);
    // Slices of 3 from successive cursors, as a leader (or the next one) decides them.
    const seen: number[] = [];
    let cursor: number | null = null;
    for (;;) {
      const slice = instantsAfter(hourly, range, cursor, 3);
      if (slice.length === 0) break;
      seen.push(...slice);
      cursor = slice[slice.length - 1]!;
    }
    expect(seen).toEqual(all);
    // A cursor before `from` (impossible, but harmless) still starts at `from`.
    expect(instantsAfter(hourly, range, range.from - 5 * 3600_000, 1)).toEqual([range.from]);
  });

  it('refuses a range without instants and one over the instant limit', () => {
    const empty = { from: T('2026-11-01T00:01:00Z'), to: T('2026-11-01T00:59:00Z') };
    expect(() => planInstants('report', hourly, empty, limits)).toThrow(
      'the schedule of report has no instant from 2026-11-01T00:01:00.000Z to 2026-11-01T00:59:00.000Z',
    );
    const week = { from: T('2026-11-01T00:00:00Z'), to: T('2026-11-08T00:00:00Z') };
    expect(() => planInstants('report', hourly, week, { ...limits, maxInstants: 100 })).toThrow(
      'report has more than 100 instants from 2026-11-01T00:00:00.000Z to 2026-11-08T00:00:00.000Z, the limit (BATON_BACKFILL_MAX_INSTANTS); backfill a shorter range',
    );
    expect(planInstants('report', hourly, week, { ...limits, maxInstants: 169 })).toHaveLength(169);
  });

  it('checks the range: both given, zoned ISO, in order, in the past, within the limit', () => {
    const now = T('2026-12-01T00:00:00Z');
    expect(() => backfillRange(undefined, '2026-11-01T00:00:00Z', now, limits)).toThrow(
      'a backfill needs --from and --to',
    );
    expect(() => backfillRange('2026-11-01', '2026-11-02T00:00:00Z', now, limits)).toThrow(
      '--from must be an ISO 8601 time with a zone',
    );
    expect(() =>
      backfillRange('2026-11-02T00:00:00Z', '2026-11-01T00:00:00Z', now, limits),
    ).toThrow('--from 2026-11-02T00:00:00Z is after --to 2026-11-01T00:00:00Z');
    expect(() =>
      backfillRange('2026-11-02T00:00:00Z', '2026-12-02T00:00:00Z', now, limits),
    ).toThrow('--to 2026-12-02T00:00:00Z is in the future');
    expect(() =>
      backfillRange('2024-01-01T00:00:00Z', '2026-11-01T00:00:00Z', now, limits),
    ).toThrow('the range is longer than 366 days');
    expect(backfillRange('2026-11-01T01:00:00+01:00', '2026-11-01T00:00:00Z', now, limits)).toEqual(
      { from: T('2026-11-01T00:00:00Z'), to: T('2026-11-01T00:00:00Z') },
    );
  });

  it('reads the limits from the environment, with clear errors', () => {
    expect(backfillLimits({})).toEqual(DEFAULT_BACKFILL_LIMITS);
    expect(
      backfillLimits({ BATON_BACKFILL_MAX_INSTANTS: '50', BATON_BACKFILL_MAX_RANGE: '7d' }),
    ).toMatchObject({ maxInstants: 50, maxRangeMs: 7 * 86_400_000 });
    expect(() => backfillLimits({ BATON_BACKFILL_MAX_INSTANTS: 'lots' })).toThrow(
      'BATON_BACKFILL_MAX_INSTANTS must be a whole number from 1 to 1000000, got "lots"',
    );
    expect(() => backfillLimits({ BATON_BACKFILL_MAX_RANGE: '7 days' })).toThrow(
      'bad duration "7 days" for BATON_BACKFILL_MAX_RANGE',
    );
  });

  it('parses rate and overlap, and sizes slices from the rate', () => {
    expect(parseRate('10/s')).toBe(10);
    expect(parseRate('250')).toBe(250);
    for (const bad of ['0/s', '1001/s', '1.5/s', 'fast', '10/m'])
      expect(() => parseRate(bad)).toThrow('--rate must be runs per second from 1 to 1000');
    expect(parseOverlap('buffer')).toBe('buffer');
    expect(() => parseOverlap('replace')).toThrow(
      '--overlap must be one of allow, forbid, buffer, got "replace"',
    );
    expect(sliceOf(10, 'allow')).toEqual({ size: 1, everyMs: 100 });
    expect(sliceOf(1000, 'allow')).toEqual({ size: 100, everyMs: 100 });
    expect(sliceOf(2, 'forbid')).toEqual({ size: 1, everyMs: 500 });
    expect(sliceOf(1000, 'buffer')).toEqual({ size: 1, everyMs: 1 });
  });

  it("defines overlap against the job's own setting", () => {
    expect(defaultOverlap('allow')).toBe('allow');
    expect(defaultOverlap('forbid')).toBe('buffer');
    expect(defaultOverlap('replace')).toBe('buffer');
    expect(() => checkOverlap('sync', 'forbid', 'allow')).toThrow(
      '--overlap allow: job sync has overlap: forbid, so its workers would skip backfill runs',
    );
    expect(() => checkOverlap('sync', 'replace', 'allow')).toThrow('would abort backfill runs');
    expect(() => checkOverlap('sync', 'forbid', 'buffer')).not.toThrow();
  });

  it('gives each (job, instant) one backfill fire id, distinct from scheduled and manual ids', () => {
    const at = T('2026-11-01T00:00:00Z');
    expect(backfillFireId('report', at)).toBe(`report@backfill-${at}`);
    expect(backfillFireId('report', at)).toBe(backfillFireId('report', at));
    expect(backfillFireId('report', at)).not.toBe(fireId('report', at));
    expect(backfillFireId('report', at)).not.toBe(manualFireId('report', String(at)));
    expect(backfillFireId('report', at)).not.toContain(':');
    const rec = newBackfill({
      job: 'report',
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-11-01T03:00:00.000Z',
      overlap: 'allow',
      rate: 10,
      by: 'ops',
    });
    expect(rec).toMatchObject({ state: 'pending', cursor: null, enqueued: 0, token: null });
    expect(rec.id).toMatch(/^[0-9a-z]{9}-[0-9a-f]{8}$/);
  });

  it('checks a whole request against the definitions', () => {
    const def = {
      name: 'report',
      schedule: '0 * * * *',
      timezone: 'UTC',
      overlap: 'forbid',
    } as JobDefinition;
    const now = T('2026-12-01T00:00:00Z');
    const input = { job: 'report', from: '2026-11-01T00:00:00Z', to: '2026-11-01T02:00:00Z' };
    expect(() => checkBackfill([def], { ...input, job: 'nope', by: 'ops' }, now, limits)).toThrow(
      'unknown job "nope"',
    );
    const c = checkBackfill([def], { ...input, by: 'ops' }, now, limits);
    expect(c).toMatchObject({ overlap: 'buffer', rate: 10 });
    expect(c.instants).toHaveLength(3);
    expect(() =>
      checkBackfill([def], { ...input, overlap: 'allow', by: 'ops' }, now, limits),
    ).toThrow('--overlap allow: job report has overlap: forbid');
  });
});
