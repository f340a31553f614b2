// Dates, date ranges and active-window bounds as written in definitions, with the messages for
// bad ones. `%s` in a message stands for where the value is (`exclude[1]`, `dates[0]`, ...).

import { DateTime } from 'luxon';
import { dayOf, localDayStart, type DateRange } from '../cron/index.js';
import { excerpt } from '../text.js';

export const DATE_HINT =
  'write a date as YYYY-MM-DD (2026-12-25) and a range as YYYY-MM-DD..YYYY-MM-DD (2026-12-24..2026-12-26), both ends included, years 1970-9999';
export const BOUND_HINT =
  "use a date (2026-12-01, in the job's time zone) or a date-time with an offset (2026-12-01T09:00:00-05:00 or …Z)";

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Why `text` is not a real date `YYYY-MM-DD`, or null when it is one. */
function dateProblem(text: string): string | null {
  const m = DATE.exec(text);
  if (!m) return 'not a date';
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (y < 1970) return `year ${y} is before 1970`;
  if (mo < 1 || mo > 12) return `month ${mo} does not exist`;
  const dim = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > dim) return `${m[1]}-${m[2]} has ${dim} days`;
  return null;
}

/** A date or range as written (`2026-12-25`, `2026-12-24..2026-12-26`), or a message. */
export function parseDateRange(value: unknown): DateRange | { problem: string } {
  if (typeof value !== 'string') return { problem: 'not a date' };
  const text = value.trim();
  const parts = text.split('..');
  if (parts.length > 2) {
    return { problem: `bad date range ${excerpt(value)} in %s (${DATE_HINT})` };
  }
  for (const part of parts) {
    const why = dateProblem(part);
    if (why !== null) {
      const what = parts.length === 2 ? 'date range' : 'date';
      const detail = why === 'not a date' ? '' : `: ${why}`;
      return { problem: `bad ${what} ${excerpt(value)} in %s${detail} (${DATE_HINT})` };
    }
  }
  const from = parts[0]!;
  const to = parts[1] ?? from;
  if (dayOf(to) < dayOf(from)) {
    return { problem: `bad date range ${excerpt(value)} in %s: it ends before it starts` };
  }
  return { from, to };
}

/** True for a string that looks like a date or range (to tell a typo from another kind of entry). */
export function looksLikeDate(value: unknown): boolean {
  return typeof value === 'string' && /^\s*\d/.test(value);
}

const OFFSET = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * `activeFrom` / `activeUntil` as an instant in `timezone`: a date is the start of that local
 * day (`from`) or its last millisecond (`until`, so the whole day is active); a date-time must
 * carry an offset. Returns ms or a message.
 */
export function parseBound(
  text: string,
  timezone: string,
  end: 'from' | 'until',
): number | { problem: string } {
  const t = text.trim();
  if (DATE.test(t)) {
    const why = dateProblem(t);
    if (why !== null)
      return { problem: `bad date ${excerpt(text)} for %s: ${why} (${BOUND_HINT})` };
    if (end === 'from') return localDayStart(timezone, t);
    const next = new Date(Date.UTC(...dateParts(t)) + 86_400_000).toISOString().slice(0, 10);
    return localDayStart(timezone, next) - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/i.test(t) || !OFFSET.test(t)) {
    const local = /^\d{4}-\d{2}-\d{2}T/i.test(t) ? ' (it has no offset: add Z or ±hh:mm)' : '';
    return {
      problem: `bad ${end === 'from' ? 'activeFrom' : 'activeUntil'} ${excerpt(text)}${local} (${BOUND_HINT})`,
    };
  }
  const dt = DateTime.fromISO(t, { setZone: true });
  if (!dt.isValid || dt.year < 1970 || dt.year > 9999) {
    return { problem: `bad date-time ${excerpt(text)} for %s (${BOUND_HINT})` };
  }
  return dt.toMillis();
}

function dateParts(date: string): [number, number, number] {
  const m = DATE.exec(date)!;
  return [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
}
