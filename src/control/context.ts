import type { Etcd3 } from 'etcd3';
import type { ResolvedConfig } from '../config/index.js';
import { createEtcd } from '../coordination/etcd.js';
import { keys as makeKeys, type Keys } from '../coordination/keys.js';
import { BatonError, UnavailableError } from '../errors.js';
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

/** Runs an etcd operation, turning connection failures into one clear {@link UnavailableError}. */
export async function etcdCall<T>(
  ctx: ControlContext,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    const name = (err as Error)?.constructor?.name ?? '';
    if (
      /Unavailable|Deadline|Timeout|Cancelled|Connect|Grpc|Etcd/i.test(name) ||
      /UNAVAILABLE|DEADLINE|ECONNREFUSED|No connection/i.test(message)
    ) {
      // grpc's messages run on ("14 UNAVAILABLE: No connection established. Last error: …"):
      // keep the cause.
      const cause =
        /Last error: (?:Error: )?(.+?)(?:\. Resolution note|\n|$)/.exec(message)?.[1] ??
        message.split('\n')[0];
      throw new UnavailableError(
        'etcd',
        `cannot reach etcd at ${ctx.config.etcdEndpoints.join(',')} to ${what}: ${cause}`,
        err,
      );
    }
    throw err;
  }
}

/**
 * Runs a Redis operation, turning connection failures into one clear {@link UnavailableError}
 * (other Redis errors, such as a wrong key type, pass through).
 */
export async function redisCall<T>(
  config: Pick<ResolvedConfig, 'redisUrl'>,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BatonError) throw err;
    const message = (err as Error)?.message ?? String(err);
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
