import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { instantsAfter, type BackfillRecord } from '../../src/coordination/backfills.js';
import { compileSchedule } from '../../src/cron/index.js';
import type { BackfillPlan } from '../../src/control/backfill.js';
import { auditJobs } from '../../src/control/audit.js';
import { getBackfill } from '../../src/control/backfill.js';
import type { ControlContext } from '../../src/control/context.js';
import { loadDefinitions } from '../../src/definitions/index.js';
import { backfillFireId } from '../../src/fire.js';
import { readHistory } from '../../src/history/records.js';
import { baton } from '../helpers/cli.js';
import {
  executionsFile,
  queueIdle,
  readExecutions,
  recordLedger,
  startExecutionWorker,
  type LedgerRecording,
} from '../helpers/executions.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePort } from '../helpers/ports.js';
import type { ManagedProcess } from '../helpers/process.js';
import {
  batonEnv,
  control,
  jobsFolder,
  stackKeys,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `baton backfill` end to end: real etcd, Redis, scheduler replicas and a worker whose handler
 * appends a line per execution, counted per fire id.
 */

const TOKEN = 'backfill-test-token-0123456789';
let replicas: ReplicaProcess[] = [];
let workers: ManagedProcess[] = [];
let recordings: LedgerRecording[] = [];
let contexts: ControlContext[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const r of replicas) console.error(`--- log of ${r.id}\n${r.log(80)}`);
    for (const w of workers) console.error(`--- log of ${w.name}\n${w.logTail(40)}`);
  }
  await Promise.all([...replicas, ...workers].map((p) => p.kill9()));
  await Promise.all(recordings.map((r) => r.close()));
  for (const c of contexts) c.close();
  replicas = [];
  workers = [];
  recordings = [];
  contexts = [];
});

async function stack(name: string, job: string) {
  const opts: StackOptions = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace(name),
    jobsDir: await jobsFolder({ 'job.yaml': job }),
    leaseTtl: 2,
  };
  const ctx = control(opts);
  contexts.push(ctx);
  const ledger = await recordLedger(ctx.etcd, ctx.keys);
  recordings.push(ledger);
  const file = await executionsFile();
  workers.push(await startExecutionWorker(opts, 'w1', file));
  return { opts, ctx, ledger, file };
}

/** Runs the built CLI against the stack; fails the test with its stderr on a non-zero exit. */
async function cli(opts: StackOptions, ...args: string[]): Promise<string> {
  const r = await baton(args, batonEnv(opts));
  if (r.code !== 0) throw new Error(`baton ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function finished(ctx: ControlContext, id: string): Promise<BackfillRecord> {
  return waitFor(
    async () => {
      const r = await getBackfill(ctx, id);
      if (r?.state === 'failed') throw new Error(`backfill failed: ${r.error}`);
      return r?.state === 'done' ? r : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, description: `backfill ${id} done` },
  );
}

/** Executions per fire id among `ids`, once every one of them executed and the queue is idle. */
async function executedOnce(opts: StackOptions, file: string, ids: string[]) {
  await waitFor(
    async () => {
      const ran = new Set((await readExecutions(file)).map((e) => e.fireId));
      return ids.every((id) => ran.has(id));
    },
    { timeoutMs: 60_000, intervalMs: 100, description: `${ids.length} backfill runs executed` },
  );
  await waitFor(() => queueIdle(opts.redisUrl, opts.namespace), {
    timeoutMs: 30_000,
    description: 'every run in Redis finished',
  });
  const counts = new Map<string, number>();
  for (const e of await readExecutions(file))
    if (e.fireId.includes('@backfill-')) counts.set(e.fireId, (counts.get(e.fireId) ?? 0) + 1);
  return counts;
}

const ids = (job: string, instants: number[]) => instants.map((at) => backfillFireId(job, at));

describe('baton backfill (real etcd, Redis, replicas and a worker)', () => {
  it('runs 30 past instants once each at a high rate; the same backfill again adds nothing', async () => {
    const { opts, ctx, ledger, file } = await stack(
      'backfill-rerun',
      'name: minute\nschedule: "* * * * *"\nhandler: append\n',
    );
    const port = await freePort();
    replicas.push(await startReplica(opts, 'r1', port, { BATON_API_TOKEN: TOKEN }));
    await waitForLeader(ctx);
    const to = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const from = to - 29 * 60_000;
    const instants = Array.from({ length: 30 }, (_, i) => from + i * 60_000);
    const range = ['--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()];

    const before = JSON.parse(
      await cli(opts, 'backfill', 'minute', ...range, '--dry-run', '--json'),
    ) as BackfillPlan;
    expect(before).toMatchObject({ count: 30, run: 30, alreadyRan: 0, overlap: 'allow' });
    expect(before.instants.map((i) => i.fireId)).toEqual(ids('minute', instants));

    const first = JSON.parse(
      await cli(opts, 'backfill', 'minute', ...range, '--rate', '1000/s', '--json'),
    ) as BackfillRecord;
    const done = await finished(ctx, first.id);
    expect(done).toMatchObject({ total: 30, enqueued: 30, skipped: { alreadyRan: 0 } });
    const counts = await executedOnce(opts, file, ids('minute', instants));
    expect([...counts.keys()].sort()).toEqual(ids('minute', instants).sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);

    // History names the backfill; the audit accounts the runs as backfill runs.
    const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const history = await readHistory(redis, stackKeys(opts), 'minute', { limit: 100 });
      const runs = history.entries.filter((e) => e.kind === 'run' && e.backfill === first.id);
      expect(runs).toHaveLength(30);
      const defs = (await loadDefinitions(opts.jobsDir)).jobs;
      // The stack's queue prefix is its namespace (batonEnv); control() leaves the default.
      const auditCtx = { ...ctx, config: { ...ctx.config, queuePrefix: opts.namespace } };
      const [audit] = await auditJobs(auditCtx, redis, defs, { from, to: Date.now() });
      expect(audit).toMatchObject({ backfill: 30, backfillDuplicates: [], unaccounted: [] });
    } finally {
      redis.disconnect();
    }
    const history = await cli(opts, 'history', 'minute', '--limit', '5');
    expect(history).toContain(`backfill ${first.id}`);

    // The same backfill again, over the API: every instant already ran, nothing is committed.
    const api = `http://127.0.0.1:${port}/api/v1`;
    const res = await fetch(`${api}/jobs/minute/backfill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: range[1], to: range[3], rate: 1000 }),
    });
    expect(res.status).toBe(202);
    const second = (await res.json()) as BackfillRecord;
    expect(second.id).not.toBe(first.id);
    expect(await finished(ctx, second.id)).toMatchObject({
      enqueued: 0,
      skipped: { alreadyRan: 30, overlap: 0, notDue: 0 },
    });
    await ledger.sync(ctx.etcd);
    const committed = ledger.runs.filter((r) => r.fireId.includes('@backfill-'));
    expect(committed.map((r) => r.fireId).sort()).toEqual(ids('minute', instants).sort());
    const after = JSON.parse(
      await cli(opts, 'backfill', 'minute', ...range, '--dry-run', '--json'),
    ) as BackfillPlan;
    expect(after).toMatchObject({ count: 30, run: 0, alreadyRan: 30 });

    // Below the leader's check, fire markers and BullMQ's job ids keep each fire id to one
    // execution: with the run history and the fire markers deleted, a third request commits
    // every instant again, and none executes again.
    const keys = stackKeys(opts);
    const cleaner = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      await cleaner.del(
        keys.run('minute').history,
        keys.run('minute').records,
        ...ids('minute', instants).map((id) => keys.fired(id)),
      );
      const third = JSON.parse(
        await cli(opts, 'backfill', 'minute', ...range, '--rate', '1000/s', '--json'),
      ) as BackfillRecord;
      expect(await finished(ctx, third.id)).toMatchObject({ enqueued: 30 });
      await waitFor(
        async () =>
          (await cleaner.mget(...ids('minute', instants).map((id) => keys.fired(id)))).every(
            (m) => m === 'done',
          ),
        { description: 'the third request published' },
      );
    } finally {
      cleaner.disconnect();
    }
    await ledger.sync(ctx.etcd);
    expect(ledger.runs.filter((r) => r.fireId.includes('@backfill-'))).toHaveLength(60);
    const again = await executedOnce(opts, file, ids('minute', instants));
    expect([...again.values()].every((n) => n === 1)).toBe(true);
    expect(again.size).toBe(30);

    const listed = (await (await fetch(`${api}/backfills`)).json()) as {
      backfills: BackfillRecord[];
    };
    expect(listed.backfills.map((b) => b.state)).toEqual(['done', 'done', 'done']);
    expect(listed.backfills.slice(0, 2).map((b) => b.id)).toEqual([first.id, second.id]);
    const one = (await (await fetch(`${api}/backfills/${first.id}`)).json()) as BackfillRecord;
    expect(one).toMatchObject({ id: first.id, job: 'minute', state: 'done', enqueued: 30 });
    expect((await fetch(`${api}/backfills/0-0`)).status).toBe(404);
    // Unauthenticated mutations are refused.
    const refused = await fetch(`${api}/jobs/minute/backfill`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: range[1], to: range[3] }),
    });
    expect(refused.status).toBe(401);
  });

  it('a leader killed -9 mid-backfill: the next leader resumes at the cursor, every instant runs once', async () => {
    const { opts, ctx, ledger, file } = await stack(
      'backfill-failover',
      'name: tick\nschedule: "* * * * * *"\nhandler: append\n',
    );
    replicas.push(await startReplica(opts, 'r1'), await startReplica(opts, 'r2'));
    const leader = await waitForLeader(ctx);
    const to = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const from = to - 29_000;
    const instants = Array.from({ length: 30 }, (_, i) => from + i * 1000);
    const request = JSON.parse(
      await cli(
        opts,
        'backfill',
        'tick',
        '--from',
        new Date(from).toISOString(),
        '--to',
        new Date(to).toISOString(),
        '--rate',
        '3/s',
        '--json',
      ),
    ) as BackfillRecord;
    await waitFor(async () => ((await getBackfill(ctx, request.id))?.enqueued ?? 0) >= 6, {
      timeoutMs: 30_000,
      description: 'the first leader enqueues 6 backfill runs',
    });
    await replicas.find((r) => r.id === leader.leader)!.kill9();
    const second = await waitForLeader(ctx, (s) => s.leader !== leader.leader);
    const done = await finished(ctx, request.id);
    expect(done).toMatchObject({ total: 30, enqueued: 30, token: second.token });
    expect(done.skipped).toEqual({ alreadyRan: 0, overlap: 0, notDue: 0 });

    await ledger.sync(ctx.etcd);
    const committed = ledger.runs.filter((r) => r.fireId.includes('@backfill-'));
    // Each instant committed once, some by each leader.
    expect(committed.map((r) => r.fireId).sort()).toEqual(ids('tick', instants).sort());
    expect(new Set(committed.map((r) => r.token))).toEqual(new Set([leader.token, second.token]));
    const counts = await executedOnce(opts, file, ids('tick', instants));
    expect(Object.fromEntries([...counts].filter(([, n]) => n !== 1))).toEqual({});
    expect(counts.size).toBe(30);
  });

  it('buffer (the default for a job with overlap: forbid) runs one backfill run at a time', async () => {
    // A daily schedule 12 hours away from now: no scheduled run takes the overlap lock meanwhile.
    const hour = (new Date().getUTCHours() + 12) % 24;
    const schedule = `0 ${hour} * * *`;
    const { opts, ctx, file } = await stack(
      'backfill-buffer',
      `name: serial\nschedule: "${schedule}"\nhandler: append\noverlap: forbid\npayload: { sleepMs: 200 }\n`,
    );
    replicas.push(await startReplica(opts, 'r1'));
    await waitForLeader(ctx);
    const to = Date.now() - 86_400_000;
    const from = to - 8 * 86_400_000 + 1;
    const instants = instantsAfter(compileSchedule(schedule, 'UTC'), { from, to }, null, 100);
    expect(instants).toHaveLength(8);
    const request = JSON.parse(
      await cli(
        opts,
        'backfill',
        'serial',
        '--from',
        new Date(from).toISOString(),
        '--to',
        new Date(to).toISOString(),
        '--rate',
        '1000/s',
        '--json',
      ),
    ) as BackfillRecord;
    expect(request.overlap).toBe('buffer');
    expect(await finished(ctx, request.id)).toMatchObject({ enqueued: 8 });
    const counts = await executedOnce(opts, file, ids('serial', instants));
    expect([...counts.values()]).toEqual(Array(8).fill(1));
    const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const runs = (await readHistory(redis, stackKeys(opts), 'serial', { limit: 100 })).entries
        .filter((e) => e.kind === 'run' && e.backfill === request.id)
        .map((e) => e as { startedAt: string; endedAt: string | null; status: string })
        .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      expect(runs.map((r) => r.status)).toEqual(Array(8).fill('completed'));
      // Each run started after the previous one ended.
      const overlapping = runs.filter(
        (r, i) => i > 0 && Date.parse(r.startedAt) < Date.parse(runs[i - 1]!.endedAt!),
      );
      expect(overlapping).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses bad requests with one clear line and exit 2, before anything is written', async () => {
    const opts: StackOptions = {
      etcd: [inject('etcdEndpoint')],
      redisUrl: inject('redisUrl'),
      namespace: testNamespace('backfill-refused'),
      jobsDir: await jobsFolder({
        'job.yaml': 'name: hourly\nschedule: "0 * * * *"\noverlap: replace\n',
      }),
    };
    const env = batonEnv(opts);
    const day = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
    const cases: [string[], string][] = [
      [['nope', '--from', day(2), '--to', day(1)], 'baton: unknown job "nope"'],
      [['hourly', '--from', day(1), '--to', day(2)], 'is after --to'],
      [['hourly', '--from', day(2)], 'a backfill needs --from and --to'],
      [['hourly', '--from', '2026-11-01', '--to', day(1)], 'must be an ISO 8601 time with a zone'],
      [['hourly', '--from', day(1), '--to', day(-1)], 'is in the future'],
      [['hourly', '--from', day(400), '--to', day(1)], 'the range is longer than 366 days'],
      [['hourly', '--from', day(30), '--to', day(1), '--rate', '5000/s'], '--rate must be'],
      [['hourly', '--from', day(2), '--to', day(1), '--overlap', 'allow'], 'has overlap: replace'],
      [['hourly', '--from', day(2), '--to', day(1), '--overlap', 'later'], '--overlap must be'],
    ];
    for (const [args, message] of cases) {
      const r = await baton(['backfill', ...args], env);
      expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const many = await baton(['backfill', 'hourly', '--from', day(30), '--to', day(1)], {
      ...env,
      BATON_BACKFILL_MAX_INSTANTS: '100',
    });
    expect(many.code).toBe(2);
    expect(many.stderr).toContain('more than 100 instants');
    const none = await baton(
      ['backfill', 'hourly', '--from', '2026-11-01T00:01:00Z', '--to', '2026-11-01T00:02:00Z'],
      env,
    );
    expect(none.stderr).toContain('the schedule of hourly has no instant from');
    const ctx = control(opts);
    contexts.push(ctx);
    expect(await ctx.etcd.getAll().prefix(ctx.keys.backfillsPrefix).keys()).toEqual([]);
  });
});
