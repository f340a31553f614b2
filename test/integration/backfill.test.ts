import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  Backfills,
  instantsAfter,
  newBackfill,
  type BackfillRecord,
} from '../../src/coordination/backfills.js';
import { GuardRefusedError, Ledger, type JobDecision } from '../../src/coordination/ledger.js';
import { compileSchedule } from '../../src/cron/index.js';
import type { BackfillPlan } from '../../src/control/backfill.js';
import { auditJobs } from '../../src/control/audit.js';
import { getBackfill } from '../../src/control/backfill.js';
import type { ControlContext } from '../../src/control/context.js';
import { loadDefinitions } from '../../src/definitions/index.js';
import { NotLeaderError } from '../../src/errors.js';
import { backfillFireId, runOrder } from '../../src/fire.js';
import { readHistory } from '../../src/history/records.js';
import { baton } from '../helpers/cli.js';
import { queueIdle, readExecutions } from '../helpers/executions.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePort } from '../helpers/ports.js';
import {
  batonEnv,
  control,
  jobsFolder,
  stackKeys,
  waitForLeader,
  type StackOptions,
} from '../helpers/replicas.js';
import { closeStacks, startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `baton backfill` end to end: real etcd, Redis, scheduler replicas and a worker whose handler
 * appends a line per execution, counted per fire id.
 */

const TOKEN = 'backfill-test-token-0123456789';
let contexts: ControlContext[] = [];

afterEach(closeStacks);
afterEach(() => {
  for (const c of contexts) c.close();
  contexts = [];
});

/** A stack (test/helpers/stack.ts) with one job file, the ledger recorded and worker w1. */
async function stack(name: string, job: string) {
  const s = await startStack({ name, jobs: { 'job.yaml': job }, ledger: true, workers: ['w1'] });
  return { s, opts: s.opts, ctx: s.ctx, ledger: s.ledger, file: s.executionsFile };
}

/** Runs the built CLI against the stack; fails the test with its stderr on a non-zero exit. */
async function cli(opts: StackOptions, ...args: string[]): Promise<string> {
  const r = await baton(args, batonEnv(opts));
  if (r.code !== 0) throw new Error(`baton ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `baton backfill <job> --from <from> --to <to> --rate <rate> --json`: the request it made. */
async function requestBackfill(
  opts: StackOptions,
  job: string,
  from: number,
  to: number,
  rate: string,
): Promise<BackfillRecord> {
  const args = ['--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()];
  return JSON.parse(
    await cli(opts, 'backfill', job, ...args, '--rate', rate, '--json'),
  ) as BackfillRecord;
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
const iso = (ms: number) => new Date(ms).toISOString();

describe('baton backfill (real etcd, Redis, replicas and a worker)', () => {
  it('runs 30 past instants once each at a high rate; the same backfill again adds nothing', async () => {
    const { s, opts, ctx, ledger, file } = await stack(
      'backfill-rerun',
      'name: minute\nschedule: "* * * * *"\nhandler: append\n',
    );
    const port = await freePort();
    await s.startReplica('r1', { httpPort: port, env: { BATON_API_TOKEN: TOKEN } });
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
    const { s, opts, ctx, ledger, file } = await stack(
      'backfill-failover',
      'name: tick\nschedule: "* * * * * *"\nhandler: append\n',
    );
    await s.startReplicas('r1', 'r2');
    const leader = await waitForLeader(ctx);
    const to = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const from = to - 29_000;
    const instants = Array.from({ length: 30 }, (_, i) => from + i * 1000);
    const request = await requestBackfill(opts, 'tick', from, to, '3/s');
    await waitFor(async () => ((await getBackfill(ctx, request.id))?.enqueued ?? 0) >= 6, {
      timeoutMs: 30_000,
      description: 'the first leader enqueues 6 backfill runs',
    });
    await s.replica(leader.leader).kill9();
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
    const { s, opts, ctx, file } = await stack(
      'backfill-buffer',
      `name: serial\nschedule: "${schedule}"\nhandler: append\noverlap: forbid\npayload: { sleepMs: 200 }\n`,
    );
    await s.startReplica('r1');
    await waitForLeader(ctx);
    const to = Date.now() - 86_400_000;
    const from = to - 8 * 86_400_000 + 1;
    const instants = instantsAfter(compileSchedule(schedule, 'UTC'), { from, to }, null, 100);
    expect(instants).toHaveLength(8);
    const request = await requestBackfill(opts, 'serial', from, to, '1000/s');
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

  it('a cancel mid-way stops at a slice boundary: every committed instant runs once, none after is committed', async () => {
    const { s, opts, ctx, ledger, file } = await stack(
      'backfill-cancel',
      'name: tick\nschedule: "* * * * * *"\nhandler: append\n',
    );
    const port = await freePort();
    await s.startReplica('r1', { httpPort: port, env: { BATON_API_TOKEN: TOKEN } });
    await waitForLeader(ctx);
    // A large backfill: 5,000 instants at 20/s would take over four minutes.
    const to = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const from = to - 4999_000;
    const instants = Array.from({ length: 5000 }, (_, i) => from + i * 1000);
    const request = await requestBackfill(opts, 'tick', from, to, '20/s');
    await waitFor(async () => ((await getBackfill(ctx, request.id))?.enqueued ?? 0) >= 20, {
      timeoutMs: 30_000,
      description: 'the leader enqueues 20 backfill runs',
    });

    const api = `http://127.0.0.1:${port}/api/v1`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const res = await fetch(`${api}/backfills/${request.id}/cancel`, {
      method: 'POST',
      headers: { ...auth, 'x-baton-operator': 'alice@ops' },
    });
    expect(res.status).toBe(200);
    const cancelled = (await res.json()) as BackfillRecord;
    expect(cancelled).toMatchObject({ id: request.id, state: 'cancelled', total: 5000 });
    expect(cancelled.cancel).toMatchObject({ by: 'alice@ops' });
    const decided = cancelled.cancel!.decided;
    // Nothing is skipped here (no instant ran before), so every decided instant was enqueued.
    expect(decided).toBe(cancelled.enqueued);
    expect(decided).toBeGreaterThanOrEqual(20);
    expect(decided).toBeLessThan(5000);

    // The leader stops at the slice boundary and says so; the record stays as the cancel left it.
    await waitFor(() => s.replicas[0]!.log(400).includes('backfill cancelled; stopped'), {
      description: 'the leader stops the backfill',
    });
    await ledger.sync(ctx.etcd);
    expect(await getBackfill(ctx, request.id)).toEqual(cancelled);
    // Committed: exactly the instants up to the cancel point, in order, and nothing after it.
    const committed = ledger.runs.filter((r) => r.fireId.includes('@backfill-'));
    expect(committed.map((r) => r.fireId).sort()).toEqual(
      ids('tick', instants.slice(0, decided)).sort(),
    );
    expect(cancelled.cursor).toBe(iso(instants[decided - 1]!));
    // Every committed instant ran exactly once; nothing else of the backfill ran.
    const counts = await executedOnce(opts, file, ids('tick', instants.slice(0, decided)));
    expect([...counts.keys()].sort()).toEqual(ids('tick', instants.slice(0, decided)).sort());
    expect(Object.fromEntries([...counts].filter(([, n]) => n !== 1))).toEqual({});

    // Cancelling again: 409 over the API, exit 1 from the CLI, both saying who cancelled.
    const again = await fetch(`${api}/backfills/${request.id}/cancel`, {
      method: 'POST',
      headers: auth,
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'BACKFILL_FINISHED',
      message: `backfill ${request.id} of tick is already cancelled (by alice@ops at ${cancelled.cancel!.at}): nothing to cancel`,
    });
    const cliAgain = await baton(['backfill', 'cancel', request.id], batonEnv(opts));
    expect(cliAgain.code).toBe(1);
    expect(cliAgain.stderr).toContain(`backfill ${request.id} of tick is already cancelled`);
    expect(
      (await fetch(`${api}/backfills/0-0/cancel`, { method: 'POST', headers: auth })).status,
    ).toBe(404);
    expect((await fetch(`${api}/backfills/${request.id}/cancel`, { method: 'POST' })).status).toBe(
      401,
    );
    const unknown = await baton(['backfill', 'cancel', '0-0'], batonEnv(opts));
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.stderr).toContain('no backfill 0-0');

    // `baton backfills` and `baton audit` show the cancel.
    expect(await cli(opts, 'backfills', request.id)).toContain('cancelled by alice@ops');
    const audit = await baton(['audit', 'tick', '--from', request.at], batonEnv(opts));
    expect(audit.stdout).toContain(
      `backfill ${request.id} cancelled by alice@ops at ${cancelled.cancel!.at}: ${decided} of 5000 instants decided before the cancel`,
    );
  });

  it('a cancel written while no leader exists is honoured by the next leader', async () => {
    const { s, opts, ctx, ledger, file } = await stack(
      'backfill-cancel-leaderless',
      'name: tick\nschedule: "* * * * * *"\nhandler: append\n',
    );
    await s.startReplica('r1');
    const first = await waitForLeader(ctx);
    const to = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const from = to - 299_000;
    const instants = Array.from({ length: 300 }, (_, i) => from + i * 1000);
    const request = await requestBackfill(opts, 'tick', from, to, '5/s');
    await waitFor(async () => ((await getBackfill(ctx, request.id))?.enqueued ?? 0) >= 3, {
      timeoutMs: 30_000,
      description: 'the leader enqueues 3 backfill runs',
    });
    await s.replicas[0]!.kill9();
    await waitFor(
      async () => (await ctx.etcd.getAll().prefix(ctx.keys.electionPrefix).keys()).length === 0,
      { timeoutMs: 20_000, description: "the killed leader's campaign key expires: no leader" },
    );
    const cancelled = JSON.parse(
      await cli(opts, 'backfill', 'cancel', request.id, '--json'),
    ) as BackfillRecord;
    expect(cancelled).toMatchObject({ state: 'cancelled', token: null });
    const decided = cancelled.cancel!.decided;
    expect(decided).toBe(cancelled.enqueued);

    // A later request over other instants: the runner takes requests oldest first, so once this
    // one is done the new leader has passed over the cancelled one.
    const later = JSON.parse(
      await cli(
        opts,
        'backfill',
        'tick',
        '--from',
        iso(from - 10_000),
        '--to',
        iso(from - 8000),
        '--rate',
        '1000/s',
        '--json',
      ),
    ) as BackfillRecord;
    await s.startReplica('r2');
    await waitForLeader(ctx, (s) => s.leader !== first.leader);
    expect(await finished(ctx, later.id)).toMatchObject({ enqueued: 3 });
    expect(await getBackfill(ctx, request.id)).toEqual(cancelled);

    await ledger.sync(ctx.etcd);
    const expected = [
      ...ids('tick', [from - 10_000, from - 9000, from - 8000]),
      ...ids('tick', instants.slice(0, decided)),
    ].sort();
    const committed = ledger.runs.filter((r) => r.fireId.includes('@backfill-'));
    expect(committed.map((r) => r.fireId).sort()).toEqual(expected);
    // What the killed leader committed still runs (the next leader publishes its outbox), once.
    const counts = await executedOnce(opts, file, expected);
    expect([...counts.keys()].sort()).toEqual(expected);
    expect(Object.fromEntries([...counts].filter(([, n]) => n !== 1))).toEqual({});
  });

  it('the race made deterministic: a slice read before a cancel is refused after it, and the cancel retries past a slice', async () => {
    const opts: StackOptions = {
      etcd: [inject('etcdEndpoint')],
      redisUrl: inject('redisUrl'),
      namespace: testNamespace('backfill-guard'),
      jobsDir: await jobsFolder({}),
    };
    const ctx = control(opts);
    contexts.push(ctx);
    // A stand-in leader: a fence key we hold (the ledger's fence is any key's create revision).
    const fenceKey = `${ctx.keys.root}test-fence`;
    await ctx.etcd.put(fenceKey).value('leader');
    const fence = {
      key: fenceKey,
      token: String((await ctx.etcd.get(fenceKey).exec()).kvs[0]!.create_revision),
    };
    const backfills = new Backfills(ctx.etcd, ctx.keys);
    const request = newBackfill({
      job: 'tick',
      from: iso(Date.now() - 60_000),
      to: iso(Date.now()),
      overlap: 'allow',
      rate: 10,
      by: 'test',
    });
    await backfills.request(request);
    const key = ctx.keys.backfill(request.id);
    const ledger = new Ledger(ctx.etcd, ctx.keys);
    const slice = (seen: string, enqueued: number): JobDecision => ({
      job: 'tick',
      watermark: null,
      orders: [
        runOrder(
          {
            name: 'tick',
            queue: 'q',
            overlap: 'allow',
            retries: { attempts: 1, backoff: 'fixed', delayMs: 0 },
            retention: { ageMs: 1000, count: 1 },
          },
          {
            at: 1000 * enqueued,
            fireId: backfillFireId('tick', 1000 * enqueued),
            manual: true,
            payload: null,
            availableAt: 0,
            fencingToken: fence.token,
            leader: 'test',
            backfill: request.id,
          },
        ),
      ],
      put: [
        {
          key,
          value: JSON.stringify({ ...request, state: 'running', enqueued, token: fence.token }),
        },
      ],
      unchanged: [{ key, value: seen }],
    });
    const published: string[] = [];
    const collect = (entries: { id: string }[]) => published.push(...entries.map((e) => e.id));

    // The leader read the request; its first slice commits.
    const read = (await backfills.getRaw(request.id))!;
    await ledger.commit(fence, [slice(read.text, 1)], collect);
    expect(published).toHaveLength(1);
    const afterFirst = (await backfills.getRaw(request.id))!;

    // A cancel commits between the leader's read and its next slice: the slice is refused as a
    // whole (no run, no progress), and the record keeps what the cancel wrote.
    const cancelled = await backfills.cancel(request.id, 'bob');
    expect(cancelled).toMatchObject({
      outcome: 'cancelled',
      record: { state: 'cancelled', enqueued: 1, cancel: { by: 'bob', decided: 1 } },
    });
    await expect(ledger.commit(fence, [slice(afterFirst.text, 2)], collect)).rejects.toBeInstanceOf(
      GuardRefusedError,
    );
    expect(published).toHaveLength(1);
    expect((await backfills.get(request.id))!).toMatchObject({ state: 'cancelled', enqueued: 1 });
    expect(await ctx.etcd.getAll().prefix(ctx.keys.outboxPrefix).keys()).toHaveLength(1);
    expect(await backfills.cancel(request.id, 'carol')).toMatchObject({ outcome: 'finished' });

    // A fence that no longer holds is a lost leadership, not a refused guard.
    const other = newBackfill({ ...request, by: 'test' }, Date.now() + 1);
    await backfills.request(other);
    const otherText = (await backfills.getRaw(other.id))!.text;
    await expect(
      ledger.commit(
        { ...fence, token: '1' },
        [
          {
            ...slice(otherText, 3),
            unchanged: [{ key: ctx.keys.backfill(other.id), value: otherText }],
          },
        ],
        collect,
      ),
    ).rejects.toBeInstanceOf(NotLeaderError);

    // The cancel compares the mod revision it read: a slice committed in between makes it read
    // again, so the counts it records include that slice.
    let raced = false;
    const racing = new Backfills(
      new Proxy(ctx.etcd, {
        get(target, prop, receiver) {
          if (prop === 'if' && !raced) {
            raced = true;
            return (...args: Parameters<typeof target.if>) => {
              const txn = target.if(...args);
              const commit = txn.commit.bind(txn);
              txn.commit = async () => {
                // The leader's slice lands after the cancel read the record, before its txn.
                await ledger.commit(
                  fence,
                  [
                    {
                      ...slice(otherText, 7),
                      put: [
                        {
                          key: ctx.keys.backfill(other.id),
                          value: JSON.stringify({
                            ...other,
                            state: 'running',
                            enqueued: 7,
                            token: fence.token,
                          }),
                        },
                      ],
                      unchanged: [{ key: ctx.keys.backfill(other.id), value: otherText }],
                    },
                  ],
                  collect,
                );
                return commit();
              };
              return txn;
            };
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      }),
      ctx.keys,
    );
    expect(await racing.cancel(other.id, 'dave')).toMatchObject({
      outcome: 'cancelled',
      record: { enqueued: 7, cancel: { by: 'dave', decided: 7 } },
    });
    expect(raced).toBe(true);
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
