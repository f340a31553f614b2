import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { getStatus } from '../../src/control/status.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import {
  compareExecutions,
  EXACTLY_ONCE,
  executionsFile,
  outboxFireIds,
  queueIdle,
  readExecutions,
  recordLedger,
  startExecutionWorker,
} from '../helpers/executions.js';
import type { ManagedProcess } from '../helpers/process.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePorts } from '../helpers/ports.js';
import {
  control,
  jobsFolder,
  queuedRuns,
  scheduledRuns,
  stackKeys,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

// Both run the fixture handler that records each execution.
const JOBS = {
  'all.yaml':
    'name: tick-all\nschedule: "* * * * * *"\ncatchUp: all\ncatchUpLimit: 100\nhandler: append\n',
  'latest.yaml': 'name: tick-latest\nschedule: "* * * * * *"\ncatchUp: latest\nhandler: append\n',
};

let cluster: EtcdCluster;
let replicas: ReplicaProcess[] = [];
let worker: ManagedProcess | undefined;

beforeAll(async () => {
  cluster = await startEtcdCluster({ size: 3 });
});

afterAll(async () => {
  await Promise.all([...replicas, ...(worker ? [worker] : [])].map((p) => p.kill9()));
  await cluster?.stopAll();
});

async function instants(opts: StackOptions, job: string): Promise<number[]> {
  return (await scheduledRuns(opts, job)).at;
}

it('a 3-member etcd cluster: losing one member keeps firing; losing quorum stops everything; catch-up applies when it returns', async () => {
  const opts: StackOptions = {
    etcd: [...cluster.endpoints],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace('quorum'),
    jobsDir: await jobsFolder(JOBS),
    leaseTtl: 2,
  };
  const ctx = control(opts);
  const ledger = await recordLedger(ctx.etcd, ctx.keys);
  try {
    const file = await executionsFile();
    worker = await startExecutionWorker(opts, 'w1', file);
    const ports = await freePorts(2);
    replicas = await Promise.all([
      startReplica(opts, 'r1', ports[0]),
      startReplica(opts, 'r2', ports[1]),
    ]);
    await waitForLeader(ctx);
    await waitFor(async () => (await instants(opts, 'tick-all')).length >= 2, {
      description: 'first fires',
    });

    // One member down (the etcd leader, the harder case): firing goes on.
    const [first, second] = [await cluster.leader(), (await cluster.followers())[0]!];
    await first.kill9();
    const afterOneLost = Date.now();
    await waitFor(
      async () => (await instants(opts, 'tick-all')).filter((t) => t > afterOneLost).length >= 3,
      {
        timeoutMs: 20_000,
        description: 'fires with one etcd member down',
      },
    );

    // Quorum lost: every replica goes unknown and nothing is decided.
    await second.kill9();
    await waitFor(
      async () =>
        (await Promise.all(replicas.map((r) => r.readiness()))).every((r) => r.state === 'unknown'),
      {
        timeoutMs: 20_000,
        description: 'every replica unknown',
      },
    );
    const unknownAt = Date.now();
    const countAtLoss = (await queuedRuns(opts.redisUrl, opts.namespace)).length;
    // The outage lasts a few seconds of schedule time (the length of the gap is the test's input).
    await waitFor(() => Date.now() - unknownAt > 4000, {
      timeoutMs: 6000,
      description: 'outage of 4 s',
    });
    expect((await queuedRuns(opts.redisUrl, opts.namespace)).length).toBe(countAtLoss);
    for (const r of replicas) expect((await r.readiness()).ready).toBe(false);

    // Quorum back: a leader takes over and applies each job's catch-up policy.
    await Promise.all([first.restart(), second.restart()]);
    const restoredAt = Date.now();
    await waitForLeader(ctx, undefined, 30_000);
    await waitFor(
      async () => (await instants(opts, 'tick-all')).filter((t) => t > restoredAt).length >= 2,
      {
        timeoutMs: 20_000,
        description: 'fires after quorum returned',
      },
    );

    // catchUp: latest — one run for the outage, every other missed instant recorded as skipped.
    const latest = await instants(opts, 'tick-latest');
    const gaps = latest
      .slice(1)
      .map((t, i) => (t - latest[i]!) / 1000 - 1)
      .filter((g) => g > 0);
    const skippedInGaps = gaps.reduce((a, b) => a + b, 0);
    expect(skippedInGaps).toBeGreaterThanOrEqual(3);
    const redis = new Redis(opts.redisUrl);
    try {
      const counts = await redis.hgetall(stackKeys(opts).skips('tick-latest').counts);
      expect(Number(counts['catch-up-latest'] ?? 0)).toBe(skippedInGaps);
    } finally {
      redis.disconnect();
    }
    const status = await getStatus(ctx);
    expect(status.members.map((m) => m.id).sort()).toEqual(['r1', 'r2']);

    // catchUp: all — every second of the whole run executed exactly once (and so did every run
    // of tick-latest): stop deciding, let the worker finish what reached Redis, and compare the
    // executions with what the leaders committed.
    await Promise.all(replicas.map((r) => r.kill9()));
    await ledger.sync(ctx.etcd);
    const pending = await outboxFireIds(ctx.etcd, ctx.keys);
    await waitFor(() => queueIdle(opts.redisUrl, opts.namespace), {
      timeoutMs: 20_000,
      description: 'every run in Redis finished',
    });
    const executions = await readExecutions(file);
    expect(compareExecutions(ledger.runs, executions, pending)).toEqual(EXACTLY_ONCE);
    const all = executions
      .filter((e) => e.job === 'tick-all')
      .map((e) => e.scheduledAt)
      .sort((a, b) => a - b);
    const missing = [];
    for (let t = all[0]!; t <= all[all.length - 1]!; t += 1000)
      if (!all.includes(t)) missing.push(new Date(t).toISOString());
    expect(missing).toEqual([]);
  } finally {
    await ledger.close();
    ctx.close();
  }
});
