import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import { parseRedisUrl } from '../config/redis-url.js';

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
  const backoff = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000);
  const options: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2000,
    retryStrategy: backoff,
    // ioredis pipelines HELLO and two CLIENT SETINFO on connect: a server that is not Redis (an
    // HTTP port) answers the first and closes, and the next write's EPIPE could win over its
    // answer, so "not Redis" (exit 6) became "cannot reach" (exit 3) now and then. One command.
    disableClientInfo: true,
  };
  if (purpose === 'worker') {
    options.maxRetriesPerRequest = null;
  } else {
    options.enableOfflineQueue = purpose === 'cli';
    options.maxRetriesPerRequest = 1;
    if (purpose === 'producer')
      options.commandTimeout = producerCommandTimeoutMs(config.leaseTtlSeconds ?? 5);
  }
  const target = parseRedisUrl(config.redisUrl);
  const tls = target.kind === 'single' ? config.redisUrl.startsWith('rediss://') : target.tls;
  if (tls) options.tls = config.redisCa ? { ca: config.redisCa } : {};
  let redis: Redis;
  if (target.kind === 'single') {
    redis = new Redis(config.redisUrl, options);
  } else if (target.kind === 'sentinel') {
    redis = new Redis({
      ...options,
      sentinels: target.sentinels,
      name: target.name,
      db: target.db,
      username: target.username,
      password: target.password,
      sentinelPassword: target.sentinelPassword,
      enableTLSForSentinelMode: tls,
      sentinelTLS: options.tls,
      sentinelRetryStrategy: backoff,
      // After a fail-over the old master may come back as a replica: reconnect to the new one.
      reconnectOnError: (err) => /READONLY/.test(err.message),
    });
  } else {
    const { enableOfflineQueue, ...redisOptions } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...redisOptions, username: target.username, password: target.password },
      clusterRetryStrategy: backoff,
      enableOfflineQueue: enableOfflineQueue ?? true,
      // TLS certificates name the hosts given, not the addresses the cluster announces.
      ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    };
    // A Cluster answers the commands baton sends (every key of one queue prefix shares a hash
    // tag, so multi-key scripts and pipelines stay in one slot); BullMQ takes it as a connection.
    redis = new Cluster(target.nodes, clusterOptions) as unknown as Redis;
  }
  // ioredis emits 'error' on every failed reconnect; callers observe state through commands,
  // and lastConnectionError() says why the connection is down (refused AUTH, TLS, refused).
  redis.on('error', (err: Error) => connectionErrors.set(redis, err));
  redis.on('ready', () => connectionErrors.delete(redis));
  if (target.kind !== 'cluster') reviveUnlessClosed(redis, backoff);
  return redis;
}

/**
 * Reconnects a connection that ioredis gave up on although its owner never closed it. ioredis
 * ends a connection for good (status `end`: no reconnect, no more errors, every command
 * "Connection is closed.") when `disconnect(true)` — a reconnect request, made by a health check
 * or by ioredis itself — lands while a Sentinel connection is still asking the sentinels for the
 * master: the connector's attempt is abandoned and nothing schedules the next one. A replica or
 * worker on that connection would wait forever across a Sentinel fail-over. So: an `end` that
 * follows no `quit()` or `disconnect()` by the owner starts a new connection after `backoff`.
 */
function reviveUnlessClosed(redis: Redis, backoff: (attempt: number) => number): void {
  let closed = false;
  let attempts = 0;
  const quit = redis.quit.bind(redis);
  const disconnect = redis.disconnect.bind(redis);
  redis.quit = ((...args: Parameters<Redis['quit']>) => {
    closed = true;
    return quit(...args);
  }) as Redis['quit'];
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) closed = true;
    disconnect(reconnect);
  };
  redis.on('ready', () => (attempts = 0));
  redis.on('end', () => {
    if (closed) return;
    setTimeout(() => {
      if (closed || redis.status !== 'end') return;
      redis.connect().catch(() => undefined); // failures are reported through 'error'
    }, backoff(++attempts)).unref();
  });
}

const connectionErrors = new WeakMap<Redis, Error>();

/**
 * The last error the connection reported since it was last ready (a `WRONGPASS` reply to the
 * handshake's AUTH, a TLS or socket error), or null. Connections made by {@link createRedis}.
 */
export function lastConnectionError(redis: Redis): Error | null {
  return connectionErrors.get(redis) ?? null;
}

/** The values of an executed pipeline; throws its first error, or when it was discarded. */
export function checkPipeline(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('Redis pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
