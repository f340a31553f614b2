import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { isHashTagged, parseRedisUrl } from './redis-url.js';
import { redactUrl } from '../log.js';
import { excerpt } from '../text.js';

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
  /** Seconds an operator command waits for etcd or Redis to answer. Env `BATON_TIMEOUT`. @defaultValue 5 */
  timeout?: string | number;
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
  /** `--timeout` / `BATON_TIMEOUT` (seconds): deadline of an operator command's etcd and Redis calls. @defaultValue 5000 */
  timeoutMs: number;
}

type Env = Record<string, string | undefined>;

/**
 * A flag's value, else its environment variable's (an empty variable counts as unset), else
 * undefined. A flag given empty (`--etcd ''`) is a usage error, not a silent fall-back.
 */
function pick(
  name: string,
  flag: string | number | undefined,
  env: string | undefined,
): string | undefined {
  if (flag !== undefined) {
    if (String(flag).trim() === '') throw new UsageError(`${name} is empty: give it a value`);
    return String(flag);
  }
  if (env !== undefined && env !== '') return env;
  return undefined;
}

function integer(name: string, value: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(value.trim())) {
    throw new UsageError(
      `${name} must be a whole number between ${min} and ${max}, got ${excerpt(value)}`,
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
  const endpoints = (pick('--etcd', options.etcd, env.BATON_ETCD) ?? 'http://127.0.0.1:2379')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`));
  if (endpoints.length === 0) throw new UsageError('--etcd needs at least one endpoint');
  for (const e of endpoints) {
    // etcd3 does not read credentials from an endpoint (it fails on them), and they would show
    // wherever the endpoint is printed.
    if (/^https?:\/\/[^/?#]*@/.test(e)) {
      throw new UsageError(
        `--etcd endpoint ${redactUrl(e)} carries credentials: set BATON_ETCD_USERNAME and BATON_ETCD_PASSWORD instead`,
      );
    }
    // scheme://host:port and nothing else (a path, query or fragment is not used by etcd3).
    if (!/^https?:\/\/[^\s/?#@]+\/?$/i.test(e)) {
      throw new UsageError(
        `--etcd endpoint ${excerpt(redactUrl(e))} is not an address like http://host:2379`,
      );
    }
  }

  const redisUrl = pick('--redis', options.redis, env.BATON_REDIS) ?? 'redis://127.0.0.1:6379';
  // Names the problem (and never echoes a password: see parseRedisUrl).
  const redisTarget = parseRedisUrl(redisUrl);

  const namespace = pick('--namespace', options.namespace, env.BATON_NAMESPACE) ?? 'baton';
  if (!NAMESPACE.test(namespace)) {
    throw new UsageError(
      `--namespace ${excerpt(namespace)} is not allowed (letters, digits, ".", "_", "-"; at most 63)`,
    );
  }
  const queuePrefix = pick('--queue-prefix', options.queuePrefix, env.BATON_QUEUE_PREFIX) ?? 'bull';
  if (redisTarget.kind === 'cluster' && !isHashTagged(queuePrefix)) {
    throw new UsageError(
      `on a Redis Cluster the queue prefix must be a hash tag such as "{baton}" (BullMQ keeps a queue's keys in one slot), got ${excerpt(queuePrefix)}`,
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
    jobsDir: pick('--jobs', options.jobs, env.BATON_JOBS) ?? './jobs',
    replicaId: pick('--id', options.id, env.BATON_ID) ?? `${hostname()}-${process.pid}`,
    leaseTtlSeconds: integer(
      '--lease-ttl',
      pick('--lease-ttl', options.leaseTtl, env.BATON_LEASE_TTL) ?? '5',
      1,
      300,
    ),
    httpPort: integer('--http', pick('--http', options.http, env.BATON_HTTP) ?? '0', 0, 65535),
    queuePrefix,
    httpHost: env.BATON_HTTP_HOST || '127.0.0.1',
    advertiseUrl: advertiseUrl(env.BATON_ADVERTISE_URL),
    lookaheadMs: integer(
      '--lookahead',
      pick('--lookahead', options.lookahead, env.BATON_LOOKAHEAD) ?? '250',
      0,
      1000,
    ),
    timeoutMs:
      integer('--timeout', pick('--timeout', options.timeout, env.BATON_TIMEOUT) ?? '5', 1, 300) *
      1000,
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
  BATON_HANDLERS_DIR    baton worker: folder whose index.js exports handlers (default: the examples)
  BATON_TELEPHONY_URL   telephony API of the example dialer, on workers (default http://127.0.0.1:4010)
  BATON_TIMEOUT         seconds an operator command waits for etcd or Redis (default 5)
  BATON_LOG_LEVEL       pino level (default info)`;
