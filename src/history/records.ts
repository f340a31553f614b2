import type { Redis } from 'ioredis';
import type { SkipRecord } from '../fire.js';
import type { RedisKeys } from '../redis/keys.js';

/** How a run start ended (its status once no longer `running`); workers count each. */
export const RUN_OUTCOMES = ['completed', 'failed', 'stale', 'skipped', 'aborted'] as const;

/** Status of one run attempt in the history. */
export type RunStatus = 'running' | (typeof RUN_OUTCOMES)[number];

/**
 * One start of a run on a worker (an attempt, or a restart of an attempt after its worker died).
 * Stored as JSON in `<prefix>:baton:<ns>:history:<job>:records` under `<fireId>#<start>`,
 * indexed by start time in the sorted set `<prefix>:baton:<ns>:history:<job>`.
 */
export interface RunRecord {
  fireId: string;
  job: string;
  /** The scheduled instant (ISO). */
  scheduledAt: string;
  status: RunStatus;
  /**
   * Why, for `skipped` (`overlap`, `superseded`), `aborted` (`replaced`, `shutdown`) and some
   * `failed` runs (`timeout`, `unknown-handler`, `interrupted`, `invalid-run`); else null.
   */
  reason: string | null;
  /** 1 for the first attempt (BullMQ attemptsMade + 1); a restart after a crash keeps it. */
  attempt: number;
  /** How many times BullMQ started this run, this start included (attemptsStarted). */
  start: number;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  error: string | null;
  /** For a failed attempt: true when BullMQ will run it again (retries left). */
  willRetry: boolean;
  /** Worker id (`--id`, default `<hostname>-<pid>`). */
  worker: string;
  /** Fencing token of the run. */
  token: string;
  manual: boolean;
  /** The handler's return value (JSON, truncated to 2000 characters when larger), or null. */
  result: unknown;
}

/** A range of fires the leader decided not to run (from the producer's skip history). */
export interface SkipEntry {
  job: string;
  reason: string;
  /** First and last skipped instant (ISO) and how many instants the range holds. */
  first: string;
  last: string;
  count: number;
  decidedAt: string;
  token: string;
  leader: string;
}

export type HistoryEntry = ({ kind: 'run' } & RunRecord) | ({ kind: 'skip' } & SkipEntry);

export interface JobHistory {
  job: string;
  /** Newest first: runs by start time, leader skips by decision time; at most `limit`. */
  entries: HistoryEntry[];
  /** Run outcome counters of the job (`completed`, `failed`, `stale`, `skipped`, ...). */
  counts: Record<string, number>;
  /** Skipped fires by reason, `total` included (leader skips and worker overlap skips). */
  skipCounts: Record<string, number>;
}

export interface ReadHistoryOptions {
  /** Most entries returned. @defaultValue 50 */
  limit?: number;
}

function numbers(hash: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(hash)) out[k] = Number(v);
  return out;
}

/** Parses one skip record of the leader's skip history (`<prefix>:baton:<ns>:skips:<job>`). */
export function toSkipEntry(json: string): SkipEntry | null {
  try {
    const r = JSON.parse(json) as Partial<SkipRecord>;
    if (typeof r.first !== 'number' || typeof r.last !== 'number') return null;
    return {
      job: String(r.job),
      reason: String(r.reason),
      first: new Date(r.first).toISOString(),
      last: new Date(r.last).toISOString(),
      count: Number(r.count ?? 1),
      decidedAt: new Date(Number(r.decidedAt ?? r.last)).toISOString(),
      token: String(r.fencingToken ?? ''),
      leader: String(r.leader ?? ''),
    };
  } catch {
    return null;
  }
}

/**
 * Reads a job's history: the newest run records written by workers, merged with the newest skip
 * records written by the leader, plus the job's counters. Read-only; one pipeline and one HMGET.
 */
export async function readHistory(
  redis: Redis,
  keys: RedisKeys,
  job: string,
  options: ReadHistoryOptions = {},
): Promise<JobHistory> {
  const limit = Math.max(1, Math.floor(options.limit ?? 50));
  const k = keys.run(job);
  const s = keys.skips(job);
  const results = await redis
    .pipeline()
    .zrevrange(k.history, 0, limit - 1)
    .zrevrange(s.list, 0, limit - 1)
    .hgetall(k.counts)
    .hgetall(s.counts)
    .exec();
  if (!results) throw new Error('Redis pipeline was discarded');
  for (const [err] of results) if (err) throw err;
  const ids = results[0]![1] as string[];
  const skipJson = results[1]![1] as string[];
  const counts = numbers(results[2]![1] as Record<string, string>);
  const skipCounts = numbers(results[3]![1] as Record<string, string>);

  const runs: RunRecord[] = [];
  if (ids.length > 0) {
    const values = await redis.hmget(k.records, ...ids);
    for (const v of values) {
      if (v === null) continue; // trimmed between the two reads
      try {
        runs.push(JSON.parse(v) as RunRecord);
      } catch {
        // not written by baton; ignore
      }
    }
  }
  const entries: { at: number; entry: HistoryEntry }[] = [
    ...runs.map((r) => ({ at: Date.parse(r.startedAt), entry: { kind: 'run' as const, ...r } })),
    ...skipJson
      .map(toSkipEntry)
      .filter((e): e is SkipEntry => e !== null)
      .map((e) => ({ at: Date.parse(e.decidedAt), entry: { kind: 'skip' as const, ...e } })),
  ];
  entries.sort((a, b) => b.at - a.at);
  return { job, entries: entries.slice(0, limit).map((e) => e.entry), counts, skipCounts };
}
