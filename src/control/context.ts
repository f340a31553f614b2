import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import { createEtcd } from '../coordination/etcd.js';
import { keys as makeKeys, type Keys } from '../coordination/keys.js';
import { lastConnectionError } from '../redis/connection.js';
import type { BatonError } from '../errors.js';
import { AuthError, UnavailableError, WrongServiceError } from '../errors.js';
import { etcdError, redisError } from '../failures.js';
import { redactUrl } from '../log.js';

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

/** The etcd endpoints as printed: credentials redacted. */
export function etcdWhere(config: Pick<ResolvedConfig, 'etcdEndpoints'>): string {
  return config.etcdEndpoints.map(redactUrl).join(',');
}

/**
 * Rejects with `onTimeout()` when `promise` has not settled within `ms` (the promise itself is
 * left to its owner, which closes the client it runs on).
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number | undefined,
  onTimeout: () => Error,
): Promise<T> {
  if (ms === undefined || !(ms > 0)) return promise;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
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
  const where = etcdWhere(ctx.config);
  try {
    const ms = ctx.config.timeoutMs;
    return await withDeadline(
      fn(),
      ms,
      () =>
        new UnavailableError(
          'etcd',
          `etcd at ${where} did not answer within ${ms / 1000}s to ${what} (--timeout / BATON_TIMEOUT)`,
        ),
    );
  } catch (err) {
    throw etcdError(err, what, ctx.config.etcdEndpoints);
  }
}

/**
/**
 * A Redis error that is about the configuration, not the network: refused credentials or rights
 * ({@link AuthError}) or an address that does not speak Redis ({@link WrongServiceError}).
 */
export function classifyRedisError(
  config: Pick<ResolvedConfig, 'redisUrl'>,
  what: string,
  err: unknown,
): BatonError | undefined {
  const typed = redisError(err, what, config.redisUrl);
  return typed instanceof AuthError || typed instanceof WrongServiceError ? typed : undefined;
}

/**
 * Runs a Redis operation, turning connection failures and refused credentials into one clear
 * typed error ({@link UnavailableError}, {@link AuthError}); other Redis errors, such as a wrong
 * key type, pass through. With `redis`, the connection's own last error says why it is down.
 */
export async function redisCall<T>(
  config: Pick<ResolvedConfig, 'redisUrl'> & { timeoutMs?: number },
  what: string,
  fn: () => Promise<T>,
  redis?: Redis,
): Promise<T> {
  try {
    const ms = config.timeoutMs;
    if (ms === undefined) return await fn();
    return await withDeadline(
      fn(),
      ms,
      () =>
        new UnavailableError(
          'redis',
          `Redis at ${redactUrl(config.redisUrl)} did not answer within ${ms / 1000}s to ${what} (--timeout / BATON_TIMEOUT)`,
        ),
    );
  } catch (err) {
    throw redisError(err, what, config.redisUrl, redis ? lastConnectionError(redis) : null);
  }
}
