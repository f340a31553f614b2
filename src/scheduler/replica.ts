import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import {
  definitionsHash,
  watchDefinitions,
  type DefinitionsWatcher,
} from '../definitions/index.js';
import type { JobDefinition } from '../definitions/types.js';
import { formatProblem } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../log.js';
import { campaign } from '../coordination/election.js';
import { createEtcd } from '../coordination/etcd.js';
import { keys as makeKeys, type Keys } from '../coordination/keys.js';
import {
  listMembers,
  putMember,
  type MemberInfo,
  type ReplicaState,
} from '../coordination/members.js';
import { Session, describe } from '../coordination/session.js';
import { Dispatcher } from '../dispatch/producer.js';
import { EventBatcher } from '../control/events.js';
import { createRedis } from '../dispatch/redis.js';
import { VERSION } from '../version.js';
import { FireLoop, type LeaderEvent } from './fire-loop.js';

/** Typed events of a replica (logged; awaited by in-process tests). */
export interface ReplicaEvents {
  state: [{ from: ReplicaState; to: ReplicaState; reason: string; token: string | null }];
  leader: [LeaderEvent];
  definitions: [{ jobs: number; hash: string }];
}

export interface ReplicaOptions {
  config: ResolvedConfig;
  logger: Logger;
  /** Base URL of this replica's HTTP server, published in its member record. */
  httpUrl?: string | null;
}

const MAX_BACKOFF_MS = 5000;

/**
 * One scheduler replica: `unknown` until it holds an etcd session, then `follower` while it
 * campaigns, `leader` while it holds the lowest campaign key. Any failure (etcd unreachable,
 * keepalive failed, own key deleted, fenced commit refused) ends the session and starts over
 * with backoff; the process never exits on its own.
 */
export class Replica extends EventEmitter<ReplicaEvents> {
  state: ReplicaState = 'unknown';
  token: string | null = null;
  private readonly config: ResolvedConfig;
  private readonly log: Logger;
  private readonly keys: Keys;
  private readonly etcd: Etcd3;
  private readonly redis: Redis;
  /** Fire and skip events for every API process, one pub/sub message per burst. */
  private readonly events: EventBatcher;
  private readonly dispatcher: Dispatcher;
  private readonly startedAt = new Date().toISOString();
  private httpUrl: string | null;
  private watcher: DefinitionsWatcher | null = null;
  private session: Session | null = null;
  private loop: FireLoop | null = null;
  private stopping = false;
  private stopWake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private etcdDownSince: number | null = null;
  private redisReady = true;
  /** Since when (monotonic ms) Redis has not answered this replica, or null while it does. */
  private redisDownSince: number | null = null;
  private beating = false;
  private hash = '';

  constructor(options: ReplicaOptions) {
    super();
    this.config = options.config;
    this.log = options.logger.child({ replica: options.config.replicaId });
    this.httpUrl = options.httpUrl ?? null;
    this.keys = makeKeys(this.config.namespace);
    this.etcd = createEtcd(this.config);
    this.redis = createRedis(this.config, 'producer');
    this.events = new EventBatcher(this.redis, this.config.queuePrefix);
    this.dispatcher = new Dispatcher(this.redis, this.config.queuePrefix);
  }

  get id(): string {
    return this.config.replicaId;
  }

  /** The current definitions (last good set). */
  definitions(): readonly JobDefinition[] {
    return this.watcher?.current() ?? [];
  }

  get redisIsReady(): boolean {
    return this.redisReady;
  }

  /** True while the replica holds an etcd session (etcd reachable). */
  get etcdIsReady(): boolean {
    return this.session !== null && !this.session.ended;
  }

  /** Ready: state known (etcd session) and Redis reachable. */
  get ready(): boolean {
    return this.state !== 'unknown' && this.redisReady;
  }

  /** Sets the URL published in the member record (once the HTTP server listens). */
  setHttpUrl(url: string | null): void {
    this.httpUrl = url;
  }

  async start(): Promise<void> {
    this.log.info(
      {
        etcd: this.config.etcdEndpoints,
        redis: redactUrl(this.config.redisUrl),
        namespace: this.config.namespace,
        jobs: this.config.jobsDir,
        leaseTtl: this.config.leaseTtlSeconds,
      },
      'replica starting',
    );
    if (this.config.clockOffsetMs !== 0) {
      this.log.warn(
        { clockOffsetMs: this.config.clockOffsetMs },
        'BATON_CLOCK_OFFSET_MS is set: the schedule runs on a shifted clock (tests and demos only)',
      );
    }
    this.watcher = await watchDefinitions(this.config.jobsDir, {
      onChange: (result) => {
        this.hash = definitionsHash([...result.jobs]);
        this.log.info({ jobs: result.jobs.length, hash: this.hash }, 'definitions loaded');
        this.emit('definitions', { jobs: result.jobs.length, hash: this.hash });
        this.loop?.reload();
        void this.publishMember();
      },
      onProblems: (problems) => {
        for (const p of problems)
          this.log.error(
            { problem: formatProblem(p) },
            'invalid job definition (last good definition kept)',
          );
      },
    });
    this.hash = definitionsHash([...this.watcher.current()]);
    this.heartbeat = setInterval(
      () => void this.beat(),
      Math.max(1000, (this.config.leaseTtlSeconds * 1000) / 2),
    );
    this.heartbeat.unref();
    this.running = this.main();
  }

  /**
   * Resigns (revokes the lease, so another replica leads within one watch event) and closes
   * every connection.
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.running ?? undefined;
    this.stopping = true;
    this.log.info({ state: this.state }, 'replica stopping');
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.stopWake?.();
    const session = this.session;
    if (session) await session.close('shutdown');
    await this.running?.catch(() => undefined);
    await this.watcher?.close();
    await this.dispatcher.close();
    this.redis.disconnect();
    this.etcd.close();
    this.setState('unknown', 'stopped');
  }

  private async main(): Promise<void> {
    let backoff = 100;
    while (!this.stopping) {
      let session: Session | null = null;
      /** Why the session is over: what ended it first, or the error that broke it. */
      let over = 'session ended';
      try {
        session = await Session.open(this.etcd, this.config.leaseTtlSeconds, this.log);
        this.session = session;
        if (this.stopping) break;
        if (this.etcdDownSince !== null) {
          this.log.info({ downMs: Date.now() - this.etcdDownSince }, 'etcd reachable again');
          this.etcdDownSince = null;
        }
        backoff = 100;
        this.setState('follower', 'campaigning');
        await this.publishMember();
        const leadership = await campaign(this.etcd, this.keys, session, {
          id: this.id,
          http: this.httpUrl,
        });
        if (this.stopping) break;
        this.token = leadership.token;
        this.setState('leader', 'elected');
        await this.publishMember();
        this.loop = new FireLoop({
          etcd: this.etcd,
          keys: this.keys,
          session,
          leadership,
          dispatcher: this.dispatcher,
          replicaId: this.id,
          logger: this.log.child({ token: leadership.token }),
          definitions: () => this.definitions(),
          lookaheadMs: this.config.lookaheadMs,
          now: () => Date.now() + this.config.clockOffsetMs,
          emit: (event) => this.onLeaderEvent(event),
        });
        await this.loop.run();
        if (!this.stopping) session.end(String(leadership.signal.reason ?? 'leadership ended'));
      } catch (err) {
        if (!this.stopping) this.onFailure(err, session);
        over = describe(err);
      } finally {
        this.loop = null;
        this.token = null;
        if (session?.ended) over = String(session.signal.reason);
        if (session && !this.stopping) await session.close('session over');
        if (session === this.session) this.session = null;
      }
      if (this.stopping) break;
      this.setState('unknown', `${over}; starting over`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, backoff);
        this.stopWake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private onFailure(err: unknown, session: Session | null): void {
    const message = describe(err);
    if (!session) {
      // One clear line per outage, not one per retry.
      this.log.debug({ err: message }, 'etcd session attempt failed');
      if (this.etcdDownSince === null) {
        this.etcdDownSince = Date.now();
        this.log.error(
          { etcd: this.config.etcdEndpoints, err: message },
          'etcd unreachable; state unknown, retrying with backoff',
        );
      }
      return;
    }
    this.log.warn({ err: message, state: this.state }, 'lost etcd session or leadership');
  }

  private onLeaderEvent(event: LeaderEvent): void {
    switch (event.type) {
      case 'fire':
        this.log.info(
          { job: event.job, fireId: event.fireId, token: event.token, manual: event.manual },
          'fire committed',
        );
        this.events.publish({
          type: 'fire',
          job: event.job,
          fireId: event.fireId,
          scheduledAt: new Date(event.scheduledAt).toISOString(),
          token: event.token,
          manual: event.manual,
        });
        break;
      case 'skip':
        this.log.warn(
          {
            job: event.job,
            reason: event.reason,
            count: event.count,
            first: new Date(event.first).toISOString(),
            last: new Date(event.last).toISOString(),
          },
          'fires skipped',
        );
        this.events.publish({
          type: 'skip',
          job: event.job,
          reason: event.reason,
          first: new Date(event.first).toISOString(),
          last: new Date(event.last).toISOString(),
          count: event.count,
        });
        break;
      case 'redis':
        this.setRedis(event.ready, performance.now());
        if (event.ready) this.log.info('redis reachable again; draining the outbox');
        else
          this.log.error({ err: event.error }, 'redis unreachable; fires wait in the etcd outbox');
        void this.publishMember();
        break;
      case 'redis-restarted':
        this.log.warn(
          { republished: event.republished },
          'redis restarted within its fsync window: orders it may have lost are published again',
        );
        break;
      case 'takeover':
        this.log.info({ outbox: event.outbox, jobs: event.jobs, ms: event.ms }, 'takeover done');
        break;
      case 'published':
        this.log.debug({ count: event.count, lagMs: event.lagMs }, 'published to redis');
        break;
      case 'trigger-rejected':
        this.log.warn(
          { trigger: event.id, job: event.job, reason: event.reason },
          'trigger rejected',
        );
        break;
    }
    this.emit('leader', event);
  }

  /**
   * Sets the state. `reason` says why, in words; for a leader stepping down it starts with what
   * ended leadership (see {@link stepDownCause}).
   */
  private setState(to: ReplicaState, reason: string): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.log.info({ from, to, reason, token: this.token }, `state ${from} -> ${to}`);
    this.emit('state', { from, to, reason, token: this.token });
  }

  private setRedis(ready: boolean, since: number): void {
    this.redisReady = ready;
    if (ready) this.redisDownSince = null;
    else this.redisDownSince ??= since;
  }

  /**
   * Every TTL/2: ask Redis (the leader too: a leader whose packets to Redis vanish learns it here
   * within one command timeout, not from a publish that may never end), publish the member
   * record, and, as leader, step down when Redis has not answered for a whole TTL while a
   * follower reports that it can reach Redis: a replica that can publish should lead.
   */
  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const sentAt = performance.now();
      const ok = await this.dispatcher.ping();
      this.setRedis(ok, sentAt);
      if (!ok) {
        // A connection whose packets vanish never errors by itself: start a fresh one.
        this.redis.disconnect(true);
      }
      await this.publishMember();
      if (this.state === 'leader' && this.redisDownSince !== null) await this.maybeYield();
    } finally {
      this.beating = false;
    }
  }

  /** Steps down when Redis has been out of this leader's reach for a TTL and a follower reaches it. */
  private async maybeYield(): Promise<void> {
    const downMs = performance.now() - (this.redisDownSince ?? performance.now());
    if (downMs < this.config.leaseTtlSeconds * 1000) return;
    let others: MemberInfo[];
    try {
      others = (await listMembers(this.etcd, this.keys)).filter((m) => m.id !== this.id);
    } catch {
      return; // etcd trouble is the session's business
    }
    const able = others.find((m) => m.state === 'follower' && m.redisReady);
    if (!able) return;
    const session = this.session;
    if (!session || session.ended || this.state !== 'leader') return;
    this.log.error(
      { downMs: Math.round(downMs), successor: able.id },
      'redis unreachable from this leader for a lease TTL while a follower reaches it: stepping down',
    );
    session.end(`redis unreachable for ${Math.round(downMs)} ms while ${able.id} reaches it`);
  }

  private async publishMember(): Promise<void> {
    const session = this.session;
    if (!session || session.ended) return;
    const info: MemberInfo = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      state: this.state,
      definitionsHash: this.hash,
      http: this.httpUrl,
      redisReady: this.redisReady,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      token: this.state === 'leader' ? this.token : null,
    };
    try {
      await putMember(this.etcd, this.keys, session, info);
    } catch (err) {
      this.log.debug({ err: describe(err) }, 'member heartbeat failed');
    }
  }
}

/** Why a leader stopped leading, as a metric label (`baton_step_downs_total{cause}`). */
export type StepDownCause =
  | 'shutdown'
  | 'lease_expired'
  | 'key_deleted'
  | 'fence_refused'
  | 'watch_failed'
  | 'redis_unreachable'
  | 'etcd_error';

/** The cause of a step-down from the reason of the state change that ended leadership. */
export function stepDownCause(reason: string): StepDownCause {
  if (/^stopped|shutdown/.test(reason)) return 'shutdown';
  if (/keepalive acknowledged|lease lost|lease may have expired/.test(reason))
    return 'lease_expired';
  if (/own election key was deleted/.test(reason)) return 'key_deleted';
  if (/fenced commit refused/.test(reason)) return 'fence_refused';
  if (/watch .*failed/.test(reason)) return 'watch_failed';
  if (/^redis unreachable/.test(reason)) return 'redis_unreachable';
  return 'etcd_error';
}
