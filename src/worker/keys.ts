/**
 * Redis keys of the worker side, beside BullMQ's and the producer's under the same prefix (the
 * BullMQ `--queue-prefix`, default `bull`). Job names never contain `:` (see NAME_PATTERN), so
 * `<job>` cannot run into a neighbouring key. With Redis Cluster, put a hash tag in the prefix
 * (`{baton}`) so the multi-key scripts stay in one slot.
 */
export interface RunKeys {
  /** Hash: counters of run outcomes (`completed`, `failed`, `stale`, `skipped`, `aborted`, ...). */
  counts: string;
  /** String with a TTL: `<scheduledAtMs> <fireId>` of the run holding the overlap lock. */
  active: string;
  /** Sorted set: history record ids (`<fireId>#<start>`) scored by start time (epoch ms). */
  history: string;
  /** Hash: history record id -> JSON {@link RunRecord}. */
  records: string;
}

export function runKeys(prefix: string, job: string): RunKeys {
  const base = `${prefix}:baton`;
  return {
    counts: `${base}:counts:${job}`,
    active: `${base}:active:${job}`,
    history: `${base}:history:${job}`,
    records: `${base}:history:${job}:records`,
  };
}

/** Pub/sub channel carrying `{ job, fireId, by }`: abort the run `fireId` (overlap `replace`). */
export function abortChannel(prefix: string): string {
  return `${prefix}:baton:abort`;
}

/**
 * String with a TTL: the creation timestamp of the BullMQ copy of a fire that started it, so a
 * second copy of the same fire (added again after the first was removed) is recognised.
 */
export function startedKey(prefix: string, fireId: string): string {
  return `${prefix}:baton:started:${fireId}`;
}
