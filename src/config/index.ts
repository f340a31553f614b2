import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { isHashTagged, parseRedisUrl } from './redis-url.js';

/**
 * Options common to every command, as given on the command line. Each falls back to its
 * environment variable, then to its default.
 */
export interface BatonOptions {
  /** Comma-separated etcd endpoints. Env `BATON_ETCD`. @defaultValue 'http://127.0.0.1:2379' */
  etcd?: string;
  /** Redis URL (`redis://` or `rediss://` for TLS). Env `BATON_REDIS`. @defaultValue 'redis://127.0.0.1:6379' */
  redis?: string;
  /** etcd key namespace. Env `BATON_NAMESPACE`. @defaultValue 'baton' */
  namespace?: string;
  /** Folder of job definitions. Env `BATON_JOBS`. @defaultValue './jobs' */
  jobs?: string;
  /** Replica id. Env `BATON_ID`. @defaultValue `<hostname>-<pid>` */
  id?: string;
  /** Election lease TTL in seconds. Env `BATON_LEASE_TTL`. @defaultValue 5 */
  leaseTtl?: string | number;
  /** HTTP port for API, dashboard and metrics (0 = none). Env `BATON_HTTP`. @defaultValue 0 */
  http?: string | number;
  /** BullMQ key prefix. Env `BATON_QUEUE_PREFIX`. @defaultValue 'bull' */
  queuePrefix?: string;
  /** How early (ms) the leader decides and publishes a fire as a delayed job. Env `BATON_LOOKAHEAD`. @defaultValue 250 */
  lookahead?: string | number;
}

/** TLS and auth for etcd, from the environment only (secrets never on the command line). */
export interface EtcdSecurity {
  /** PEM files: `BATON_ETCD_CA`, `BATON_ETCD_CERT`, `BATON_ETCD_KEY`. */
  ca: Buffer | null;
  cert: Buffer | null;
  key: Buffer | null;
  /** `BATON_ETCD_USERNAME` / `BATON_ETCD_PASSWORD`. */
  username: string | null;
  password: string | null;
}

export interface ResolvedConfig {
  etcdEndpoints: string[];
  etcdSecurity: EtcdSecurity;
  redisUrl: string;
  /** `BATON_REDIS_CA`: PEM file trusted for `rediss://` URLs. */
  redisCa: Buffer | null;
  namespace: string;
  jobsDir: string;
  replicaId: string;
  leaseTtlSeconds: number;
  httpPort: number;
  /** `BATON_HTTP_HOST`: address the HTTP server listens on (0.0.0.0 in containers). @defaultValue '127.0.0.1' */
  httpHost: string;
  /**
   * `BATON_ADVERTISE_URL`: the URL other machines reach this replica's HTTP server at, published
   * in its member record (`baton status`) instead of the address it listens on, e.g.
   * `http://scheduler-1:8080` in compose or `http://$(POD_IP):8080` on Kubernetes. @defaultValue null
   */
  advertiseUrl: string | null;
  queuePrefix: string;
  lookaheadMs: number;
  /**
   * `BATON_CLOCK_OFFSET_MS`: the scheduler acts as if the wall clock were shifted by this much,
   * so a test or a demo can stand at 08:59:58 without waiting for it. Every replica of a
   * namespace must use the same value. Never set it in production. @defaultValue 0
   */
  clockOffsetMs: number;
  /** `BATON_API_TOKEN`: required for mutating HTTP calls; mutations are disabled without it. */
  apiToken: string | null;
}

type Env = Record<string, string | undefined>;

function pick(flag: string | number | undefined, env: string | undefined): string | undefined {
  if (flag !== undefined && flag !== '') return String(flag);
  if (env !== undefined && env !== '') return env;
  return undefined;
}

function integer(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UsageError(
      `${name} must be a whole number between ${min} and ${max}, got "${value}"`,
    );
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  }
  return n;
}

function readPem(name: string, path: string | undefined): Buffer | null {
  if (path === undefined || path === '') return null;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${name}: cannot read "${path}": ${(err as Error).message}`);
  }
}

function clockOffset(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 0;
  if (!/^-?\d+$/.test(value.trim())) {
    throw new UsageError(
      `BATON_CLOCK_OFFSET_MS must be a whole number of milliseconds, got "${value}"`,
    );
  }
  return Number(value);
}

function advertiseUrl(value: string | undefined): string | null {
  if (value === undefined || value.trim() === '') return null;
  const url = URL.canParse(value.trim()) ? new URL(value.trim()) : null;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`BATON_ADVERTISE_URL must be an http:// or https:// URL, got "${value}"`);
  }
  return value.trim().replace(/\/+$/, '');
}

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Resolves flags and environment into a full configuration, or throws one {@link UsageError}. */
export function resolveConfig(options: BatonOptions = {}, env: Env = process.env): ResolvedConfig {
  const endpoints = (pick(options.etcd, env.BATON_ETCD) ?? 'http://127.0.0.1:2379')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`));
  if (endpoints.length === 0) throw new UsageError('--etcd needs at least one endpoint');

  const redisUrl = pick(options.redis, env.BATON_REDIS) ?? 'redis://127.0.0.1:6379';
  const redisTarget = parseRedisUrl(redisUrl);

  const namespace = pick(options.namespace, env.BATON_NAMESPACE) ?? 'baton';
  if (!NAMESPACE.test(namespace)) {
    throw new UsageError(
      `--namespace "${namespace}" is not allowed (letters, digits, ".", "_", "-"; at most 63)`,
    );
  }
  const queuePrefix = pick(options.queuePrefix, env.BATON_QUEUE_PREFIX) ?? 'bull';
  if (redisTarget.kind === 'cluster' && !isHashTagged(queuePrefix)) {
    throw new UsageError(
      `on a Redis Cluster the queue prefix must be a hash tag such as "{baton}" (BullMQ keeps a queue's keys in one slot), got "${queuePrefix}"`,
    );
  }

  return {
    etcdEndpoints: endpoints,
    etcdSecurity: {
      ca: readPem('BATON_ETCD_CA', env.BATON_ETCD_CA),
      cert: readPem('BATON_ETCD_CERT', env.BATON_ETCD_CERT),
      key: readPem('BATON_ETCD_KEY', env.BATON_ETCD_KEY),
      username: env.BATON_ETCD_USERNAME || null,
      password: env.BATON_ETCD_PASSWORD || null,
    },
    redisUrl,
    redisCa: readPem('BATON_REDIS_CA', env.BATON_REDIS_CA),
    namespace,
    jobsDir: pick(options.jobs, env.BATON_JOBS) ?? './jobs',
    replicaId: pick(options.id, env.BATON_ID) ?? `${hostname()}-${process.pid}`,
    leaseTtlSeconds: integer(
      '--lease-ttl',
      pick(options.leaseTtl, env.BATON_LEASE_TTL) ?? '5',
      1,
      300,
    ),
    httpPort: integer('--http', pick(options.http, env.BATON_HTTP) ?? '0', 0, 65535),
    queuePrefix,
    httpHost: env.BATON_HTTP_HOST || '127.0.0.1',
    advertiseUrl: advertiseUrl(env.BATON_ADVERTISE_URL),
    lookaheadMs: integer(
      '--lookahead',
      pick(options.lookahead, env.BATON_LOOKAHEAD) ?? '250',
      0,
      1000,
    ),
    clockOffsetMs: clockOffset(env.BATON_CLOCK_OFFSET_MS),
    apiToken: env.BATON_API_TOKEN || null,
  };
}

/** Environment variables understood by baton, for `--help`. */
export const ENVIRONMENT_HELP = `Environment:
  BATON_ETCD            etcd endpoints, comma-separated (default http://127.0.0.1:2379)
  BATON_ETCD_CA         PEM CA file for etcd TLS; BATON_ETCD_CERT / BATON_ETCD_KEY for client certs
  BATON_ETCD_USERNAME   etcd auth user; BATON_ETCD_PASSWORD its password
  BATON_REDIS           Redis URL: redis:// or rediss:// (default redis://127.0.0.1:6379),
                        redis+sentinel://host:port,…/<master> or redis+cluster://host:port,…
  BATON_REDIS_CA        PEM CA file trusted for rediss://
  BATON_NAMESPACE       etcd key namespace (default baton)
  BATON_JOBS            folder of job definitions (default ./jobs)
  BATON_ID              replica id (default <hostname>-<pid>)
  BATON_LEASE_TTL       election lease TTL in seconds (default 5)
  BATON_HTTP            HTTP port for API, dashboard and metrics (default 0 = off)
  BATON_HTTP_HOST       address the HTTP server listens on (default 127.0.0.1; 0.0.0.0 in containers)
  BATON_ADVERTISE_URL   URL of this replica's HTTP server shown to others (default: where it listens)
  BATON_QUEUE_PREFIX    BullMQ key prefix (default bull)
  BATON_LOOKAHEAD       ms before its instant a fire is decided and enqueued as delayed (default 250)
  BATON_CLOCK_OFFSET_MS run the schedule on a shifted clock (tests and demos only; default 0)
  BATON_API_TOKEN       bearer token required for mutating HTTP calls
  BATON_TELEPHONY_URL   telephony API of the example dialer, on workers (default http://127.0.0.1:4010)
  BATON_LOG_LEVEL       pino level (default info)`;
