import { execFile } from 'node:child_process';
import { writeFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { getStatus } from '../../src/control/status.js';
import { Intents } from '../../src/coordination/intents.js';
import { startRedis } from '../helpers/redis.js';
import {
  BATON_BIN,
  batonEnv,
  queuedRuns,
  scheduledRuns,
  waitForLeader,
} from '../helpers/replicas.js';
import {
  compareExecutions,
  EXACTLY_ONCE,
  type CommittedRun,
  withdrawnFireIds,
} from '../helpers/executions.js';
import { closeStacks, startStack, type Stack, type StackSpec } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

const EVERY_SECOND = `name: tick
schedule: "* * * * * *"
catchUp: all
catchUpLimit: 100
`;

/** The same job, run by the fixture handler that records each execution. */
const EVERY_SECOND_COUNTED = `${EVERY_SECOND}handler: append\n`;

afterEach(closeStacks);

/** A stack of `files`; `counted` also records the ledger and starts worker w1 (before replicas). */
function deploy(
  files: Record<string, string>,
  name: string,
  more: Omit<StackSpec, 'name' | 'jobs'> & { counted?: boolean } = {},
): Promise<Stack> {
  const { counted, ...spec } = more;
  return startStack({
    name,
    jobs: files,
    ...(counted ? { ledger: true, workers: ['w1'] } : {}),
    ...spec,
  });
}

/** Scheduled instants (epoch ms) of the runs of `job`, ascending; fails on a duplicate instant. */
const instants = scheduledRuns;

/** Every second between the first and last instant is present, once (no gap, no repeat). */
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
    const { opts, ctx } = await deploy({ 'tick.yaml': EVERY_SECOND }, 'one-leader', {
      etcd: cluster,
      replicas: ['r1', 'r2', 'r3'],
    });
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

  it('kill -9 of the leader: another leads within the TTL and every second executes exactly once', async () => {
    const stack = await deploy({ 'tick.yaml': EVERY_SECOND_COUNTED }, 'kill9', {
      counted: true,
      replicas: ['r1', 'r2', 'r3'],
    });
    const ctx = stack.ctx;
    const [a, b, r3] = stack.replicas;
    const first = await waitForLeader(ctx);
    await waitFor(async () => (await stack.executions()).length >= 3, {
      timeoutMs: 10_000,
      description: 'first executions',
    });
    const leader = [a, b, r3].find((r) => r!.id === first.leader)!;
    await leader.kill9();
    const second = await waitForLeader(ctx, (s) => s.leader !== first.leader, 2000 + 3000);
    expect(BigInt(second.token!)).toBeGreaterThan(BigInt(first.token!));
    await waitFor(
      async () => (await stack.executions()).filter((e) => e.token === second.token).length >= 3,
      { timeoutMs: 10_000, description: 'executions of runs from the new leader' },
    );
    const { committed, pending, executions } = await stack.settle();
    expect(compareExecutions(committed, executions, pending)).toEqual(EXACTLY_ONCE);
    // catchUp: all — the ledger holds every second of the run, and each left the outbox and ran.
    expectContiguousSeconds(committed.map((r) => r.scheduledAt).sort((x, y) => x - y));
    expectContiguousSeconds(executions.map((e) => e.scheduledAt).sort((x, y) => x - y));
    expect(new Set(committed.map((r) => r.token))).toEqual(new Set([first.token, second.token]));
  });

  it('SIGSTOP past the TTL: the old leader steps down on waking and publishes nothing it did not commit', async () => {
    const stack = await deploy({ 'tick.yaml': EVERY_SECOND_COUNTED }, 'sigstop', {
      counted: true,
      replicas: ['r1', 'r2'],
    });
    const { opts, ctx } = stack;
    const [a, b] = stack.replicas;
    const first = await waitForLeader(ctx);
    await waitFor(async () => (await stack.executions()).length >= 2, {
      description: 'first executions',
    });
    const old = [a, b].find((r) => r!.id === first.leader)!;
    old.sigstop();
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
    // Once it is a follower again, nothing it committed is still to come: the highest watermark
    // it wrote under its token bounds every instant it decided (the look-ahead that decided them
    // early stretches with load, so no constant after the stop would).
    await stack.ledger.sync(ctx.etcd);
    const bound = stack.ledger.highestWatermark('tick', first.token!);
    expect(bound).toBeDefined();
    const committedByOld = new Set(
      stack.ledger.runs.filter((r) => r.token === first.token).map((r) => r.fireId),
    );
    const { at, runs } = await instants(opts, 'tick');
    expectContiguousSeconds(at);
    // Every run in Redis carrying the old token is one it committed, for an instant up to its
    // last watermark; nothing decided later carries the stale token.
    const stale = runs.filter((r) => r.data.fencingToken === first.token);
    expect(stale.length).toBeGreaterThan(0);
    expect(stale.filter((r) => !committedByOld.has(r.id)).map((r) => r.id)).toEqual([]);
    expect(stale.filter((r) => Date.parse(r.data.scheduledAt) > bound!).map((r) => r.id)).toEqual(
      [],
    );
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
    // And every committed fire executed once, before and after the fail-over.
    const { committed, pending, executions } = await stack.settle();
    expect(compareExecutions(committed, executions, pending)).toEqual(EXACTLY_ONCE);
    expectContiguousSeconds(executions.map((e) => e.scheduledAt).sort((x, y) => x - y));
  });

  it('SIGTERM hands over at once, and a replica restarted with the same id rejoins', async () => {
    const stack = await deploy({ 'tick.yaml': EVERY_SECOND_COUNTED }, 'sigterm', {
      counted: true,
      replicas: ['r1', 'r2'],
    });
    const { opts, ctx } = stack;
    const [a, b] = stack.replicas;
    const first = await waitForLeader(ctx, (s) => s.members.length === 2);
    const leader = [a, b].find((r) => r!.id === first.leader)!;
    const exit = await leader.stop();
    expect(exit.code).toBe(0);
    const second = await waitForLeader(ctx, (s) => s.leader !== first.leader);
    expect(second.members.map((m) => m.id)).not.toContain(first.leader);
    const [again] = await stack.startReplicas(leader.id);
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
    const { committed, pending, executions } = await stack.settle();
    expect(compareExecutions(committed, executions, pending)).toEqual(EXACTLY_ONCE);
    expectContiguousSeconds(executions.map((e) => e.scheduledAt).sort((x, y) => x - y));
  });

  it('pause skips and records fires, resume does not replay, trigger runs once with a manual id', async () => {
    const stack = await deploy({ 'tick.yaml': EVERY_SECOND_COUNTED }, 'intents', {
      counted: true,
      replicas: ['r1'],
    });
    const { opts, ctx } = stack;
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
        Number((await redis.hget(stack.redisKeys.skips('tick').counts, 'paused')) ?? 0);
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
      const skipped = await redis.zrange(stack.redisKeys.skips('tick').list, '0', '-1');
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
    // Executed once, like every committed fire, except those the pause withdrew from Redis
    // before a worker took them (recorded as skipped instead).
    await waitFor(async () => (await stack.executions()).some((e) => e.fireId === fireId), {
      description: 'manual run executed',
    });
    const { committed, pending, executions } = await stack.settle();
    const withdrawn = await withdrawnFireIds(
      opts.redisUrl,
      opts.namespace,
      committed.map((r) => r.fireId),
    );
    expect(compareExecutions(committed, executions, new Set([...pending, ...withdrawn]))).toEqual(
      EXACTLY_ONCE,
    );
    expect(executions.filter((e) => e.manual).map((e) => e.fireId)).toEqual([fireId]);
  });

  it('a pause withdraws a run already decided for a later instant, inside the look-ahead', async () => {
    const stack = await deploy(
      { 'five.yaml': 'name: five\nschedule: "*/5 * * * * *"\n' },
      'withdraw',
    );
    const { opts, ctx } = stack;
    await stack.startReplica('r1', { env: { BATON_LOOKAHEAD: '1000' } });
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
      const marker = () => redis.get(stack.redisKeys.fired(ahead.id));
      const pausedSkips = async () =>
        (await redis.zrange(stack.redisKeys.skips('five').list, '0', '-1'))
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

  it('the leader makes each delayed run available at its instant (no worker polls Redis, so Redis would not)', async () => {
    const { opts, ctx } = await deploy({ 'tick.yaml': EVERY_SECOND }, 'promote', {
      replicas: ['r1'],
    });
    await waitForLeader(ctx);
    const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
    const q = new Queue('baton', { connection: redis, prefix: opts.namespace });
    try {
      // Published ahead as delayed jobs (opts.delay > 0). BullMQ promotes a due delayed job only
      // when a worker fetches; with no worker, a waiting one was promoted by the leader.
      const promoted = await waitFor(
        async () => {
          const waiting = await q.getJobs(['waiting'], 0, -1);
          const ids = waiting.filter((j) => (j.opts.delay ?? 0) > 0).map((j) => j.id!);
          return ids.length >= 3 ? ids : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100, description: 'three delayed runs promoted' },
      );
      expect(promoted.length).toBeGreaterThanOrEqual(3);
      // No delayed run was left behind its due time.
      const delayed = await q.getJobs(['delayed'], 0, -1);
      for (const j of delayed) expect(j.timestamp + j.delay).toBeGreaterThan(Date.now() - 1000);
    } finally {
      await q.close();
      redis.disconnect();
    }
  });

  it('hot reload: a new job starts, a changed schedule neither refires nor skips, a broken file keeps the last good set', async () => {
    const { opts, ctx } = await deploy({ 'tick.yaml': EVERY_SECOND }, 'reload', {
      replicas: ['r1'],
    });
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

  it('300 jobs due at the same instant: committed in chunked txns, each instant executed once per job', async () => {
    const many = Array.from(
      { length: 300 },
      (_, i) =>
        `  - name: job-${i}\n    schedule: "* * * * * *"\n    catchUp: all\n    handler: append\n`,
    ).join('');
    const stack = await deploy({ 'many.yaml': `jobs:\n${many}` }, 'many', { ledger: true });
    await stack.startWorker('w1', ['--concurrency', '50']);
    await stack.startReplicas('r1');
    await waitForLeader(stack.ctx);
    await waitFor(async () => (await stack.executions()).length >= 300 * 3, {
      timeoutMs: 30_000,
      description: 'three rounds of 300 executions',
    });
    const { committed, pending, executions } = await stack.settle();
    expect(compareExecutions(committed, executions, pending)).toEqual(EXACTLY_ONCE);
    expect(new Set(executions.map((e) => e.job)).size).toBe(300);
    // Every job ran at the same instants: one decision per instant covered all 300 jobs, in
    // several txns (etcd refuses more than 128 operations in one).
    const perInstant = new Map<number, CommittedRun[]>();
    for (const r of committed)
      perInstant.set(r.scheduledAt, [...(perInstant.get(r.scheduledAt) ?? []), r]);
    const complete = [...perInstant.values()].filter((rs) => rs.length === 300);
    expect(complete.length).toBeGreaterThanOrEqual(2);
    for (const rs of complete) expect(new Set(rs.map((r) => r.batch)).size).toBeGreaterThan(1);
    const ranAt = new Map<number, number>();
    for (const e of executions) ranAt.set(e.scheduledAt, (ranAt.get(e.scheduledAt) ?? 0) + 1);
    expect([...ranAt.values()].filter((n) => n === 300).length).toBeGreaterThanOrEqual(2);
  });

  it('a new leader republishes the outbox of a leader killed while Redis was down: every instant executes once', async () => {
    const own = await startRedis();
    try {
      const stack = await deploy({ 'tick.yaml': EVERY_SECOND_COUNTED }, 'outbox-takeover', {
        redisUrl: own.url,
        counted: true,
        replicas: ['r1', 'r2'],
      });
      const ctx = stack.ctx;
      const first = await waitForLeader(ctx, (s) => s.members.length === 2);
      await waitFor(async () => (await stack.executions()).length >= 2, {
        description: 'first executions',
      });

      // Redis crashes: the leader goes on committing, into the outbox only.
      await own.kill9();
      const batches = async () =>
        (await ctx.etcd.getAll().prefix(ctx.keys.outboxPrefix).keys()).map((k) =>
          k.slice(ctx.keys.outboxPrefix.length),
        );
      const tokenOf = (batch: string) => batch.slice(0, batch.lastIndexOf('-'));
      await waitFor(
        async () => (await batches()).filter((b) => tokenOf(b) === first.token).length >= 3,
        { description: "three of the leader's batches waiting in the outbox" },
      );
      // It dies with them: only another leader can deliver them.
      await stack.replica(first.leader).kill9();
      const second = await waitForLeader(ctx, (s) => s.leader !== first.leader);
      expect(BigInt(second.token!)).toBeGreaterThan(BigInt(first.token!));
      await stack.ledger.sync(ctx.etcd);
      const orphanedBatches = new Set((await batches()).filter((b) => tokenOf(b) === first.token));
      expect(orphanedBatches.size).toBeGreaterThanOrEqual(3);
      const orphaned = stack.ledger.runs.filter((r) => orphanedBatches.has(r.batch));
      expect(orphaned.length).toBeGreaterThanOrEqual(3);

      // Redis comes back on the same data: every batch waiting then is delivered and removed.
      const waiting = await batches();
      await own.restart();
      await waitFor(
        async () => {
          const now = new Set(await batches());
          return waiting.every((b) => !now.has(b));
        },
        { timeoutMs: 20_000, description: 'the outbox batches of the outage acknowledged' },
      );
      await waitFor(
        async () => {
          const ran = new Set((await stack.executions()).map((e) => e.fireId));
          return orphaned.every((r) => ran.has(r.fireId));
        },
        { timeoutMs: 20_000, description: "the dead leader's committed runs executed" },
      );
      await waitFor(
        async () => {
          const fresh = (await stack.executions()).filter(
            (e) =>
              e.token === second.token &&
              e.scheduledAt > Math.max(...orphaned.map((r) => r.scheduledAt)),
          );
          return fresh.length >= 2;
        },
        { description: "the new leader's own runs executing after the outage" },
      );

      const { committed, pending, executions } = await stack.settle();
      expect(compareExecutions(committed, executions, pending)).toEqual(EXACTLY_ONCE);
      expect(orphaned.filter((r) => pending.has(r.fireId))).toEqual([]);
      // catchUp: all — no second of the outage lost, none run twice.
      expectContiguousSeconds(executions.map((e) => e.scheduledAt).sort((x, y) => x - y));
    } finally {
      await own.stopAll();
    }
  });

  it('Redis down: fires wait in the etcd outbox and execute once when it returns', async () => {
    const own = await startRedis();
    try {
      const stack = await deploy({ 'tick.yaml': EVERY_SECOND_COUNTED }, 'redis-down', {
        redisUrl: own.url,
        counted: true,
        replicas: ['r1'],
      });
      const ctx = stack.ctx;
      await waitForLeader(ctx);
      await waitFor(async () => (await stack.executions()).length >= 2, {
        description: 'first executions',
      });
      await own.stop();
      const batches = () => ctx.etcd.getAll().prefix(ctx.keys.outboxPrefix).keys();
      await waitFor(async () => (await batches()).length >= 3, { description: 'outbox growing' });
      const waiting = await batches();
      const restartedAt = Date.now();
      await own.restart();
      await waitFor(
        async () => {
          const now = new Set(await batches());
          return waiting.every((b) => !now.has(b));
        },
        { timeoutMs: 15_000, description: 'the outbox of the outage drained' },
      );
      await waitFor(
        async () => (await stack.executions()).filter((e) => e.at > restartedAt).length >= 5,
        { description: 'executions after Redis returned' },
      );
      const { committed, pending, executions } = await stack.settle();
      expect(compareExecutions(committed, executions, pending)).toEqual(EXACTLY_ONCE);
      expectContiguousSeconds(executions.map((e) => e.scheduledAt).sort((x, y) => x - y));
    } finally {
      await own.stopAll();
    }
  });
});
