// A Redis Cluster for real: three masters (Debian's redis-server, `redis-cli --cluster create`)
// on loopback. Scheduler replicas, a worker and the CLI reach it through `redis+cluster://` with a
// hash-tagged queue prefix, as BullMQ requires: fires are enqueued once and run, and the history
// reads back through the CLI.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import { resolveConfig } from '../../src/config/index.js';
import { openControl } from '../../src/control/context.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import {
  BATON_BIN,
  batonEnv,
  jobsFolder,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const processes: (ReplicaProcess | ManagedProcess)[] = [];
const servers: RedisServer[] = [];

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill9()));
  await Promise.all(servers.map((s) => s.stopAll()));
});

async function clusterState(port: number): Promise<string> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = (await client.call('CLUSTER', 'INFO')) as string;
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    client.disconnect();
  }
}

it('runs fires through a three-master Redis Cluster with a hash-tagged prefix', async () => {
  const nodes = await Promise.all(
    [1, 2, 3].map(() =>
      startRedis({
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
      }),
    ),
  );
  servers.push(...nodes);
  await run('redis-cli', [
    '--cluster',
    'create',
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  await waitFor(
    async () =>
      (await Promise.all(nodes.map((n) => clusterState(n.port)))).every((s) => s === 'ok'),
    { timeoutMs: 30_000, intervalMs: 200, description: 'cluster_state:ok on every node' },
  );

  const namespace = testNamespace('cluster');
  const prefix = `{${namespace}}`;
  const opts: StackOptions = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    namespace,
    jobsDir: await jobsFolder({
      'tick.yaml': `name: tick
schedule: '* * * * * *'
handler: heartbeat
catchUp: latest
startingDeadline: 1m
`,
    }),
  };
  const env = { ...batonEnv(opts), BATON_QUEUE_PREFIX: prefix };
  const httpPort = await freePort();
  processes.push(
    ...(await Promise.all(
      ['r1', 'r2'].map((id, i) =>
        startReplica(opts, id, i === 0 ? httpPort : 0, { BATON_QUEUE_PREFIX: prefix }),
      ),
    )),
  );
  const logDir = await makeTempDir('baton-cluster-worker-');
  processes.push(
    spawnManaged({
      name: 'worker',
      command: process.execPath,
      args: [BATON_BIN, 'worker', '--id', 'w1'],
      logFile: path.join(logDir, 'worker.log'),
      env,
    }),
  );
  const ctx = openControl(
    resolveConfig(
      { etcd: opts.etcd.join(','), redis: opts.redisUrl, namespace, queuePrefix: prefix },
      {},
    ),
  );
  try {
    await waitForLeader(ctx);
    const history = await waitFor(
      async () => {
        const { stdout } = await run(process.execPath, [BATON_BIN, 'history', 'tick', '--json'], {
          env,
        });
        const h = JSON.parse(stdout) as {
          entries: { kind: string; status: string; fireId: string; worker: string }[];
        };
        const done = h.entries.filter((e) => e.kind === 'run' && e.status === 'completed');
        return done.length >= 3 ? done : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'three completed runs, read by the CLI' },
    );
    expect(history.every((e) => e.worker === 'w1')).toBe(true);
    expect(new Set(history.map((e) => e.fireId)).size).toBe(history.length);

    // Published orders leave the outbox once the masters have them on disk (the leader checks
    // every master's run id, so a restart of any one of them would publish them again).
    const outboxAt = Date.now();
    await waitFor(
      async () => {
        const batches = Object.values(
          await ctx.etcd.getAll().prefix(ctx.keys.outboxPrefix).strings(),
        );
        const orders = batches.flatMap(
          (v) => JSON.parse(v) as { data?: { scheduledAt: string } }[],
        );
        return orders.every((o) => !o.data || Date.parse(o.data.scheduledAt) > outboxAt)
          ? true
          : undefined;
      },
      { timeoutMs: 20_000, description: 'outbox acknowledged' },
    );

    // The API reads the same history from the Cluster.
    const api = (await (
      await fetch(`http://127.0.0.1:${httpPort}/api/v1/jobs/tick/history`)
    ).json()) as { entries: { fireId: string }[] };
    expect(api.entries.map((e) => e.fireId)).toEqual(
      expect.arrayContaining(history.map((e) => e.fireId)),
    );

    // The queue's keys live in one slot, on one master, named by the hash tag.
    const client = new Redis.Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    try {
      await new Promise((resolve) => client.once('ready', resolve));
      const keys: string[] = [];
      for (const node of client.nodes('master')) keys.push(...(await node.keys(`${prefix}*`)));
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.every((k) => k.startsWith(`${prefix}:`))).toBe(true);
    } finally {
      client.disconnect();
    }

    // Without a hash tag the configuration is refused before anything connects.
    const refused = await run(process.execPath, [BATON_BIN, 'status'], {
      env: { ...env, BATON_QUEUE_PREFIX: namespace },
    }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toMatch(/hash tag/);
  } finally {
    ctx.close();
  }
}, 180_000);
