import { Redis, type RedisOptions } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';

/**
 * How long a replica's Redis command may take before it counts as failed: half the lease TTL, at
 * least 2 s (a burst's `addBulk` of 1,000 jobs takes well under that). Without it a connection
 * whose packets vanish (a partition that drops rather than resets) hangs every command forever,
 * and a leader would neither publish nor notice.
 */
export function producerCommandTimeoutMs(leaseTtlSeconds: number): number {
  return Math.max(2000, Math.round((leaseTtlSeconds * 1000) / 2));
}

/**
 * A Redis connection for baton. `purpose: 'producer'` fails fast while Redis is down (no offline
 * queue) and bounds every command ({@link producerCommandTimeoutMs}) so the leader notices at
 * once and keeps fires in the outbox; `purpose: 'worker'` follows BullMQ's rule for blocking
 * connections (`maxRetriesPerRequest: null`).
 */
export function createRedis(
  config: Pick<ResolvedConfig, 'redisUrl' | 'redisCa'> & { leaseTtlSeconds?: number },
  purpose: 'producer' | 'worker' | 'cli',
): Redis {
  const options: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
  if (purpose === 'worker') {
    options.maxRetriesPerRequest = null;
  } else {
    options.enableOfflineQueue = purpose === 'cli';
    options.maxRetriesPerRequest = 1;
    if (purpose === 'producer')
      options.commandTimeout = producerCommandTimeoutMs(config.leaseTtlSeconds ?? 5);
  }
  if (config.redisUrl.startsWith('rediss://')) {
    options.tls = config.redisCa ? { ca: config.redisCa } : {};
  }
  const redis = new Redis(config.redisUrl, options);
  // ioredis emits 'error' on every failed reconnect; callers observe state through commands.
  redis.on('error', () => undefined);
  return redis;
}

/** The values of an executed pipeline; throws its first error, or when it was discarded. */
export function checkPipeline(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('Redis pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
