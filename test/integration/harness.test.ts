import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { noop } from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { startEtcdCluster, testClientOptions, type EtcdCluster } from '../helpers/etcd.js';
import { cleanEtcdPrefix, cleanRedisPrefix, testNamespace } from '../helpers/namespace.js';
import type { OrphanProbeReport } from '../helpers/orphan-probe.js';
import {
  hasParentDeathSignal,
  isPidAlive,
  processesMentioning,
  sweepStaleTempDirs,
} from '../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/proxy.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

/** A client with etcd3's retry and circuit breaker switched off: shows raw behaviour. */
function rawClient(host: string): Etcd3 {
  return new Etcd3({ hosts: host, faultHandling: { host: () => noop, global: noop } });
}

describe('shared services from global setup', () => {
  it('single-node etcd: put/get in a test namespace, then clean it', async () => {
    const client = new Etcd3(testClientOptions([inject('etcdEndpoint')]));
    try {
      const ns = testNamespace('single');
      await client.put(`${ns}/a`).value('1');
      await client.put(`${ns}/b`).value('2');
      expect(await client.namespace(`${ns}/`).getAll().strings()).toEqual({ a: '1', b: '2' });
      expect(await cleanEtcdPrefix(client, `${ns}/`)).toBe(2);
      expect(await client.getAll().prefix(`${ns}/`).count()).toBe(0);
    } finally {
      client.close();
    }
  });

  it('3-member etcd cluster: a write through all endpoints is readable from each member', async () => {
    const endpoints = inject('etcdClusterEndpoints');
    expect(endpoints).toHaveLength(3);
    const ns = testNamespace('cluster');
    const client = new Etcd3(testClientOptions(endpoints));
    try {
      await client.put(`${ns}/k`).value('v');
      for (const endpoint of endpoints) {
        const one = rawClient(endpoint);
        try {
          expect(await one.get(`${ns}/k`).string()).toBe('v');
        } finally {
          one.close();
        }
      }
      await cleanEtcdPrefix(client, `${ns}/`);
    } finally {
      client.close();
    }
  });

  it('redis: PING, production settings, keys cleaned by prefix', async () => {
    const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual([
        'maxmemory-policy',
        'noeviction',
      ]);
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      const prefix = testNamespace('redis');
      await redis.mset(`${prefix}:a`, '1', `${prefix}:b`, '2', `other-${prefix}`, '3');
      expect(await cleanRedisPrefix(redis, `${prefix}:`)).toBe(2);
      expect(await redis.exists(`${prefix}:a`, `${prefix}:b`, `other-${prefix}`)).toBe(1);
      await redis.del(`other-${prefix}`);
    } finally {
      redis.disconnect();
    }
  });

  it('namespaces are unique and safe as etcd prefixes and BullMQ prefixes', () => {
    const names = new Set(Array.from({ length: 1000 }, () => testNamespace('Fire Loop: DST!')));
    expect(names.size).toBe(1000);
    for (const name of names) expect(name).toMatch(/^t-fire-loop-dst-[0-9a-f]{8}$/);
    expect(testNamespace()).toMatch(/^t-[0-9a-f]{8}$/);
  });
});

describe('etcd cluster owned by this file: kill -9, restart, rejoin', () => {
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ size: 3 });
  });

  afterAll(async () => {
    await cluster?.stopAll();
  });

  it.each(['follower', 'leader'] as const)(
    'keeps serving writes when the %s is killed, and the member rejoins with the data',
    async (role) => {
      onTestFailed(() => console.error(cluster.logTail()));
      const ns = testNamespace(role);
      const kv = cluster.client().namespace(`${ns}/`);
      await kv.put('before').value('0');

      const victim = role === 'leader' ? await cluster.leader() : (await cluster.followers())[0];
      if (!victim) throw new Error('no follower');
      const killedPid = victim.pid;
      await victim.kill9();
      expect(killedPid !== undefined && isPidAlive(killedPid)).toBe(false);

      // Straight away, no waiting for the election: the client retries on the other members.
      for (let i = 0; i < 10; i++) await kv.put(`during-${i}`).value(String(i));
      expect(await kv.get('before').string()).toBe('0');
      expect(await kv.get('during-9').string()).toBe('9');
      if (role === 'leader') expect(await cluster.leader()).not.toBe(victim);

      await victim.restart();
      expect(victim.pid).not.toBe(killedPid);

      // Rejoined: it follows the same leader as the others (leader() requires agreement of all
      // running members) and serves the data written while it was dead, alone.
      expect((await cluster.leader()).running).toBe(true);
      const alone = cluster.client([victim.endpoint]).namespace(`${ns}/`);
      expect(await alone.get('during-9').string()).toBe('9'); // linearizable, via the leader
      const local = await alone.getAll().serializable(true).strings(); // its own store
      expect(Object.keys(local)).toHaveLength(11);
      expect(local['during-0']).toBe('0');
    },
  );

  it('stopAll leaves no process and no data dir behind', async () => {
    const pids = cluster.members.flatMap((m) => m.pids);
    expect(pids.length).toBeGreaterThanOrEqual(5); // 3 starts + 2 restarts
    await cluster.stopAll();
    for (const pid of pids) expect(isPidAlive(pid), `pid ${pid}`).toBe(false);
    expect(processesMentioning(cluster.baseDir)).toEqual([]);
    expect(existsSync(cluster.baseDir)).toBe(false);
  });
});

describe('redis owned by this file', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stopAll();
  });

  it('keeps acknowledged writes across kill -9 and restart (AOF, appendfsync always)', async () => {
    onTestFailed(() => console.error(redis.logTail()));
    const prefix = testNamespace('aof');
    const before = new Redis(redis.url, { maxRetriesPerRequest: null });
    expect(await before.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    const pipeline = before.pipeline();
    for (let i = 0; i < 500; i++) pipeline.set(`${prefix}:${i}`, String(i));
    await pipeline.exec();
    await before.rpush(`${prefix}:list`, 'a', 'b', 'c');
    // Close the client first: an ioredis client left connected to a dying server keeps
    // reconnecting and logs errors into the next test.
    before.disconnect();

    const killedPid = redis.pid;
    await redis.kill9();
    expect(killedPid !== undefined && isPidAlive(killedPid)).toBe(false);
    await redis.restart();

    const after = new Redis(redis.url, { maxRetriesPerRequest: null });
    try {
      expect(await after.get(`${prefix}:499`)).toBe('499');
      expect(await after.lrange(`${prefix}:list`, 0, -1)).toEqual(['a', 'b', 'c']);
      expect(await cleanRedisPrefix(after, `${prefix}:`)).toBe(501);
    } finally {
      after.disconnect();
    }
  });

  it('stopAll leaves no process and no dir behind', async () => {
    const pids = [...redis.pids];
    expect(pids).toHaveLength(2);
    await redis.stopAll();
    for (const pid of pids) expect(isPidAlive(pid), `pid ${pid}`).toBe(false);
    expect(processesMentioning(redis.dir)).toEqual([]);
    expect(existsSync(redis.dir)).toBe(false);
  });
});

describe.runIf(hasParentDeathSignal())('servers die with the process that started them', () => {
  it('SIGKILL of the parent (no JavaScript cleanup runs) takes etcd and redis with it', async () => {
    const probe = fileURLToPath(new URL('../helpers/orphan-probe.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', probe], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let report: OrphanProbeReport | undefined;
    try {
      const lines = createInterface({ input: child.stdout });
      const [line] = (await withTimeout(once(lines, 'line'), 60_000, 'orphan probe report')) as [
        string,
      ];
      report = JSON.parse(line) as OrphanProbeReport;
      expect(report.pids).toHaveLength(2);
      for (const pid of report.pids) expect(isPidAlive(pid)).toBe(true);

      child.kill('SIGKILL');
      await once(child, 'exit');
      const pids = report.pids;
      await waitFor(() => pids.every((pid) => !isPidAlive(pid)), {
        timeoutMs: 5_000,
        description: `servers ${pids.join(', ')} to die with their parent`,
      });
      // No JavaScript ran in the killed probe: its dirs are left to the next run's sweep.
      const swept = await sweepStaleTempDirs();
      for (const dir of report.dirs) expect(swept).toContain(dir);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const dir of report?.dirs ?? []) await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('TCP proxy and what etcd3 1.1.2 does when a member is unreachable', () => {
  let proxy: TcpProxy;
  const clients: Etcd3[] = [];
  const track = (client: Etcd3): Etcd3 => (clients.push(client), client);

  beforeAll(async () => {
    const port = Number(new URL(inject('etcdEndpoint')).port);
    proxy = await startTcpProxy({ port });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await proxy?.close();
  });

  it('cut("reset") fails calls at once; restore() lets them through again', async () => {
    const client = track(rawClient(proxy.endpoint));
    expect(await client.get('missing').string()).toBeNull();
    proxy.cut('reset');
    const error = await client.get('missing').catch((err: unknown) => err);
    expect(isRecoverableError(error as Error)).toBe(true); // GRPCUnavailableError
    proxy.restore();
    expect(await client.get('missing').string()).toBeNull();
  });

  it('cut("blackhole") hangs a call that has no deadline, and restore() completes it', async () => {
    const client = track(rawClient(proxy.endpoint));
    const ns = testNamespace('blackhole');
    await client.put(`${ns}/k`).value('v');
    proxy.cut('blackhole');
    // etcd3 sets no deadline by default: this call would wait forever behind a partition.
    const pending = client.get(`${ns}/k`).string();
    await expect(withTimeout(pending, 1_000, 'get behind a black hole')).rejects.toThrow(
      /timed out/,
    );
    // With a deadline it fails, with a recoverable error etcd3 would retry on another host.
    await expect(
      client
        .get(`${ns}/k`)
        .options({ deadline: Date.now() + 300 })
        .string(),
    ).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
    proxy.restore();
    await expect(pending).resolves.toBe('v');
    await cleanEtcdPrefix(client, `${ns}/`);
  });

  it('a dropped keepalive stream fires keepaliveFailed although the lease is alive', async () => {
    const client = track(new Etcd3(testClientOptions([proxy.endpoint])));
    const ns = testNamespace('lease');
    const lease = client.lease(5);
    let lost = false;
    lease.on('lost', () => (lost = true));
    await lease.put(`${ns}/held`).value('1');
    await once(lease, 'keepaliveSucceeded');

    proxy.cut('reset');
    await withTimeout(once(lease, 'keepaliveFailed'), 5_000, 'keepaliveFailed');
    proxy.restore();
    await withTimeout(once(lease, 'keepaliveSucceeded'), 10_000, 'keepalive after restore');

    expect(lost).toBe(false);
    expect(lease.revoked()).toBe(false);
    expect(await client.get(`${ns}/held`).string()).toBe('1');
    await lease.revoke();
    expect(await client.get(`${ns}/held`).string()).toBeNull();
  });
});
