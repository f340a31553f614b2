// Property-based checks against an independent reference model: value sets are computed here
// from the generated field structure (not by cron-parser or src/cron/cron.ts), local wall
// time comes from the zone offset and plain UTC date arithmetic, and expected fires come from a
// brute-force minute scanner that applies the DST rules literally.
import { CronExpressionParser } from 'cron-parser';
import fc from 'fast-check';
import { IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  compileSchedule,
  firesBetween,
  nextFires,
  type CompiledSchedule,
} from '../../../src/cron/index.js';
import { parseCron } from '../../../src/cron/cron.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

// ---- generated expressions and their reference semantics ----

interface Field {
  text: string;
  values: Set<number>;
}

function range(lo: number, hi: number, step = 1): number[] {
  const out: number[] = [];
  for (let v = lo; v <= hi; v += step) out.push(v);
  return out;
}

function fieldArb(
  min: number,
  max: number,
  weights: { star: number; other: number },
): fc.Arbitrary<Field> {
  const value = fc.integer({ min, max });
  const ordered = fc
    .tuple(value, value)
    .map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a]));
  const step = fc.integer({ min: 1, max: Math.max(1, Math.ceil((max - min + 1) / 2)) });
  const single: fc.Arbitrary<Field> = value.map((v) => ({ text: `${v}`, values: new Set([v]) }));
  const span: fc.Arbitrary<Field> = ordered.map(([a, b]) => ({
    text: `${a}-${b}`,
    values: new Set(range(a, b)),
  }));
  const item = fc.oneof(single, span);
  const other = fc.oneof(
    single,
    span,
    step.map((s) => ({ text: `*/${s}`, values: new Set(range(min, max, s)) })),
    fc
      .tuple(ordered, step)
      .map(([[a, b], s]) => ({ text: `${a}-${b}/${s}`, values: new Set(range(a, b, s)) })),
    fc
      .tuple(value, step)
      .map(([a, s]) => ({ text: `${a}/${s}`, values: new Set(range(a, max, s)) })),
    fc.array(item, { minLength: 2, maxLength: 4 }).map((items) => ({
      text: items.map((i) => i.text).join(','),
      values: new Set(items.flatMap((i) => [...i.values])),
    })),
  );
  return fc.oneof(
    {
      weight: weights.star,
      arbitrary: fc.constant({ text: '*', values: new Set(range(min, max)) }),
    },
    { weight: weights.other, arbitrary: other },
  );
}

interface Expr {
  second: Field | null;
  minute: Field;
  hour: Field;
  dom: Field;
  month: Field;
  dow: Field;
}

function text(e: Expr): string {
  return [e.second, e.minute, e.hour, e.dom, e.month, e.dow]
    .filter((f): f is Field => f !== null)
    .map((f) => f.text)
    .join(' ');
}

function exprArb(opts: { seconds: boolean; dense: boolean }): fc.Arbitrary<Expr> {
  const w = opts.dense ? { star: 6, other: 1 } : { star: 1, other: 2 };
  return fc.record({
    second: opts.seconds
      ? fc.option(fieldArb(0, 59, { star: 1, other: 3 }), { freq: 2 })
      : fc.constant(null),
    minute: fieldArb(0, 59, opts.dense ? { star: 1, other: 2 } : { star: 1, other: 3 }),
    hour: fieldArb(0, 23, opts.dense ? { star: 3, other: 1 } : { star: 1, other: 3 }),
    dom: fieldArb(1, 31, w),
    month: fieldArb(1, 12, opts.dense ? { star: 10, other: 1 } : { star: 1, other: 1 }),
    dow: fieldArb(0, 7, w),
  });
}

interface Local {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  wd: number;
  dim: number;
}

function decompose(localMs: number): Local {
  const t = new Date(localMs);
  const y = t.getUTCFullYear();
  const mo = t.getUTCMonth() + 1;
  return {
    y,
    mo,
    d: t.getUTCDate(),
    h: t.getUTCHours(),
    mi: t.getUTCMinutes(),
    s: t.getUTCSeconds(),
    wd: t.getUTCDay(),
    dim: new Date(Date.UTC(y, mo, 0)).getUTCDate(),
  };
}

/** Vixie cron matching of a local wall time. */
function refMatches(e: Expr, localMs: number): boolean {
  if (localMs % 1000 !== 0) return false;
  const l = decompose(localMs);
  const sec = e.second === null ? l.s === 0 : e.second.values.has(l.s);
  if (!sec || !e.minute.values.has(l.mi) || !e.hour.values.has(l.h) || !e.month.values.has(l.mo)) {
    return false;
  }
  const dom = e.dom.values.has(l.d);
  const dow = e.dow.values.has(l.wd) || (l.wd === 0 && e.dow.values.has(7));
  const either = !e.dom.text.startsWith('*') && !e.dow.text.startsWith('*');
  return either ? dom || dow : dom && dow;
}

function refFixedTime(e: Expr): boolean {
  return ![e.second, e.minute, e.hour].some((f) => f !== null && f.text.startsWith('*'));
}

const zoneCache = new Map<string, IANAZone>();
function offset(zone: string, ms: number): number {
  let z = zoneCache.get(zone);
  if (z === undefined) {
    z = IANAZone.create(zone);
    zoneCache.set(zone, z);
  }
  return Math.round(z.offset(ms) * MINUTE);
}
const local = (zone: string, ms: number): number => ms + offset(zone, ms);

/** First instant (whole minute) after `from` where the offset changes, within a year. */
function transitionAfter(zone: string, from: number): number | null {
  const start = Math.floor(from / MINUTE) * MINUTE;
  const o = offset(zone, start);
  for (let d = 1; d <= 370; d++) {
    if (offset(zone, start + d * DAY) !== o) {
      let lo = start + (d - 1) * DAY; // offset o
      let hi = start + d * DAY; // offset != o
      while (hi - lo > MINUTE) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
        if (offset(zone, mid) === o) lo = mid;
        else hi = mid;
      }
      return hi;
    }
  }
  return null;
}

/**
 * Brute force over every minute in (a, b] (5-field expressions: fires are whole minutes).
 * Wildcard: every instant whose local time matches. Fixed-time: an instant fires when a matching
 * local minute L was reached for the first time at it: running max of earlier local times < L
 * <= local(u).
 */
function bruteForce(e: Expr, zone: string, a: number, b: number): number[] {
  const out: number[] = [];
  if (!refFixedTime(e)) {
    for (let u = a + MINUTE; u <= b; u += MINUTE) if (refMatches(e, local(zone, u))) out.push(u);
    return out;
  }
  let high = -Infinity;
  for (let u = a - 26 * HOUR; u <= b; u += MINUTE) {
    const loc = local(zone, u);
    if (u > a) {
      for (let l = high + MINUTE; l <= loc; l += MINUTE) {
        if (refMatches(e, l)) {
          out.push(u);
          break;
        }
      }
    }
    high = Math.max(high, loc);
  }
  return out;
}

function tryCompile(expr: string, zone: string): CompiledSchedule | null {
  try {
    return compileSchedule(expr, zone);
  } catch (err) {
    // generated day fields may be impossible (e.g. 31 with month 2): the only rejection allowed
    if (err instanceof Error && err.message.includes('never fire')) return null;
    throw err;
  }
}

const allZones = Intl.supportedValuesOf('timeZone');
const interesting = [
  'America/New_York',
  'Europe/London',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Asia/Tehran',
  'America/Santiago',
  'America/Havana',
  'America/Asuncion',
  'Asia/Beirut',
  'Africa/Casablanca',
  'Antarctica/Troll',
  'Pacific/Apia',
  'America/St_Johns',
  'Europe/Chisinau',
];
const zoneArb = fc.oneof(fc.constantFrom(...allZones), fc.constantFrom(...interesting));
const instantArb = fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) });

describe('properties', () => {
  it('field value sets equal the reference expansion, and cron-parser where it accepts the input', () => {
    const sortedValues = (f: Field, mod?: number) =>
      [...new Set([...f.values].map((v) => (mod === undefined ? v : v % mod)))].sort(
        (a, b) => a - b,
      );
    const flagged = (flags: boolean[]) => flags.flatMap((on, i) => (on ? [i] : []));
    fc.assert(
      fc.property(exprArb({ seconds: true, dense: false }), (e) => {
        let spec;
        try {
          spec = parseCron(text(e));
        } catch (err) {
          fc.pre(!(err instanceof Error && err.message.includes('never fire')));
          throw err;
        }
        expect(spec.seconds).toEqual(e.second === null ? [0] : sortedValues(e.second));
        expect(spec.minutes).toEqual(sortedValues(e.minute));
        expect(spec.hours).toEqual(sortedValues(e.hour));
        expect(flagged(spec.domDays)).toEqual(sortedValues(e.dom));
        expect(flagged(spec.months)).toEqual(sortedValues(e.month));
        expect(flagged(spec.dowDays)).toEqual(sortedValues(e.dow, 7));
        let theirs;
        try {
          theirs = CronExpressionParser.parse(text(e)).fields;
        } catch {
          return; // e.g. overlapping list items, which Vixie cron (and baton) accept
        }
        const nums = (values: readonly (number | string)[], mod?: number) =>
          [...new Set(values.map((v) => (mod === undefined ? Number(v) : Number(v) % mod)))].sort(
            (a, b) => a - b,
          );
        expect(spec.seconds).toEqual(nums(theirs.second.values));
        expect(spec.minutes).toEqual(nums(theirs.minute.values));
        expect(spec.hours).toEqual(nums(theirs.hour.values));
        expect(flagged(spec.months)).toEqual(nums(theirs.month.values));
        expect(flagged(spec.dowDays)).toEqual(nums(theirs.dayOfWeek.values, 7));
        // cron-parser drops days a single listed month lacks; compare the days that can occur
        const possible = (d: number) =>
          spec.months.some(
            (on, m) => on && d <= [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m]!,
          );
        expect(flagged(spec.domDays).filter(possible)).toEqual(
          nums(theirs.dayOfMonth.values).filter(possible),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('fires strictly increase, match the fields (or are a transition that jumped over a match), and agree with prev and count', () => {
    fc.assert(
      fc.property(
        exprArb({ seconds: true, dense: false }),
        zoneArb,
        instantArb,
        (e, zone, start) => {
          const s = tryCompile(text(e), zone);
          fc.pre(s !== null);
          if (s === null) return;
          expect(s.fixedTime).toBe(refFixedTime(e));
          expect(s.hasSeconds).toBe(e.second !== null);
          const fires = nextFires(s, start, 8);
          expect(fires.length).toBe(8);
          let prev = start;
          for (const f of fires) {
            expect(f).toBeGreaterThan(prev);
            expect(s.prev(f)).toBe(f);
            if (prev !== start) expect(s.prev(f - 1)).toBe(prev);
            else expect(s.prev(f - 1) ?? -Infinity).toBeLessThanOrEqual(start);
            prev = f;
            if (refMatches(e, local(zone, f))) continue;
            // Only a fixed-time job may fire at a non-matching local time: at a forward transition,
            // for a matching local time inside the skipped interval.
            expect(s.fixedTime).toBe(true);
            const before = local(zone, f - 1);
            const after = local(zone, f);
            expect(after - before).toBeGreaterThan(1);
            let found = false;
            for (let l = Math.floor(before / 1000) * 1000 + 1000; l < after && !found; l += 1000) {
              found = refMatches(e, l);
            }
            expect(found).toBe(true);
          }
          expect(s.count(start, fires[fires.length - 1]!)).toBe(fires.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('matches a brute-force minute scan over a day around a real transition', () => {
    fc.assert(
      fc.property(
        exprArb({ seconds: false, dense: true }),
        zoneArb,
        instantArb,
        (e, zone, start) => {
          const s = tryCompile(text(e), zone);
          fc.pre(s !== null);
          if (s === null) return;
          const t = transitionAfter(zone, start) ?? start;
          const a = Math.floor((t - 12 * HOUR) / MINUTE) * MINUTE - MINUTE;
          const b = a + DAY;
          const expected = bruteForce(e, zone, a, b);
          const got = firesBetween(s, a, b, 5000);
          expect(got.fires).toEqual(expected);
          expect(got.count).toBe(expected.length);
          expect(got.truncated).toBe(false);
          if (expected.length > 0) expect(s.next(a)).toBe(expected[0]);
          // prev: at each fire, just before it, and halfway to the next
          expected.forEach((f, i) => {
            const before = expected[i - 1];
            expect(s.prev(f)).toBe(f);
            for (const x of [f - 1, before === undefined ? a : Math.floor((before + f) / 2)]) {
              const p = s.prev(x);
              if (before !== undefined && x >= before) expect(p).toBe(before);
              else expect(p ?? -Infinity).toBeLessThanOrEqual(a);
            }
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('firesBetween lists the first `max` fires and counts all of them', () => {
    fc.assert(
      fc.property(
        exprArb({ seconds: true, dense: true }),
        zoneArb,
        instantArb,
        fc.integer({ min: 1, max: 3 * DAY }),
        fc.integer({ min: 0, max: 50 }),
        (e, zone, start, length, max) => {
          const s = tryCompile(text(e), zone);
          fc.pre(s !== null);
          if (s === null) return;
          const got = firesBetween(s, start, start + length, max);
          const listed = nextFires(s, start, max + 1).filter((f) => f <= start + length);
          expect(got.fires).toEqual(listed.slice(0, max));
          expect(got.truncated).toBe(got.count > max);
          if (listed.length <= max) expect(got.count).toBe(listed.length);
          else expect(got.count).toBeGreaterThan(max);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a fixed-time daily job fires exactly once on every local day, 2020-2030', () => {
    fc.assert(
      fc.property(
        zoneArb,
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 0, max: 59 }),
        (zone, hour, minute) => {
          const s = compileSchedule(`${minute} ${hour} * * *`, zone);
          expect(s.fixedTime).toBe(true);
          const perDate = new Map<string, number>();
          const key = (ms: number) => new Date(ms).toISOString().slice(0, 10);
          const nominal = (date: string) =>
            Date.parse(`${date}T00:00:00Z`) + hour * HOUR + minute * MINUTE;
          let cur = Date.UTC(2019, 11, 30);
          for (;;) {
            const f = s.next(cur);
            if (f === null || f > Date.UTC(2030, 0, 3)) break;
            cur = f;
            const loc = local(zone, f);
            let date = key(loc);
            if (nominal(date) !== loc) {
              // skipped local time: fired at the transition, for the date whose nominal time
              // lies in the gap
              const before = local(zone, f - 1);
              const candidates = [key(before), key(loc)].filter(
                (d) => before < nominal(d) && nominal(d) < loc,
              );
              expect(candidates.length).toBeGreaterThan(0);
              date = candidates[0]!;
            }
            perDate.set(date, (perDate.get(date) ?? 0) + 1);
          }
          for (let d = Date.UTC(2020, 0, 1); d < Date.UTC(2030, 0, 1); d += DAY) {
            expect([key(d), perDate.get(key(d)) ?? 0]).toEqual([key(d), 1]);
          }
        },
      ),
      { numRuns: 6 },
    );
  });
});
