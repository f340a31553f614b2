import { execFile } from 'node:child_process';
import { writeFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { ControlContext } from '../../src/control/context.js';
import { getStatus } from '../../src/control/status.js';
import { Intents } from '../../src/coordination/intents.js';
import { testNamespace } from '../helpers/namespace.js';
import {
  BATON_BIN,
  batonEnv,
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

const run = promisify(execFile);

const EVERY_SECOND = `name: tick
schedule: "* * * * * *"
catchUp: all
catchUpLimit: 100
`;

let replicas: ReplicaProcess[] = [];
let contexts: ControlContext[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const r of replicas) console.error(`--- log of ${r.id}\n${r.log(60)}`);
  }
  await Promise.all(replicas.map((r) => r.kill9()));
  for (const c of contexts) c.close();
  replicas = [];
  contexts = [];
});

async function stack(files: Record<string, string>, name: string, etcd = [inject('etcdEndpoint')]) {
  const opts: StackOptions = {
    etcd,
    redisUrl: inject('redisUrl'),
    namespace: testNamespace(name),
    jobsDir: await jobsFolder(files),
    leaseTtl: 2,
  };
  const ctx = control(opts);
  contexts.push(ctx);
  return { opts, ctx };
}

async function start(opts: StackOptions, ...ids: string[]): Promise<ReplicaProcess[]> {
  const started = await Promise.all(ids.map((id) => startReplica(opts, id)));
  replicas.push(...started);
  return started;
}

/** Scheduled instants (epoch ms) of the runs of `job`, ascending; fails on a duplicate instant. */
const instants = scheduledRuns;

/** Every second between the first and last instant is present exactly once. */
function expectContiguousSeconds(at: number[]) {
  expect(at.length).toBeGreaterThan(1);
  const first = at[0]!;
  const last = at[at.length - 1]!;
  const missing: string[] = [];
  const have = new Set(at);
  for (let t = first; t <= last; t += 1000)
    if (!have.has(t)) missing.push(new Date(t).toISOString());
  expect(missing).toEqual([]);
  expect(at.length).toBe((last - first) / 1000 + 1);
}

describe('scheduler replicas (real etcd, real Redis, real processes)', () => {
  it('elects exactly one leader and `baton status` agrees from every etcd member', async () => {
    const cluster = inject('etcdClusterEndpoints');
    const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'one-leader', cluster);
    await start(opts, 'r1', 'r2', 'r3');
    const s = await waitForLeader(ctx, (st) => st.members.length === 3);
    expect(s.members.filter((m) => m.state === 'leader').map((m) => m.id)).toEqual([s.leader]);
    expect(s.members.filter((m) => m.state === 'follower')).toHaveLength(2);
    for (const endpoint of cluster) {
      const { stdout } = await run(process.execPath, [BATON_BIN, 'status', '--json'], {
        env: { ...batonEnv(opts), BATON_ETCD: endpoint },
      });
      const status = JSON.parse(stdout) as {
        leader: string;
        members: { id: string; state: string }[];
      };
      expect(status.leader).toBe(s.leader);
      expect(status.members.map((m) => m.id).sort()).toEqual(['r1', 'r2', 'r3']);
    }
  });

  it('kill -9 of the leader: another leads within the TTL and every second is enqueued exactly once', async () => {
    const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'kill9');
    const [a, b, c] = await start(opts, 'r1', 'r2', 'r3');
    const first = await waitForLeader(ctx);
    await waitFor(async () => (await instants(opts, 'tick')).at.length >= 3, {
      timeoutMs: 10_000,
      description: 'first fires',
    });
    const leader = [a, b, c].find((r) => r!.id === first.leader)!;
    await leader.kill9();
    const second = await waitForLeader(ctx, (s) => s.leader !== first.leader, 2000 + 3000);
    expect(BigInt(second.token!)).toBeGreaterThan(BigInt(first.token!));
    await waitFor(
      async () =>
        (await instants(opts, 'tick')).runs.filter((r) => r.data.fencingToken === second.token)
          .length >= 3,
      { timeoutMs: 10_000, description: 'fires from the new leader' },
    );
    const { at, runs } = await instants(opts, 'tick');
    expectContiguousSeconds(at);
    const tokens = new Set(runs.map((r) => r.data.fencingToken));
    expect(tokens).toEqual(new Set([first.token, second.token]));
  });

  it('SIGSTOP past the TTL: the old leader steps down on waking and publishes nothing it did not commit', async () => {
    const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'sigstop');
    const [a, b] = await start(opts, 'r1', 'r2');
    const first = await waitForLeader(ctx);
    await waitFor(async () => (await instants(opts, 'tick')).at.length >= 2, {
      description: 'first fires',
    });
    const old = [a, b].find((r) => r!.id === first.leader)!;
    old.sigstop();
    const stoppedAt = Date.now();
    const second = await waitForLeader(ctx, (s) => s.leader !== first.leader && s.leader !== null);
    await waitFor(
      async () =>
        (await instants(opts, 'tick')).runs.filter((r) => r.data.fencingToken === second.token)
          .length >= 2,
      { description: 'fires from the new leader' },
    );
    old.sigcont();
    // The old replica comes back as a follower under a new session.
    await waitFor(
      async () => {
        const s = await getStatus(ctx);
        return (
          s.members.find((m) => m.id === old.id)?.state === 'follower' && s.leader === second.leader
        );
      },
      { timeoutMs: 15_000, description: 'old leader back as follower' },
    );
    const { at, runs } = await instants(opts, 'tick');
    expectContiguousSeconds(at);
    // Every run carrying the old token is for an instant before it was stopped (it had committed
    // those); nothing decided later carries the stale token.
    // (Decided up to the 250 ms default look-ahead before their instant.)
    const stale = runs.filter((r) => r.data.fencingToken === first.token);
    for (const r of stale)
      expect(Date.parse(r.data.scheduledAt)).toBeLessThanOrEqual(stoppedAt + 250);
    expect(runs.some((r) => r.data.fencingToken === second.token)).toBe(true);
    // Its step-down names the lease (its deadline passed while stopped) or its deleted key, not
    // an etcd error: what baton_step_downs_total{cause} counts.
    const stepDown = old
      .log(100_000)
      .split('\n')
      .filter((l) => l.includes('"state leader -> unknown"'))
      .map((l) => (JSON.parse(l) as { cause: string }).cause);
    expect(stepDown).toHaveLength(1);
    expect(['lease_expired', 'key_deleted']).toContain(stepDown[0]);
  });

  it('SIGTERM hands over at once, and a replica restarted with the same id rejoins', async () => {
    const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'sigterm');
    const [a, b] = await start(opts, 'r1', 'r2');
    const first = await waitForLeader(ctx, (s) => s.members.length === 2);
    const leader = [a, b].find((r) => r!.id === first.leader)!;
    const exit = await leader.stop();
    expect(exit.code).toBe(0);
    const second = await waitForLeader(ctx, (s) => s.leader !== first.leader);
    expect(second.members.map((m) => m.id)).not.toContain(first.leader);
    const [again] = await start(opts, leader.id);
    const third = await waitForLeader(ctx, (s) =>
      s.members.some((m) => m.id === again!.id && m.state === 'follower'),
    );
    expect(third.leader).toBe(second.leader);
    await waitFor(
      async () =>
        (await instants(opts, 'tick')).runs.filter((r) => r.data.fencingToken === second.token)
          .length >= 2,
      { description: 'fires from the new leader' },
    );
    const { at } = await instants(opts, 'tick');
    expectContiguousSeconds(at);
  });

  it('pause skips and records fires, resume does not replay, trigger enqueues once with a manual id', async () => {
    const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'intents');
    await start(opts, 'r1');
    const s = await waitForLeader(ctx);
    await waitFor(async () => (await instants(opts, 'tick')).at.length >= 2, {
      description: 'fires',
    });

    const pause = await run(
      process.execPath,
      [BATON_BIN, 'pause', 'tick', '--reason', 'maintenance'],
      { env: batonEnv(opts) },
    );
    expect(pause.stdout).toContain('paused tick');
    const redis = new Redis(opts.redisUrl);
    try {
      const skipCount = async () =>
        Number((await redis.hget(stackKeys(opts).skips('tick').counts, 'paused')) ?? 0);
      await waitFor(async () => (await skipCount()) >= 2, { description: 'paused fires recorded' });
      const before = (await instants(opts, 'tick')).at;
      const lastBefore = before[before.length - 1]!;
      await run(process.execPath, [BATON_BIN, 'resume', 'tick'], { env: batonEnv(opts) });
      await waitFor(async () => (await instants(opts, 'tick')).at.length >= before.length + 2, {
        description: 'fires after resume',
      });
      const after = (await instants(opts, 'tick')).at;
      const resumedFrom = after.find((t) => t > lastBefore)!;
      // The paused seconds were not replayed: the gap is exactly the recorded skips.
      const skipped = await redis.zrange(stackKeys(opts).skips('tick').list, '0', '-1');
      const paused = skipped
        .map((j) => JSON.parse(j) as { reason: string; first: number; last: number; count: number })
        .filter((r) => r.reason === 'paused');
      const skippedCount = paused.reduce((n, r) => n + r.count, 0);
      expect((resumedFrom - lastBefore) / 1000 - 1).toBe(skippedCount);
      expect(Math.min(...paused.map((r) => r.first))).toBe(lastBefore + 1000);
    } finally {
      redis.disconnect();
    }

    const trig = await run(process.execPath, [BATON_BIN, 'trigger', 'tick', '--json'], {
      env: batonEnv(opts),
    });
    const { fireId } = JSON.parse(trig.stdout) as { fireId: string };
    expect(fireId).toMatch(/^tick@manual-/);
    await waitFor(
      async () => (await queuedRuns(opts.redisUrl, opts.namespace)).some((r) => r.id === fireId),
      { description: 'manual run' },
    );
    const manual = (await queuedRuns(opts.redisUrl, opts.namespace)).filter((r) => r.data.manual);
    expect(manual.map((r) => r.id)).toEqual([fireId]);
    expect(manual[0]!.data.fencingToken).toBe(s.token);
    // Consumed: the trigger key is gone.
    await waitFor(
      async () => (await new Intents(ctx.etcd, ctx.keys).readTriggers()).triggers.length === 0,
      { description: 'trigger consumed' },
    );
  });

  it('a pause withdraws a run already decided for a later instant, inside the look-ahead', async () => {
    const { opts, ctx } = await stack(
      { 'five.yaml': 'name: five\nschedule: "*/5 * * * * *"\n' },
      'withdraw',
    );
    const r1 = await startReplica(opts, 'r1', 0, { BATON_LOOKAHEAD: '1000' });
    replicas.push(r1);
    await waitForLeader(ctx);
    // A run decided ahead of its instant (up to 1 s before it), with no worker to take it.
    const ahead = await waitFor(
      async () => {
        const now = Date.now();
        return (await queuedRuns(opts.redisUrl, opts.namespace)).find(
          (r) => Date.parse(r.data.scheduledAt) - now >= 600,
        );
      },
      { timeoutMs: 15_000, intervalMs: 20, description: 'a run decided ahead of its instant' },
    );
    await new Intents(ctx.etcd, ctx.keys).pause('five', 'test', 'withdraw what is decided');
    const redis = new Redis(opts.redisUrl);
    try {
      // Removed from the queue, then marked and recorded (separate round trips): await all three.
      const marker = () => redis.get(stackKeys(opts).fired(ahead.id));
      const pausedSkips = async () =>
        (await redis.zrange(stackKeys(opts).skips('five').list, '0', '-1'))
          .map((j) => JSON.parse(j) as { reason: string; first: number })
          .filter((x) => x.reason === 'paused');
      await waitFor(
        async () =>
          !(await queuedRuns(opts.redisUrl, opts.namespace)).some((r) => r.id === ahead.id) &&
          (await marker()) === 'withdrawn' &&
          (await pausedSkips()).some((x) => x.first === Date.parse(ahead.data.scheduledAt)),
        {
          description: `${ahead.id} withdrawn from the queue, marked and recorded as skipped`,
        },
      );
    } finally {
      redis.disconnect();
    }
  });

  it('hot reload: a new job starts, a changed schedule neither refires nor skips, a broken file keeps the last good set', async () => {
    const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'reload');
    await start(opts, 'r1');
    await waitForLeader(ctx);
    await waitFor(async () => (await instants(opts, 'tick')).at.length >= 2, {
      description: 'fires',
    });
    // A second job appears.
    await writeFile(
      path.join(opts.jobsDir, 'tock.yaml'),
      'name: tock\nschedule: "*/2 * * * * *"\n',
    );
    await waitFor(async () => (await instants(opts, 'tock')).at.length >= 2, {
      description: 'new job fires',
    });
    // tick becomes every 2 seconds: instants continue after the last decided one.
    const beforeChange = (await instants(opts, 'tick')).at;
    await writeFile(
      path.join(opts.jobsDir, 'tick.yaml'),
      EVERY_SECOND.replace('"* * * * * *"', '"*/2 * * * * *"'),
    );
    await waitFor(
      async () => {
        const at = (await instants(opts, 'tick')).at;
        const tail = at.slice(-3);
        return (
          tail.length === 3 &&
          tail.every((t) => new Date(t).getUTCSeconds() % 2 === 0) &&
          at.length > beforeChange.length + 2
        );
      },
      { description: 'every-2s fires' },
    );
    // A broken file: tick keeps firing on its last good definition.
    await writeFile(path.join(opts.jobsDir, 'tick.yaml'), 'name: tick\nschedule: "not a cron"\n');
    const n = (await instants(opts, 'tick')).at.length;
    await waitFor(async () => (await instants(opts, 'tick')).at.length >= n + 2, {
      description: 'fires on the last good definition',
    });
    // Deleting tock stops it.
    await unlink(path.join(opts.jobsDir, 'tock.yaml'));
    const s = await getStatus(ctx);
    expect(s.leader).toBe('r1');
  });

  it('300 jobs due at the same instant: committed in chunked txns, each instant enqueued once per job', async () => {
    const many = Array.from(
      { length: 300 },
      (_, i) => `  - name: job-${i}\n    schedule: "* * * * * *"\n    catchUp: all\n`,
    ).join('');
    const { opts, ctx } = await stack({ 'many.yaml': `jobs:\n${many}` }, 'many');
    await start(opts, 'r1');
    await waitForLeader(ctx);
    await waitFor(async () => (await queuedRuns(opts.redisUrl, opts.namespace)).length >= 300 * 3, {
      timeoutMs: 20_000,
      description: 'three rounds of 300 fires',
    });
    const runs = await queuedRuns(opts.redisUrl, opts.namespace);
    const byJob = new Map<string, number[]>();
    for (const r of runs)
      byJob.set(r.data.job, [...(byJob.get(r.data.job) ?? []), Date.parse(r.data.scheduledAt)]);
    expect(byJob.size).toBe(300);
    // Every job fired at the same instants: one decision per instant covered all 300 jobs.
    const perInstant = new Map<number, number>();
    for (const at of byJob.values())
      for (const t of at) perInstant.set(t, (perInstant.get(t) ?? 0) + 1);
    const complete = [...perInstant.values()].filter((n) => n === 300).length;
    expect(complete).toBeGreaterThanOrEqual(2);
  });

  it('Redis down: fires wait in the etcd outbox and are enqueued once when it returns', async () => {
    const { startRedis } = await import('../helpers/redis.js');
    const own = await startRedis();
    try {
      const { opts, ctx } = await stack({ 'tick.yaml': EVERY_SECOND }, 'redis-down');
      opts.redisUrl = own.url;
      await start(opts, 'r1');
      await waitForLeader(ctx);
      await waitFor(async () => (await instants(opts, 'tick')).at.length >= 2, {
        description: 'fires',
      });
      await own.stop();
      await waitFor(
        async () => (await ctx.etcd.getAll().prefix(ctx.keys.outboxPrefix).count()) >= 3,
        { description: 'outbox growing' },
      );
      await own.restart();
      await waitFor(
        async () => (await ctx.etcd.getAll().prefix(ctx.keys.outboxPrefix).count()) === 0,
        { timeoutMs: 15_000, description: 'outbox drained' },
      );
      const { at } = await instants(opts, 'tick');
      expectContiguousSeconds(at);
    } finally {
      await own.stopAll();
    }
  });
});
