import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import { createEtcd } from '../coordination/etcd.js';
import { keys as makeKeys, type Keys } from '../coordination/keys.js';
import { lastConnectionError } from '../dispatch/redis.js';
import { etcdError, redisError } from '../failures.js';

/** What an operator command needs: an etcd client and the key layout of the namespace. */
export interface ControlContext {
  config: ResolvedConfig;
  etcd: Etcd3;
  keys: Keys;
  close(): void;
}

export function openControl(config: ResolvedConfig): ControlContext {
  const etcd = createEtcd(config);
  return { config, etcd, keys: makeKeys(config.namespace), close: () => etcd.close() };
}

/**
 * Runs an etcd operation, turning its failure into one clear typed error (src/failures.ts):
 * {@link UnavailableError}, {@link AuthError} or {@link InvalidRequestError}; anything else
 * passes through.
 */
export async function etcdCall<T>(
  ctx: ControlContext,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw etcdError(err, what, ctx.config.etcdEndpoints);
  }
}

/**
 * Runs a Redis operation, turning connection failures and refused credentials into one clear
 * typed error ({@link UnavailableError}, {@link AuthError}); other Redis errors, such as a wrong
 * key type, pass through. With `redis`, the connection's own last error says why it is down.
 */
export async function redisCall<T>(
  config: Pick<ResolvedConfig, 'redisUrl'>,
  what: string,
  fn: () => Promise<T>,
  redis?: Redis,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw redisError(err, what, config.redisUrl, redis ? lastConnectionError(redis) : null);
  }
}
