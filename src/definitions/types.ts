import type { CatchUpPolicy } from '../cron/catchup.js';
import type { ActiveBound, CalendarContent, Exclusion } from '../cron/index.js';
import type { AlertsPolicy } from './alerts.js';

/** How missed fires are handled when a leader (re)starts after a gap (src/cron/catchup.ts). */
export type { CatchUpPolicy };
/** What happens when a fire is due while the previous run of the job is waiting or active. */
export type OverlapPolicy = 'allow' | 'forbid' | 'replace';

/** Retry policy of a run, applied by the worker through BullMQ attempts/backoff. */
export interface RetryPolicy {
  /** Total attempts including the first. @defaultValue 1 */
  attempts: number;
  /** @defaultValue 'exponential' */
  backoff: 'fixed' | 'exponential';
  /** Base delay between attempts in ms. @defaultValue 1000 */
  delayMs: number;
}

/** How long runs and their history are kept. */
export interface RetentionPolicy {
  /** Keep finished runs at least this long (ms). @defaultValue 7 days */
  ageMs: number;
  /** Keep at most this many finished runs per job. @defaultValue 1000 */
  count: number;
}

/** One validated job, with every default applied. */
export interface JobDefinition {
  name: string;
  /** Cron expression (5 or 6 fields) or macro, as written. */
  schedule: string;
  /** IANA zone. @defaultValue 'UTC' */
  timezone: string;
  /** Handler name registered on workers. @defaultValue the job name */
  handler: string;
  /** BullMQ queue. @defaultValue 'baton' */
  queue: string;
  /** Passed to the handler as is. @defaultValue {} */
  payload: unknown;
  /** @defaultValue 'latest' */
  catchUp: CatchUpPolicy;
  /** With `catchUp: all`, the most missed fires enqueued at once (older ones are skipped). @defaultValue 100 */
  catchUpLimit: number;
  /** A fire later than this after its instant is missed, not run. null = no deadline. @defaultValue null */
  startingDeadlineMs: number | null;
  /** @defaultValue 'allow' */
  overlap: OverlapPolicy;
  /** Max deterministic delay added to each fire (ms). @defaultValue 0 */
  jitterMs: number;
  retries: RetryPolicy;
  /** Handler timeout in ms (aborts its signal). null = none. @defaultValue null */
  timeoutMs: number | null;
  /** Initial pause state when the job is first seen. @defaultValue false */
  paused: boolean;
  retention: RetentionPolicy;
  description: string | null;
  owner: string | null;
  tags: string[];
  /** Webhooks per event (`alerts:`, or the file's `defaults:`); empty lists when none. */
  alerts: AlertsPolicy;
  /**
   * Dates on which the job does not fire (evaluated on each instant's local date in `timezone`),
   * in the order written; calendars come with their content as loaded, so a change to a calendar
   * is a change to every job that uses it. Absent when the job excludes nothing.
   */
  exclude?: Exclusion[];
  /** No instant before this fires (skipped as `inactive`). Absent: no lower bound. */
  activeFrom?: ActiveBound;
  /** No instant after this fires (inclusive bound). Absent: no upper bound. */
  activeUntil?: ActiveBound;
  /**
   * Where the job was defined: the file (relative to the working directory when inside it, else
   * absolute) and the 1-based position of its `name` value.
   */
  source: { file: string; line: number; col: number };
}

/** A named calendar from a definitions file (`calendar: <name>` or a `calendars:` list). */
export interface CalendarDefinition {
  name: string;
  description: string | null;
  /** What jobs embed: the name, listed dates and holiday rule (no description, no source). */
  content: CalendarContent;
  /** Where the calendar was defined: the position of its `calendar` value. */
  source: { file: string; line: number; col: number };
}
