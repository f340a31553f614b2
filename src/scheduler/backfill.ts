import type { Etcd3, Watcher } from 'etcd3';
import type { Redis } from 'ioredis';
import {
  Backfills,
  backfillLimits,
  DEFAULT_BACKFILL_LIMITS,
  instantsAfter,
  decidedOf,
  parseBackfill,
  planInstants,
  sliceOf,
  type BackfillLimits,
  type BackfillRecord,
} from '../coordination/backfills.js';
import type { Keys } from '../coordination/keys.js';
import { GuardRefusedError, type JobDecision, type Watermark } from '../coordination/ledger.js';
import { openWatch } from '../coordination/watch.js';
import { compileSchedule } from '../cron/index.js';
import type { JobDefinition } from '../definitions/types.js';
import { NotLeaderError } from '../errors.js';
import { backfillFireId, runOrder, type RunOrder } from '../fire.js';
import { overlapLockHeld, ranInstants, runFinished } from '../history/ran.js';
import type { Logger } from '../log.js';
import type { RedisKeys } from '../redis/keys.js';

/** What the leader's backfill runner needs; the fire loop provides it (a few lines there). */
export interface BackfillDeps {
  etcd: Etcd3;
  keys: Keys;
  redis: Redis;
  redisKeys: RedisKeys;
  /** The leader's fencing token and replica id (carried in each run). */
  token: string;
  replicaId: string;
  definitions: () => readonly JobDefinition[];
  /**
   * The fire loop's fenced commit: commits the decisions in txns guarded by the leader's key and
   * hands their orders to its publisher (the same ledger, outbox and publisher as scheduled
   * fires). Throws {@link NotLeaderError} when leadership is gone.
   */
  commit: (decisions: JobDecision[]) => Promise<void>;
  /** Aborted when leadership ends. */
  signal: AbortSignal;
  logger: Logger;
  now: () => number;
  limits?: BackfillLimits;
}

/** How often a waiting backfill looks again (a pause, a running run, the scheduler's watermark). */
const POLL_MS = 100;
/** How often requests are read again after the watch failed. */
const RELIST_MS = 5000;
/** Longest wait before a backfill that failed on etcd or Redis is tried again. */
const MAX_BACKOFF_MS = 5000;

/**
 * The leader's side of `baton backfill`: reads the requests (`<ns>/backfills/<id>`) and watches
 * for new ones, and decides each one's instants, oldest request first, one request at a time: a
 * slice of instants per fenced txn, with the request's progress (cursor and counts) written in
 * that same txn. So a new leader resumes at the committed cursor: no instant is lost or decided
 * twice. Runs when leadership ends.
 */
export class BackfillRunner {
  private readonly records = new Map<string, BackfillRecord>();
  /** Each record's text as stored: the leader's progress txns require it unchanged. */
  private readonly texts = new Map<string, string>();
  private watcher: Watcher | null = null;
  private watchFailed = false;
  private wakeUp: (() => void) | null = null;
  private readonly limits: BackfillLimits;

  constructor(private readonly deps: BackfillDeps) {
    let limits = deps.limits;
    if (!limits) {
      try {
        limits = backfillLimits();
      } catch (err) {
        // A bad limit in this replica's environment must not stop it from leading.
        deps.logger.warn({ err: (err as Error).message }, 'backfill limits: using the defaults');
        limits = DEFAULT_BACKFILL_LIMITS;
      }
    }
    this.limits = limits;
    deps.signal.addEventListener('abort', () => this.wake(), { once: true });
  }

  /** Runs until leadership ends; never throws (a refused commit has ended the session already). */
  async run(): Promise<void> {
    const { signal, logger } = this.deps;
    try {
      const read = await new Backfills(this.deps.etcd, this.deps.keys).listRaw();
      for (const e of read.entries) this.remember(e.record, e.text);
      const prefix = this.deps.keys.backfillsPrefix;
      this.watcher = await openWatch(
        this.deps.etcd
          .watch()
          .prefix(prefix)
          .startRevision((BigInt(read.revision) + 1n).toString()),
        (w) => {
          w.on('put', (kv) => {
            const text = kv.value.toString();
            const rec = parseBackfill(text);
            // Our own progress arrives here too, possibly after a newer write of ours: known.
            if (!rec || rec.token === this.deps.token) return;
            // Anything else (a request, a cancel) is newer than what we hold: the loop sees it at
            // its next slice boundary. The text the next slice's txn compares with stays the one
            // we last wrote or read, so a cancel that lands while a slice is being prepared
            // refuses that slice instead of becoming what it expects (and being overwritten).
            this.records.set(rec.id, rec);
            if (!this.texts.has(rec.id)) this.texts.set(rec.id, text);
            this.wake();
          });
          w.on('delete', (kv) => {
            const id = kv.key.toString().slice(prefix.length);
            this.records.delete(id);
            this.texts.delete(id);
          });
          w.on('error', (err: Error) => {
            // New requests are then found by reading them again while idle.
            logger.warn({ err: err.message }, 'backfill watch failed; reading requests every 5 s');
            this.watchFailed = true;
          });
        },
      );
      let backoff = POLL_MS;
      while (!signal.aborted) {
        const next = [...this.records.values()]
          .filter((r) => r.state === 'pending' || r.state === 'running')
          .sort((a, b) => (a.id < b.id ? -1 : 1))[0];
        if (!next) {
          await this.sleep(this.watchFailed ? RELIST_MS : null);
          if (this.watchFailed && !signal.aborted) {
            const again = await new Backfills(this.deps.etcd, this.deps.keys).listRaw();
            for (const e of again.entries) {
              const known = this.records.get(e.record.id);
              // New requests, and cancels (a record we hold as active that is no longer).
              if (!known || (e.record.state === 'cancelled' && known.state !== 'cancelled'))
                this.remember(e.record, e.text);
            }
          }
          continue;
        }
        try {
          await this.process(next);
          backoff = POLL_MS;
        } catch (err) {
          if (signal.aborted || err instanceof NotLeaderError) throw err;
          if (err instanceof GuardRefusedError) {
            // An operator changed the record (a cancel) since we read it: nothing of that slice
            // committed; read the record again and go on from what it says. (Should the read
            // fail, the next slice is refused the same way and the read tried again.)
            const fresh = await new Backfills(this.deps.etcd, this.deps.keys)
              .getRaw(next.id)
              .catch(() => undefined);
            if (fresh === undefined) {
              await this.sleep(backoff);
              backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
              continue;
            }
            if (fresh) this.remember(fresh.record, fresh.text);
            else this.records.delete(next.id);
            if (fresh?.record.state === 'cancelled') this.cancelled(fresh.record);
            continue;
          }
          // etcd or Redis failed: the txn may have committed or not, so the record is read
          // again (the cursor says); fire ids of instants decided twice run once anyway.
          logger.warn(
            { backfill: next.id, err: (err as Error).message },
            'backfill interrupted; retrying',
          );
          await this.sleep(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          const fresh = await new Backfills(this.deps.etcd, this.deps.keys)
            .getRaw(next.id)
            .catch(() => null);
          if (fresh) this.remember(fresh.record, fresh.text);
        }
      }
    } catch (err) {
      if (!signal.aborted && !(err instanceof NotLeaderError)) {
        logger.error({ err: (err as Error).message }, 'backfills stopped until the next leader');
      }
    } finally {
      await this.watcher?.cancel().catch(() => undefined);
    }
  }

  /** Decides one request to its end (or until leadership ends). */
  private async process(start: BackfillRecord): Promise<void> {
    const { signal, logger } = this.deps;
    let rec = start;
    const def = this.deps.definitions().find((d) => d.name === rec.job);
    if (!def) return this.fail(rec, `unknown job ${rec.job}: not in this leader's definitions`);
    let instants: number[];
    let range: { from: number; to: number };
    try {
      range = { from: Date.parse(rec.from), to: Date.parse(rec.to) };
      if (!(range.from <= range.to)) throw new Error(`from ${rec.from} is after to ${rec.to}`);
      if (range.to - range.from > this.limits.maxRangeMs) throw new Error('range over the limit');
      instants = planInstants(
        def.name,
        compileSchedule(def.schedule, def.timezone),
        range,
        this.limits,
      );
    } catch (err) {
      return this.fail(rec, (err as Error).message);
    }
    const schedule = compileSchedule(def.schedule, def.timezone);
    const slice = sliceOf(rec.rate, rec.overlap);
    if (rec.state === 'pending') {
      logger.info(
        { backfill: rec.id, job: rec.job, instants: instants.length, from: rec.from, to: rec.to },
        'backfill started',
      );
    } else {
      logger.info({ backfill: rec.id, job: rec.job, cursor: rec.cursor }, 'backfill resumed');
    }
    let slotAt = this.deps.now();
    while (!signal.aborted) {
      // A cancel seen through the watch stops the request here, at a slice boundary; one that
      // arrives later refuses the next slice's txn (GuardRefusedError) instead.
      const seen = this.records.get(rec.id);
      if (seen?.state === 'cancelled') return this.cancelled(seen);
      const cursor = rec.cursor === null ? null : Date.parse(rec.cursor);
      const batch = instantsAfter(schedule, range, cursor, slice.size);
      if (batch.length === 0) {
        rec = await this.save(rec, { state: 'done', total: instants.length }, []);
        logger.info(
          { backfill: rec.id, job: rec.job, enqueued: rec.enqueued, skipped: rec.skipped },
          'backfill done',
        );
        return;
      }
      // A pause holds the backfill; so does `buffer` while a run of the job is unfinished, and a
      // job without a watermark yet (the leader is applying a reload that added it).
      const [paused, watermark] = await Promise.all([
        this.deps.etcd.get(this.deps.keys.paused(def.name)).exists(),
        this.watermark(def.name),
      ]);
      const busy = rec.overlap === 'allow' ? false : await this.busy(def, rec.last);
      if (paused || watermark === null || (busy && rec.overlap === 'buffer')) {
        await this.sleep(POLL_MS);
        slotAt = this.deps.now();
        continue;
      }
      const delay = slotAt - this.deps.now();
      if (delay > 0) {
        await this.sleep(delay);
        continue;
      }
      slotAt = Math.max(slotAt, this.deps.now() - slice.everyMs) + slice.everyMs;
      const ran = await ranInstants(this.deps.redis, this.deps.redisKeys, def.name, batch);
      const orders: RunOrder[] = [];
      const skipped = { ...rec.skipped };
      for (const { at, ran: by } of ran) {
        if (at > watermark) skipped.notDue++;
        else if (by !== null) skipped.alreadyRan++;
        else if (busy) skipped.overlap++;
        else orders.push(this.order(def, rec.id, at));
      }
      const last = orders.length > 0 ? orders[orders.length - 1]!.data.fireId : rec.last;
      const end = batch[batch.length - 1]!;
      rec = await this.save(
        rec,
        {
          state: 'running',
          total: instants.length,
          cursor: new Date(end).toISOString(),
          enqueued: rec.enqueued + orders.length,
          skipped,
          last,
        },
        orders,
      );
    }
  }

  private remember(rec: BackfillRecord, text: string): void {
    this.records.set(rec.id, rec);
    this.texts.set(rec.id, text);
  }

  private cancelled(rec: BackfillRecord): void {
    this.deps.logger.info(
      {
        backfill: rec.id,
        job: rec.job,
        by: rec.cancel?.by,
        decided: rec.cancel?.decided ?? decidedOf(rec),
        enqueued: rec.enqueued,
        total: rec.total,
      },
      'backfill cancelled; stopped at the slice boundary',
    );
  }

  /** The job's watermark: every instant up to it was decided by the scheduler (null: none yet). */
  private async watermark(job: string): Promise<number | null> {
    const text = await this.deps.etcd.get(this.deps.keys.fire(job)).string();
    if (text === null) return null;
    try {
      return (JSON.parse(text) as Watermark).at;
    } catch {
      return null;
    }
  }

  /** A run of the job is unfinished: the backfill's previous run, or the overlap lock's holder. */
  private async busy(def: JobDefinition, last: string | null): Promise<boolean> {
    const { redis, redisKeys } = this.deps;
    if (last !== null && !(await runFinished(redis, redisKeys, def.queue, last))) return true;
    return overlapLockHeld(redis, redisKeys, def.name);
  }

  private order(def: JobDefinition, backfill: string, at: number): RunOrder {
    return runOrder(def, {
      at,
      fireId: backfillFireId(def.name, at),
      manual: true,
      payload: def.payload,
      availableAt: this.deps.now(),
      fencingToken: this.deps.token,
      leader: this.deps.replicaId,
      backfill,
    });
  }

  /**
   * Commits `orders` and the record's new progress in one fenced txn, on condition that the
   * record is still exactly as we last wrote or read it: a cancel written in between refuses it
   * ({@link GuardRefusedError}) and nothing of it commits.
   */
  private async save(
    rec: BackfillRecord,
    change: Partial<BackfillRecord>,
    orders: RunOrder[],
  ): Promise<BackfillRecord> {
    const next: BackfillRecord = {
      ...rec,
      ...change,
      updatedAt: new Date(this.deps.now()).toISOString(),
      token: this.deps.token,
    };
    const text = JSON.stringify(next);
    const previous = this.texts.get(rec.id) ?? JSON.stringify(rec);
    await this.deps.commit([
      {
        job: rec.job,
        watermark: null,
        orders,
        put: [{ key: this.deps.keys.backfill(rec.id), value: text }],
        unchanged: [{ key: this.deps.keys.backfill(rec.id), value: previous }],
      },
    ]);
    this.remember(next, text);
    return next;
  }

  private async fail(rec: BackfillRecord, error: string): Promise<void> {
    this.deps.logger.warn({ backfill: rec.id, job: rec.job, error }, 'backfill refused');
    await this.save(rec, { state: 'failed', error }, []);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** Waits `ms` (null: until woken), or less when woken or when leadership ends. */
  private sleep(ms: number | null): Promise<void> {
    if (this.deps.signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = ms === null ? null : setTimeout(done, ms);
      const self = this.wakeUp;
      function done() {
        if (timer) clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        self?.();
        done();
      };
    });
  }
}
