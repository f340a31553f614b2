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
