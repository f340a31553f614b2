import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import { compileSchedule, jitterMs, type CompiledSchedule } from '../cron/index.js';
import {
  redactWebhookUrl,
  resolveTarget,
  targetId,
  type AlertTarget,
} from '../definitions/alerts.js';
import type { JobDefinition } from '../definitions/types.js';
import { toSkipEntry, type RunRecord, type SkipEntry } from '../history/records.js';
import { EndedRunsTail } from '../history/tail.js';
import type { Logger } from '../log.js';
import type { RedisKeys } from '../redis/keys.js';
import {
  EVENT_KEY,
  MAX_DELIVERY_ATTEMPTS,
  isFinalFailure,
  missedEvent,
  missedRanges,
  retryDelayMs,
  runEvents,
  type AlertKind,
  type CheckedInstant,
  type RaiseContext,
} from './events.js';
import { AlertStore, type NewDelivery } from './store.js';
import { WEBHOOK_TIMEOUT_MS, scrub, sendWebhook } from './webhook.js';

/** The dead-man deadline of a job without `startingDeadline`. */
export const DEFAULT_MISSED_AFTER_MS = 5 * 60_000;
/** The check looks at an instant this long after its deadline (clocks of workers and leader differ). */
export const MISSED_GRACE_MS = 2_000;
/** After a takeover, the check waits this long for the new leader's catch-up skips to reach Redis. */
const TAKEOVER_SETTLE_MS = 2_000;
/** The dead-man check looks back at most this far (a longer gap is reported from here). */
export const MISSED_LOOKBACK_MS = 24 * 3_600_000;
/** Instants one check of one job looks at (the rest on the next check). */
const MAX_INSTANTS = 10_000;
/** Runs that ended longer ago than this raise no event (a new leader reads the whole history). */
export const DETECT_HORIZON_MS = 24 * 3_600_000;
/** A claimed delivery is not tried by anyone else before this (the POST's timeout, and some). */
const CLAIM_MS = WEBHOOK_TIMEOUT_MS + 5_000;
/** Loops wake at least this often. */
const TICK_MS = 500;
/** The longest pause between two reads of the run history (with very many jobs with alerts). */
const MAX_DETECT_TICK_MS = 15_000;
/** How often an idle leader (no job with alerts, nothing pending) looks for deliveries. */
const IDLE_TICK_MS = 5_000;
/** Deliveries sent at once. */
const PARALLEL = 16;

/** A job with at least one webhook. */
function hasAlerts(def: JobDefinition): boolean {
  return Object.values(def.alerts).some((targets) => targets.length > 0);
}

/** What decides when a job's instants are due for the dead-man check. */
function timing(def: JobDefinition): string {
  return `${def.schedule}\u0000${def.timezone}\u0000${def.startingDeadlineMs}\u0000${def.jitterMs}`;
}

/** One settled delivery attempt (for `baton_alert_deliveries_total{event,outcome}`). */
export interface AlertDelivery {
  event: AlertKind;
  outcome: 'delivered' | 'failed' | 'retried';
}

export interface AlertsDeps {
  etcd: Etcd3;
  redis: Redis;
  keys: RedisKeys;
  /** This leader's campaign key and fencing token; `signal` ends with leadership. */
  leadership: { key: string; token: string; signal: AbortSignal };
  /** Records a leadership in the fence (`Dispatcher.recordTakeover`). */
  fence: { recordTakeover(token: string, revision: string): Promise<void> };
  /** Throws when this replica's lease may have ended (`Session.assertValid`). */
  assertLeader: () => void;
  replicaId: string;
  definitions: () => readonly JobDefinition[];
  /** The scheduler's clock. */
  now: () => number;
  /** This replica's HTTP base URL, for links in the events. */
  httpUrl: () => string | null;
  logger: Logger;
  onDelivery?: (delivery: AlertDelivery) => void;
}

/**
 * The leader's alerts: raises events from the run history (failure, stale, recovered) and from
 * the dead-man check (missed), and delivers them to their webhooks, once per event and webhook
 * through fail-overs (see store.ts and docs/architecture.md, "Alerts"). Runs from leadership's
 * start to its end; {@link stop} ends it.
 */
export class Alerts {
  private readonly abort = new AbortController();
  private readonly store: AlertStore;
  private readonly tail: EndedRunsTail;
  private readonly schedules = new Map<string, CompiledSchedule>();
  /**
   * Per job, when the dead-man check has something to look at next (epoch ms), for the job's
   * timing as it was then (a changed schedule, zone, deadline or jitter is looked at again).
   */
  private readonly nextCheck = new Map<string, { at: number; timing: string }>();
  private checkFrom: number | null = null;
  private loops: Promise<void>[] = [];
  private wakeDelivery: (() => void) | null = null;
  private readonly log: Logger;
  /** Per job, since when its runs raise events (epoch ms; see learnSince). */
  private readonly since = new Map<string, number>();
  private readonly startedAt: number;

  constructor(private readonly deps: AlertsDeps) {
    this.store = new AlertStore(deps.redis, deps.keys, deps.leadership.token);
    this.tail = new EndedRunsTail(deps.redis, deps.keys);
    this.log = deps.logger.child({ module: 'alerts' });
    this.startedAt = deps.now();
    const stop = () => this.abort.abort();
    if (deps.leadership.signal.aborted) stop();
    else deps.leadership.signal.addEventListener('abort', stop, { once: true });
  }

  /** Starts: records this leader in the fence, then detects and delivers until stopped. */
  start(): this {
    this.loops = [this.run()];
    return this;
  }

  /** The fire loop's takeover (catch-up) is done: the dead-man check may begin. */
  takeoverDone(): void {
    this.checkFrom ??= this.deps.now() + TAKEOVER_SETTLE_MS;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeDelivery?.();
    await Promise.allSettled(this.loops);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async sleep(ms: number, wake?: (w: () => void) => void): Promise<void> {
    if (this.stopped) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.abort.signal.addEventListener('abort', done, { once: true });
      wake?.(done);
    });
  }

  private async run(): Promise<void> {
    // Before any claim: a deposed leader's scripts are refused from here on. The revision of a
    // read made now is at or after the deletion of every older campaign key, so recording it as
    // this leader's takeover revision is as true for the workers' fence as the fire loop's.
    while (!this.stopped) {
      try {
        this.deps.assertLeader();
        const read = await this.deps.etcd.get(this.deps.leadership.key).exec();
        await this.deps.fence.recordTakeover(this.deps.leadership.token, read.header.revision);
        break;
      } catch (err) {
        this.log.debug({ err }, 'alerts: cannot record the fence yet');
        await this.sleep(TICK_MS);
      }
    }
    if (this.stopped) return;
    await Promise.allSettled([this.detectLoop(), this.deliverLoop()]);
  }

  private ctx(): RaiseContext {
    return { replica: this.deps.replicaId, http: this.deps.httpUrl() };
  }

  // --- detection -------------------------------------------------------------------------------

  private async detectLoop(): Promise<void> {
    while (!this.stopped) {
      let jobs = 0;
      try {
        this.deps.assertLeader();
        jobs = await this.detectRuns();
        if (this.checkFrom !== null && this.deps.now() >= this.checkFrom) await this.checkMissed();
      } catch (err) {
        if (!this.stopped) this.log.debug({ err }, 'alerts: detection failed; retrying');
      }
      // Each tick reads the history of every job with run alerts: with many thousands of them,
      // tick less often (1 s per 10,000 jobs, at most 15 s) rather than load Redis.
      await this.sleep(Math.min(MAX_DETECT_TICK_MS, Math.max(TICK_MS, jobs / 10)));
    }
  }

  /**
   * Events of the runs that ended since the last call: failure, stale, recovered. Returns how
   * many jobs were looked at.
   */
  private async detectRuns(): Promise<number> {
    const defs = new Map(
      this.deps
        .definitions()
        .filter(
          (d) =>
            d.alerts.onFailure.length + d.alerts.onStale.length + d.alerts.onRecovered.length > 0,
        )
        .map((d) => [d.name, d]),
    );
    if (defs.size === 0) return 0;
    await this.learnSince([...defs.keys()]);
    const horizon = this.deps.now() - DETECT_HORIZON_MS;
    const ended = (await this.tail.next([...defs.keys()])).filter((e) => {
      const endedAt = Date.parse(e.record.endedAt ?? e.record.startedAt);
      return endedAt >= horizon && endedAt >= (this.since.get(e.job) ?? 0);
    });
    if (ended.length === 0) return defs.size;
    const previous = await this.previousRuns(
      ended
        .filter((e) => e.record.status === 'completed')
        .filter((e) => defs.get(e.job)!.alerts.onRecovered.length > 0)
        .map((e) => e.record),
    );
    const deliveries: NewDelivery[] = [];
    const ctx = this.ctx();
    for (const { job, record } of ended) {
      const def = defs.get(job)!;
      for (const payload of runEvents(record, previous.get(record) ?? null, ctx))
        for (const t of def.alerts[EVENT_KEY[payload.event]])
          deliveries.push({ payload, target: targetId(t) });
    }
    await this.raise(deliveries);
    return defs.size;
  }

  /**
   * When each job's runs were first watched for alerts, from Redis, set to this leadership's
   * start for jobs no leader watched before: runs that ended earlier (a job that just got
   * `alerts:`, or an upgrade) raise nothing, rather than a burst of old news.
   */
  private async learnSince(jobs: string[]): Promise<void> {
    const unknown = jobs.filter((j) => !this.since.has(j));
    if (unknown.length === 0) return;
    const { redis, keys } = this.deps;
    const set = redis.pipeline();
    for (const job of unknown) set.set(keys.alertsSince(job), String(this.startedAt), 'NX');
    await set.exec();
    const values = await redis.mget(...unknown.map((j) => keys.alertsSince(j)));
    unknown.forEach((job, i) => this.since.set(job, Number(values[i] ?? this.startedAt)));
  }

  /**
   * For each completed run, the job's previous run that ended (completed, or failed with no retry
   * left), by start time, from the history.
   */
  private async previousRuns(records: RunRecord[]): Promise<Map<RunRecord, RunRecord>> {
    const out = new Map<RunRecord, RunRecord>();
    if (records.length === 0) return out;
    const { redis, keys } = this.deps;
    const ranges = redis.pipeline();
    for (const r of records)
      ranges.zrevrangebyscore(
        keys.run(r.job).history,
        `(${Date.parse(r.startedAt)}`,
        '-inf',
        'LIMIT',
        0,
        20,
      );
    const idLists = (await ranges.exec()) ?? [];
    const reads = redis.pipeline();
    const asked: { record: RunRecord; n: number }[] = [];
    records.forEach((r, i) => {
      const [err, ids] = idLists[i] ?? [null, []];
      const list = err ? [] : (ids as string[]);
      if (list.length === 0) return;
      reads.hmget(keys.run(r.job).records, ...list);
      asked.push({ record: r, n: list.length });
    });
    if (asked.length === 0) return out;
    const values = (await reads.exec()) ?? [];
    asked.forEach(({ record }, i) => {
      const [err, list] = values[i] ?? [null, []];
      if (err) return;
      for (const json of list as (string | null)[]) {
        if (json === null) continue;
        let r: RunRecord;
        try {
          r = JSON.parse(json) as RunRecord;
        } catch {
          continue;
        }
        if (r.fireId === record.fireId) continue;
        if (r.status === 'completed' || isFinalFailure(r)) {
          out.set(record, r);
          return;
        }
      }
    });
    return out;
  }

  private async raise(
    deliveries: NewDelivery[],
    cursor?: { job: string; expected: number | null; next: number },
  ): Promise<number | 'stale' | 'moved'> {
    if (deliveries.length === 0 && cursor === undefined) return 0;
    const result = await this.store.raise(deliveries, this.deps.now(), cursor);
    if (result === 'stale') {
      this.log.warn('alerts: a newer leader is in the fence; this replica raises no more alerts');
      this.abort.abort();
    } else if (typeof result === 'number' && result > 0) {
      this.log.info(
        { events: [...new Set(deliveries.map((d) => d.payload.id))], deliveries: result },
        'alerts raised',
      );
      this.wakeDelivery?.();
    }
    return result;
  }

  private schedule(def: JobDefinition): CompiledSchedule {
    const key = `${def.timezone} ${def.schedule}`;
    let s = this.schedules.get(key);
    if (s === undefined) {
      s = compileSchedule(def.schedule, def.timezone);
      this.schedules.set(key, s);
    }
    return s;
  }

  /** The dead-man check of every job with `onMissed`. */
  private async checkMissed(): Promise<void> {
    for (const def of this.deps.definitions()) {
      if (this.stopped) return;
      if (def.alerts.onMissed.length === 0) continue;
      const next = this.nextCheck.get(def.name);
      if (next !== undefined && next.timing === timing(def) && next.at > this.deps.now()) continue;
      await this.checkJob(def);
    }
  }

  /**
   * Looks at the instants of `def` after its cursor whose deadline (instant + jitter +
   * deadline) has passed, raises one `missed` event per stretch of consecutive missed instants,
   * and moves the cursor in the same fenced script: each instant is looked at once, by one
   * leader, whenever it runs.
   */
  private async checkJob(def: JobDefinition): Promise<void> {
    const now = this.deps.now();
    const cursor = await this.store.missedCursor(def.name);
    if (cursor === null) {
      // The check of this job starts now: nothing before was watched.
      await this.raise([], { job: def.name, expected: null, next: now });
      return;
    }
    const deadline = def.startingDeadlineMs ?? DEFAULT_MISSED_AFTER_MS;
    const schedule = this.schedule(def);
    const instants: CheckedInstant[] = [];
    let t = Math.max(cursor, now - MISSED_LOOKBACK_MS);
    while (instants.length < MAX_INSTANTS) {
      const at = schedule.next(t);
      if (at === null) {
        this.nextCheck.set(def.name, { at: Number.POSITIVE_INFINITY, timing: timing(def) });
        break;
      }
      const deadlineAt = at + jitterMs(def.name, at, def.jitterMs) + deadline;
      if (deadlineAt + MISSED_GRACE_MS > now) {
        this.nextCheck.set(def.name, { at: deadlineAt + MISSED_GRACE_MS, timing: timing(def) });
        break;
      }
      instants.push({ at, deadlineAt });
      t = at;
    }
    if (instants.length === 0) return;
    const { runs, skips } = await this.evidence(def.name, instants);
    const ctx = this.ctx();
    const deliveries: NewDelivery[] = [];
    for (const range of missedRanges(def.name, instants, runs, skips)) {
      const payload = missedEvent(def.name, range, ctx);
      for (const target of def.alerts.onMissed)
        deliveries.push({ payload, target: targetId(target) });
    }
    const result = await this.raise(deliveries, {
      job: def.name,
      expected: cursor,
      next: instants[instants.length - 1]!.at,
    });
    if (result === 'moved') this.nextCheck.delete(def.name);
  }

  /** The history records and leader skips of `job` around `instants`. */
  private async evidence(
    job: string,
    instants: readonly CheckedInstant[],
  ): Promise<{ runs: RunRecord[]; skips: SkipEntry[] }> {
    const { redis, keys } = this.deps;
    const first = instants[0]!.at;
    const last = Math.max(...instants.map((i) => i.deadlineAt));
    const k = keys.run(job);
    const results = await redis
      .pipeline()
      .zrangebyscore(k.history, first - 60_000, last, 'LIMIT', 0, MAX_INSTANTS)
      .zrevrangebyscore(keys.skips(job).list, last, '-inf', 'LIMIT', 0, 1000)
      .exec();
    if (!results) throw new Error('Redis pipeline was discarded');
    for (const [err] of results) if (err) throw err;
    const ids = results[0]![1] as string[];
    const skips = (results[1]![1] as string[])
      .map(toSkipEntry)
      .filter((s): s is SkipEntry => s !== null && Date.parse(s.last) >= first);
    const runs: RunRecord[] = [];
    if (ids.length > 0) {
      for (const json of await redis.hmget(k.records, ...ids)) {
        if (json === null) continue;
        try {
          runs.push(JSON.parse(json) as RunRecord);
        } catch {
          // not baton's
        }
      }
    }
    return { runs, skips };
  }

  // --- delivery --------------------------------------------------------------------------------

  private async deliverLoop(): Promise<void> {
    while (!this.stopped) {
      let wait = TICK_MS;
      try {
        this.deps.assertLeader();
        const ids = await this.store.due(this.deps.now(), PARALLEL);
        if (ids.length > 0) {
          await Promise.all(ids.map((id) => this.deliver(id)));
          continue;
        }
        const next = await this.store.nextDue();
        if (next !== null) wait = Math.min(TICK_MS * 2, Math.max(0, next - this.deps.now()));
        else if (!this.deps.definitions().some(hasAlerts)) wait = IDLE_TICK_MS; // raising wakes it
      } catch (err) {
        if (!this.stopped) this.log.debug({ err }, 'alerts: delivery failed; retrying');
      }
      await this.sleep(wait, (w) => (this.wakeDelivery = w));
      this.wakeDelivery = null;
    }
  }

  private findTarget(job: string, kind: AlertKind, id: string): AlertTarget | undefined {
    const def = this.deps.definitions().find((d) => d.name === job);
    return def?.alerts[EVENT_KEY[kind]].find((t) => targetId(t) === id);
  }

  private settled(
    kind: AlertKind,
    outcome: AlertDelivery['outcome'],
    result: string,
    fields: Record<string, unknown>,
    line: string,
  ): void {
    if (result !== 'ok') {
      this.log.warn({ ...fields, refused: result }, 'alerts: a delivery could not be settled');
      if (result === 'stale') this.abort.abort();
      return;
    }
    if (outcome === 'delivered') this.log.info(fields, line);
    else this.log.warn(fields, line);
    this.deps.onDelivery?.({ event: kind, outcome });
  }

  private async deliver(id: string): Promise<void> {
    const now = this.deps.now();
    const claim = await this.store.claim(id, now, now + CLAIM_MS);
    if ('refused' in claim) {
      if (claim.refused === 'stale') {
        this.log.warn('alerts: a newer leader is in the fence; this replica delivers no more');
        this.abort.abort();
      }
      return;
    }
    const d = claim.claimed;
    const target = this.findTarget(d.job, d.kind, d.target);
    const fields = { event: d.payload.id, job: d.job, attempt: d.attempts, target: d.target };
    if (target === undefined) {
      const error = 'the webhook is no longer in the job definition';
      const result = await this.store.settle(id, 'failed', this.deps.now(), { error });
      this.settled(d.kind, 'failed', result, { ...fields, err: error }, 'alert not delivered');
      return;
    }
    const shown = { ...fields, url: redactWebhookUrl(target.url) };
    // References are read for each attempt (a rotated secrets file is picked up); one that cannot
    // be read fails the attempt like a webhook that does not answer: retried (another leader, or
    // a file mounted late, may read it), then given up. The reason names the reference only.
    const resolved = await resolveTarget(target);
    const sent = resolved.ok
      ? await sendWebhook(resolved.target, d.payload, d.attempts, { signal: this.abort.signal })
      : { ok: false as const, permanent: false, status: null, error: resolved.error };
    if (sent.ok) {
      const result = await this.store.settle(id, 'delivered', this.deps.now());
      this.settled(
        d.kind,
        'delivered',
        result,
        { ...shown, status: sent.status },
        'alert delivered',
      );
      return;
    }
    const error = resolved.ok ? scrub(sent.error, resolved.target) : sent.error;
    if (sent.permanent || d.attempts >= MAX_DELIVERY_ATTEMPTS) {
      const result = await this.store.settle(id, 'failed', this.deps.now(), { error });
      this.settled(d.kind, 'failed', result, { ...shown, err: error }, 'alert not delivered');
      return;
    }
    const delay = retryDelayMs(d.attempts);
    const result = await this.store.settle(id, 'retry', this.deps.now(), {
      error,
      nextAt: this.deps.now() + delay,
    });
    this.settled(
      d.kind,
      'retried',
      result,
      { ...shown, err: error, retryInMs: delay },
      'alert delivery failed; retrying',
    );
  }
}
