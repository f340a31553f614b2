// Fire instants of a cron expression in an IANA zone, with ISC cron's DST rules.
//
// Notation: local(u) = u + offset(u) is the local wall-clock time (as "local ms") of instant u.
// A "matching local time" L is a whole-second local time whose fields match the expression.
//
// - Wildcard schedules (second, minute or hour field starts with `*`) fire at every instant u
//   with local(u) matching: times skipped by a forward shift never fire, times repeated by a
//   backward shift fire on each occurrence.
// - Fixed-time schedules fire once per matching local time L, at reach(L) = the first instant
//   u with local(u) >= L. For a time that exists that is its first occurrence; for a time
//   skipped by a forward shift it is the transition instant. Several L with the same reach(L)
//   are one fire. reach() is non-decreasing in L, so fires come out in order, and
//   reach(L) > a  <=>  L > highWater(a), where highWater(a) = max local(u) over u <= a.

import { CronMatcher, DAY_MS, MIN_LOCAL_MS, parseCron } from './cron.js';
import { timeline, type ZoneTimeline } from './zone.js';

/**
 * No zone offset is 24 h or more in absolute value, so for any u <= a - 2 days,
 * local(u) < local(a) (used when looking back for the local high-water mark).
 */
const LOOKBACK_MS = 2 * DAY_MS;

/** A validated cron expression bound to a zone. Pure: every method takes the instants it needs. */
export interface CompiledSchedule {
  /** The expression as given. */
  readonly expression: string;
  /** The IANA zone as given. */
  readonly timezone: string;
  /** Six fields (seconds first). */
  readonly hasSeconds: boolean;
  /**
   * Fixed-time (no second, minute or hour field starting with `*`): a repeated local time fires
   * once, a skipped one fires at the transition. Otherwise wildcard: follows real elapsed time.
   */
  readonly fixedTime: boolean;
  /** The first fire instant (epoch ms) strictly after `afterMs`, or null if none before year 10000. */
  next(afterMs: number): number | null;
  /** The last fire instant (epoch ms) at or before `atOrBeforeMs`, or null if none after year 1. */
  prev(atOrBeforeMs: number): number | null;
  /**
   * The exact number of fires in (fromExclusiveMs, toInclusiveMs], computed without listing
   * them: work grows with the number of days in the range, not with the number of fires.
   */
  count(fromExclusiveMs: number, toInclusiveMs: number): number;
  /**
   * The first local wall-clock time (local ms) in [fromLocal, toLocal] whose fields match the
   * expression, or null; says which local times a DST change skips or repeats.
   */
  localMatch(fromLocal: number, toLocal: number): number | null;
}

function instant(name: string, ms: number): number {
  if (!Number.isFinite(ms))
    throw new RangeError(`${name} must be a finite number of ms, got ${ms}`);
  return Math.floor(ms);
}

class Schedule implements CompiledSchedule {
  readonly hasSeconds: boolean;
  readonly fixedTime: boolean;
  private readonly matcher: CronMatcher;
  private readonly zone: ZoneTimeline;

  constructor(
    readonly expression: string,
    readonly timezone: string,
  ) {
    this.zone = timeline(timezone);
    const spec = parseCron(expression);
    this.hasSeconds = spec.hasSeconds;
    this.fixedTime = spec.fixedTime;
    this.matcher = new CronMatcher(spec);
  }

  /** max local(u) over u <= a. */
  private highWater(a: number): number {
    let high = a + this.zone.offset(a);
    let cur = a - LOOKBACK_MS;
    for (;;) {
      const t = this.zone.nextChange(cur, a);
      if (t === null) return high;
      high = Math.max(high, t - 1 + this.zone.offset(t - 1));
      cur = t;
    }
  }

  /**
   * min u >= start with local(u) >= target. Precondition: local(u) < target for every u < start.
   */
  private reach(start: number, target: number): number {
    let cur = start;
    for (;;) {
      const off = this.zone.offset(cur);
      if (cur + off >= target) return cur;
      const candidate = target - off;
      const t = this.zone.nextChange(cur, candidate);
      if (t === null) return candidate;
      cur = t;
    }
  }

  next(afterMs: number): number | null {
    const a = instant('afterMs', afterMs);
    if (this.fixedTime) {
      const target = this.matcher.firstAtOrAfter(this.highWater(a) + 1);
      return target === null ? null : this.reach(a + 1, target);
    }
    let cur = a + 1;
    for (;;) {
      const off = this.zone.offset(cur);
      const local = this.matcher.firstAtOrAfter(cur + off);
      if (local === null) return null;
      const candidate = local - off;
      const t = this.zone.nextChange(cur, candidate);
      if (t === null) return candidate;
      cur = t;
    }
  }

  prev(atOrBeforeMs: number): number | null {
    const b = instant('atOrBeforeMs', atOrBeforeMs);
    if (this.fixedTime) {
      const target = this.matcher.lastAtOrBefore(this.highWater(b));
      return target === null ? null : this.reach(target - LOOKBACK_MS, target);
    }
    let cur = b;
    for (;;) {
      const off = this.zone.offset(cur);
      const local = this.matcher.lastAtOrBefore(cur + off);
      if (local === null) return null;
      const candidate = local - off;
      const t = this.zone.prevChange(candidate, cur);
      if (t === null) return candidate;
      cur = t - 1;
    }
  }

  localMatch(fromLocal: number, toLocal: number): number | null {
    return this.matcher.firstAtOrAfter(fromLocal, toLocal);
  }

  count(fromExclusiveMs: number, toInclusiveMs: number): number {
    const a = instant('fromExclusiveMs', fromExclusiveMs);
    const b = instant('toInclusiveMs', toInclusiveMs);
    if (b <= a) return 0;
    let n = 0;
    let cur = a + 1;
    // Fixed-time only: local times <= high have already been reached.
    let high = this.fixedTime ? this.highWater(a) : MIN_LOCAL_MS;
    for (;;) {
      // One segment [cur, end) of constant offset.
      const off = this.zone.offset(cur);
      const t = this.zone.nextChange(cur, b);
      const end = t ?? b + 1;
      const lo = cur + off;
      const hi = end - 1 + off;
      if (!this.fixedTime) {
        n += this.matcher.countBetween(lo, hi);
      } else if (high < lo) {
        // Local times in (high, lo] are reached at `cur` (a forward jump): one fire at most.
        if (this.matcher.firstAtOrAfter(high + 1, lo) !== null) n += 1;
        n += this.matcher.countBetween(lo + 1, hi);
      } else if (high < hi) {
        n += this.matcher.countBetween(high + 1, hi);
      }
      high = Math.max(high, hi);
      if (t === null) return n;
      cur = t;
    }
  }
}

/**
 * Validates and compiles a cron expression (5 fields, 6 with seconds first, or a macro) for an
 * IANA zone. Throws ScheduleError with a message that says what is wrong and what is allowed.
 */
export function compileSchedule(expression: string, timezone: string): CompiledSchedule {
  return new Schedule(expression, timezone);
}

/** The next `count` fire instants strictly after `afterMs`, ascending (fewer if none remain). */
export function nextFires(schedule: CompiledSchedule, afterMs: number, count: number): number[] {
  const out: number[] = [];
  let cur = afterMs;
  while (out.length < count) {
    const f = schedule.next(cur);
    if (f === null) break;
    out.push(f);
    cur = f;
  }
  return out;
}

/** Fires in a range: the first `max` of them and how many there are. */
export interface FiresBetween {
  /** The first min(count, max) fires of the range, ascending. */
  fires: number[];
  /**
   * The exact number of fires in the range (always exact here, also when truncated: it is
   * computed arithmetically, without listing the fires).
   */
  count: number;
  /** True when the range holds more than `max` fires, i.e. `fires` is not all of them. */
  truncated: boolean;
}

/** Fires in (fromExclusiveMs, toInclusiveMs]: at most `max` listed, all counted. */
export function firesBetween(
  schedule: CompiledSchedule,
  fromExclusiveMs: number,
  toInclusiveMs: number,
  max: number,
): FiresBetween {
  const total = schedule.count(fromExclusiveMs, toInclusiveMs);
  const fires: number[] = [];
  let cur = fromExclusiveMs;
  while (fires.length < Math.min(max, total)) {
    const f = schedule.next(cur);
    if (f === null || f > toInclusiveMs) break;
    fires.push(f);
    cur = f;
  }
  return { fires, count: total, truncated: total > fires.length };
}
