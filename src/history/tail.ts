import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';
import type { RunRecord } from './records.js';

/** New history records read per job and call (the rest on the next calls). */
const HISTORY_PAGE = 500;
/** Unfinished runs tracked per job until they end. */
const MAX_PENDING = 1000;

interface Cursor {
  /** Records with a start score below this were all seen. */
  after: number;
  /** Ids at score `after` already handled. */
  atAfter: Set<string>;
  /** Runs seen while still running: read again until they end. */
  pending: Map<string, number>;
}

/** A run that ended since the previous call of {@link EndedRunsTail.next}. */
export interface EndedRun {
  job: string;
  record: RunRecord;
}

/**
 * Follows the run history in Redis and yields each run once, when it has ended: each call reads
 * the records written since the previous call (at most {@link HISTORY_PAGE} per job) and the runs
 * that were still running then. The first call starts at the oldest record still kept.
 */
export class EndedRunsTail {
  private readonly cursors = new Map<string, Cursor>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** The runs of `jobs` that ended since the last call. Throws when Redis cannot be read. */
  async next(jobs: readonly string[]): Promise<EndedRun[]> {
    if (jobs.length === 0) return [];
    const { redis, keys } = this;
    const ranges = redis.pipeline();
    for (const job of jobs) {
      const c = this.cursors.get(job);
      ranges.zrangebyscore(
        keys.run(job).history,
        c ? c.after : '-inf',
        '+inf',
        'WITHSCORES',
        'LIMIT',
        0,
        HISTORY_PAGE,
      );
    }
    const results = await ranges.exec();
    if (!results) return [];
    const reads: { job: string; cursor: Cursor; ids: string[] }[] = [];
    jobs.forEach((job, i) => {
      const [err, flat] = results[i] ?? [null, []];
      if (err) return;
      let cursor = this.cursors.get(job);
      if (!cursor) {
        cursor = { after: -Infinity, atAfter: new Set(), pending: new Map() };
        this.cursors.set(job, cursor);
      }
      const pairs = flat as string[];
      const fresh: string[] = [];
      for (let k = 0; k + 1 < pairs.length; k += 2) {
        const id = pairs[k]!;
        const score = Number(pairs[k + 1]);
        if (score === cursor.after && cursor.atAfter.has(id)) continue;
        if (score > cursor.after) {
          cursor.after = score;
          cursor.atAfter = new Set();
        }
        cursor.atAfter.add(id);
        fresh.push(id);
      }
      const ids = [...new Set([...cursor.pending.keys(), ...fresh])];
      if (ids.length > 0) reads.push({ job, cursor, ids });
    });
    if (reads.length === 0) return [];
    const records = redis.pipeline();
    for (const r of reads) records.hmget(keys.run(r.job).records, ...r.ids);
    const values = await records.exec();
    if (!values) return [];
    const ended: EndedRun[] = [];
    reads.forEach((r, i) => {
      const [err, list] = values[i] ?? [null, []];
      if (err) return;
      (list as (string | null)[]).forEach((json, k) => {
        const id = r.ids[k]!;
        if (json === null) {
          r.cursor.pending.delete(id); // trimmed by retention
          return;
        }
        let record: RunRecord;
        try {
          record = JSON.parse(json) as RunRecord;
        } catch {
          r.cursor.pending.delete(id);
          return;
        }
        if (record.status === 'running') {
          if (!r.cursor.pending.has(id)) r.cursor.pending.set(id, Date.parse(record.startedAt));
          if (r.cursor.pending.size > MAX_PENDING) {
            const oldest = r.cursor.pending.keys().next().value;
            if (oldest !== undefined) r.cursor.pending.delete(oldest);
          }
          return;
        }
        r.cursor.pending.delete(id);
        ended.push({ job: r.job, record });
      });
    });
    return ended;
  }
}
