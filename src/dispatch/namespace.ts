import type { Redis } from 'ioredis';
import { PrefixTakenError } from '../errors.js';
import type { OutboxEntry } from '../coordination/ledger.js';
import type { RunOrder, SkipRecord } from '../fire.js';
import { redactUrl } from '../log.js';
import type { RedisKeys } from '../redis/keys.js';
import { Dispatcher } from './producer.js';

/**
 * Claims the queue prefix for this namespace: `SET <prefix>:baton:namespace <ns> NX`. Resolves
 * when the prefix is (now) this namespace's; throws {@link PrefixTakenError} when it belongs to
 * another one (two installations would share the BullMQ queues: each would take the other's
 * runs and refuse them), or the Redis error when Redis cannot be asked.
 */
export async function claimQueuePrefix(
  redis: Redis,
  keys: RedisKeys,
  redisUrl: string,
): Promise<void> {
  for (;;) {
    if ((await redis.set(keys.owner, keys.namespace, 'NX')) === 'OK') return;
    const owner = await redis.get(keys.owner);
    if (owner === keys.namespace) return;
    // Deleted in between (an operator releasing the prefix): claim it again.
    if (owner === null) continue;
    throw new PrefixTakenError(keys.prefix, owner, keys.namespace, redactUrl(redisUrl));
  }
}

/**
 * The claim of one connection: checked once per connection to Redis (again after every
 * reconnect, since a Redis that lost its data lost the claim too).
 */
export class PrefixClaim {
  private claimed = false;

  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
    private readonly redisUrl: string,
  ) {
    redis.on('ready', () => {
      this.claimed = false;
    });
  }

  /** Claims the prefix unless this connection already did; see {@link claimQueuePrefix}. */
  async ensure(): Promise<void> {
    if (this.claimed) return;
    await claimQueuePrefix(this.redis, this.keys, this.redisUrl);
    this.claimed = true;
  }
}

/**
 * The leader's publisher, writing to Redis only once the queue prefix is known to be this
 * namespace's. A replica started while Redis was down checks it before its first publish; if
 * the prefix turns out to be another namespace's, nothing is written and `onTaken` is told.
 */
export class ClaimedDispatcher extends Dispatcher {
  /** The error of the last failed publish, until one succeeds (for its cause: auth, outage). */
  lastError: unknown = null;

  constructor(
    redis: Redis,
    private readonly claim: PrefixClaim,
    private readonly onTaken: (err: PrefixTakenError) => void,
    /** Replicas that must confirm a publish (`WAIT`, Sentinel setups); 0: none. */
    waitReplicas = 0,
  ) {
    super(redis, claim.keys, waitReplicas);
  }

  private async ensure(): Promise<void> {
    try {
      await this.claim.ensure();
    } catch (err) {
      if (err instanceof PrefixTakenError) this.onTaken(err);
      throw err;
    }
  }

  override async publish(entries: OutboxEntry[], clockOffsetMs = 0): Promise<void> {
    try {
      await this.ensure();
      await super.publish(entries, clockOffsetMs);
      this.lastError = null;
    } catch (err) {
      this.lastError = err;
      throw err;
    }
  }

  override async recordTakeover(token: string, revision: string): Promise<void> {
    await this.ensure();
    return super.recordTakeover(token, revision);
  }

  override async withdraw(
    runs: { run: RunOrder; skip: SkipRecord }[],
  ): Promise<{ run: RunOrder; skip: SkipRecord }[]> {
    await this.ensure();
    return super.withdraw(runs);
  }
}

/** Resolves true once `redis` is ready, false when it is not within `ms` (or reports an error). */
export function readyWithin(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(ready);
    };
    const onReady = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    redis.on('ready', onReady);
    redis.on('error', onError);
  });
}
