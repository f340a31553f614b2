import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';

/**
 * Who led when: every leader appends one record when it takes over, so the dashboard can draw
 * the cluster's leadership over time. Nothing else reads it (the election itself is etcd's).
 */

/** The record a new leader appends (`<prefix>:baton:<ns>:leaders`, scored by `at`). */
export interface LeaderTakeover {
  /** Its fencing token (decimal, grows with every election). */
  token: string;
  /** Replica id of the leader. */
  replica: string;
  /** When it took over (epoch ms, the leader's clock). */
  at: number;
}

/** One leadership term as the API returns it. */
export interface LeaderTerm {
  token: string;
  replica: string;
  /** When the term started (ISO 8601, UTC). */
  start: string;
  /** When the next term started, or null for the newest term. */
  end: string | null;
}

/** Terms kept: older ones are trimmed by each takeover. */
export const LEADER_TERMS_KEPT = 500;

/** Appends a takeover and trims the record to the newest {@link LEADER_TERMS_KEPT}. */
export async function recordTakeover(
  redis: Redis,
  keys: Pick<RedisKeys, 'leaders'>,
  takeover: LeaderTakeover,
): Promise<void> {
  await redis
    .multi()
    .zadd(keys.leaders, takeover.at, JSON.stringify(takeover))
    .zremrangebyrank(keys.leaders, 0, -(LEADER_TERMS_KEPT + 1))
    .exec();
}

function parse(json: string): LeaderTakeover | null {
  try {
    const r = JSON.parse(json) as Partial<LeaderTakeover>;
    if (typeof r.token !== 'string' || !/^\d+$/.test(r.token)) return null;
    if (typeof r.replica !== 'string' || typeof r.at !== 'number') return null;
    return { token: r.token, replica: r.replica, at: r.at };
  } catch {
    return null;
  }
}

/**
 * The terms that were current at or after `since` (epoch ms), oldest first. Ordered by fencing
 * token, not by the leaders' clocks, so a leader whose clock is behind still comes after the
 * one it replaced; a term ends where the next one starts.
 */
export async function readLeaderTerms(
  redis: Redis,
  keys: Pick<RedisKeys, 'leaders'>,
  since: number,
): Promise<LeaderTerm[]> {
  const takeovers = (await redis.zrangebyscore(keys.leaders, '-inf', '+inf'))
    .map(parse)
    .filter((t): t is LeaderTakeover => t !== null)
    .sort((a, b) => {
      const d = BigInt(a.token) - BigInt(b.token);
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    });
  const terms: LeaderTerm[] = takeovers.map((t, i) => {
    const next = takeovers[i + 1];
    return {
      token: t.token,
      replica: t.replica,
      start: new Date(t.at).toISOString(),
      end: next ? new Date(Math.max(next.at, t.at)).toISOString() : null,
    };
  });
  return terms.filter((t) => t.end === null || Date.parse(t.end) > since);
}
