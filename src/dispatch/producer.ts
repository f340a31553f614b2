import { Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { OutboxEntry } from '../coordination/ledger.js';
import { orderId, type RunOrder, type SkipRecord } from '../fire.js';
import type { RedisKeys } from '../redis/keys.js';
import { checkPipeline } from '../redis/connection.js';

/** Skip records kept per job in Redis (the newest ones). */
export const SKIP_HISTORY_MAX = 1000;

// Idempotent: publishing the same skip record twice (outbox re-published after a crash) neither
// adds a second entry nor counts it twice.
const RECORD_SKIP = `
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[2], 'total', ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n > tonumber(ARGV[5]) then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - tonumber(ARGV[5]) - 1) end
return 1
`;

// Decides, for each of a slice of runs, whether to add it. 1: add it; 0: it was added (or
// skipped) already; 2: skipped because of overlap: forbid. One call per slice of runs, in order
// (Redis runs a script's commands, not its calls, per run: 10,000 runs cost 50 calls, not 10,000).
// ARGV[1]: skip history size; then per run 6 values: window ms, forbid (1/0), BullMQ job hash
// prefix, fire id, skip record JSON (only when forbid), scheduled instant. KEYS per run 5: fire
// marker, this run's BullMQ job hash, the job's last forbid run, its skip history, its counts.
const CLAIM_FIRES = `
local keep = tonumber(ARGV[1])
local out = {}
for i = 0, #KEYS / 5 - 1 do
  local k, a = i * 5, 1 + i * 6
  local result = 1
  local state = redis.call('GET', KEYS[k + 1])
  if state == 'done' or state == 'overlap' or state == 'withdrawn' then
    result = 0
  elseif state == 'pending' and redis.call('EXISTS', KEYS[k + 2]) == 1 then
    result = 0
  elseif ARGV[a + 2] == '1' then
    local prev = redis.call('GET', KEYS[k + 3])
    if prev and prev ~= ARGV[a + 4] then
      local h = ARGV[a + 3] .. prev
      if redis.call('EXISTS', h) == 1 and redis.call('HEXISTS', h, 'finishedOn') == 0 then
        redis.call('SET', KEYS[k + 1], 'overlap', 'PX', ARGV[a + 1])
        redis.call('ZADD', KEYS[k + 4], ARGV[a + 6], ARGV[a + 5])
        redis.call('HINCRBY', KEYS[k + 5], 'overlap', 1)
        redis.call('HINCRBY', KEYS[k + 5], 'total', 1)
        local n = redis.call('ZCARD', KEYS[k + 4])
        if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[k + 4], 0, n - keep - 1) end
        result = 2
      end
    end
    if result == 1 then redis.call('SET', KEYS[k + 3], ARGV[a + 4]) end
  end
  if result == 1 then redis.call('SET', KEYS[k + 1], 'pending', 'PX', ARGV[a + 1]) end
  out[i + 1] = result
end
return out
`;
/** Runs per claim call: 1,000 keys and 1,200 arguments. */
const CLAIM_RUNS = 200;

// Marks fire ids published (`done`), keeping each marker's expiry, unless a pause withdrew the
// run in the meantime. KEYS: the fire markers.
// One call for many markers: a burst of 10,000 fires costs 10 commands here, not 10,000.
const MARK_DONE = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= 'withdrawn' then redis.call('SET', KEYS[i], 'done', 'KEEPTTL') end
end
return #KEYS
`;
const MARK_DONE_KEYS = 1000;

/** How long a publish waits for its replicas (`WAIT`) before it counts as failed. */
const WAIT_REPLICAS_MS = 500;

/** At most one day: the longest outage after which an outbox entry may be re-published. */
export const MAX_DEDUPE_WINDOW_MS = 24 * 3600 * 1000;

/** How long a fire id stays deduplicated: the job's retention age, at most a day. */
export function dedupeWindowMs(retentionAgeMs: number): number {
  return Math.min(retentionAgeMs, MAX_DEDUPE_WINDOW_MS);
}

/**
 * Digits fencing tokens and revisions are padded to in the fence (`RedisKeys.fence`, etcd's are
 * int64).
 */
export const FENCE_DIGITS = 40;

/** Leaderships kept in the fence: far more than a dedupe window's worth of fail-overs. */
export const FENCE_HISTORY_MAX = 1000;

/** `value` (a canonical decimal) zero-padded to {@link FENCE_DIGITS} digits. */
export function padDecimal(value: string): string {
  return value.padStart(FENCE_DIGITS, '0');
}

// KEYS: fence zset. ARGV: padded token, padded takeover revision, history size.
const RECORD_TAKEOVER = `
redis.call('ZADD', KEYS[1], 0, ARGV[1] .. '/' .. ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n > tonumber(ARGV[3]) then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - tonumber(ARGV[3]) - 1) end
return 1
`;

/** What Redis promises about the durability of an acknowledged write. */
export interface Durability {
  /** `appendonly`: whether Redis logs writes at all; null when CONFIG is not allowed. */
  appendonly: boolean | null;
  /** `appendfsync`: `always`, `everysec` or `no`; null when unknown. */
  appendfsync: string | null;
  /**
   * `hz`: how often a second Redis checks timers, blocked clients among them. A worker waiting
   * for the next delayed run wakes on that tick, up to 1000/hz ms late. Null when unknown.
   */
  hz: number | null;
}

/**
 * Publishes committed outbox entries to Redis: runs into their BullMQ queues with the fire id as
 * job id (BullMQ ignores an add whose id still exists, so publishing again is harmless while the
 * finished job is retained), skips into the job's skip history. One `addBulk` per queue.
 */
export class Dispatcher {
  private readonly queues = new Map<string, Queue>();
  /** Told of each scheduled fire skipped because the job's previous run was still pending. */
  overlapSkipped: ((order: RunOrder) => void) | null = null;

  constructor(
    /** The leader's Redis connection (also read by its backfill runner). */
    readonly redis: Redis,
    /** The key layout (src/redis/keys.ts): BullMQ prefix and baton's namespaced keys. */
    readonly keys: RedisKeys,
    /**
     * Replicas that must have a publish before it counts (`WAIT`; Sentinel setups, see
     * `waitReplicas` in config/redis-url.ts). 0: the master's reply is enough.
     */
    private readonly waitReplicas = 0,
  ) {
    redis.defineCommand('batonRecordSkip', { numberOfKeys: 2, lua: RECORD_SKIP });
    redis.defineCommand('batonClaimFires', { lua: CLAIM_FIRES });
    redis.defineCommand('batonMarkDone', { lua: MARK_DONE });
    redis.defineCommand('batonRecordTakeover', { numberOfKeys: 1, lua: RECORD_TAKEOVER });
    // A restarted Redis is reached through a new socket: forget the old server's run id.
    redis.on('close', () => {
      this.runId = null;
      this.connection++;
    });
  }

  /** The run id of the server this connection's socket reaches; null until asked (or reconnected). */
  private runId: string | null = null;
  /** Counts closed sockets, so an INFO answered by the old one is not taken for the new one. */
  private connection = 0;

  /**
   * Records that the leader with `token` took over at etcd revision `revision`. A new leader does
   * this before it publishes anything; workers then refuse any run of an older token that claims
   * a commit after it (which no valid leader can have made).
   */
  async recordTakeover(token: string, revision: string): Promise<void> {
    await (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)
      .batonRecordTakeover!(
      this.keys.fence,
      padDecimal(token),
      padDecimal(revision),
      FENCE_HISTORY_MAX,
    );
  }

  /**
   * The Redis server's run id: a new one after every restart, so a change means writes that were
   * acknowledged but not yet on disk may be lost.
   */
  async serverRunId(): Promise<string> {
    const runId = (info: string) => {
      const m = /^run_id:([0-9a-f]+)/m.exec(info);
      if (!m) throw new Error('Redis INFO server has no run_id');
      return m[1]!;
    };
    // A Cluster: every master's, since a publish spans the masters of its queues' slots.
    const cluster = this.redis as unknown as {
      isCluster?: boolean;
      nodes?: (role: string) => Redis[];
    };
    if (cluster.isCluster && cluster.nodes) {
      const ids = await Promise.all(
        cluster.nodes('master').map(async (node) => runId(await node.info('server'))),
      );
      return ids.sort().join(',');
    }
    // One server behind one socket: every command until the socket closes reaches the server
    // the cached id was read from, so INFO is needed once per connection, not per publish.
    if (this.runId !== null) return this.runId;
    const connection = this.connection;
    const id = runId(await this.redis.info('server'));
    if (connection === this.connection) this.runId = id;
    return id;
  }

  /** Redis's persistence settings; nulls when `CONFIG GET` is refused (ACL, managed Redis). */
  async durability(): Promise<Durability> {
    try {
      // One call: CONFIG GET with a pattern answers name, value, name, value...
      const pairs = [
        ...((await this.redis.config('GET', 'append*')) as string[]),
        ...((await this.redis.config('GET', 'hz')) as string[]),
      ];
      const get = (k: string) => {
        const i = pairs.indexOf(k);
        return i >= 0 ? (pairs[i + 1] ?? null) : null;
      };
      const ao = get('appendonly');
      const hz = get('hz');
      return {
        appendonly: ao === null ? null : ao === 'yes',
        appendfsync: get('appendfsync'),
        hz: hz === null ? null : Number(hz),
      };
    } catch (err) {
      // Refused (ACL, a managed Redis without CONFIG): unknown. Unreachable: ask again later.
      if (/NOPERM|unknown command|not allowed|ERR /i.test((err as Error)?.message ?? '')) {
        return { appendonly: null, appendfsync: null, hz: null };
      }
      throw err;
    }
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.keys.prefix });
      q.on('error', () => undefined);
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Publishes every entry or throws; on throw some may be published (retry the whole batch).
   * `clockOffsetMs`: how far the schedule's clock (the leader's, which tests and demos may
   * offset) is ahead of the real one, which Redis and BullMQ's workers use.
   */
  async publish(entries: OutboxEntry[], clockOffsetMs = 0): Promise<void> {
    const runs = new Map<string, RunOrder[]>();
    const skips: { entry: OutboxEntry; record: SkipRecord }[] = [];
    for (const e of entries) {
      if (e.order.kind === 'run') {
        const list = runs.get(e.order.queue) ?? [];
        // Workers judge a run by the revision that committed it (docs/architecture.md).
        list.push({ ...e.order, data: { ...e.order.data, revision: e.revision } });
        runs.set(e.order.queue, list);
      } else {
        skips.push({ entry: e, record: e.order });
      }
    }
    const work: Promise<unknown>[] = [];
    for (const [queue, orders] of runs) work.push(this.addRuns(queue, orders, clockOffsetMs));
    if (skips.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const { entry, record } of skips) this.recordSkip(pipeline, entry.id, record);
      work.push(pipeline.exec().then(checkPipeline));
    }
    const settled = await Promise.allSettled(work);
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (rejected) throw rejected.reason;
    if (this.waitReplicas > 0) {
      // Replication is asynchronous: a master that dies right after replying may take the
      // publish with it. Unconfirmed, the entries stay in the outbox and are published again
      // (idempotently) on the next master.
      const acked = await this.redis.wait(this.waitReplicas, WAIT_REPLICAS_MS);
      if (acked < this.waitReplicas) {
        throw new Error(
          `${acked} of ${this.waitReplicas} Redis replicas confirmed the publish within ${WAIT_REPLICAS_MS} ms`,
        );
      }
    }
  }

  /**
   * Adds runs to one queue so that a fire id is added at most once within its dedupe window.
   *
   * BullMQ ignores an existing job id only while that job exists, and its count-based retention
   * is per queue (a busy queue forgets ids within seconds); its throttle-mode deduplication key is
   * deleted with the job too. So baton keeps its own marker per fire id, `pending` before the add
   * and `done` after it: `done` is never added again; `pending` (a publisher died mid-way) is
   * added only if the job is not in Redis.
   */
  private async addRuns(queue: string, orders: RunOrder[], clockOffsetMs: number): Promise<void> {
    const now = Date.now() + clockOffsetMs;
    const claim = this.redis.pipeline();
    for (let i = 0; i < orders.length; i += CLAIM_RUNS) {
      const keys: (string | number)[] = [];
      const args: (string | number)[] = [SKIP_HISTORY_MAX];
      for (const o of orders.slice(i, i + CLAIM_RUNS)) {
        const at = Date.parse(o.data.scheduledAt);
        const k = this.keys.skips(o.data.job);
        keys.push(
          this.keys.fired(o.data.fireId),
          this.keys.queueJob(queue, o.data.fireId),
          this.keys.lastForbidRun(o.data.job),
          k.list,
          k.counts,
        );
        let skipJson = '';
        if (o.forbidOverlap) {
          const skip: SkipRecord = {
            kind: 'skip',
            job: o.data.job,
            reason: 'overlap',
            first: at,
            last: at,
            count: 1,
            decidedAt: now,
            fencingToken: o.data.fencingToken,
            leader: o.data.leader,
          };
          skipJson = JSON.stringify({ id: orderId(skip), ...skip });
        }
        args.push(
          dedupeWindowMs(o.keep.ageSeconds * 1000),
          o.forbidOverlap ? '1' : '0',
          this.keys.queueJobPrefix(queue),
          o.data.fireId,
          skipJson,
          at,
        );
      }
      (claim as unknown as Record<string, (...a: unknown[]) => void>).batonClaimFires!(
        keys.length,
        ...keys,
        ...args,
      );
    }
    const claimed = await claim.exec();
    const results: unknown[] = [];
    for (const [err, result] of claimed ?? [[new Error('Redis pipeline was discarded'), null]]) {
      if (err) throw err;
      results.push(...(result as unknown[]));
    }
    const toAdd = orders.filter((o, i) => {
      if (results[i] === 2) this.overlapSkipped?.(o);
      return results[i] === 1;
    });
    if (toAdd.length === 0) return;
    // A run is due at exactly its availableAt: BullMQ makes a delayed job due at timestamp + delay,
    // so both are fixed here, after the claim round trip, on one reading of the clock (Redis and
    // BullMQ's workers use the real clock; the schedule's is the same plus the offset).
    const realNow = Date.now();
    const scheduleNow = realNow + clockOffsetMs;
    const q = this.queue(queue);
    try {
      await q.addBulk(
        toAdd.map((o) => ({
          name: o.data.job,
          data: o.data,
          opts: {
            jobId: o.data.fireId,
            timestamp: realNow,
            delay: Math.max(0, o.availableAt - scheduleNow),
            attempts: o.attempts,
            backoff: o.backoff,
            removeOnComplete: { age: o.keep.ageSeconds, count: o.keep.count },
            removeOnFail: { age: o.keep.ageSeconds, count: o.keep.count },
          },
        })),
      );
    } catch (err) {
      // BullMQ keeps a Queue whose start failed failing for good: start afresh next time.
      if (this.queues.get(queue) === q) this.queues.delete(queue);
      void q.close().catch(() => undefined);
      throw err;
    }
    const done = this.redis.pipeline();
    for (let i = 0; i < toAdd.length; i += MARK_DONE_KEYS) {
      const keys = toAdd.slice(i, i + MARK_DONE_KEYS).map((o) => this.keys.fired(o.data.fireId));
      (done as unknown as Record<string, (...a: unknown[]) => void>).batonMarkDone!(
        keys.length,
        ...keys,
      );
    }
    checkPipeline(await done.exec());
  }

  /** Queues the idempotent skip-history script for `record` (id `id`) on `pipeline`. */
  private recordSkip(pipeline: ChainableCommander, id: string, record: SkipRecord): void {
    const k = this.keys.skips(record.job);
    (pipeline as unknown as Record<string, (...a: unknown[]) => void>).batonRecordSkip!(
      k.list,
      k.counts,
      record.first,
      JSON.stringify({ id, ...record }),
      record.reason,
      record.count,
      SKIP_HISTORY_MAX,
    );
  }

  /**
   * Withdraws published runs that no worker has taken yet (a pause seen after they were decided):
   * each is removed from its BullMQ queue if it is still there and not locked by a worker, its
   * fire marker becomes `withdrawn` for the run's dedupe window (so no later publish of the same
   * outbox entry adds it again), and its `skip` is recorded. Returns the runs withdrawn.
   */
  async withdraw(runs: { run: RunOrder; skip: SkipRecord }[]): Promise<typeof runs> {
    const withdrawn: typeof runs = [];
    for (const r of runs) {
      const fireId = r.run.data.fireId;
      // remove() refuses a job a worker holds (it runs: it was taken before the pause).
      if ((await this.queue(r.run.queue).remove(fireId)) !== 1) continue;
      const pipeline = this.redis.pipeline();
      pipeline.set(
        this.keys.fired(fireId),
        'withdrawn',
        'PX',
        dedupeWindowMs(r.run.keep.ageSeconds * 1000),
      );
      this.recordSkip(pipeline, orderId(r.skip), r.skip);
      checkPipeline(await pipeline.exec());
      withdrawn.push(r);
    }
    return withdrawn;
  }

  /**
   * Moves delayed runs of `queue` to waiting now, with BullMQ's own promote script (one call per
   * run): a worker blocked waiting for work wakes at once, instead of when Redis next checks its
   * timers. A run no longer delayed (taken, promoted by Redis, withdrawn) is left as it is.
   * Returns how many were promoted.
   */
  async promote(queue: string, ids: string[]): Promise<number> {
    const backend = this.queue(queue).getBackend();
    const settled = await Promise.allSettled(ids.map((id) => backend.promote(id)));
    return settled.filter((s) => s.status === 'fulfilled').length;
  }

  /** True when Redis answers. */
  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
