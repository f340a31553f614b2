import { execFile } from 'node:child_process';
import { cp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { JobAudit } from '../../src/control/audit.js';
import { listMembers } from '../../src/coordination/members.js';
import type { RunOrder } from '../../src/fire.js';
import { readHistory } from '../../src/history/records.js';
import type { Execution } from '../helpers/executions.js';
import { makeTempDir } from '../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/proxy.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { BATON_BIN, batonEnv, waitForLeader, type ReplicaProcess } from '../helpers/replicas.js';
import { closeStacks, startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The exactly-once promise where users feel it: what handlers actually executed, counted per fire
 * id from a file the handler appends to, against every fire a leader committed (its log line
 * 'fire committed'), through a fail-over during a worker outage, a Redis crash that loses
 * acknowledged writes, and a leader cut off from Redis alone.
 */

const execFileAsync = promisify(execFile);
const TICK = `name: tick
schedule: "* * * * * *"
handler: record
catchUp: all
catchUpLimit: 1000
`;

afterEach(closeStacks);

function stack(name: string, redisUrl?: string): Promise<Stack> {
  return startStack({ name, jobs: { 'tick.yaml': TICK }, redisUrl });
}

/** Every fire any replica logged as committed: fire id -> scheduled instant. */
async function committed(procs: ReplicaProcess[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const r of procs) {
    const text = await readFile(r.proc.logFile, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.includes('"fire committed"')) continue;
      const rec = JSON.parse(line) as { fireId: string };
      out.set(rec.fireId, Number(rec.fireId.slice(rec.fireId.lastIndexOf('@') + 1)));
    }
  }
  return out;
}

/** Fires committed by the replica `r` (from its own log) with an instant after `after`. */
async function committedBy(r: ReplicaProcess, after: number): Promise<number> {
  return [...(await committed([r])).values()].filter((at) => at > after).length;
}

/**
 * Waits until every fire committed with an instant up to `through` has executed, then checks
 * that each executed exactly once (except `mayRepeat`), and that the committed instants have no
 * gap (catchUp: all).
 */
async function expectEachCommittedFireExecutedOnce(
  s: Stack,
  through: number,
  mayRepeat: (fireId: string, runs: Execution[]) => boolean = () => false,
) {
  let notRun: string[] = [];
  const fires = await waitFor(
    async () => {
      const c = await committed(s.replicas);
      const due = [...c].filter(([, at]) => at <= through);
      const ran = new Set((await s.executions()).map((e) => e.fireId));
      notRun = due.filter(([id]) => !ran.has(id)).map(([id]) => id);
      return due.length > 0 && notRun.length === 0 ? due : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 200, description: 'every committed fire executed' },
  ).catch((err: Error) => {
    // Which fires, so that the replicas' logs printed with the failure can be searched for them.
    throw new Error(`${err.message}; committed, never executed: ${notRun.join(', ')}`);
  });
  const runs = await s.executions();
  const byFire = new Map<string, Execution[]>();
  for (const e of runs) byFire.set(e.fireId, [...(byFire.get(e.fireId) ?? []), e]);
  const twice = fires
    .map(([id]) => [id, byFire.get(id) ?? []] as const)
    .filter(([id, list]) => list.length > 1 && !mayRepeat(id, list))
    .map(([id, list]) => `${id} x${list.length}`);
  expect(twice).toEqual([]);
  const instants = fires.map(([, at]) => at).sort((a, b) => a - b);
  const missing: number[] = [];
  for (let t = instants[0]!; t <= instants[instants.length - 1]!; t += 1000)
    if (!instants.includes(t)) missing.push(t);
  expect(missing).toEqual([]);
  return { fires, runs };
}

async function staleCount(s: Stack): Promise<number> {
  const h = await readHistory(s.redis(), s.redisKeys, 'tick', { limit: 1 });
  return h.counts.stale ?? 0;
}

describe('exactly once under faults (real etcd, Redis, replicas and workers)', () => {
  it('a fail-over during a worker outage: every run the old leader committed still runs, once', async () => {
    const s = await stack('failover-outage');
    await s.startReplicas('r1', 'r2', 'r3');
    const first = await waitForLeader(s.ctx);
    const worker = await s.startWorker('w1');
    await waitFor(async () => ((await s.executions()).length >= 2 ? true : undefined), {
      description: 'the worker runs fires',
    });
    await worker.kill9();
    const downAt = Date.now();
    const oldLeader = s.replica(first.leader);
    // The old leader commits and enqueues runs nobody takes yet.
    await waitFor(async () => ((await committedBy(oldLeader, downAt)) >= 4 ? true : undefined), {
      description: 'the old leader commits 4 fires while no worker runs',
    });
    await oldLeader.kill9();
    const second = await waitForLeader(s.ctx, (st) => st.leader !== first.leader);
    const newLeader = s.replica(second.leader);
    await waitFor(async () => ((await committedBy(newLeader, downAt)) >= 2 ? true : undefined), {
      description: 'the new leader catches up and commits',
    });
    // The new leader's catch-up runs are waiting with delay 0, the old leader's were delayed:
    // the restarted worker sees the newer token first.
    await s.startWorker('w2');
    const through = Date.now();
    const { fires, runs } = await expectEachCommittedFireExecutedOnce(
      s,
      through,
      // Only a run the killed worker had started may run twice (at-least-once).
      (_id, list) => list.some((e) => e.pid === worker.pid),
    );
    const oldTokenFires = fires.filter(([id]) =>
      runs.some((e) => e.fireId === id && e.token === first.token),
    );
    expect(oldTokenFires.length).toBeGreaterThanOrEqual(4);
    expect(await staleCount(s)).toBe(0);
  });

  it('Redis crashes and comes back without writes it had acknowledged: every committed fire runs', async () => {
    const own: RedisServer = await startRedis({
      extraArgs: ['--appendfsync', 'everysec'],
    });
    const s = await stack('redis-loses-writes', own.url);
    s.defer(() => own.stopAll());
    await s.startReplicas('r1');
    await waitForLeader(s.ctx);
    const worker = await s.startWorker('w1');
    await waitFor(async () => ((await s.executions()).length >= 2 ? true : undefined), {
      description: 'the worker runs fires',
    });
    // No worker from here on, so nothing executes before the crash: whatever Redis forgets must
    // come back from the leader's outbox.
    await worker.kill9();
    // The state Redis will come back with: its AOF as of now.
    const backup = await makeTempDir('baton-aof-');
    await cp(path.join(own.dir, 'appendonlydir'), path.join(backup, 'appendonlydir'), {
      recursive: true,
    });
    const savedAt = Date.now();
    const probe = new Redis(own.url, { maxRetriesPerRequest: 1 });
    // Fires published after the copy: in Redis, acknowledged, soon to be forgotten.
    await waitFor(
      async () => {
        const ids = await probe.zrange(`${s.opts.namespace}:baton:delayed`, '0', '-1');
        const waiting = await probe.lrange(`${s.opts.namespace}:baton:wait`, '0', '-1');
        return [...ids, ...waiting].some((id) => Number(id.split('@')[1]) > savedAt + 1000)
          ? true
          : undefined;
      },
      { intervalMs: 20, description: 'a fire published after the copy' },
    );
    probe.disconnect();
    await own.kill9();
    const aofDir = path.join(own.dir, 'appendonlydir');
    await rm(aofDir, { recursive: true, force: true });
    await cp(path.join(backup, 'appendonlydir'), aofDir, { recursive: true });
    await own.restart();
    await s.startWorker('w2');
    const through = Date.now();
    await expectEachCommittedFireExecutedOnce(s, through, (_id, list) =>
      list.some((e) => e.pid === worker.pid),
    );
    // Once Redis has them on disk, they leave the outbox: none is kept for good.
    await waitFor(
      async () => {
        const res = await s.ctx.etcd.getAll().prefix(s.ctx.keys.outboxPrefix).strings();
        const kept = Object.values(res).flatMap((v) => JSON.parse(v) as RunOrder[]);
        return kept.every((o) => Date.parse(o.data.scheduledAt) > through) ? true : undefined;
      },
      { description: 'the outbox keeps no order of the crash' },
    );
  });

  it('a leader cut off from Redis alone hands leadership to a replica that reaches it', async () => {
    const redisUrl = inject('redisUrl');
    const redisPort = Number(new URL(redisUrl).port);
    const s = await stack('redis-partition');
    const proxies = new Map<string, TcpProxy>();
    for (const id of ['r1', 'r2', 'r3']) {
      const p = await startTcpProxy({ port: redisPort });
      proxies.set(id, p);
      s.defer(() => p.close());
      await s.startReplica(id, { redisUrl: `redis://127.0.0.1:${p.port}` });
    }
    const first = await waitForLeader(s.ctx);
    await s.startWorker('w1');
    await waitFor(async () => ((await s.executions()).length >= 2 ? true : undefined), {
      description: 'the worker runs fires',
    });
    // Packets to Redis vanish for the leader only; etcd still sees it alive.
    proxies.get(first.leader!)!.cut('blackhole');
    await waitFor(
      async () => {
        const m = (await listMembers(s.ctx.etcd, s.ctx.keys)).find((x) => x.id === first.leader);
        return m && !m.redisReady ? true : undefined;
      },
      { timeoutMs: 20_000, description: 'the cut-off leader reports redisReady: false' },
    );
    const second = await waitForLeader(s.ctx, (st) => st.leader !== first.leader, 30_000);
    expect(second.leader).not.toBe(first.leader);
    // It stepped down for Redis, not for etcd (its lease stayed valid throughout).
    const oldLeader = s.replica(first.leader);
    expect(await readFile(oldLeader.proc.logFile, 'utf8')).toContain(
      'redis unreachable from this leader for a lease TTL while a follower reaches it',
    );
    proxies.get(first.leader!)!.restore();
    await expectEachCommittedFireExecutedOnce(s, Date.now());
    expect(await staleCount(s)).toBe(0);
  });

  it('`baton audit` accounts for every instant from the records, and says when one is missing', async () => {
    const s = await stack('audit');
    await s.startReplicas('r1');
    await waitForLeader(s.ctx);
    await s.startWorker('w1');
    const from = Date.now();
    await waitFor(async () => ((await s.executions()).length >= 4 ? true : undefined), {
      description: 'four fires ran',
    });
    const to = Date.now() - 1000;
    const audit = async () => {
      const r = await execFileAsync(
        process.execPath,
        [
          BATON_BIN,
          'audit',
          'tick',
          '--from',
          new Date(from).toISOString(),
          '--to',
          new Date(to).toISOString(),
          '--grace',
          '0',
          '--json',
        ],
        { env: batonEnv(s.opts) },
      ).then(
        (ok) => ({ code: 0, stdout: ok.stdout }),
        (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
      );
      return { code: r.code, job: (JSON.parse(r.stdout) as { jobs: JobAudit[] }).jobs[0]! };
    };
    const good = await audit();
    expect(good.code).toBe(0);
    expect(good.job.ok).toBe(true);
    const ran = (await s.executions()).filter((e) => {
      const at = Number(e.fireId.split('@')[1]);
      return at >= from && at <= to;
    });
    expect(good.job.counts.ran).toBe(ran.length);
    expect(good.job.counts.missing).toBe(0);

    // Forget one run's record: the audit must notice, and fail.
    const { history, records } = s.redisKeys.run('tick');
    const id = `${ran[0]!.fireId}#1`;
    await s.redis().zrem(history, id);
    await s.redis().hdel(records, id);
    const bad = await audit();
    expect(bad.code).toBe(1);
    expect(bad.job.ok).toBe(false);
    expect(bad.job.instants.filter((i) => i.outcome === 'missing').map((i) => i.fireId)).toEqual([
      ran[0]!.fireId,
    ]);
  });
});
