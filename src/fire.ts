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
  /** `<job>@<epochMs>` or `<job>@manual-<id>`; also the BullMQ job id. */
  fireId: string;
  /** Create revision of the deciding leader's election key, as a decimal string. */
  fencingToken: string;
  /** Replica id of the leader that enqueued it. */
  leader: string;
  payload: unknown;
  manual: boolean;
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

/** Why the catch-up rules skip a missed instant (src/cron/catchup.ts); metrics count them as missed. */
export const CATCH_UP_SKIP_REASONS = [
  'catch-up-none',
  'catch-up-latest',
  'beyond-limit',
  'past-deadline',
] as const;
export type CatchUpSkipReason = (typeof CATCH_UP_SKIP_REASONS)[number];

/** Every reason an instant of a job is decided not to run. */
export const SKIP_REASONS = ['paused', ...CATCH_UP_SKIP_REASONS, 'unknown-job', 'overlap'] as const;
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

/** The outbox key suffix of an order: unique per decision. */
export function orderId(order: Order): string {
  return order.kind === 'run'
    ? order.data.fireId
    : `${order.job}@skip-${order.reason}-${order.first}-${order.last}`;
}
