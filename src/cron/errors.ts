import { BatonError } from '../errors.js';

/**
 * A cron expression or time zone cannot be used. The message says what is wrong and what is
 * allowed, e.g. `invalid cron expression "61 * * * *": minute 61 is out of range (allowed 0-59)`.
 */
export class ScheduleError extends BatonError {
  constructor(message: string) {
    super('INVALID_SCHEDULE', message);
  }
}
