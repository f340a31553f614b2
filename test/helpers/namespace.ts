import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';

/**
 * A prefix no other test uses: `t-<name>-<8 hex>` (or `t-<8 hex>`), limited to `[a-z0-9-]` so it
 * is valid as an etcd namespace, a BullMQ queue prefix and a queue name (no `:`, no `{}` hash
 * tags, no glob characters).
 */
export function testNamespace(name?: string): string {
  const random = randomBytes(4).toString('hex');
  const slug = (name ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24);
  return slug ? `t-${slug}-${random}` : `t-${random}`;
}

/** Deletes every etcd key starting with `prefix` (pass `ns + '/'` for a baton namespace). */
export async function cleanEtcdPrefix(client: Etcd3, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('refusing to delete the whole etcd keyspace');
  const res = await client.delete().prefix(prefix);
  return Number(res.deleted);
}

/**
 * Deletes every Redis key starting with `prefix` (SCAN + UNLINK in batches; fine for the few
 * thousand keys of a test). Glob characters in the prefix are escaped.
 */
export async function cleanRedisPrefix(redis: Redis, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('refusing to delete every Redis key');
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
