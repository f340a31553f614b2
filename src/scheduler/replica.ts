import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import { openDefinitions, type DefinitionsSource } from '../definitions/index.js';
import type { JobDefinition } from '../definitions/types.js';
import {
  AuthError,
  NotLeaderError,
  PrefixTakenError,
  InvalidRequestError,
  SessionEnd,
  UnavailableError,
  type StepDownCause,
} from '../errors.js';
import { etcdError, redisFailure, type FailureCause } from '../failures.js';
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
import { ClaimedDispatcher, PrefixClaim, readyWithin } from '../dispatch/namespace.js';
import { EventBatcher } from '../events/bus.js';
import { recordTakeover } from '../history/leader-terms.js';
import { parseRedisUrl } from '../config/redis-url.js';
import { createRedis, lastConnectionError } from '../redis/connection.js';
import { redisKeysOf } from '../redis/keys.js';
import { Backoff, SESSION_RETRY } from '../retry.js';
import { VERSION } from '../version.js';
import { Alerts, type AlertDelivery } from '../alerts/index.js';
import { FireLoop, type LeaderEvent } from './fire-loop.js';

/** A state change; leaving `leader`, `cause` says why, typed (`baton_step_downs_total{cause}`). */
export interface StateChange {
  from: ReplicaState;
  to: ReplicaState;
  reason: string;
  token: string | null;
  cause: StepDownCause | null;
}

/** What is wrong with a backing service, as this replica last saw it (null: nothing). */
export interface ServiceProblem {
  service: 'etcd' | 'redis';
  cause: FailureCause;
  message: string;
  since: string;
}

/** Typed events of a replica (logged; awaited by in-process tests). */
export interface ReplicaEvents {
  state: [StateChange];
  leader: [LeaderEvent];
  definitions: [{ jobs: number; hash: string }];
  /** A problem with etcd or Redis began (or changed cause), or ended (`cause: null`). */
  problem: [{ service: 'etcd' | 'redis'; cause: FailureCause | null; message: string }];
  /** The replica cannot go on (its queue prefix belongs to another namespace); it stops. */
  fatal: [Error];
  /** As leader: an alert delivery attempt was settled. */
  alert: [AlertDelivery];
}

export interface ReplicaOptions {
  config: ResolvedConfig;
  logger: Logger;
  /** Base URL of this replica's HTTP server, published in its member record. */
  httpUrl?: string | null;
}

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
  private readonly dispatcher: ClaimedDispatcher;
  private readonly startedAt = new Date().toISOString();
  private httpUrl: string | null;
  private watcher: DefinitionsSource | null = null;
  private session: Session | null = null;
  private loop: FireLoop | null = null;
  private alerts: Alerts | null = null;
  private stopping = false;
  private stopWake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly problems: { etcd: ServiceProblem | null; redis: ServiceProblem | null } = {
    etcd: null,
    redis: null,
  };
  private readonly prefixClaim: PrefixClaim;
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
    this.events = new EventBatcher(this.redis, redisKeysOf(this.config));
    this.prefixClaim = new PrefixClaim(this.redis, redisKeysOf(this.config), this.config.redisUrl);
    const target = parseRedisUrl(this.config.redisUrl);
    this.dispatcher = new ClaimedDispatcher(
      this.redis,
      this.prefixClaim,
      (err) => this.onPrefixTaken(err),
      target.kind === 'sentinel' ? target.waitReplicas : 0,
    );
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

  /** What is wrong with etcd and Redis as this replica last saw it (`auth`, `unavailable`, ...). */
  serviceProblems(): ServiceProblem[] {
    return [this.problems.etcd, this.problems.redis].filter((p): p is ServiceProblem => !!p);
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
        etcd: this.config.etcdEndpoints.map(redactUrl),
        redis: redactUrl(this.config.redisUrl),
        namespace: this.config.namespace,
        jobs: this.config.jobsDir,
        leaseTtl: this.config.leaseTtlSeconds,
      },
      'replica starting',
    );
    await this.checkPrefix();
    if (this.config.clockOffsetMs !== 0) {
      this.log.warn(
        { clockOffsetMs: this.config.clockOffsetMs },
        'BATON_CLOCK_OFFSET_MS is set: the schedule runs on a shifted clock (tests and demos only)',
      );
    }
    this.watcher = await openDefinitions({
      dir: this.config.jobsDir,
      logger: this.log,
      problems: { level: 'error', message: 'invalid job definition (last good definition kept)' },
      checkSecrets: true,
      onChange: (result) => {
        this.hash = result.hash;
        this.log.info({ jobs: result.jobs.length, hash: this.hash }, 'definitions loaded');
        this.emit('definitions', { jobs: result.jobs.length, hash: this.hash });
        this.loop?.reload();
        void this.publishMember();
      },
    });
    this.hash = this.watcher.hash();
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
    if (session) await session.close(new SessionEnd('shutdown', 'shutdown'));
    await this.running?.catch(() => undefined);
    await this.watcher?.close();
    await this.dispatcher.close();
    this.redis.disconnect();
    this.etcd.close();
    this.setState('unknown', 'stopped', 'shutdown');
  }

  /**
   * Claims the queue prefix for this namespace before anything else (docs/operations.md, "One
   * Redis, several namespaces"). Throws {@link PrefixTakenError} when it belongs to another
   * namespace. When Redis cannot be asked now, the replica starts anyway (fires wait in the
   * outbox) and the claim is made before its first write to Redis.
   */
  private async checkPrefix(): Promise<void> {
    try {
      if (!(await readyWithin(this.redis, 3000))) {
        throw new Error('Redis is not ready');
      }
      await this.prefixClaim.ensure();
    } catch (err) {
      if (err instanceof PrefixTakenError) {
        this.log.error({ err }, 'queue prefix belongs to another namespace');
        await this.stop();
        throw err;
      }
      this.log.warn(
        { err: lastConnectionError(this.redis) ?? err },
        "cannot check the queue prefix's namespace in Redis yet; it is checked before the first publish",
      );
    }
  }

  /** Found at publish time: another namespace owns the prefix. Stop, and say why. */
  private onPrefixTaken(err: PrefixTakenError): void {
    if (this.stopping) return;
    this.log.error({ err }, 'queue prefix belongs to another namespace; stopping');
    void this.stop().finally(() => this.emit('fatal', err));
  }

  private async main(): Promise<void> {
    const backoff = new Backoff(SESSION_RETRY);
    while (!this.stopping) {
      let session: Session | null = null;
      /** Why the session is over: what ended it first, or the error that broke it. */
      let over = new SessionEnd('etcd_error', 'session ended');
      try {
        session = await Session.open(this.etcd, this.config.leaseTtlSeconds, this.log);
        this.session = session;
        if (this.stopping) break;
        // The first write of the session: etcd may grant a lease to a client it will not let
        // write (no user, no permission on the namespace).
        await this.publishMember({ state: 'follower', throwing: true });
        this.etcdOk();
        backoff.reset();
        this.setState('follower', 'campaigning');
        const leadership = await campaign(this.etcd, this.keys, session, {
          id: this.id,
          http: this.httpUrl,
        });
        if (this.stopping) break;
        this.token = leadership.token;
        this.setState('leader', 'elected');
        // Who led when, for the dashboard's cluster timeline (best effort: not part of leading).
        recordTakeover(this.redis, redisKeysOf(this.config), {
          token: leadership.token,
          replica: this.id,
          at: Date.now() + this.config.clockOffsetMs,
        }).catch((err: unknown) => this.log.warn({ err }, 'takeover not recorded'));
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
          clockOffsetMs: this.config.clockOffsetMs,
          emit: (event) => this.onLeaderEvent(event),
        });
        // Alerts are the leader's too: started and stopped with the fire loop (src/alerts/).
        this.alerts = new Alerts({
          etcd: this.etcd,
          redis: this.redis,
          keys: redisKeysOf(this.config),
          leadership,
          fence: this.dispatcher,
          assertLeader: () => session!.assertValid(),
          replicaId: this.id,
          definitions: () => this.definitions(),
          now: () => Date.now() + this.config.clockOffsetMs,
          httpUrl: () => this.httpUrl,
          logger: this.log.child({ token: leadership.token }),
          onDelivery: (delivery) => this.emit('alert', delivery),
        }).start();
        await this.loop.run().finally(() => this.alerts?.stop());
        if (!this.stopping) {
          session.end(SessionEnd.of(leadership.signal.reason ?? 'leadership ended'));
        }
      } catch (err) {
        if (!this.stopping) over = this.onFailure(err, session);
      } finally {
        this.loop = null;
        this.alerts = null;
        this.token = null;
        if (session?.ended) over = session.ending!;
        if (session && !this.stopping) {
          await session.close(new SessionEnd(over.cause, 'session over'));
        }
        if (session === this.session) this.session = null;
      }
      if (this.stopping) break;
      this.setState('unknown', `${over.message}; starting over`, over.cause);
      const wait = backoff.next();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.stopWake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /**
   * A session could not be opened or broke: say so once per outage and cause (`unavailable`,
   * `auth`, `invalid_argument`), not once per retry. Returns why the session is over.
   */
  private onFailure(err: unknown, session: Session | null): SessionEnd {
    if (err instanceof NotLeaderError) {
      this.log.warn({ err, state: this.state }, 'lost etcd session or leadership');
      return err.ending;
    }
    const typed = etcdError(
      err,
      session ? 'campaign' : 'open a session',
      this.config.etcdEndpoints,
    );
    const cause: FailureCause | null =
      typed instanceof AuthError
        ? 'auth'
        : typed instanceof InvalidRequestError
          ? 'invalid_argument'
          : typed instanceof UnavailableError
            ? 'unavailable'
            : null;
    const message = describe(typed);
    if (cause === null) {
      this.log.warn({ err: typed, state: this.state }, 'lost etcd session or leadership');
    } else {
      this.setProblem('etcd', cause, message);
    }
    return new SessionEnd(cause === 'auth' ? 'auth' : 'etcd_error', message);
  }

  /** Records (and logs once) a problem with a service, or its change of cause. */
  private setProblem(service: 'etcd' | 'redis', cause: FailureCause, message: string): void {
    const current = this.problems[service];
    this.log.debug({ service, cause, err: message }, `${service} call failed`);
    if (current?.cause === cause) return;
    this.problems[service] = { service, cause, message, since: new Date().toISOString() };
    const what =
      cause === 'auth'
        ? `${service} refused the credentials or the rights`
        : cause === 'invalid_argument'
          ? `${service} refused a request as invalid`
          : `${service} unreachable`;
    this.log.error(
      { service, cause, err: message },
      service === 'etcd'
        ? `${what}; state unknown, retrying with backoff`
        : `${what}; fires wait in the etcd outbox`,
    );
    this.emit('problem', { service, cause, message });
  }

  private clearProblem(service: 'etcd' | 'redis', line: string): void {
    const current = this.problems[service];
    if (!current) return;
    this.problems[service] = null;
    this.log.info(
      { service, cause: current.cause, downMs: Date.now() - Date.parse(current.since) },
      line,
    );
    this.emit('problem', { service, cause: null, message: line });
  }

  private etcdOk(): void {
    this.clearProblem('etcd', 'etcd reachable again');
  }

  /**
   * Redis answered (true) or failed with `err` (asked at `since`, monotonic): readiness, how long
   * it has been down, and the cause when it failed (logged once per outage and cause).
   */
  private redisResult(ok: boolean, since: number, err?: unknown): void {
    this.setRedis(ok, since);
    if (ok) {
      this.clearProblem('redis', 'redis reachable again');
      return;
    }
    const failure = redisFailure(err, lastConnectionError(this.redis));
    const cause = failure?.cause ?? 'unavailable';
    const reply =
      failure?.reply?.message ??
      describe(lastConnectionError(this.redis) ?? err ?? 'Redis did not answer PING');
    this.setProblem('redis', cause, reply.split('\n')[0]!);
  }

  private onLeaderEvent(event: LeaderEvent): void {
    switch (event.type) {
      case 'fire':
        // One line per fire only at debug: a 1,000-job second does not need 1,000 info lines.
        this.log.debug(
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
      case 'skip': {
        // Instants a job's exclusions or window skip are planned: not worth a warning.
        const planned = event.reason === 'excluded' || event.reason === 'inactive';
        this.log[planned ? 'info' : 'warn'](
          {
            job: event.job,
            reason: event.reason,
            ...(event.detail === undefined ? {} : { detail: event.detail }),
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
      }
      case 'redis':
        this.redisResult(
          event.ready,
          performance.now(),
          this.dispatcher.lastError ?? new Error(event.error),
        );
        void this.publishMember();
        break;
      case 'redis-restarted':
        this.log.warn(
          { republished: event.republished },
          'redis restarted within its fsync window: orders it may have lost are published again',
        );
        break;
      case 'committed':
        // One line per fenced txn (at most ~119 orders): the fire ids it committed.
        if (event.fireIds.length + event.manualIds.length > 0) {
          this.log.info(
            { token: this.token, fireIds: event.fireIds, manualIds: event.manualIds },
            'fires committed',
          );
        }
        break;
      case 'takeover':
        this.log.info(
          {
            outbox: event.outbox,
            jobs: event.jobs,
            ms: event.ms,
            loopDelayMaxMs: event.loopDelayMaxMs,
          },
          'takeover done',
        );
        this.alerts?.takeoverDone();
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
   * Sets the state. `reason` says why, in words; `cause`, typed, why a session or leadership
   * ended (carried from where it ended: {@link SessionEnd}).
   */
  private setState(to: ReplicaState, reason: string, cause: StepDownCause | null = null): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.log.info(
      { event: 'state', from, to, reason, cause, token: this.token },
      `state ${from} -> ${to}`,
    );
    this.emit('state', { from, to, reason, token: this.token, cause });
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
      let ok = false;
      let error: unknown = null;
      try {
        ok = (await this.redis.ping()) === 'PONG';
      } catch (err) {
        error = err;
      }
      this.redisResult(ok, sentAt, error);
      if (!ok && this.redis.status === 'ready') {
        // A connection whose packets vanish never errors by itself: start a fresh one. One that
        // is already reconnecting is left alone (interrupting a Sentinel lookup would end it).
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
    session.end(
      'redis_unreachable',
      `redis unreachable for ${Math.round(downMs)} ms while ${able.id} reaches it`,
    );
  }

  /** Writes the member record; errors are logged at debug level unless `throwing`. */
  private async publishMember(
    options: { state?: ReplicaState; throwing?: boolean } = {},
  ): Promise<void> {
    const session = this.session;
    if (!session || session.ended) return;
    const state = options.state ?? this.state;
    const info: MemberInfo = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      state,
      definitionsHash: this.hash,
      http: this.httpUrl,
      redisReady: this.redisReady,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      token: state === 'leader' ? this.token : null,
    };
    try {
      await putMember(this.etcd, this.keys, session, info);
    } catch (err) {
      if (options.throwing) throw err;
      this.log.debug({ err }, 'member heartbeat failed');
    }
  }
}
