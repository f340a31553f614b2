// UTC offsets of an IANA zone and the instants where they change, from luxon (which reads the
// runtime's Intl tz data). Offsets are in ms: local wall-clock ms = instant ms + offset.
//
// Transitions are found by comparing offsets at day boundaries and binary-searching inside the
// day where they differ. This assumes a zone never changes its offset twice within one UTC
// calendar day (true for all of tzdata 1900-2100: the closest pairs are 4 days apart, Freetown
// 1939, and 7 days apart since 1970, Brazil 2000). Results are memoised per zone and day; the
// memo is a deterministic cache, so the module stays pure.

import { DateTime, IANAZone } from 'luxon';
import { DAY_MS } from './cron.js';
import { ScheduleError } from './errors.js';

interface DayInfo {
  /** Offset at the first ms of the UTC day. */
  startOffset: number;
  /** First instant inside the day whose offset differs from startOffset, or null. */
  change: number | null;
  /** Offset from `change` to the end of the day (= startOffset when change is null). */
  endOffset: number;
}

const MAX_MEMO_DAYS = 40_000;

export class ZoneTimeline {
  private readonly zone: IANAZone;
  private readonly days = new Map<number, DayInfo>();

  constructor(readonly name: string) {
    this.zone = IANAZone.create(name);
  }

  private raw(ms: number): number {
    return Math.round(this.zone.offset(ms) * 60_000);
  }

  private day(index: number): DayInfo {
    let info = this.days.get(index);
    if (info !== undefined) return info;
    const start = index * DAY_MS;
    const end = start + DAY_MS - 1;
    const startOffset = this.raw(start);
    const endOffset = this.raw(end);
    let change: number | null = null;
    if (endOffset !== startOffset) {
      // raw(lo) === startOffset, raw(hi) !== startOffset
      let lo = start;
      let hi = end;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (this.raw(mid) === startOffset) lo = mid;
        else hi = mid;
      }
      change = hi;
    }
    info = { startOffset, change, endOffset };
    if (this.days.size >= MAX_MEMO_DAYS) this.days.clear();
    this.days.set(index, info);
    return info;
  }

  /** UTC offset (ms) in effect at `ms`. */
  offset(ms: number): number {
    const info = this.day(Math.floor(ms / DAY_MS));
    return info.change !== null && ms >= info.change ? info.endOffset : info.startOffset;
  }

  /** The first instant t with from < t <= to where offset(t) !== offset(t - 1), or null. */
  nextChange(from: number, to: number): number | null {
    if (to <= from) return null;
    const last = Math.floor(to / DAY_MS);
    for (let d = Math.floor((from + 1) / DAY_MS); d <= last; d++) {
      const info = this.day(d);
      const start = d * DAY_MS;
      if (start > from && start <= to && this.day(d - 1).endOffset !== info.startOffset) {
        return start;
      }
      if (info.change !== null && info.change > from && info.change <= to) return info.change;
    }
    return null;
  }

  /** The last instant t with from < t <= to where offset(t) !== offset(t - 1), or null. */
  prevChange(from: number, to: number): number | null {
    if (to <= from) return null;
    const first = Math.floor((from + 1) / DAY_MS);
    for (let d = Math.floor(to / DAY_MS); d >= first; d--) {
      const info = this.day(d);
      if (info.change !== null && info.change > from && info.change <= to) return info.change;
      const start = d * DAY_MS;
      if (start > from && start <= to && this.day(d - 1).endOffset !== info.startOffset) {
        return start;
      }
    }
    return null;
  }
}

const timelines = new Map<string, ZoneTimeline>();

/**
 * Zones already found valid. luxon's `IANAZone.isValidZone` builds a new Intl.DateTimeFormat on
 * every call, whose ICU memory is outside the JS heap and freed late: checked once per formatted
 * instant, it grew a replica's RSS by ~25 KB per API read (issue 9). Bounded by the zone list.
 */
const validZones = new Set<string>();

/** Throws ScheduleError unless `timezone` is an IANA zone name known to the runtime. */
export function checkZone(timezone: string): void {
  if (validZones.has(timezone)) return;
  if (typeof timezone !== 'string' || timezone.trim() === '' || !IANAZone.isValidZone(timezone)) {
    throw new ScheduleError(
      `unknown time zone "${String(timezone)}" (use an IANA zone such as "Europe/London" or "UTC")`,
    );
  }
  validZones.add(timezone);
}

export function timeline(timezone: string): ZoneTimeline {
  let t = timelines.get(timezone);
  if (t === undefined) {
    checkZone(timezone);
    t = new ZoneTimeline(timezone);
    timelines.set(timezone, t);
  }
  return t;
}

/**
 * ISO 8601 with the zone's offset at that instant, seconds precision unless the instant has
 * milliseconds: `2024-03-10T03:00:00-04:00`. The zone names "UTC" and "GMT" print `Z`;
 * IANA zones at offset zero (e.g. "Europe/London" in winter, "Etc/UTC") print `+00:00`.
 */
export function formatInstant(ms: number, timezone: string): string {
  checkZone(timezone);
  const iso = DateTime.fromMillis(ms, { zone: timezone }).toISO({ suppressMilliseconds: true });
  if (iso === null) throw new RangeError(`cannot format instant ${ms}`);
  return iso;
}
