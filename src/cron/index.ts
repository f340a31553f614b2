// Public surface of the pure time module: next fires with ISC cron DST rules, catch-up
// planning, deterministic jitter and instant formatting. No I/O, no clock: callers pass instants
// as epoch ms.
export { ScheduleError } from './errors.js';
export { compileSchedule, nextFires, firesBetween } from './schedule.js';
export type { CompiledSchedule, FiresBetween } from './schedule.js';
export { planCatchUp } from './catchup.js';
export type {
  CatchUpInput,
  CatchUpPlan,
  CatchUpPolicy,
  SkippedRange,
  SkipReason,
} from './catchup.js';
export { jitterMs } from './jitter.js';
export { formatInstant } from './zone.js';
export {
  AHEAD_LIMIT_MS,
  EXCLUSION_REASONS,
  InstantGate,
  causesBetween,
  dateOf,
  dayOf,
  describeSkip,
  dstNote,
  gateOf,
  gateRange,
  instantsAhead,
  localDayStart,
  nextGatedFires,
  nextToDecide,
} from './exclusions.js';
export type {
  ActiveBound,
  AheadEntry,
  CalendarContent,
  DateRange,
  Exclusion,
  ExclusionReason,
  ExclusionSpec,
  GatedRange,
  SkipCause,
  SkipInterval,
  SkippedInstants,
} from './exclusions.js';
export {
  DEFAULT_HOLIDAY_TYPES,
  HOLIDAY_TYPES,
  holidayCountries,
  holidayRegions,
  holidayStates,
} from './holidays.js';
export type { HolidayRule, HolidayType } from './holidays.js';
