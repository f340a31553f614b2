import { UsageError } from '../errors.js';

/** One `host:port`. */
export interface RedisAddress {
  host: string;
  port: number;
}

/**
 * Where Redis is, from `BATON_REDIS`:
 * - `redis://` / `rediss://`: one server (ioredis URL, password and db included);
 * - `redis+sentinel://[[user]:password@]host:port[,host:port...]/<master>[/<db>]` (`rediss+` for
 *   TLS to the servers and the sentinels): the master Sentinel names, followed across fail-overs;
 *   `?sentinelPassword=` when the sentinels need one; `?waitReplicas=N` (default 1, 0 = off): the
 *   leader acknowledges a publish only once N replicas have it (`WAIT`), so a fail-over cannot
 *   lose a fire that already left the outbox;
 * - `redis+cluster://[[user]:password@]host:port[,host:port...]` (`rediss+` for TLS): seed nodes
 *   of a Redis Cluster. BullMQ needs every key of a queue in one slot, so the queue prefix must
 *   be a hash tag such as `{baton}`.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | {
      kind: 'sentinel';
      tls: boolean;
      sentinels: RedisAddress[];
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelPassword?: string;
      waitReplicas: number;
    }
  | { kind: 'cluster'; tls: boolean; nodes: RedisAddress[]; username?: string; password?: string };

const MULTI =
  /^(rediss?)\+(sentinel|cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?@]+)(\/[^?]*)?(?:\?(.*))?$/;

function addresses(list: string, url: string): RedisAddress[] {
  return list.split(',').map((hp) => {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hp.trim());
    if (!m || Number(m[2]) > 65535) {
      throw new UsageError(`${url}: "${hp}" is not host:port`);
    }
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
}

/** Parses a Redis URL (see {@link RedisTarget}); throws a {@link UsageError} naming the problem. */
export function parseRedisUrl(url: string): RedisTarget {
  if (/^rediss?:\/\//.test(url)) return { kind: 'single', url };
  const m = MULTI.exec(url);
  const shown = url.replace(/\/\/[^@/]*@/, '//…@');
  if (!m) {
    throw new UsageError(
      `--redis must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL, got "${shown}"`,
    );
  }
  const [, scheme, kind, user, pass, hosts, pathPart, query] = m;
  const tls = scheme === 'rediss';
  const username = user ? decodeURIComponent(user) : undefined;
  const password = pass ? decodeURIComponent(pass) : undefined;
  const segments = (pathPart ?? '').split('/').filter(Boolean);
  const params = new URLSearchParams(query ?? '');
  if (kind === 'cluster') {
    if (segments.length > 0) {
      throw new UsageError(`${shown}: a Redis Cluster has only database 0; remove "${pathPart}"`);
    }
    return { kind: 'cluster', tls, nodes: addresses(hosts!, shown), username, password };
  }
  if (segments.length < 1 || segments.length > 2 || (segments[1] && !/^\d+$/.test(segments[1]))) {
    throw new UsageError(`${shown}: expected /<master name>[/<db>] after the sentinels`);
  }
  const waitReplicas = params.get('waitReplicas') ?? '1';
  if (!/^\d{1,2}$/.test(waitReplicas)) {
    throw new UsageError(`${shown}: waitReplicas must be a whole number, got "${waitReplicas}"`);
  }
  return {
    kind: 'sentinel',
    tls,
    sentinels: addresses(hosts!, shown),
    name: decodeURIComponent(segments[0]!),
    db: Number(segments[1] ?? 0),
    username,
    password,
    sentinelPassword: params.get('sentinelPassword') ?? undefined,
    waitReplicas: Number(waitReplicas),
  };
}

/** True when the queue prefix is a Redis Cluster hash tag (`{...}` with something inside). */
export function isHashTagged(prefix: string): boolean {
  return /\{[^}]+\}/.test(prefix);
}
