// Cron expression parsing and matching over *local wall-clock time*.
//
// Local wall-clock times are represented as "local ms": the epoch-ms value the same
// calendar date and time of day would have in UTC. They carry no zone; mapping them to real
// instants (and the DST rules) is done in schedule.ts.
//
// Parsing is done here, field by field, so that an error names the field, the value and what is
// allowed, and so that the accepted syntax is Vixie cron's. cron-parser is not used at run time:
// its parser rejects expressions Vixie cron accepts (overlapping list items such as `1-5,3`, and
// `0 0 31 2 0-7`, which fires every day of February under the OR rule), its `H` is random per
// process, and its iteration does not follow ISC cron across DST changes. The unit tests check
// that the value sets computed here equal cron-parser's wherever cron-parser accepts the input.

import { ScheduleError } from './errors.js';

export const SECOND_MS = 1_000;
export const DAY_MS = 86_400_000;
const DAY_S = 86_400;

/** 0001-01-01T00:00:00 local. */
export const MIN_LOCAL_MS = -62_135_596_800_000;
/** 9999-12-31T23:59:59 local: no fire is computed beyond this. */
export const MAX_LOCAL_MS = 253_402_300_799_000;

/** The Gregorian calendar repeats every 400 years (146 097 days, a whole number of weeks). */
const GREGORIAN_CYCLE_DAYS = 146_097;

export const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MACRO_LIST = Object.keys(MACROS).join(' ');

const MONTH_NAMES = [
  'JAN',
  'FEB',
  'MAR',
  'APR',
  'MAY',
  'JUN',
  'JUL',
  'AUG',
  'SEP',
  'OCT',
  'NOV',
  'DEC',
] as const;
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

type FieldKind = 'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'dayOfWeek';

interface FieldSpec {
  kind: FieldKind;
  label: string;
  min: number;
  max: number;
  allowed: string;
  names?: readonly string[];
  /** Numeric value of names[0]. */
  nameBase?: number;
}

const FIELD_SPECS: Readonly<Record<FieldKind, FieldSpec>> = {
  second: { kind: 'second', label: 'second', min: 0, max: 59, allowed: '0-59' },
  minute: { kind: 'minute', label: 'minute', min: 0, max: 59, allowed: '0-59' },
  hour: { kind: 'hour', label: 'hour', min: 0, max: 23, allowed: '0-23' },
  dayOfMonth: { kind: 'dayOfMonth', label: 'day-of-month', min: 1, max: 31, allowed: '1-31' },
  month: {
    kind: 'month',
    label: 'month',
    min: 1,
    max: 12,
    allowed: '1-12 or JAN-DEC',
    names: MONTH_NAMES,
    nameBase: 1,
  },
  dayOfWeek: {
    kind: 'dayOfWeek',
    label: 'day-of-week',
    min: 0,
    max: 7,
    allowed: '0-7 where 0 and 7 are Sunday, or SUN-SAT',
    names: DAY_NAMES,
    nameBase: 0,
  },
};

const FIELD_ORDER: readonly FieldKind[] = [
  'second',
  'minute',
  'hour',
  'dayOfMonth',
  'month',
  'dayOfWeek',
];

/** The parsed form of an expression: value sets of every field plus the classification. */
export interface CronSpec {
  /** Sorted, distinct. */
  seconds: number[];
  minutes: number[];
  hours: number[];
  /** Index 1..12. */
  months: boolean[];
  /** Index 1..31. */
  domDays: boolean[];
  /** `L` in day-of-month: the last day of the month. */
  domLast: boolean;
  /** Index 0..6 (0 = Sunday). */
  dowDays: boolean[];
  /** `<d>L` in day-of-week: the last such weekday of the month. Index 0..6. */
  dowLast: boolean[];
  /** `<d>#<n>`: the n-th such weekday of the month (nthOrdinal 0 = not used). */
  nthWeekday: number;
  nthOrdinal: number;
  /**
   * Vixie cron: when both day fields are restricted (neither starts with `*`), a day matches if
   * EITHER matches; otherwise both must match.
   */
  daysEither: boolean;
  hasSeconds: boolean;
  /** No second (if present), minute or hour field starts with `*`. */
  fixedTime: boolean;
}

function fail(expression: string, reason: string): never {
  throw new ScheduleError(`invalid cron expression "${expression}": ${reason}`);
}

function invalidItem(expression: string, spec: FieldSpec, item: string): never {
  return fail(
    expression,
    `${spec.label} "${item}" is not valid (allowed: *, a value ${spec.allowed}, a range a-b, ` +
      `a step */n or a-b/n, and comma-separated lists of these)`,
  );
}

/** Parses one value (number or name) of a field, with a precise error. */
function parseValue(expression: string, spec: FieldSpec, token: string, item: string): number {
  if (/^\d+$/.test(token)) {
    const n = Number(token);
    if (n < spec.min || n > spec.max) {
      fail(expression, `${spec.label} ${token} is out of range (allowed ${spec.allowed})`);
    }
    return n;
  }
  if (/^[A-Z]+$/.test(token) && spec.names !== undefined) {
    const i = spec.names.indexOf(token);
    if (i < 0) {
      const first = spec.names[0] ?? '';
      const last = spec.names[spec.names.length - 1] ?? '';
      fail(
        expression,
        `unknown ${spec.label} name "${token}" (use ${spec.names.join(' ')}, i.e. ${first}-${last}, or numbers ${spec.min}-${spec.max})`,
      );
    }
    return i + (spec.nameBase ?? 0);
  }
  return invalidItem(expression, spec, item);
}

/** The values one field stands for. */
interface FieldValues {
  /** Plain values (day-of-week already reduced to 0-6). */
  values: Set<number>;
  /** Day-of-month `L`. */
  last: boolean;
  /** Day-of-week `<d>L`. */
  lastWeekdays: Set<number>;
  /** Day-of-week `<d>#<n>`. */
  nth: { weekday: number; ordinal: number } | null;
}

/** Expands a `base[/step]` item where base is `*`, a value or a range, into `into`. */
function expandPlainItem(
  expression: string,
  spec: FieldSpec,
  item: string,
  shown: string,
  into: Set<number>,
): void {
  const parts = item.split('/');
  if (parts.length > 2) invalidItem(expression, spec, shown);
  const base = parts[0] ?? '';
  const stepText = parts[1];
  let step = 1;
  if (stepText !== undefined) {
    if (!/^\d+$/.test(stepText)) {
      fail(
        expression,
        `${spec.label} step "${shown.split('/')[1] ?? stepText}" in "${shown}" must be a whole number of 1 or more`,
      );
    }
    step = Number(stepText);
    if (step === 0) {
      fail(expression, `${spec.label} step 0 in "${shown}" is not allowed (use 1 or more)`);
    }
  }
  let lo = spec.min;
  let hi = spec.max;
  if (base !== '*') {
    const bounds = base.split('-');
    if (bounds.length > 2 || bounds.some((b) => b === '')) invalidItem(expression, spec, shown);
    const values = bounds.map((b) => parseValue(expression, spec, b, shown));
    lo = values[0] ?? spec.min;
    // `n` alone is one value; `n/step` means n-max/step.
    hi = values[1] ?? (stepText === undefined ? lo : spec.max);
    if (lo > hi) {
      fail(
        expression,
        `${spec.label} range ${base} is reversed (the start must not be after the end)`,
      );
    }
  }
  for (let v = lo; v <= hi; v += step) into.add(spec.kind === 'dayOfWeek' ? v % 7 : v);
}

/** Validates one field (the message names the field and what is allowed) and expands it. */
function parseField(expression: string, kind: FieldKind, raw: string): FieldValues {
  const spec = FIELD_SPECS[kind];
  const field = raw.toUpperCase();
  const out: FieldValues = { values: new Set(), last: false, lastWeekdays: new Set(), nth: null };

  // Hashed values pick a pseudo-random time: replicas would disagree. `H` not preceded by a
  // letter (THU contains an H).
  if (/(^|[^A-Z])H/.test(field)) {
    fail(
      expression,
      `"H" (hashed values) in ${spec.label} is not supported: write explicit values so every replica computes the same times`,
    );
  }
  if (kind === 'dayOfMonth' && field.includes('W')) {
    fail(expression, `"W" (nearest weekday) in day-of-month is not supported`);
  }
  if (field.includes('?') && kind !== 'dayOfMonth' && kind !== 'dayOfWeek') {
    fail(
      expression,
      `"?" is only allowed in day-of-month and day-of-week (where it means the same as "*")`,
    );
  }

  if (kind === 'dayOfWeek' && field.includes('#')) {
    const m = /^(\d+|[A-Z]+)#(\d+)$/.exec(field);
    if (m === null) {
      fail(
        expression,
        `day-of-week "${raw}" is not valid: "#" must be the whole field, written <day>#<n> (e.g. MON#2 = the second Monday of the month)`,
      );
    }
    const weekday = parseValue(expression, spec, m[1] ?? '', raw) % 7;
    const ordinal = Number(m[2]);
    if (ordinal < 1 || ordinal > 5) {
      fail(expression, `day-of-week occurrence #${m[2]} is out of range (allowed 1-5)`);
    }
    out.nth = { weekday, ordinal };
    return out;
  }

  const items = field.split(',');
  const shownItems = raw.split(',');
  for (const [i, item] of items.entries()) {
    const shown = shownItems[i] ?? item;
    if (item === '') fail(expression, `${spec.label} "${raw}" has an empty list item`);
    if (item === '?') {
      if (items.length > 1) {
        fail(expression, `"?" in ${spec.label} must stand alone (it means the same as "*")`);
      }
      expandPlainItem(expression, spec, '*', shown, out.values);
      continue;
    }
    if (item.includes('?')) invalidItem(expression, spec, shown);
    if (item.includes('L') && kind !== 'month') {
      if (kind === 'dayOfMonth') {
        if (item !== 'L') {
          fail(
            expression,
            `day-of-month "${shown}": only a plain "L" (the last day of the month) is supported, not "L-n", "LW" or a range or step with L`,
          );
        }
        out.last = true;
        continue;
      }
      if (kind === 'dayOfWeek') {
        if (item === 'L') {
          fail(
            expression,
            `"L" in day-of-week needs a day before it, e.g. 5L or FRIL = the last Friday of the month`,
          );
        }
        const m = /^(\d+|[A-Z]{3})L$/.exec(item);
        if (m === null) {
          fail(
            expression,
            `day-of-week "${shown}" is not valid: "L" is written <day>L, e.g. 5L = the last Friday of the month`,
          );
        }
        out.lastWeekdays.add(parseValue(expression, spec, m[1] ?? '', shown) % 7);
        continue;
      }
      fail(
        expression,
        `"L" is not allowed in ${spec.label}; it is supported in day-of-month (L = last day of the month) and day-of-week (5L = last Friday of the month)`,
      );
    }
    expandPlainItem(expression, spec, item, shown, out.values);
  }
  return out;
}

function sorted(values: ReadonlySet<number>): number[] {
  return [...values].sort((a, b) => a - b);
}

function flags(size: number, values: Iterable<number>): boolean[] {
  const out = new Array<boolean>(size).fill(false);
  for (const v of values) out[v] = true;
  return out;
}

/**
 * Parses and validates an expression (5 fields, 6 with seconds first, or a macro).
 * Throws ScheduleError with a message naming the problem and what is allowed.
 */
export function parseCron(expression: string): CronSpec {
  const trimmed = expression.trim();
  if (trimmed === '') {
    throw new ScheduleError(
      `cron expression is empty: use 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or one of ${MACRO_LIST}`,
    );
  }
  if (trimmed.length > 1000) fail(trimmed.slice(0, 40) + '...', 'it is too long');
  let source = trimmed;
  if (trimmed.startsWith('@')) {
    const macro = MACROS[trimmed.toLowerCase()];
    if (macro === undefined) {
      fail(expression, `unknown macro "${trimmed}" (allowed: ${MACRO_LIST})`);
    }
    source = macro;
  }
  const raw = source.split(/\s+/);
  if (raw.length !== 5 && raw.length !== 6) {
    fail(
      expression,
      `cron expression must have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, or be one of ${MACRO_LIST}; got ${raw.length} field${raw.length === 1 ? '' : 's'}`,
    );
  }
  const hasSeconds = raw.length === 6;
  const six = hasSeconds ? raw : ['0', ...raw];
  const [second, minute, hour, dom, month, dow] = FIELD_ORDER.map((kind, i) =>
    parseField(expression, kind, six[i] ?? ''),
  ) as [FieldValues, FieldValues, FieldValues, FieldValues, FieldValues, FieldValues];

  const startsWithStar = (s: string | undefined): boolean =>
    s !== undefined && (s.startsWith('*') || s.startsWith('?'));

  const spec: CronSpec = {
    seconds: sorted(second.values),
    minutes: sorted(minute.values),
    hours: sorted(hour.values),
    months: flags(13, month.values),
    domDays: flags(32, dom.values),
    domLast: dom.last,
    dowDays: flags(7, dow.values),
    dowLast: flags(7, dow.lastWeekdays),
    nthWeekday: dow.nth?.weekday ?? 0,
    nthOrdinal: dow.nth?.ordinal ?? 0,
    daysEither: !startsWithStar(six[3]) && !startsWithStar(six[5]),
    hasSeconds,
    fixedTime:
      !(hasSeconds && startsWithStar(six[0])) && !startsWithStar(six[1]) && !startsWithStar(six[2]),
  };

  // An expression whose day fields can never match (e.g. `0 0 30 2 *`) is rejected rather than
  // silently never firing. The calendar repeats every 400 years, so searching one cycle is exact.
  const matcher = new CronMatcher(spec);
  const from = Date.UTC(2000, 0, 1);
  if (matcher.firstAtOrAfter(from, from + (GREGORIAN_CYCLE_DAYS + 1) * DAY_MS) === null) {
    fail(
      expression,
      `it would never fire: no calendar date matches day-of-month "${six[3]}", month "${six[4]}" and day-of-week "${six[5]}" together`,
    );
  }
  return spec;
}

// ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ----

export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * GREGORIAN_CYCLE_DAYS + doe - 719_468;
}

export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / GREGORIAN_CYCLE_DAYS);
  const doe = z - era * GREGORIAN_CYCLE_DAYS;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeap(y) ? 29 : (MONTH_DAYS[m] ?? 31);
}

/** 0 = Sunday. 1970-01-01 was a Thursday. */
function weekday(days: number): number {
  return (((days + 4) % 7) + 7) % 7;
}

/** Matches local wall-clock times against a parsed expression. Whole seconds only. */
export class CronMatcher {
  private readonly seconds: readonly number[];
  private readonly minutes: readonly number[];
  private readonly hours: readonly number[];
  private readonly perDay: number;

  constructor(private readonly spec: CronSpec) {
    this.seconds = spec.seconds;
    this.minutes = spec.minutes;
    this.hours = spec.hours;
    this.perDay = spec.seconds.length * spec.minutes.length * spec.hours.length;
  }

  dayMatches(y: number, m: number, d: number, wd: number): boolean {
    const s = this.spec;
    const dim = daysInMonth(y, m);
    const dom = s.domDays[d] === true || (s.domLast && d === dim);
    const dow =
      s.dowDays[wd] === true ||
      (s.dowLast[wd] === true && d + 7 > dim) ||
      (s.nthOrdinal > 0 && wd === s.nthWeekday && Math.ceil(d / 7) === s.nthOrdinal);
    return s.daysEither ? dom || dow : dom && dow;
  }

  /** First matching second-of-day >= tod, or -1. */
  private nextTimeOfDay(tod: number): number {
    const h0 = Math.floor(tod / 3600);
    const m0 = Math.floor((tod % 3600) / 60);
    const s0 = tod % 60;
    const firstM = this.minutes[0] ?? 0;
    const firstS = this.seconds[0] ?? 0;
    for (const h of this.hours) {
      if (h < h0) continue;
      if (h > h0) return h * 3600 + firstM * 60 + firstS;
      for (const m of this.minutes) {
        if (m < m0) continue;
        if (m > m0) return h * 3600 + m * 60 + firstS;
        for (const s of this.seconds) if (s >= s0) return h * 3600 + m * 60 + s;
      }
    }
    return -1;
  }

  /** Last matching second-of-day <= tod, or -1. */
  private prevTimeOfDay(tod: number): number {
    const h0 = Math.floor(tod / 3600);
    const m0 = Math.floor((tod % 3600) / 60);
    const s0 = tod % 60;
    const lastM = this.minutes[this.minutes.length - 1] ?? 0;
    const lastS = this.seconds[this.seconds.length - 1] ?? 0;
    for (let hi = this.hours.length - 1; hi >= 0; hi--) {
      const h = this.hours[hi] ?? 0;
      if (h > h0) continue;
      if (h < h0) return h * 3600 + lastM * 60 + lastS;
      for (let mi = this.minutes.length - 1; mi >= 0; mi--) {
        const m = this.minutes[mi] ?? 0;
        if (m > m0) continue;
        if (m < m0) return h * 3600 + m * 60 + lastS;
        for (let si = this.seconds.length - 1; si >= 0; si--) {
          const s = this.seconds[si] ?? 0;
          if (s <= s0) return h * 3600 + m * 60 + s;
        }
      }
    }
    return -1;
  }

  /** Number of matching seconds-of-day <= tod (tod may be -1). */
  private countTimesUpTo(tod: number): number {
    if (tod < 0) return 0;
    if (tod >= DAY_S - 1) return this.perDay;
    const h0 = Math.floor(tod / 3600);
    const m0 = Math.floor((tod % 3600) / 60);
    const s0 = tod % 60;
    const perHour = this.minutes.length * this.seconds.length;
    let n = 0;
    for (const h of this.hours) {
      if (h < h0) {
        n += perHour;
        continue;
      }
      if (h > h0) break;
      for (const m of this.minutes) {
        if (m < m0) {
          n += this.seconds.length;
          continue;
        }
        if (m > m0) break;
        for (const s of this.seconds) {
          if (s > s0) break;
          n++;
        }
      }
    }
    return n;
  }

  private monthAllowed(m: number): boolean {
    return this.spec.months[m] === true;
  }

  /** Days (since epoch) of the first day of the next allowed month after (y, m). */
  private nextMonthStart(y: number, m: number): number {
    for (let i = 1; i <= 12; i++) {
      const mm = ((m - 1 + i) % 12) + 1;
      if (this.monthAllowed(mm)) return daysFromCivil(mm > m ? y : y + 1, mm, 1);
    }
    /* c8 ignore next */
    return daysFromCivil(y + 1, 1, 1);
  }

  /** Days (since epoch) of the last day of the previous allowed month before (y, m). */
  private prevMonthEnd(y: number, m: number): number {
    for (let i = 1; i <= 12; i++) {
      const mm = ((m - 1 - i + 24) % 12) + 1;
      if (this.monthAllowed(mm)) {
        const yy = mm < m ? y : y - 1;
        return daysFromCivil(yy, mm, daysInMonth(yy, mm));
      }
    }
    /* c8 ignore next */
    return daysFromCivil(y - 1, 12, 31);
  }

  /**
   * The first matching local time >= fromLocal and <= limitLocal (both local ms), or null.
   * Work is one step per candidate day of an allowed month.
   */
  firstAtOrAfter(fromLocal: number, limitLocal: number = MAX_LOCAL_MS): number | null {
    const limit = Math.min(limitLocal, MAX_LOCAL_MS);
    let sec = Math.ceil(fromLocal / SECOND_MS);
    if (sec * SECOND_MS > limit) return null;
    let day = Math.floor(sec / DAY_S);
    let tod = sec - day * DAY_S;
    const lastDay = Math.floor(Math.floor(limit / SECOND_MS) / DAY_S);
    while (day <= lastDay) {
      const [y, m, d] = civilFromDays(day);
      if (!this.monthAllowed(m)) {
        day = this.nextMonthStart(y, m);
        tod = 0;
        continue;
      }
      if (this.dayMatches(y, m, d, weekday(day))) {
        const t = this.nextTimeOfDay(tod);
        if (t >= 0) {
          sec = day * DAY_S + t;
          return sec * SECOND_MS <= limit ? sec * SECOND_MS : null;
        }
      }
      day++;
      tod = 0;
    }
    return null;
  }

  /** The last matching local time <= fromLocal and >= lowerLocal (both local ms), or null. */
  lastAtOrBefore(fromLocal: number, lowerLocal: number = MIN_LOCAL_MS): number | null {
    const lower = Math.max(lowerLocal, MIN_LOCAL_MS);
    let sec = Math.floor(fromLocal / SECOND_MS);
    if (sec * SECOND_MS < lower) return null;
    let day = Math.floor(sec / DAY_S);
    let tod = sec - day * DAY_S;
    const firstDay = Math.floor(Math.ceil(lower / SECOND_MS) / DAY_S);
    while (day >= firstDay) {
      const [y, m, d] = civilFromDays(day);
      if (!this.monthAllowed(m)) {
        day = this.prevMonthEnd(y, m);
        tod = DAY_S - 1;
        continue;
      }
      if (this.dayMatches(y, m, d, weekday(day))) {
        const t = this.prevTimeOfDay(tod);
        if (t >= 0) {
          sec = day * DAY_S + t;
          return sec * SECOND_MS >= lower ? sec * SECOND_MS : null;
        }
      }
      day--;
      tod = DAY_S - 1;
    }
    return null;
  }

  /**
   * How many matching local times lie in [fromLocal, toLocal] (local ms, inclusive).
   * Arithmetic per day: work is proportional to the number of days, not of matches.
   */
  countBetween(fromLocal: number, toLocal: number): number {
    const secLo = Math.ceil(fromLocal / SECOND_MS);
    const secHi = Math.floor(toLocal / SECOND_MS);
    if (secLo > secHi) return 0;
    const dayLo = Math.floor(secLo / DAY_S);
    const dayHi = Math.floor(secHi / DAY_S);
    let n = 0;
    let day = dayLo;
    while (day <= dayHi) {
      const [y, m, d] = civilFromDays(day);
      if (!this.monthAllowed(m)) {
        day = this.nextMonthStart(y, m);
        continue;
      }
      if (this.dayMatches(y, m, d, weekday(day))) {
        const lo = day === dayLo ? secLo - day * DAY_S : 0;
        const hi = day === dayHi ? secHi - day * DAY_S : DAY_S - 1;
        n +=
          lo === 0 && hi === DAY_S - 1
            ? this.perDay
            : this.countTimesUpTo(hi) - this.countTimesUpTo(lo - 1);
      }
      day++;
    }
    return n;
  }
}
