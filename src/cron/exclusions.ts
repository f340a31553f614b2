// Exclusions and active windows: which fire instants of a schedule are skipped, and why.
//
// An instant is `inactive` when it lies before `activeFrom` or after `activeUntil`, and
// `excluded` when its local date in the job's zone is an excluded date: a listed date or range,
// or a date of a calendar (listed dates, or a country's holidays from date-holidays). Rules are
// day-granular in local time; they are turned into intervals of instants with the zone's offsets,
// so DST changes (and days of 23 or 25 hours) are exact. Pure: no I/O, no clock.

import { DAY_MS, civilFromDays, daysFromCivil } from './cron.js';
import { holidaysOfYear, type HolidayRule } from './holidays.js';
import type { CompiledSchedule } from './schedule.js';
import { timeline, type ZoneTimeline } from './zone.js';

/** Why an instant of the schedule does not fire (the skip reasons this module decides). */
export const EXCLUSION_REASONS = ['excluded', 'inactive'] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

/** Local calendar dates `YYYY-MM-DD`, both inclusive (`from === to` for one date). */
export interface DateRange {
  from: string;
  to: string;
}

/** A named calendar as resolved from its file: listed dates, holidays, or both. */
export interface CalendarContent {
  name: string;
  dates: DateRange[];
  holidays: HolidayRule | null;
}

/** One entry of a job's `exclude:` list, resolved: dates written in the job, or a calendar. */
export type Exclusion = DateRange | { calendar: CalendarContent };

/** A bound of the active window: as written, and the instant it stands for (inclusive). */
export interface ActiveBound {
  text: string;
  ms: number;
}

/** What decides a job's skipped instants (a JobDefinition has these fields). */
export interface ExclusionSpec {
  timezone: string;
  exclude?: readonly Exclusion[];
  /** First instant that may fire. */
  activeFrom?: ActiveBound;
  /** Last instant that may fire. */
  activeUntil?: ActiveBound;
}

/** Why one instant is skipped. */
export interface SkipCause {
  reason: ExclusionReason;
  /** What excluded it: `2026-12-25`, `calendar us-holidays (Christmas Day)`, `before activeFrom …`. */
  detail: string;
}

/** Instants in [start, end) are skipped for one cause. */
export interface SkipInterval extends SkipCause {
  start: number;
  end: number;
}

/** The instants of a schedule in a range skipped for one cause. */
export interface SkippedInstants extends SkipCause {
  first: number;
  last: number;
  count: number;
}

/** `reason: detail`, as `baton next --explain` and the API's `upcoming[].skipped` print it. */
export function describeSkip(cause: SkipCause): string {
  return `${cause.reason}: ${cause.detail}`;
}

const HOUR_MS = 3_600_000;
/** No zone offset exceeds ±14 h (Kiribati +14, Baker Island -12); a margin on top. */
const OFFSET_MARGIN_MS = 15 * HOUR_MS;

/** Day number (days since 1970-01-01) of `YYYY-MM-DD`. */
export function dayOf(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new RangeError(`not a date: ${date}`);
  return daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** `YYYY-MM-DD` of a day number. */
export function dateOf(day: number): string {
  const [y, m, d] = civilFromDays(day);
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function rangeText(r: DateRange): string {
  return r.from === r.to ? r.from : `${r.from}..${r.to}`;
}

/** The instants whose local date in `zone` is in [d1, d2]: intervals [start, end), in order. */
function instantsOfDays(zone: ZoneTimeline, d1: number, d2: number): [number, number][] {
  const a = d1 * DAY_MS;
  const b = (d2 + 1) * DAY_MS;
  const end = b + OFFSET_MARGIN_MS;
  const out: [number, number][] = [];
  let cur = a - OFFSET_MARGIN_MS;
  while (cur < end) {
    // One stretch [cur, t) of constant offset: local(u) = u + off there.
    const off = zone.offset(cur);
    const t = zone.nextChange(cur, end) ?? end;
    const s = Math.max(cur, a - off);
    const e = Math.min(t, b - off);
    if (s < e) {
      const last = out[out.length - 1];
      if (last && last[1] === s) last[1] = e;
      else out.push([s, e]);
    }
    cur = t;
  }
  return out;
}

/**
 * The first instant of local date `date` (`YYYY-MM-DD`) in `timezone`: local midnight, or the
 * first instant after it when a DST change skips midnight.
 */
export function localDayStart(timezone: string, date: string): number {
  const day = dayOf(date);
  const first = instantsOfDays(timezone === '' ? timeline('UTC') : timeline(timezone), day, day)[0];
  // A day skipped whole (Samoa 2011-12-30) starts where the next one does.
  return first === undefined ? localDayStart(timezone, dateOf(day + 1)) : first[0];
}

/** Local days [d1, d2] excluded for one detail. */
interface DaySpan {
  d1: number;
  d2: number;
  /** Lower is stronger: the first rule of `exclude:` that names a day gives its detail. */
  rank: number;
  detail: string;
}

/** The compiled exclusions and window of one job. */
export class InstantGate {
  private readonly zone: ZoneTimeline;
  private readonly fixed: { d1: number; d2: number; rank: number; detail: string }[] = [];
  private readonly holidays: { rule: HolidayRule; rank: number; name: string }[] = [];
  readonly from: ActiveBound | null;
  readonly until: ActiveBound | null;

  constructor(spec: ExclusionSpec) {
    this.zone = timeline(spec.timezone);
    this.from = spec.activeFrom ?? null;
    this.until = spec.activeUntil ?? null;
    let rank = 0;
    for (const e of spec.exclude ?? []) {
      if ('calendar' in e) {
        const c = e.calendar;
        for (const r of c.dates) {
          this.fixed.push({
            d1: dayOf(r.from),
            d2: dayOf(r.to),
            rank,
            detail: `calendar ${c.name} (${rangeText(r)})`,
          });
        }
        rank++;
        if (c.holidays !== null)
          this.holidays.push({ rule: c.holidays, rank: rank++, name: c.name });
      } else {
        this.fixed.push({ d1: dayOf(e.from), d2: dayOf(e.to), rank: rank++, detail: rangeText(e) });
      }
    }
  }

  /** True when nothing is excluded and the window is unbounded. */
  get empty(): boolean {
    return (
      this.from === null &&
      this.until === null &&
      this.fixed.length === 0 &&
      this.holidays.length === 0
    );
  }

  /** Excluded local days in [dayLo, dayHi], as disjoint spans in order (same detail merged). */
  private daySpans(dayLo: number, dayHi: number): DaySpan[] {
    const spans: DaySpan[] = [];
    for (const f of this.fixed) {
      if (f.d2 < dayLo || f.d1 > dayHi) continue;
      spans.push({
        d1: Math.max(f.d1, dayLo),
        d2: Math.min(f.d2, dayHi),
        rank: f.rank,
        detail: f.detail,
      });
    }
    if (this.holidays.length > 0) {
      const y1 = civilFromDays(dayLo)[0];
      const y2 = civilFromDays(dayHi)[0];
      for (const h of this.holidays) {
        for (let y = y1; y <= y2; y++) {
          for (const [day, names] of holidaysOfYear(h.rule, y)) {
            if (day < dayLo || day > dayHi) continue;
            spans.push({
              d1: day,
              d2: day,
              rank: h.rank,
              detail: `calendar ${h.name} (${names.join(', ')})`,
            });
          }
        }
      }
    }
    if (spans.length === 0) return [];
    // Sweep over the boundaries: between two of them the covering spans do not change.
    const bounds = [...new Set(spans.flatMap((s) => [s.d1, s.d2 + 1]))].sort((a, b) => a - b);
    spans.sort((a, b) => a.d1 - b.d1);
    const out: DaySpan[] = [];
    let active: DaySpan[] = [];
    let next = 0;
    for (let i = 0; i + 1 < bounds.length; i++) {
      const lo = bounds[i]!;
      const hi = bounds[i + 1]! - 1;
      while (next < spans.length && spans[next]!.d1 <= lo) active.push(spans[next++]!);
      active = active.filter((s) => s.d2 >= lo);
      if (active.length === 0) continue;
      let best = active[0]!;
      for (const s of active) if (s.rank < best.rank) best = s;
      const last = out[out.length - 1];
      if (last && last.detail === best.detail && last.d2 + 1 === lo) last.d2 = hi;
      else out.push({ d1: lo, d2: hi, rank: best.rank, detail: best.detail });
    }
    return out;
  }

  /** The skipped instants in [lo, hi) as disjoint intervals in order, clipped to [lo, hi). */
  intervals(lo: number, hi: number): SkipInterval[] {
    if (hi <= lo) return [];
    const out: SkipInterval[] = [];
    const openFrom = this.from === null ? lo : Math.max(lo, this.from.ms);
    const openTo = this.until === null ? hi : Math.min(hi, this.until.ms + 1);
    if (this.from !== null && lo < this.from.ms) {
      out.push({
        start: lo,
        end: Math.min(hi, this.from.ms),
        reason: 'inactive',
        detail: `before activeFrom ${this.from.text}`,
      });
    }
    if (openFrom < openTo && (this.fixed.length > 0 || this.holidays.length > 0)) {
      const dayLo = Math.floor((openFrom - OFFSET_MARGIN_MS) / DAY_MS);
      const dayHi = Math.floor((openTo + OFFSET_MARGIN_MS) / DAY_MS);
      for (const span of this.daySpans(dayLo, dayHi)) {
        for (const [s, e] of instantsOfDays(this.zone, span.d1, span.d2)) {
          const start = Math.max(s, openFrom);
          const end = Math.min(e, openTo);
          if (start >= end) continue;
          const last = out[out.length - 1];
          if (last && last.end === start && last.detail === span.detail) last.end = end;
          else out.push({ start, end, reason: 'excluded', detail: span.detail });
        }
      }
    }
    if (this.until !== null && hi > this.until.ms + 1) {
      out.push({
        start: Math.max(lo, this.until.ms + 1),
        end: hi,
        reason: 'inactive',
        detail: `after activeUntil ${this.until.text}`,
      });
    }
    return out;
  }

  /** Why `at` is skipped, or null when it may fire. */
  causeAt(at: number): SkipCause | null {
    const iv = this.intervals(at, at + 1)[0];
    return iv === undefined ? null : { reason: iv.reason, detail: iv.detail };
  }
}

const gates = new WeakMap<object, InstantGate | null>();

/**
 * The gate of a job (cached per definition object), or null when it excludes nothing and has no
 * window, so callers keep their plain path.
 */
export function gateOf(spec: ExclusionSpec): InstantGate | null {
  if (gates.has(spec)) return gates.get(spec)!;
  const gate =
    spec.exclude === undefined && spec.activeFrom === undefined && spec.activeUntil === undefined
      ? null
      : new InstantGate(spec);
  const result = gate === null || gate.empty ? null : gate;
  gates.set(spec, result);
  return result;
}

/** Binary search: the interval holding `at`, or undefined. */
function holding(ivs: readonly SkipInterval[], at: number): SkipInterval | undefined {
  let lo = 0;
  let hi = ivs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const iv = ivs[mid]!;
    if (at < iv.start) hi = mid - 1;
    else if (at >= iv.end) lo = mid + 1;
    else return iv;
  }
  return undefined;
}

/**
 * A lookup of why instants in [lo, hi) are skipped: the intervals are computed once, each lookup
 * is a binary search (for audits of many instants).
 */
export function causesBetween(
  gate: InstantGate,
  lo: number,
  hi: number,
): (at: number) => SkipCause | null {
  const ivs = gate.intervals(lo, hi);
  return (at) => {
    const iv = at >= lo && at < hi ? holding(ivs, at) : gate.intervals(at, at + 1)[0];
    return iv === undefined ? null : { reason: iv.reason, detail: iv.detail };
  };
}

/**
 * The schedule restricted to (from, to] without its skipped instants: next/prev/count see only
 * the instants that fire. Searches jump over whole skipped intervals, so their work grows with
 * the number of excluded days in the range, not with the number of skipped instants.
 */
class GatedSchedule implements CompiledSchedule {
  readonly expression: string;
  readonly timezone: string;
  readonly hasSeconds: boolean;
  readonly fixedTime: boolean;

  constructor(
    private readonly base: CompiledSchedule,
    private readonly ivs: readonly SkipInterval[],
    private readonly from: number,
    private readonly to: number,
  ) {
    this.expression = base.expression;
    this.timezone = base.timezone;
    this.hasSeconds = base.hasSeconds;
    this.fixedTime = base.fixedTime;
  }

  next(afterMs: number): number | null {
    let cur = Math.max(afterMs, this.from);
    for (;;) {
      const f = this.base.next(cur);
      if (f === null || f > this.to) return null;
      const iv = holding(this.ivs, f);
      if (iv === undefined) return f;
      cur = iv.end - 1;
    }
  }

  prev(atOrBeforeMs: number): number | null {
    let cur = Math.min(atOrBeforeMs, this.to);
    for (;;) {
      const f = this.base.prev(cur);
      if (f === null || f <= this.from) return null;
      const iv = holding(this.ivs, f);
      if (iv === undefined) return f;
      cur = iv.start - 1;
    }
  }

  count(fromExclusiveMs: number, toInclusiveMs: number): number {
    const a = Math.max(Math.floor(fromExclusiveMs), this.from);
    const b = Math.min(Math.floor(toInclusiveMs), this.to);
    if (b <= a) return 0;
    let n = this.base.count(a, b);
    for (const iv of this.ivs) {
      const s = Math.max(iv.start - 1, a);
      const e = Math.min(iv.end - 1, b);
      if (e > s) n -= this.base.count(s, e);
    }
    return n;
  }

  localMatch(fromLocal: number, toLocal: number): number | null {
    return this.base.localMatch(fromLocal, toLocal);
  }
}

/** The instants of (from, to] split into those that may fire and those skipped, with why. */
export interface GatedRange {
  /** The schedule seen only inside (from, to] and without the skipped instants. */
  schedule: CompiledSchedule;
  /** The skipped instants, one entry per interval of one cause, in time order; counts exact. */
  skipped: SkippedInstants[];
}

/**
 * Splits the instants of `schedule` in (fromExclusive, toInclusive] by `gate`: what the fire
 * loop and catch-up see (the returned schedule), and what is skipped as excluded or inactive.
 */
export function gateRange(
  schedule: CompiledSchedule,
  gate: InstantGate,
  fromExclusive: number,
  toInclusive: number,
): GatedRange {
  const ivs = gate.intervals(fromExclusive + 1, toInclusive + 1);
  const skipped: SkippedInstants[] = [];
  for (const iv of ivs) {
    const count = schedule.count(iv.start - 1, iv.end - 1);
    if (count === 0) continue;
    const first = schedule.next(iv.start - 1);
    const last = schedule.prev(iv.end - 1);
    if (first === null || last === null) continue;
    skipped.push({ reason: iv.reason, detail: iv.detail, first, last, count });
  }
  return { schedule: new GatedSchedule(schedule, ivs, fromExclusive, toInclusive), skipped };
}

/**
 * The first instant after `afterMs` the fire loop must decide: the next instant of the schedule
 * inside the active window (excluded ones included, so they are recorded as they come), or null
 * when the window is over. Instants before `activeFrom` are recorded as one range then.
 */
export function nextToDecide(
  schedule: CompiledSchedule,
  gate: InstantGate | null,
  afterMs: number,
): number | null {
  if (gate === null) return schedule.next(afterMs);
  const start = gate.from === null ? afterMs : Math.max(afterMs, gate.from.ms - 1);
  const f = schedule.next(start);
  if (f === null || (gate.until !== null && f > gate.until.ms)) return null;
  return f;
}

/** One entry of the instants ahead: a fire, or a run of consecutive skipped instants. */
export interface AheadEntry {
  /** The instant (the first of the run when skipped). */
  at: number;
  /** Skipped runs: the last instant and how many instants the run holds; 1 for a fire. */
  last: number;
  count: number;
  skip: SkipCause | null;
}

/**
 * How far ahead (from `activeFrom` when that is later) a search through exclusions goes before
 * it gives up, by default: 10 years. Each year of a holiday calendar costs date-holidays ~15 ms.
 */
export const AHEAD_LIMIT_MS = 10 * 366 * DAY_MS;
const CHUNK_MS = 32 * DAY_MS;

/**
 * The instants after `afterMs` in order, each a fire or skipped with its cause. With `group`,
 * consecutive skipped instants of one cause come as one entry (counted, not listed). Stops at
 * the end of the schedule, after `activeUntil`, or `limitMs` ahead (from `activeFrom` when later).
 */
export function* instantsAhead(
  schedule: CompiledSchedule,
  gate: InstantGate | null,
  afterMs: number,
  group = false,
  limitMs = AHEAD_LIMIT_MS,
): Generator<AheadEntry> {
  if (gate === null) {
    for (let f = schedule.next(afterMs); f !== null; f = schedule.next(f)) {
      yield { at: f, last: f, count: 1, skip: null };
    }
    return;
  }
  const limit = Math.max(afterMs, gate.from?.ms ?? afterMs) + limitMs;
  let cur = afterMs;
  let pending: AheadEntry | null = null;
  while (cur < limit) {
    const chunkEnd = Math.min(cur + CHUNK_MS, limit);
    // The pre-window stretch is one interval however long: jump it in one step.
    const end =
      gate.from !== null && cur < gate.from.ms - 1
        ? Math.max(chunkEnd, gate.from.ms - 1)
        : chunkEnd;
    const ivs = gate.intervals(cur + 1, end + 1);
    for (;;) {
      const f = schedule.next(cur);
      if (f === null) {
        if (pending) yield pending;
        return;
      }
      if (f > end) {
        cur = end;
        break;
      }
      if (gate.until !== null && f > gate.until.ms) {
        if (pending) yield pending;
        return;
      }
      const iv = holding(ivs, f);
      let entry: AheadEntry;
      if (iv === undefined) {
        entry = { at: f, last: f, count: 1, skip: null };
        cur = f;
      } else if (group) {
        const last = schedule.prev(iv.end - 1) ?? f;
        entry = {
          at: f,
          last,
          count: schedule.count(f - 1, last),
          skip: { reason: iv.reason, detail: iv.detail },
        };
        cur = last;
      } else {
        entry = { at: f, last: f, count: 1, skip: { reason: iv.reason, detail: iv.detail } };
        cur = f;
      }
      if (!group) {
        yield entry;
        continue;
      }
      if (
        pending !== null &&
        pending.skip !== null &&
        entry.skip !== null &&
        describeSkip(pending.skip) === describeSkip(entry.skip)
      ) {
        pending.last = entry.last;
        pending.count += entry.count;
        continue;
      }
      if (pending) yield pending;
      pending = entry;
    }
  }
  if (pending) yield pending;
}

/** The next `count` instants that fire after `afterMs` (skipped ones left out). */
export function nextGatedFires(
  schedule: CompiledSchedule,
  gate: InstantGate | null,
  afterMs: number,
  count: number,
  limitMs = AHEAD_LIMIT_MS,
): number[] {
  const out: number[] = [];
  if (count <= 0) return out;
  for (const e of instantsAhead(schedule, gate, afterMs, true, limitMs)) {
    if (e.skip === null) {
      out.push(e.at);
      if (out.length >= count) break;
    }
  }
  return out;
}

// ---- DST notes ------------------------------------------------------------------------------

function hhmm(localMs: number, seconds: boolean): string {
  const tod = ((localMs % DAY_MS) + DAY_MS) % DAY_MS;
  const h = Math.floor(tod / HOUR_MS);
  const m = Math.floor((tod % HOUR_MS) / 60_000);
  const s = Math.floor((tod % 60_000) / 1000);
  const base = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
  return seconds ? `${base}:${String(s).padStart(2, '0')}` : base;
}

function offsetText(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms) / 60_000;
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * What a DST change does to the fire at `at` (after the fire at `previous`, or null), in words,
 * or null when nothing:
 * - `02:30 does not exist on 2026-03-08 in America/New_York: fires at 03:00` (fixed-time);
 * - `02:30 does not exist on 2026-03-08 in America/New_York: not fired` (wildcard: before `at`);
 * - `01:30 occurs twice on 2026-11-01 in America/New_York: fires once, at the first (-04:00)`;
 * - `01:00 occurs twice on 2026-11-01 in America/New_York: this is the second (-05:00)`.
 */
export function dstNote(
  schedule: CompiledSchedule,
  at: number,
  previous: number | null,
): string | null {
  const zone = timeline(schedule.timezone);
  const off = zone.offset(at);
  const local = at + off;
  const date = (l: number) => dateOf(Math.floor(l / DAY_MS));
  const secs = schedule.hasSeconds;
  const notes: string[] = [];
  // Forward changes since the previous fire (or at this one): matching local times skipped.
  const lo = previous ?? at - 1;
  for (let t = zone.nextChange(lo, at); t !== null; t = zone.nextChange(t, at)) {
    const before = zone.offset(t - 1);
    const after = zone.offset(t);
    if (after <= before) continue;
    const gapLo = t + before; // first local time that does not exist
    const gapHi = t + after - 1;
    const missing: string[] = [];
    for (let l = schedule.localMatch(gapLo, gapHi); l !== null && missing.length < 3;) {
      missing.push(hhmm(l, secs));
      l = schedule.localMatch(l + 1000, gapHi);
    }
    if (missing.length === 0) continue;
    const verb = missing.length === 1 ? 'does' : 'do';
    const outcome = schedule.fixedTime && t === at ? `fires at ${hhmm(local, secs)}` : 'not fired';
    notes.push(
      `${missing.join(', ')} ${verb} not exist on ${date(gapLo)} in ${schedule.timezone}: ${outcome}`,
    );
  }
  // Backward changes around `at`: local times [t + after, t + before) happen twice.
  for (
    let t = zone.nextChange(at - DAY_MS, at + DAY_MS);
    t !== null;
    t = zone.nextChange(t, at + DAY_MS)
  ) {
    const before = zone.offset(t - 1);
    const after = zone.offset(t);
    const d = before - after;
    if (d <= 0 || at < t - d || at >= t + d) continue;
    const first = at < t;
    const what = schedule.fixedTime
      ? 'fires once, at the first'
      : first
        ? 'this is the first'
        : 'this is the second';
    notes.push(
      `${hhmm(local, secs)} occurs twice on ${date(local)} in ${schedule.timezone}: ${what} (${offsetText(off)})`,
    );
  }
  return notes.length === 0 ? null : notes.join('; ');
}
