// scripts/ensure-system.sh installs Debian's etcd and Redis when they are missing. It used to
// `pkill` every etcd and redis-server afterwards, the user's own included. Run for real (apt-get,
// root) with `etcd` hidden from PATH, so it takes the install path: a Redis server running before
// it still answers after it, and the machine's policy-rc.d is as it was.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/process.js';
import { redisPing, startRedis, type RedisServer } from '../helpers/redis.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const POLICY = '/usr/sbin/policy-rc.d';
const HIDDEN = new Set(['etcd', 'etcdctl']);
let redis: RedisServer | undefined;

afterAll(async () => {
  await redis?.stopAll();
});

/** A PATH with every program of the current one but etcd and etcdctl. */
async function pathWithoutEtcd(): Promise<string> {
  const bin = await makeTempDir('baton-path-');
  const seen = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(':').filter((d) => existsSync(d))) {
    for (const name of readdirSync(dir)) {
      if (HIDDEN.has(name) || seen.has(name)) continue;
      seen.add(name);
      await symlink(path.join(dir, name), path.join(bin, name));
    }
  }
  return bin;
}

it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get'))(
  'installing leaves the servers already running alone',
  async () => {
    redis = await startRedis();
    const policyBefore = existsSync(POLICY) ? readFileSync(POLICY, 'utf8') : null;
    const { stderr } = await run('bash', ['scripts/ensure-system.sh'], {
      cwd: ROOT,
      env: { ...process.env, PATH: await pathWithoutEtcd() },
    });
    expect(stderr).toMatch(/installing etcd-server etcd-client/);
    expect(await redisPing(redis.port)).toBe(true);
    expect(redis.running).toBe(true);
    expect(existsSync(POLICY) ? readFileSync(POLICY, 'utf8') : null).toBe(policyBefore);
  },
  300_000,
);
