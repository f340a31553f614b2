import { afterAll, expect, inject, it } from 'vitest';
import { startEtcdNode, type EtcdCluster } from '../helpers/etcd.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePorts } from '../helpers/ports.js';
import {
  control,
  jobsFolder,
  scheduledRuns,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdCluster | undefined;
let replica: ReplicaProcess | undefined;

afterAll(async () => {
  await replica?.kill9();
  await etcd?.stopAll();
});

it('a replica started while etcd is down stays up as unknown, says so once, and recovers by itself', async () => {
  etcd = await startEtcdNode();
  const member = etcd.members[0]!;
  await member.stop();
  const opts: StackOptions = {
    etcd: [...etcd.endpoints],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace('etcd-down'),
    jobsDir: await jobsFolder({ 'tick.yaml': 'name: tick\nschedule: "* * * * * *"\n' }),
    leaseTtl: 2,
  };
  const [port] = await freePorts(1);
  replica = await startReplica(opts, 'r1', port);
  await waitFor(async () => (await replica!.readiness()).state === 'unknown', {
    description: 'replica answering, unknown',
  });
  // It retries with backoff (each attempt logged at debug) and stays up, not ready.
  await waitFor(() => (replica!.log(500).match(/etcd call failed/g) ?? []).length >= 3, {
    timeoutMs: 30_000,
    description: 'three failed attempts',
  });
  expect(await replica.readiness()).toMatchObject({ ready: false, state: 'unknown' });
  expect(replica.proc.running).toBe(true);

  await member.restart();
  const ctx = control(opts);
  try {
    await waitForLeader(ctx, (s) => s.leader === 'r1', 30_000);
    await waitFor(async () => (await scheduledRuns(opts, 'tick')).at.length >= 2, {
      description: 'fires after recovery',
    });
    expect((await replica.readiness()).ready).toBe(true);
  } finally {
    ctx.close();
  }
  const unreachable = replica
    .log(500)
    .split('\n')
    .filter((l) => l.includes('etcd unreachable'));
  expect(unreachable).toHaveLength(1);
  expect(replica.log(500)).toContain('etcd reachable again');
});
