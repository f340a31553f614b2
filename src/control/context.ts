import type { Etcd3 } from 'etcd3';
import type { ResolvedConfig } from '../config/index.js';
import { createEtcd } from '../coordination/etcd.js';
import { keys as makeKeys, type Keys } from '../coordination/keys.js';
import { AuthError, BatonError, UnavailableError, WrongServiceError } from '../errors.js';
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

/** Runs an etcd operation, turning connection failures into one clear {@link UnavailableError}. */
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
    if (err instanceof BatonError) throw err;
    const message = (err as Error)?.message ?? String(err);
    const name = (err as Error)?.constructor?.name ?? '';
    if (
      /Authentication|PermissionDenied|Auth/i.test(name) ||
      /authentication failed|invalid auth token|permission denied|user name is empty|invalid user/i.test(
        message,
      )
    ) {
      throw new AuthError(
        'etcd',
        `etcd at ${where} refused the credentials to ${what} (check BATON_ETCD_USERNAME and BATON_ETCD_PASSWORD): ${message.split('\n')[0]}`,
        err,
      );
    }
    if (/Protocol error/i.test(message)) {
      throw new WrongServiceError(
        'etcd',
        `the server at ${where} does not speak etcd's gRPC protocol (is it an HTTP or other port?)`,
        err,
      );
    }
    if (
      /Unavailable|Deadline|Timeout|Cancelled|Connect|Grpc|Etcd/i.test(name) ||
      /UNAVAILABLE|DEADLINE|ECONNREFUSED|No connection/i.test(message)
    ) {
      // grpc's messages run on ("14 UNAVAILABLE: No connection established. Last error: …"):
      // keep the cause.
      const cause =
        /Last error: (?:Error: )?(.+?)(?:\. Resolution note|\n|$)/.exec(message)?.[1] ??
        message.split('\n')[0];
      throw new UnavailableError('etcd', `cannot reach etcd at ${where} to ${what}: ${cause}`, err);
    }
    throw err;
  }
}

/**
 * A Redis error that is about the configuration, not the network: refused credentials (NOAUTH,
 * WRONGPASS) or an address that does not speak Redis (an HTTP port answers "HTTP/1.1 …").
 */
export function classifyRedisError(
  config: Pick<ResolvedConfig, 'redisUrl'>,
  what: string,
  err: unknown,
): BatonError | undefined {
  const message = (err as Error)?.message ?? String(err);
  const where = redactUrl(config.redisUrl);
  if (/NOAUTH|WRONGPASS|invalid username-password|AUTH failed|invalid password/i.test(message)) {
    const missing = /NOAUTH/i.test(message);
    return new AuthError(
      'redis',
      `Redis at ${where} refused ${missing ? 'the connection: it requires a password and none was given' : 'the password (wrong password or user)'} to ${what}; put it in the URL (redis://:PASSWORD@host:port)`,
      err,
    );
  }
  if (/Unknown RESP type|Protocol error/i.test(message)) {
    return new WrongServiceError(
      'redis',
      `the server at ${where} does not speak the Redis protocol (is it an HTTP or other port?)`,
      err,
    );
  }
  return undefined;
}

/**
 * Runs a Redis operation, turning connection failures into one clear {@link UnavailableError}
 * (other Redis errors, such as a wrong key type, pass through).
 */
export async function redisCall<T>(
  config: Pick<ResolvedConfig, 'redisUrl'> & { timeoutMs?: number },
  what: string,
  fn: () => Promise<T>,
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
    if (err instanceof BatonError) throw err;
    const message = (err as Error)?.message ?? String(err);
    const classified = classifyRedisError(config, what, err);
    if (classified) throw classified;
    if (
      /max retries per request|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|connect/i.test(
        message,
      )
    ) {
      throw new UnavailableError(
        'redis',
        `cannot reach Redis at ${redactUrl(config.redisUrl)} to ${what}: ${message.split('\n')[0]}`,
        err,
      );
    }
    throw err;
  }
}
