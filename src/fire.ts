/**
 * The records that flow from the leader's fire decisions to Redis. They are committed to the etcd
 * outbox first (so a new leader can publish them again) and then published: a run is added to its
 * BullMQ queue, a skip is written to the job's skip history.
 */

/** `job.data` of every BullMQ job baton enqueues: a stable interface that handlers and scripts read. */
export interface RunData {
  job: string;
  /** The scheduled instant (ISO 8601, UTC); for a manual run, when it was requested. */
  scheduledAt: string;
  /** `<job>@<epochMs>`, `<job>@manual-<id>` or `<job>@backfill-<epochMs>`; also the BullMQ job id. */
  fireId: string;
  /** Create revision of the deciding leader's election key, as a decimal string. */
  fencingToken: string;
  /** Replica id of the leader that enqueued it. */
  leader: string;
  payload: unknown;
  /** True for runs an operator asked for: triggers and backfills. */
  manual: boolean;
  /**
   * The id of the backfill request that enqueued this run (`baton backfill`); absent otherwise.
   * A backfill run's `scheduledAt` is the backfilled instant and its fire id `<job>@backfill-<epochMs>`.
   */
  backfill?: string;
  /**
   * The etcd revision of the fenced txn that committed this decision (decimal string). Workers
   * refuse a run only when it claims a commit made after a newer leader took over
   * (docs/architecture.md, "Threat model"). Absent on runs enqueued by baton before 0.2.
   */
  revision?: string;
}

/** A run to add to BullMQ. */
export interface RunOrder {
  kind: 'run';
  queue: string;
  data: RunData;
  /** Epoch ms when the run becomes available to workers (scheduled instant + jitter). */
  availableAt: number;
  attempts: number;
  backoff: { type: 'fixed' | 'exponential'; delay: number };
  /** Retention of the finished BullMQ job; also bounds how long its id stays deduplicated. */
  keep: { ageSeconds: number; count: number };
  /**
   * `overlap: forbid` for a scheduled fire: skip it (recorded as 'overlap') while the job's
   * previous run is still waiting, delayed, retrying or active.
   */
  forbidOverlap?: boolean;
}

/** What a run order takes from a job's definition (a `JobDefinition` has all of it). */
export interface RunJob {
  name: string;
  queue: string;
  overlap: string;
  retries: { attempts: number; backoff: 'fixed' | 'exponential'; delayMs: number };
  retention: { ageMs: number; count: number };
}

/** The parts of a run order that depend on who decides it and why. */
export interface RunOrderInput {
  /** The instant the run is for (epoch ms): `scheduledAt`. */
  at: number;
  fireId: string;
  /** True for runs an operator asked for (triggers, backfills): never skipped as overlapping. */
  manual: boolean;
  payload: unknown;
  /** When workers may take it (epoch ms): the instant plus jitter, or now. */
  availableAt: number;
  /** The deciding leader's fencing token and replica id. */
  fencingToken: string;
  leader: string;
  /** The backfill request that decided it. */
  backfill?: string;
}

/**
 * The one way a leader builds a run order, for scheduled fires, triggers and backfills alike:
 * retries and retention from the job, `forbidOverlap` for a scheduled fire of an
 * `overlap: forbid` job.
 */
export function runOrder(job: RunJob, o: RunOrderInput): RunOrder {
  return {
    kind: 'run',
    queue: job.queue,
    data: {
      job: job.name,
      scheduledAt: new Date(o.at).toISOString(),
      fireId: o.fireId,
      fencingToken: o.fencingToken,
      leader: o.leader,
      payload: o.payload,
      manual: o.manual,
      ...(o.backfill === undefined ? {} : { backfill: o.backfill }),
    },
    availableAt: o.availableAt,
    attempts: job.retries.attempts,
    backoff: { type: job.retries.backoff, delay: job.retries.delayMs },
    keep: { ageSeconds: Math.ceil(job.retention.ageMs / 1000), count: job.retention.count },
    forbidOverlap: job.overlap === 'forbid' && !o.manual,
  };
}

/** Why the catch-up rules skip a missed instant (src/cron/catchup.ts); metrics count them as missed. */
export const CATCH_UP_SKIP_REASONS = [
  'catch-up-none',
  'catch-up-latest',
  'beyond-limit',
  'past-deadline',
] as const;
export type CatchUpSkipReason = (typeof CATCH_UP_SKIP_REASONS)[number];

/**
 * Every reason a fire instant is recorded as skipped, in one place: `paused` (operator pause),
 * the catch-up reasons above, `unknown-job` (a trigger for a job not loaded), `overlap`
 * (`overlap: forbid`), `excluded` (an excluded date or calendar) and `inactive` (outside
 * `activeFrom`/`activeUntil`).
 */
export const SKIP_REASONS = [
  'paused',
  ...CATCH_UP_SKIP_REASONS,
  'unknown-job',
  'overlap',
  'excluded',
  'inactive',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** A range of fire instants of one job that were decided not to run. */
export interface SkipRecord {
  kind: 'skip';
  job: string;
  reason: SkipReason;
  /** First and last skipped instant (epoch ms) and how many instants the range holds. */
  first: number;
  last: number;
  count: number;
  /**
   * What the reason applies to, for `excluded` (`calendar us-holidays (Christmas Day)`,
   * `2026-12-24..2026-12-26`) and `inactive` (`before activeFrom 2026-12-01`); absent otherwise.
   */
  detail?: string;
  /** When the decision was made and by whom. */
  decidedAt: number;
  fencingToken: string;
  leader: string;
}

export type Order = RunOrder | SkipRecord;

/** The id of a scheduled fire, also its BullMQ job id: `<job>@<epochMs>`. */
export function fireId(job: string, scheduledAtMs: number): string {
  return `${job}@${scheduledAtMs}`;
}

/** The id of an operator-triggered run: `<job>@manual-<triggerId>`. */
export function manualFireId(job: string, triggerId: string): string {
  return `${job}@manual-${triggerId}`;
}

/**
 * The id of a backfilled instant: `<job>@backfill-<epochMs>`. It depends on the job and the
 * instant only, never on the backfill request, so backfilling the same instant again (the same
 * request after a fail-over, or another request over the same range) yields the same id, which
 * the publisher's fire markers and the worker's started markers run at most once. It never equals
 * a scheduled fire id (`<job>@<epochMs>`, digits only after the `@`) nor a manual one.
 */
export function backfillFireId(job: string, scheduledAtMs: number): string {
  return `${job}@backfill-${scheduledAtMs}`;
}

/** The outbox key suffix of an order: unique per decision. */
export function orderId(order: Order): string {
  return order.kind === 'run'
    ? order.data.fireId
    : `${order.job}@skip-${order.reason}-${order.first}-${order.last}`;
}
