import { execFile } from 'node:child_process';
import type { Etcd3 } from 'etcd3';
import {
  BatonError,
  createEtcdClient,
  parseDuration,
  resolveConfig,
  type EtcdSecurity,
} from '../../src/index.js';

/**
 * A payload the handler cannot work with. Not retryable: the same payload fails the same way, so
 * the run fails at once instead of after every retry.
 */
export class InvalidPayloadError extends BatonError {
  constructor(job: string, message: string) {
    super('INVALID_PAYLOAD', `${job}: invalid payload: ${message}`, { retryable: false });
  }
}

/** Where the etcd handlers connect: the payload's endpoints, else `BATON_ETCD` (and its TLS/auth). */
export interface EtcdTarget {
  endpoints: string[];
  security: EtcdSecurity;
}

/**
 * `endpoints` from a payload (array or comma-separated string) or, when absent, the worker's
 * environment (`BATON_ETCD`, `BATON_ETCD_CA`, ...): the cluster baton itself runs on.
 */
export function etcdTarget(endpoints: string | string[] | undefined): EtcdTarget {
  const list = Array.isArray(endpoints) ? endpoints.join(',') : endpoints;
  const config = resolveConfig(list === undefined || list === '' ? {} : { etcd: list });
  return { endpoints: config.etcdEndpoints, security: config.etcdSecurity };
}

/** A client on the given endpoints with baton's deadlines and fault handling. */
export function openEtcd(target: EtcdTarget): Etcd3 {
  return createEtcdClient({ etcdEndpoints: target.endpoints, etcdSecurity: target.security });
}

/** Milliseconds from a payload duration: a number of ms, or a string such as `30s`, `7d`. */
export function durationMs(job: string, value: string | number, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new InvalidPayloadError(job, `${what} must be a non-negative number of ms`);
    }
    return value;
  }
  try {
    return parseDuration(value, what);
  } catch (err) {
    throw new InvalidPayloadError(job, (err as Error).message);
  }
}

/** The etcdctl binary: `BATON_ETCDCTL`, else `etcdctl` on PATH. */
export function etcdctlBinary(override?: string): string {
  return override ?? process.env.BATON_ETCDCTL ?? 'etcdctl';
}

/** Runs etcdctl (API v3) and resolves with its output, or rejects with its stderr. */
export function runEtcdctl(
  binary: string,
  args: string[],
  signal?: AbortSignal,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      {
        env: { ...process.env, ETCDCTL_API: '3' },
        maxBuffer: 16 * 1024 * 1024,
        ...(signal ? { signal } : {}),
      },
      (err, stdout, stderr) => {
        if (err) {
          const detail = stderr.trim().split('\n').slice(-5).join('\n');
          reject(
            new Error(
              `etcdctl ${args.slice(0, 2).join(' ')} failed: ${err.message.split('\n')[0]}${detail ? `\n${detail}` : ''}`,
              { cause: err },
            ),
          );
        } else resolve({ stdout, stderr });
      },
    );
  });
}
