/**
 * The Redis key layout of baton: every key and channel baton owns in Redis is named here, and
 * nowhere else.
 *
 * - BullMQ's own keys, `<prefix>:<queue>:...`, are BullMQ's stable interface and belong to the
 *   queue prefix (`--queue-prefix`, default `bull`), shared by every user of that prefix.
 * - baton's own keys are scoped by namespace: `<prefix>:baton:<namespace>:...`.
 * - `<prefix>:baton:namespace` names the one namespace the prefix belongs to (see
 *   `claimQueuePrefix` in dispatch/namespace.ts): two namespaces never share the queues.
 *
 * Namespaces (`[A-Za-z0-9._-]`), job names (see NAME_PATTERN) and fire ids never contain `:`, so
 * no key of one namespace or job can run into a key of another. With Redis Cluster, put a hash
 * tag in the prefix (`{baton}`): every key here and BullMQ's then hash to one slot, so the
 * multi-key scripts keep working.
 */
export interface RedisKeys {
  /** The BullMQ queue prefix. */
  readonly prefix: string;
  readonly namespace: string;
  /** String: the namespace the queue prefix belongs to. */
  readonly owner: string;
  /** Pub/sub channel of live events from leaders and workers (docs/api.md). */
  readonly events: string;
  /** Pub/sub channel carrying `{ job, fireId, by }`: abort the run `fireId` (overlap `replace`). */
  readonly abort: string;
  /**
   * Sorted set of leaderships, member `<token>/<revision>` (both zero-padded to `FENCE_DIGITS`
   * digits, score 0, so members sort by token as big integers): the etcd revision at which the
   * leader with that fencing token took over. A worker refuses a run of token t that claims a
   * commit at a revision later than the takeover of a newer token (docs/architecture.md,
   * "Threat model").
   */
  readonly fence: string;
  /**
   * Sorted set of leadership takeovers, member `{ token, replica, at }` (JSON) scored by `at`
   * (epoch ms): who led when, for the dashboard; the newest 500 are kept.
   */
  readonly leaders: string;
  /**
   * String with a TTL: the creation timestamp of the BullMQ copy of a fire that started it, so a
   * second copy of the same fire (added again after the first was removed) is recognised.
   */
  started(fireId: string): string;
  /** The worker's records of one job. */
  run(job: string): RunKeys;
  /** The leader's skip records of one job. */
  skips(job: string): SkipKeys;
  /** String with a TTL: publisher marker of a fire id (`pending`, `done`, `overlap`, `withdrawn`). */
  fired(fireId: string): string;
  /** String: the job's newest run added under `overlap: forbid` (its fire id). */
  lastForbidRun(job: string): string;
  /** BullMQ's hash of a job (run) in a queue (BullMQ's layout, shared by prefix). */
  queueJob(queue: string, id: string): string;
  /** The prefix of {@link queueJob} keys of `queue`. */
  queueJobPrefix(queue: string): string;
  /**
   * Hash with a TTL: one alert delivery (an event to one webhook), `<eventId>/<targetId>`
   * (src/alerts/): state `pending`, `delivered` or `failed`, the event, attempts. Event ids
   * (`failure:<fireId>`, ...) hold one `:`, always after `alert:`, so no other key is reached.
   */
  alert(deliveryId: string): string;
  /** Sorted set: ids of pending alert deliveries, scored by when to try next (epoch ms). */
  readonly alertsPending: string;
  /** String: the last instant of `job` the leader's dead-man check has looked at (epoch ms). */
  alertsMissedCursor(job: string): string;
  /**
   * String: when a leader first watched `job`'s runs for alerts (epoch ms); runs that ended
   * before raise nothing.
   */
  alertsSince(job: string): string;
}

/** Redis keys of the worker side for one job. */
export interface RunKeys {
  /** Hash: counters of run outcomes (`completed`, `failed`, `stale`, `skipped`, `aborted`, ...). */
  counts: string;
  /** String with a TTL: `<scheduledAtMs> <fireId>` of the run holding the overlap lock. */
  active: string;
  /** Sorted set: history record ids (`<fireId>#<start>`) scored by start time (epoch ms). */
  history: string;
  /** Hash: history record id -> JSON record. */
  records: string;
  /** Hash: skipped fires by reason (also {@link SkipKeys.counts}); workers count overlaps here. */
  skipCounts: string;
}

/** Redis keys of the leader's skip records for one job. */
export interface SkipKeys {
  /** Sorted set: skip records (JSON) scored by their first instant. */
  list: string;
  /** Hash: skipped fires by reason, and `total`. */
  counts: string;
}

/** The key layout of namespace `namespace` under the BullMQ prefix `prefix`. */
export function redisKeys(prefix: string, namespace: string): RedisKeys {
  const base = `${prefix}:baton:${namespace}`;
  const skips = (job: string): SkipKeys => ({
    list: `${base}:skips:${job}`,
    counts: `${base}:skipcount:${job}`,
  });
  return {
    prefix,
    namespace,
    owner: `${prefix}:baton:namespace`,
    events: `${base}:events`,
    abort: `${base}:abort`,
    fence: `${base}:fence`,
    leaders: `${base}:leaders`,
    started: (fireId) => `${base}:started:${fireId}`,
    run: (job) => ({
      counts: `${base}:counts:${job}`,
      active: `${base}:active:${job}`,
      history: `${base}:history:${job}`,
      records: `${base}:history:${job}:records`,
      skipCounts: skips(job).counts,
    }),
    skips,
    fired: (fireId) => `${base}:fired:${fireId}`,
    lastForbidRun: (job) => `${base}:lastrun:${job}`,
    queueJob: (queue, id) => `${prefix}:${queue}:${id}`,
    queueJobPrefix: (queue) => `${prefix}:${queue}:`,
    alert: (deliveryId) => `${base}:alert:${deliveryId}`,
    alertsPending: `${base}:alerts:pending`,
    alertsMissedCursor: (job) => `${base}:alerts:missed:${job}`,
    alertsSince: (job) => `${base}:alerts:since:${job}`,
  };
}

/** The key layout of a resolved configuration (`--queue-prefix`, `--namespace`). */
export function redisKeysOf(config: { queuePrefix: string; namespace: string }): RedisKeys {
  return redisKeys(config.queuePrefix, config.namespace);
}
