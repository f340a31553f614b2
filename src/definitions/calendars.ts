// Calendars: named sets of dates in the definitions folder, used by jobs' `exclude:` lists.
//
// A file holds one calendar (a mapping with `calendar: <name>`) or a list under `calendars:`.
// A calendar lists dates and ranges, names a country's (state's, region's) holidays computed by
// date-holidays, or both. Jobs refer to calendars by name; the loader resolves the references
// against the calendars in effect and embeds each calendar's content in the jobs that use it.

import {
  DEFAULT_HOLIDAY_TYPES,
  HOLIDAY_TYPES,
  holidayCountries,
  holidayRegions,
  holidayStates,
  type DateRange,
  type HolidayRule,
  type HolidayType,
} from '../cron/index.js';
import { excerpt } from '../text.js';
import { DATE_HINT, parseDateRange } from './dates.js';
import { NAME_PATTERN, NAME_RULE, describeValue, type JobIssue } from './schema.js';
import { didYouMean } from './suggest.js';
import type { CalendarDefinition } from './types.js';

export const CALENDAR_KEYS = ['calendar', 'description', 'dates', 'holidays'] as const;
export const HOLIDAY_KEYS = ['country', 'state', 'region', 'types'] as const;

/** Where a job refers to a calendar: the position of the `calendar` value in its `exclude:`. */
export interface CalendarRef {
  /** The calendar's name. */
  name: string;
  job: string;
  file: string;
  line: number;
  col: number;
}

function unknownKey(key: string, where: string, allowed: readonly string[]): string {
  const guess = didYouMean(key, allowed);
  return `unknown key ${excerpt(key)}${where} (${guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `}allowed keys: ${allowed.join(', ')})`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A code of `known` (code -> name) matching `input` in any case, else a message with a guess. */
function code(
  input: unknown,
  known: Record<string, string>,
  what: string,
  hint: string,
): { ok: true; code: string } | { ok: false; message: string } {
  if (typeof input !== 'string' || input.trim() === '') {
    return { ok: false, message: `${what} must be a code (${hint}), got ${describeValue(input)}` };
  }
  const codes = Object.keys(known);
  const exact = codes.find((c) => c.toLowerCase() === input.trim().toLowerCase());
  if (exact !== undefined) return { ok: true, code: exact };
  // A name instead of a code ("Germany"), or a near miss of either.
  const names = Object.entries(known);
  const byName = names.find(([, n]) => n.toLowerCase() === input.trim().toLowerCase());
  const guessCode = didYouMean(input, codes);
  const guessName = didYouMean(
    input,
    names.map(([, n]) => n),
  );
  // An alpha-3 code ("USA", "DEU") mostly starts with the alpha-2 one.
  const prefix = /^[a-z]{3}$/i.test(input.trim())
    ? codes.find((c) => c.toLowerCase() === input.trim().slice(0, 2).toLowerCase())
    : undefined;
  const guess =
    byName?.[0] ??
    prefix ??
    guessCode ??
    (guessName && names.find(([, n]) => n === guessName)?.[0]);
  const suggestion =
    guess === undefined ? '' : `did you mean ${JSON.stringify(guess)} (${known[guess]})? `;
  return {
    ok: false,
    message: `unknown ${what} ${excerpt(input)} (${suggestion}${hint})`,
  };
}

/** Validates `holidays:` of a calendar: country, optional state and region, types. */
function holidayRule(raw: unknown, issues: JobIssue[]): HolidayRule | null {
  if (!isMapping(raw)) {
    issues.push({
      path: ['holidays'],
      target: 'value',
      message: `holidays must be a mapping with country (and optionally state, region, types), got ${describeValue(raw)}`,
    });
    return null;
  }
  let bad = false;
  for (const key of Object.keys(raw)) {
    if (!(HOLIDAY_KEYS as readonly string[]).includes(key)) {
      issues.push({
        path: ['holidays', key],
        target: 'key',
        message: unknownKey(key, ' in holidays', HOLIDAY_KEYS),
      });
      bad = true;
    }
  }
  if (raw.country === undefined) {
    issues.push({
      path: ['holidays', 'country'],
      target: 'parent',
      message: 'missing required key "country" in holidays',
    });
    return null;
  }
  const countries = holidayCountries();
  const country = code(
    raw.country,
    countries,
    'country',
    `use an ISO 3166-1 code that date-holidays knows, such as "US", "DE" or "FR"; it knows ${Object.keys(countries).length} countries`,
  );
  if (!country.ok) {
    issues.push({ path: ['holidays', 'country'], target: 'value', message: country.message });
    return null;
  }
  let state: string | null = null;
  if (raw.state !== undefined && raw.state !== null) {
    const states = holidayStates(country.code);
    const listed = Object.keys(states);
    const s = code(
      raw.state,
      states,
      `state of ${country.code}`,
      listed.length === 0
        ? `date-holidays knows no states of ${country.code}: leave state out`
        : `known: ${listed.slice(0, 60).join(', ')}${listed.length > 60 ? ', …' : ''}`,
    );
    if (!s.ok) {
      issues.push({ path: ['holidays', 'state'], target: 'value', message: s.message });
      return null;
    }
    state = s.code;
  }
  let region: string | null = null;
  if (raw.region !== undefined && raw.region !== null) {
    if (state === null) {
      issues.push({
        path: ['holidays', 'region'],
        target: 'value',
        message: 'holidays.region needs a state (regions are parts of a state)',
      });
      return null;
    }
    const regions = holidayRegions(country.code, state);
    const listed = Object.keys(regions);
    const r = code(
      raw.region,
      regions,
      `region of ${country.code}-${state}`,
      listed.length === 0
        ? `date-holidays knows no regions of ${country.code}-${state}: leave region out`
        : `known: ${listed.join(', ')}`,
    );
    if (!r.ok) {
      issues.push({ path: ['holidays', 'region'], target: 'value', message: r.message });
      return null;
    }
    region = r.code;
  }
  let types: HolidayType[] = [...DEFAULT_HOLIDAY_TYPES];
  if (raw.types !== undefined) {
    const list = typeof raw.types === 'string' ? [raw.types] : raw.types;
    if (!Array.isArray(list) || list.length === 0) {
      issues.push({
        path: ['holidays', 'types'],
        target: 'value',
        message: `holidays.types must be a list of ${HOLIDAY_TYPES.join(', ')}, got ${describeValue(raw.types)}`,
      });
      return null;
    }
    types = [];
    list.forEach((t, i) => {
      if (typeof t === 'string' && (HOLIDAY_TYPES as readonly string[]).includes(t)) {
        if (!types.includes(t as HolidayType)) types.push(t as HolidayType);
        return;
      }
      const guess = typeof t === 'string' ? didYouMean(t, HOLIDAY_TYPES) : undefined;
      issues.push({
        path: Array.isArray(raw.types) ? ['holidays', 'types', i] : ['holidays', 'types'],
        target: 'value',
        message: `holidays.types[${i}] must be one of ${HOLIDAY_TYPES.join(', ')}, got ${describeValue(t)}${guess === undefined ? '' : ` (did you mean ${JSON.stringify(guess)}?)`}`,
      });
      bad = true;
    });
  }
  return bad ? null : { country: country.code, state, region, types };
}

export type ValidateCalendarResult =
  { ok: true; calendar: Omit<CalendarDefinition, 'source'> } | { ok: false; issues: JobIssue[] };

/** Validates one calendar mapping (plain JS, as `yaml` produced it). */
export function validateCalendar(raw: unknown): ValidateCalendarResult {
  const issues: JobIssue[] = [];
  if (!isMapping(raw)) {
    return {
      ok: false,
      issues: [
        {
          path: [],
          target: 'value',
          message: `a calendar must be a mapping with calendar (its name) and dates or holidays, got ${describeValue(raw)}`,
        },
      ],
    };
  }
  for (const key of Object.keys(raw)) {
    if (!(CALENDAR_KEYS as readonly string[]).includes(key)) {
      issues.push({
        path: [key],
        target: 'key',
        message: unknownKey(key, ' in a calendar', CALENDAR_KEYS),
      });
    }
  }
  const name = raw.calendar;
  if (name === undefined) {
    issues.push({
      path: ['calendar'],
      target: 'parent',
      message: 'missing required key "calendar" (the calendar\'s name)',
    });
  } else if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    issues.push({
      path: ['calendar'],
      target: 'value',
      message: `bad calendar name ${typeof name === 'string' ? excerpt(name) : describeValue(name)} (${NAME_RULE})`,
    });
  }
  const description = raw.description;
  if (description !== undefined && description !== null && typeof description !== 'string') {
    issues.push({
      path: ['description'],
      target: 'value',
      message: `description must be a string, got ${describeValue(description)}`,
    });
  }
  const dates: DateRange[] = [];
  if (raw.dates !== undefined) {
    if (!Array.isArray(raw.dates)) {
      issues.push({
        path: ['dates'],
        target: 'value',
        message: `dates must be a list of dates and date ranges (${DATE_HINT}), got ${describeValue(raw.dates)}`,
      });
    } else {
      raw.dates.forEach((d: unknown, i: number) => {
        const r = parseDateRange(d);
        if ('problem' in r) {
          issues.push({
            path: ['dates', i],
            target: 'value',
            message:
              r.problem === 'not a date'
                ? `dates[${i}] must be a date or a date range, got ${describeValue(d)} (${DATE_HINT})`
                : r.problem.replaceAll('%s', `dates[${i}]`),
          });
        } else dates.push(r);
      });
    }
  }
  let holidays: HolidayRule | null = null;
  if (raw.holidays !== undefined) holidays = holidayRule(raw.holidays, issues);
  if (raw.dates === undefined && raw.holidays === undefined) {
    issues.push({
      path: ['calendar'],
      target: 'parent',
      message:
        'a calendar needs dates (a list of dates and ranges), holidays ({ country: US }) or both',
    });
  }
  if (issues.length > 0) return { ok: false, issues };
  const n = name as string;
  return {
    ok: true,
    calendar: {
      name: n,
      description: (description as string | null | undefined) ?? null,
      content: { name: n, dates, holidays },
    },
  };
}
