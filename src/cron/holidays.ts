// Public holidays of a country or region, from the date-holidays library (its rules for ~200
// countries, computed per year; no I/O). The library is loaded on first use only (~140 ms and
// ~25 MB), so installations without a holiday calendar never pay for it.

import { createRequire } from 'node:module';
import type HolidaysLib from 'date-holidays';
import { daysFromCivil } from './cron.js';

/** Holiday types of date-holidays, in its own words. */
export const HOLIDAY_TYPES = ['public', 'bank', 'school', 'optional', 'observance'] as const;
export type HolidayType = (typeof HOLIDAY_TYPES)[number];
/** The types a holiday calendar counts when it names none: days off by law. */
export const DEFAULT_HOLIDAY_TYPES: readonly HolidayType[] = ['public'];

/** A country's (or one of its states' or regions') holidays of the given types. */
export interface HolidayRule {
  /** ISO 3166-1 alpha-2 code as date-holidays knows it, e.g. `US`. */
  country: string;
  /** State or province code (ISO 3166-2 without the country), e.g. `NY`; null for the country. */
  state: string | null;
  /** A region inside the state, as date-holidays names it; null for the whole state. */
  region: string | null;
  /** Which holiday types count. */
  types: HolidayType[];
}

type Holidays = InstanceType<typeof HolidaysLib>;
let lib: typeof HolidaysLib | undefined;

function library(): typeof HolidaysLib {
  if (lib === undefined) {
    const require = createRequire(import.meta.url);
    lib = require('date-holidays') as typeof HolidaysLib;
  }
  return lib;
}

let countries: Record<string, string> | undefined;

/** Every country date-holidays knows: code -> English name. */
export function holidayCountries(): Record<string, string> {
  countries ??= new (library())().getCountries('en');
  return countries;
}

/** The states of a country (code -> name), or an empty record. */
export function holidayStates(country: string): Record<string, string> {
  return new (library())().getStates(country, 'en') ?? {};
}

/** The regions of a state (code -> name), or an empty record. */
export function holidayRegions(country: string, state: string): Record<string, string> {
  return new (library())().getRegions(country, state, 'en') ?? {};
}

const instances = new Map<string, Holidays>();
/** Holidays per (rule, year): local day number (days since 1970-01-01) -> holiday names. */
const years = new Map<string, Map<number, string[]>>();
const MAX_CACHED_YEARS = 5_000;

function instance(rule: HolidayRule): Holidays {
  const key = `${rule.country}/${rule.state ?? ''}/${rule.region ?? ''}`;
  let hd = instances.get(key);
  if (hd === undefined) {
    const Lib = library();
    hd = new Lib();
    // Validation checked the codes against the library's own lists (holidayCountries & co).
    // Holiday names come in the country's own language (as date-holidays names them).
    if (rule.state === null) hd.init(rule.country);
    else if (rule.region === null) hd.init(rule.country, rule.state);
    else hd.init(rule.country, rule.state, rule.region);
    instances.set(key, hd);
  }
  return hd;
}

/**
 * The holidays of `rule` in calendar year `year`, by local date (day number): a holiday counts
 * for its whole date, also one that starts in the afternoon (`Christmas Eve 14:00`); one that lasts
 * several days counts for each of them.
 */
export function holidaysOfYear(rule: HolidayRule, year: number): Map<number, string[]> {
  const key = `${rule.country}/${rule.state ?? ''}/${rule.region ?? ''}/${rule.types.join(',')}/${year}`;
  let days = years.get(key);
  if (days !== undefined) return days;
  days = new Map();
  const types = new Set<string>(rule.types);
  const list = year >= 1 && year <= 9999 ? instance(rule).getHolidays(year) : [];
  for (const h of list) {
    if (!types.has(h.type)) continue;
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(h.date);
    if (!m) continue;
    const first = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
    const span = Math.max(1, Math.round((h.end.getTime() - h.start.getTime()) / 86_400_000));
    for (let d = first; d < first + span; d++) {
      const names = days.get(d);
      if (names === undefined) days.set(d, [h.name]);
      else if (!names.includes(h.name)) names.push(h.name);
    }
  }
  if (years.size >= MAX_CACHED_YEARS) years.clear();
  years.set(key, days);
  return days;
}
