import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { OutboxEntry } from '../../src/coordination/ledger.js';
import { Dispatcher } from '../../src/dispatch/producer.js';
import type { RunOrder, SkipRecord } from '../../src/fire.js';
import { StaleTokenError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import {
  defineHandler,
  readHistory,
  RunAbortedError,
  redisKeys,
  startWorker,
  type HistoryEntry,
  type RunContext,
  type RunEvent,
  type RunRecord,
  type Worker,
  type WorkerOptions,
} from '../../src/worker/index.js';
import { RunScripts } from '../../src/worker/scripts.js';
import { cleanRedisPrefix, testNamespace } from '../helpers/namespace.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import { BATON_BIN, jobsFolder } from '../helpers/replicas.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const exec = promisify(execFile);
const FIXTURE_HANDLERS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/handlers/blocking.mjs',
);

// --- per-test resources, released in afterEach -------------------------------------------

const cleanups: (() => Promise<unknown>)[] = [];
const releasers: (() => void)[] = [];
const processes: ManagedProcess[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const p of processes) console.error(`--- log of ${p.name}\n${p.logTail(80)}`);
  }
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
  // Blocked handlers first, so closing their workers does not wait for the grace period.
  for (const r of releasers.splice(0)) r();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** One test's world: its own prefix on the shared Redis, a Dispatcher like the leader's. */
async function world(name: string, definitions: Record<string, string>) {
  const redisUrl = inject('redisUrl');
  const prefix = testNamespace(name);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // In-process workers of this file use the default namespace, `baton`.
  const keys = redisKeys(prefix, 'baton');
  const dispatcher = new Dispatcher(redis, keys);
  const queue = new Queue('baton', { connection: redis, prefix });
  const jobsDir = await jobsFolder(definitions);
  cleanups.push(async () => {
    await queue.close();
    await dispatcher.close();
    await cleanRedisPrefix(redis, prefix);
    redis.disconnect();
  });
  const events: RunEvent[] = [];

  /** Starts an in-process worker on this world (silent logs, definitions from jobsDir). */
  async function worker(options: Partial<WorkerOptions> = {}): Promise<Worker> {
    const w = await startWorker({
      redisUrl,
      prefix,
      jobsDir,
      watch: false,
      logger: silentLogger(),
      concurrency: 1,
      ...options,
    });
    w.on('run', (e) => events.push(e));
    cleanups.push(() => w.close());
    return w;
  }

  /** A run as the leader enqueues it: an outbox entry published by the real Dispatcher. */
  function run(
    job: string,
    at: number,
    token: string,
    order: Partial<Omit<RunOrder, 'kind' | 'data'>> = {},
    revision = '1',
  ): OutboxEntry {
    const fireId = `${job}@${at}`;
    return {
      id: fireId,
      batch: 'test',
      revision,
      order: {
        kind: 'run',
        queue: 'baton',
        data: {
          job,
          scheduledAt: new Date(at).toISOString(),
          fireId,
          fencingToken: token,
          leader: 'test-leader',
          payload: { at },
          manual: false,
        },
        availableAt: Date.now(),
        attempts: 1,
        backoff: { type: 'exponential', delay: 1000 },
        keep: { ageSeconds: 86_400, count: 1000 },
        ...order,
      },
    };
  }

  async function publish(...entries: OutboxEntry[]): Promise<void> {
    await dispatcher.publish(entries);
  }

  async function history(job: string, limit = 100) {
    return readHistory(redis, keys, job, { limit });
  }

  function runs(h: { entries: HistoryEntry[] }, fireId?: string): RunRecord[] {
    return h.entries
      .filter((e): e is { kind: 'run' } & RunRecord => e.kind === 'run')
      .filter((e) => fireId === undefined || e.fireId === fireId)
      .sort((a, b) => a.start - b.start);
  }

  async function event(
    predicate: (e: RunEvent) => boolean,
    description: string,
    timeoutMs = 10_000,
  ): Promise<RunEvent> {
    return waitFor(() => events.find(predicate), { timeoutMs, intervalMs: 10, description });
  }

  async function bullJob(fireId: string) {
    // State first: a job read before its state could be older than that state.
    const state = await queue.getJobState(fireId);
    const job = await queue.getJob(fireId);
    if (!job) throw new Error(`no BullMQ job ${fireId}`);
    return { job, state };
  }

  return {
    redis,
    redisUrl,
    prefix,
    keys,
    jobsDir,
    events,
    dispatcher,
    queue,
    worker,
    run,
    publish,
    history,
    runs,
    event,
    bullJob,
  };
}

/**
 * A handler that blocks each run until the test releases its fire id. Unless `stubborn`, an
 * aborted signal ends the run at once (rejecting with the signal's reason).
 */
function gatedHandler(name: string, options: { stubborn?: boolean } = {}) {
  const starts: { fireId: string; attempt: number; token: string; at: number; ctx: RunContext }[] =
    [];
  const aborts: { fireId: string; attempt: number; reason: unknown; at: number }[] = [];
  const released = new Set<string>();
  const waiting = new Map<string, (() => void)[]>();
  const handler = defineHandler(name, async (ctx) => {
    starts.push({
      fireId: ctx.fireId,
      attempt: ctx.attempt,
      token: ctx.fencingToken,
      at: Date.now(),
      ctx,
    });
    await new Promise<void>((resolve, reject) => {
      if (released.has(ctx.fireId)) return resolve();
      waiting.set(ctx.fireId, [...(waiting.get(ctx.fireId) ?? []), resolve]);
      ctx.signal.addEventListener(
        'abort',
        () => {
          aborts.push({
            fireId: ctx.fireId,
            attempt: ctx.attempt,
            reason: ctx.signal.reason,
            at: Date.now(),
          });
          if (!options.stubborn) reject(ctx.signal.reason as Error);
        },
        { once: true },
      );
    });
    return { fireId: ctx.fireId, attempt: ctx.attempt };
  });
  const release = (fireId: string) => {
    released.add(fireId);
    for (const r of waiting.get(fireId) ?? []) r();
    waiting.delete(fireId);
  };
  releasers.push(() => {
    for (const id of [...waiting.keys()]) release(id);
  });
  const started = (fireId: string, attempt = 1) =>
    waitFor(() => starts.find((s) => s.fireId === fireId && s.attempt === attempt), {
      intervalMs: 10,
      description: `${fireId} attempt ${attempt} started`,
    });
  return { handler, starts, aborts, release, started };
}

const T0 = Date.UTC(2024, 0, 1, 9, 0, 0);

describe('baton worker (real Redis, real BullMQ)', () => {
  it('fence: runs every run a valid leader committed, in any order; refuses only a run committed after a newer leader took over', async () => {
    const w = await world('stale', {
      'fenced.yaml': 'name: fenced\nschedule: "* * * * *"\nretries: 3\n',
    });
    const h = gatedHandler('fenced');
    await w.worker({ handlers: [h.handler] });
    const retries = { attempts: 3, backoff: { type: 'fixed' as const, delay: 50 } };
    // Leader 9 committed up to revision 99 and was deposed; leader 10 took over at revision 100.
    await w.dispatcher.recordTakeover('9', '50');
    await w.dispatcher.recordTakeover('10', '100');

    const newer = w.run('fenced', T0 + 60_000, '10', retries, '150');
    h.release(newer.id);
    await w.publish(newer);
    await w.event((e) => e.fireId === newer.id && e.status === 'completed', 'token 10 runs');

    // Leader 9's run, committed (revision 90) before 10 took over, starts after 10's: it runs
    // (the rule "refuse a token lower than the highest seen" dropped exactly this).
    const older = w.run('fenced', T0, '9', retries, '90');
    h.release(older.id);
    await w.publish(older);
    await w.event((e) => e.fireId === older.id && e.status === 'completed', 'token 9 runs');
    expect(h.starts.find((s) => s.fireId === older.id)?.token).toBe('9');

    // A run of token 9 claiming a commit at revision 120, after 10 took over at 100: no valid
    // leader committed it. Refused, not retried, recorded.
    const forged = w.run('fenced', T0 + 120_000, '9', retries, '120');
    await w.publish(forged);
    const refused = await w.event((e) => e.fireId === forged.id, 'forged run decided');
    expect(refused.status).toBe('stale');
    expect(refused.willRetry).toBe(false);
    const bull = await waitFor(
      async () => {
        const b = await w.bullJob(forged.id);
        return b.state === 'failed' ? b : undefined;
      },
      { description: 'refused BullMQ job failed' },
    );
    expect(bull.job.attemptsMade).toBe(1); // failed once, not retried despite attempts: 3
    expect(bull.job.failedReason).toMatch(
      /token 9 claims a commit at etcd revision 120, after the leader with token 10 took over at revision 100/,
    );
    expect(h.starts.map((s) => s.fireId)).not.toContain(forged.id);

    // Tokens and revisions compare as big integers (beyond 2^53; "10" > "9").
    await w.dispatcher.recordTakeover('9007199254740993', '9007199254740993');
    const below = w.run('fenced', T0 + 180_000, '9007199254740992', retries, '9007199254740992');
    h.release(below.id);
    await w.publish(below);
    await w.event((e) => e.fireId === below.id && e.status === 'completed', 'committed before');
    const after = w.run('fenced', T0 + 240_000, '9007199254740992', retries, '9007199254740994');
    await w.publish(after);
    expect((await w.event((e) => e.fireId === after.id, 'committed after')).status).toBe('stale');

    const hist = await w.history('fenced');
    const staleRecord = w.runs(hist, forged.id)[0]!;
    expect(staleRecord).toMatchObject({ status: 'stale', token: '9', attempt: 1 });
    expect(w.runs(hist, older.id)[0]).toMatchObject({ status: 'completed', token: '9' });
    expect(hist.counts.stale).toBe(2);
    expect(hist.counts.completed).toBe(3);
  });

  it("fence: the retry of an older leader's run runs after a newer leader's run started", async () => {
    const w = await world('retry-older', {
      'flaky.yaml': 'name: flaky\nschedule: "* * * * *"\n',
    });
    let calls = 0;
    const executed: string[] = [];
    const flaky = defineHandler('flaky', async (ctx) => {
      executed.push(`${ctx.fireId}#${ctx.attempt}`);
      if (ctx.fireId.endsWith(`@${T0}`) && ++calls === 1) throw new Error('first attempt fails');
      return null;
    });
    await w.worker({ handlers: [flaky] });
    await w.dispatcher.recordTakeover('5', '200');
    const retries = { attempts: 2, backoff: { type: 'fixed' as const, delay: 500 } };
    const older = w.run('flaky', T0, '3', retries, '150');
    await w.publish(older);
    await w.event((e) => e.fireId === older.id && e.status === 'failed', 'first attempt fails');
    // While the retry waits, the new leader's run starts and completes.
    const newer = w.run('flaky', T0 + 60_000, '5', retries, '250');
    await w.publish(newer);
    await w.event((e) => e.fireId === newer.id && e.status === 'completed', 'newer runs');
    await w.event((e) => e.fireId === older.id && e.status === 'completed', 'retry runs');
    expect(executed.filter((x) => x.startsWith(older.id))).toEqual([
      `${older.id}#1`,
      `${older.id}#2`,
    ]);
  });

  it('a second copy of a fire that already started is skipped as a duplicate, not run again', async () => {
    const w = await world('dup', {
      'once.yaml': 'name: once\nschedule: "* * * * *"\n',
    });
    const executed: string[] = [];
    const once = defineHandler('once', async (ctx) => {
      executed.push(ctx.fireId);
      return null;
    });
    await w.worker({ handlers: [once] });
    const first = w.run('once', T0, '4', {}, '40');
    await w.publish(first);
    await w.event((e) => e.fireId === first.id && e.status === 'completed', 'first copy runs');
    // The finished job is gone (retention) and a late publisher adds the same fire again, past
    // the publisher's own marker (as a write held up by a partition would).
    await waitFor(
      async () => ((await w.bullJob(first.id)).state === 'completed' ? true : undefined),
      {
        description: 'first copy completed in BullMQ',
      },
    );
    expect(await w.queue.remove(first.id)).toBe(1);
    await w.redis.del(w.keys.fired(first.id));
    await w.publish(first);
    const second = await w.event(
      (e) => e.fireId === first.id && e.status === 'skipped',
      'second copy decided',
    );
    expect(second.reason).toBe('duplicate');
    expect(executed).toEqual([first.id]);
  });

  it('timeout aborts the signal and fails the attempt; retries follow attempts and backoff', async () => {
    const w = await world('timeout', {
      'slow.yaml': [
        'name: slow',
        'schedule: "* * * * *"',
        'timeout: 300ms',
        'retries:',
        '  attempts: 3',
        '  backoff: exponential',
        '  delay: 200ms',
      ].join('\n'),
    });
    const h = gatedHandler('slow');
    await w.worker({ handlers: [h.handler] });
    const entry = w.run('slow', T0, '5', {
      attempts: 3,
      backoff: { type: 'exponential', delay: 200 },
    });
    await w.publish(entry);
    await w.event((e) => e.fireId === entry.id && e.attempt === 3, 'third attempt ends', 15_000);

    expect(h.starts.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(h.starts.every((s) => s.fireId === entry.id)).toBe(true);
    expect(h.aborts).toHaveLength(3);
    for (const [i, a] of h.aborts.entries()) {
      expect(a.reason).toBeInstanceOf(RunAbortedError);
      expect((a.reason as RunAbortedError).abortCause).toBe('timeout');
      expect(a.at - h.starts[i]!.at).toBeGreaterThanOrEqual(300 - 5);
    }
    // Exponential backoff: 200 ms after attempt 1, 400 ms after attempt 2 (at least).
    expect(h.starts[1]!.at - h.aborts[0]!.at).toBeGreaterThanOrEqual(200);
    expect(h.starts[2]!.at - h.aborts[1]!.at).toBeGreaterThanOrEqual(400);

    const attemptEvents = w.events.filter((e) => e.fireId === entry.id);
    expect(attemptEvents.map((e) => [e.attempt, e.status, e.reason, e.willRetry])).toEqual([
      [1, 'failed', 'timeout', true],
      [2, 'failed', 'timeout', true],
      [3, 'failed', 'timeout', false],
    ]);
    const bull = await waitFor(
      async () => {
        const b = await w.bullJob(entry.id);
        return b.state === 'failed' ? b : undefined;
      },
      { description: 'job failed for good' },
    );
    expect(bull.job.attemptsMade).toBe(3);
    const records = w.runs(await w.history('slow'), entry.id);
    expect(records.map((r) => [r.attempt, r.status, r.reason, r.willRetry])).toEqual([
      [1, 'failed', 'timeout', true],
      [2, 'failed', 'timeout', true],
      [3, 'failed', 'timeout', false],
    ]);
    expect(records[0]!.error).toMatch(/timed out after 300ms/);
  });

  it('overlap forbid: a run starting while another is active (on another worker) is skipped and recorded', async () => {
    const w = await world('forbid', {
      'exclusive.yaml': 'name: exclusive\nschedule: "* * * * *"\noverlap: forbid\n',
    });
    const h = gatedHandler('exclusive');
    await w.worker({ handlers: [h.handler] });
    await w.worker({ handlers: [h.handler] }); // concurrency 1 each: B goes to the idle one
    const a = w.run('exclusive', T0, '7');
    const b = w.run('exclusive', T0 + 60_000, '7');
    await w.publish(a);
    await h.started(a.id);
    await w.publish(b);
    const skipped = await w.event((e) => e.fireId === b.id, 'second run decided');
    expect(skipped).toMatchObject({ status: 'skipped', reason: 'overlap' });
    expect(h.starts.map((s) => s.fireId)).toEqual([a.id]);

    h.release(a.id);
    await w.event((e) => e.fireId === a.id && e.status === 'completed', 'first completes');
    // The lock is gone with the first run: the next fire runs.
    const c = w.run('exclusive', T0 + 120_000, '7');
    h.release(c.id);
    await w.publish(c);
    await w.event((e) => e.fireId === c.id && e.status === 'completed', 'third run');

    const hist = await w.history('exclusive');
    expect(w.runs(hist, b.id)[0]).toMatchObject({ status: 'skipped', reason: 'overlap' });
    expect(w.runs(hist, b.id)[0]!.error).toContain(a.id);
    expect(hist.skipCounts).toMatchObject({ overlap: 1, total: 1 });
    expect(hist.counts).toMatchObject({ completed: 2, skipped: 1 });
    // A skipped run is not a failure: its BullMQ job completes.
    await waitFor(async () => (await w.bullJob(b.id)).state === 'completed', {
      description: 'skipped run completed in BullMQ',
    });
  });

  it('overlap replace: the new run aborts the active one through its signal (across workers) and runs', async () => {
    const w = await world('replace', {
      'latest.yaml': 'name: latest\nschedule: "* * * * *"\noverlap: replace\nretries: 3\n',
    });
    const h = gatedHandler('latest');
    await w.worker({ handlers: [h.handler] });
    await w.worker({ handlers: [h.handler] });
    const retries = { attempts: 3, backoff: { type: 'fixed' as const, delay: 50 } };
    const a = w.run('latest', T0, '3', retries);
    const b = w.run('latest', T0 + 60_000, '3', retries);
    await w.publish(a);
    await h.started(a.id);
    await w.publish(b);
    await h.started(b.id);
    const replaced = await w.event((e) => e.fireId === a.id, 'first run ends');
    expect(replaced).toMatchObject({ status: 'aborted', reason: 'replaced', willRetry: false });
    const abort = h.aborts.find((x) => x.fireId === a.id)!;
    expect((abort.reason as RunAbortedError).abortCause).toBe('replaced');
    expect((abort.reason as RunAbortedError).message).toContain(b.id);

    h.release(b.id);
    await w.event((e) => e.fireId === b.id && e.status === 'completed', 'second completes');
    const bull = await waitFor(
      async () => {
        const x = await w.bullJob(a.id);
        return x.state === 'failed' ? x : undefined;
      },
      { description: 'replaced run failed' },
    );
    expect(bull.job.attemptsMade).toBe(1); // a replaced run is not retried
    expect(h.starts.filter((s) => s.fireId === a.id)).toHaveLength(1);

    // A late attempt of an older run never replaces a newer one: it is skipped as superseded.
    const older = w.run('latest', T0 - 60_000, '3');
    const c = w.run('latest', T0 + 120_000, '3');
    await w.publish(c);
    await h.started(c.id);
    await w.publish(older);
    const superseded = await w.event((e) => e.fireId === older.id, 'older run decided');
    expect(superseded).toMatchObject({ status: 'skipped', reason: 'superseded' });
    expect(h.aborts.find((x) => x.fireId === c.id)).toBeUndefined();
    h.release(c.id);
    await w.event((e) => e.fireId === c.id && e.status === 'completed', 'c completes');

    const hist = await w.history('latest');
    expect(w.runs(hist, a.id)[0]).toMatchObject({ status: 'aborted', reason: 'replaced' });
    expect(w.runs(hist, b.id)[0]).toMatchObject({ status: 'completed' });
  });

  it('an unknown handler fails the run at once, without retry, with a clear message', async () => {
    const w = await world('unknown', {
      'orphan.yaml': 'name: orphan\nschedule: "* * * * *"\nhandler: not-deployed\nretries: 3\n',
    });
    await w.worker({ handlers: [gatedHandler('something-else').handler] });
    const entry = w.run('orphan', T0, '1', {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
    });
    await w.publish(entry);
    const e = await w.event((x) => x.fireId === entry.id, 'run decided');
    expect(e).toMatchObject({ status: 'failed', reason: 'unknown-handler', willRetry: false });
    expect(e.error).toMatch(/unknown handler "not-deployed" for job orphan/);
    const bull = await waitFor(
      async () => {
        const b = await w.bullJob(entry.id);
        return b.state === 'failed' ? b : undefined;
      },
      { description: 'failed' },
    );
    expect(bull.job.attemptsMade).toBe(1);
    expect((await w.history('orphan')).counts['unknown-handler']).toBe(1);
  });

  it('a handler refused downstream (StaleTokenError) fails without retry; other errors are retried', async () => {
    const w = await world('downstream', {
      'sink.yaml': 'name: sink\nschedule: "* * * * *"\nretries: 3\n',
    });
    const seen: { fireId: string; attempt: number }[] = [];
    await w.worker({
      handlers: [
        defineHandler<{ refuse: boolean }>('sink', async (ctx) => {
          seen.push({ fireId: ctx.fireId, attempt: ctx.attempt });
          if (ctx.payload.refuse) throw new StaleTokenError('newer token already wrote');
          if (ctx.attempt < 2) throw new Error('flaky downstream');
          return 'ok';
        }),
      ],
    });
    const retries = { attempts: 3, backoff: { type: 'fixed' as const, delay: 20 } };
    const refused = w.run('sink', T0, '1', retries);
    (refused.order as RunOrder).data.payload = { refuse: true };
    const flaky = w.run('sink', T0 + 60_000, '1', retries);
    (flaky.order as RunOrder).data.payload = { refuse: false };
    await w.publish(refused, flaky);
    const r = await w.event((e) => e.fireId === refused.id, 'refused run ends');
    expect(r).toMatchObject({ status: 'failed', willRetry: false });
    await w.event((e) => e.fireId === flaky.id && e.status === 'completed', 'flaky run retried');
    expect(seen.filter((s) => s.fireId === refused.id).map((s) => s.attempt)).toEqual([1]);
    expect(seen.filter((s) => s.fireId === flaky.id).map((s) => s.attempt)).toEqual([1, 2]);
    const bull = await waitFor(
      async () => {
        const b = await w.bullJob(refused.id);
        return b.state === 'failed' ? b : undefined;
      },
      { description: 'refused run failed' },
    );
    expect(bull.job.attemptsMade).toBe(1);
  });

  it('history: start and end of each run, bounded by retention count and age, with leader skips', async () => {
    const w = await world('history', {
      'bounded.yaml': 'name: bounded\nschedule: "* * * * *"\nretention:\n  age: 1d\n  count: 3\n',
    });
    const h = gatedHandler('bounded');
    await w.worker({ handlers: [h.handler], workerId: 'history-worker' });

    // While running, the record says so.
    const first = w.run('bounded', T0, '4', { keep: { ageSeconds: 86_400, count: 3 } });
    await w.publish(first);
    await h.started(first.id);
    const running = w.runs(await w.history('bounded'), first.id)[0]!;
    expect(running).toMatchObject({
      status: 'running',
      endedAt: null,
      worker: 'history-worker',
      token: '4',
      attempt: 1,
      scheduledAt: new Date(T0).toISOString(),
    });
    h.release(first.id);
    await w.event((e) => e.fireId === first.id, 'first ends');

    const more = [1, 2, 3, 4, 5].map((i) =>
      w.run('bounded', T0 + i * 60_000, '4', { keep: { ageSeconds: 86_400, count: 3 } }),
    );
    for (const m of more) h.release(m.id);
    for (const m of more) {
      await w.publish(m);
      await w.event((e) => e.fireId === m.id, `${m.id} ends`);
    }
    const hist = await w.history('bounded');
    const records = w.runs(hist);
    expect(records.map((r) => r.fireId).sort()).toEqual(
      more
        .slice(-3)
        .map((m) => m.id)
        .sort(),
    );
    for (const r of records) {
      expect(r.status).toBe('completed');
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
      expect(Date.parse(r.endedAt!)).toBeGreaterThanOrEqual(Date.parse(r.startedAt));
      expect(r.result).toEqual({ fireId: r.fireId, attempt: 1 });
    }
    const k = w.keys.run('bounded');
    expect(await w.redis.zcard(k.history)).toBe(3);
    expect(await w.redis.hlen(k.records)).toBe(3);
    expect(hist.counts.completed).toBe(6);

    // Age: a write two days later drops everything older than the job's retention age (1 d).
    const scripts = new RunScripts(w.redis);
    await scripts.end({
      keys: k,
      member: 'bounded@later#1',
      recordJson: JSON.stringify({ ...records[0], fireId: 'bounded@later' }),
      startedAtMs: Date.now() + 2 * 86_400_000,
      lockAction: 'none',
      lockValue: '',
      keepMs: 1,
      nowMs: Date.now() + 2 * 86_400_000,
      retention: { ageMs: 86_400_000, count: 3 },
      counters: [],
    });
    expect(await w.redis.zrange(k.history, '0', '-1')).toEqual(['bounded@later#1']);
    expect(await w.redis.hkeys(k.records)).toEqual(['bounded@later#1']);

    // Skips decided by the leader show in the same history, with reason and count.
    const skip: SkipRecord = {
      kind: 'skip',
      job: 'bounded',
      reason: 'paused',
      first: T0 + 600_000,
      last: T0 + 720_000,
      count: 3,
      decidedAt: Date.now(),
      fencingToken: '4',
      leader: 'test-leader',
    };
    await w.publish({ id: 'bounded@skip', batch: 'test', revision: '1', order: skip });
    const withSkip = await w.history('bounded');
    expect(withSkip.entries.find((e) => e.kind === 'skip')).toMatchObject({
      kind: 'skip',
      reason: 'paused',
      count: 3,
      first: new Date(T0 + 600_000).toISOString(),
      last: new Date(T0 + 720_000).toISOString(),
    });
    expect(withSkip.skipCounts).toMatchObject({ paused: 3, total: 3 });

    // `baton history` shows the same, as JSON and as a table.
    const env = { ...process.env, BATON_REDIS: w.redisUrl, BATON_QUEUE_PREFIX: w.prefix };
    const json = await exec(process.execPath, [BATON_BIN, 'history', 'bounded', '--json'], {
      env,
    });
    const parsed = JSON.parse(json.stdout) as { entries: HistoryEntry[] };
    expect(parsed.entries.map((e) => e.kind).sort()).toEqual(['run', 'skip']);
    const table = await exec(process.execPath, [BATON_BIN, 'history', 'bounded'], { env });
    expect(table.stdout).toMatch(/skipped fires 3 \(paused 3\)/);
    expect(table.stdout).toMatch(/bounded@later\s+1\s+completed/);
  });

  it('`baton history` with Redis unreachable: one line, exit 3, no stack', async () => {
    const r = await exec(process.execPath, [BATON_BIN, 'history', 'anything'], {
      env: { ...process.env, BATON_REDIS: 'redis://127.0.0.1:1' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^baton: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  });

  it('runs ending together are recorded together: every record, counter and overlap lock right', async () => {
    const w = await world('ends', {
      'quick-a.yaml': 'name: quick-a\nschedule: "* * * * *"\n',
      'quick-b.yaml': 'name: quick-b\nschedule: "* * * * *"\noverlap: forbid\n',
    });
    const handler = (name: string) =>
      defineHandler(name, async (ctx) => {
        if (ctx.payload && (ctx.payload as { at: number }).at % 3 === 0) throw new Error('third');
        return { ok: ctx.fireId };
      });
    await w.worker({ handlers: [handler('quick-a'), handler('quick-b')], concurrency: 20 });
    // quick-a: 30 runs at once (every third fails); quick-b: one run (forbid, its lock released).
    const runs = Array.from({ length: 30 }, (_, i) => w.run('quick-a', T0 + i, '1'));
    const b = w.run('quick-b', T0 + 1, '1');
    await w.publish(...runs, b);
    await waitFor(() => (w.events.length === 31 ? true : undefined), {
      description: '31 runs decided',
    });
    const a = await w.history('quick-a');
    const records = w.runs(a);
    expect(records).toHaveLength(30);
    for (const r of records) {
      const at = Number(r.fireId.split('@')[1]);
      expect(r.status).toBe(at % 3 === 0 ? 'failed' : 'completed');
      expect(r.result).toEqual(at % 3 === 0 ? null : { ok: r.fireId });
      expect(r.endedAt).not.toBeNull();
    }
    expect(a.counts).toMatchObject({ completed: 20, failed: 10 });
    expect(w.runs(await w.history('quick-b'))[0]?.status).toBe('completed');
    expect(await w.redis.exists(w.keys.run('quick-b').active)).toBe(0);
  });

  it('`baton worker` takes its handlers folder from --handlers-dir or BATON_HANDLERS_DIR, and names a bad one', async () => {
    const dir = await makeTempDir('handlers-dir');
    const fail = (args: string[], env: Record<string, string> = {}) =>
      exec(process.execPath, [BATON_BIN, 'worker', ...args], {
        env: { ...process.env, BATON_REDIS: 'redis://127.0.0.1:1', ...env },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
    for (const r of [
      await fail(['--handlers-dir', dir]),
      await fail([], { BATON_HANDLERS_DIR: dir }),
    ]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `baton: handlers folder ${dir} has no index.js: it needs an index.js exporting "handlers" (built JavaScript)\n`,
      );
    }
  });

  it('graceful close waits for a running handler within the grace period and takes no new run', async () => {
    const w = await world('grace', { 'calm.yaml': 'name: calm\nschedule: "* * * * *"\n' });
    const h = gatedHandler('calm');
    const worker = await w.worker({ handlers: [h.handler], shutdownGraceMs: 20_000 });
    const a = w.run('calm', T0, '2');
    await w.publish(a);
    await h.started(a.id);

    let closed = false;
    const closing = worker.close().then(() => (closed = true));
    const b = w.run('calm', T0 + 60_000, '2');
    await w.publish(b);
    // Closing does not end the running handler: the run is still active.
    expect(closed).toBe(false);
    expect(worker.activeRuns()).toEqual([a.id]);
    h.release(a.id);
    await withTimeout(closing, 10_000, 'close after the handler returned');
    expect(h.aborts).toHaveLength(0);
    expect(w.events.find((e) => e.fireId === a.id)).toMatchObject({ status: 'completed' });
    expect((await w.bullJob(a.id)).state).toBe('completed');
    expect((await w.bullJob(b.id)).state).toBe('waiting'); // not taken by the closing worker
    expect(h.starts.map((s) => s.fireId)).toEqual([a.id]);
  });

  it('close past the grace period aborts the signals, hands the runs back, and another worker runs them', async () => {
    const w = await world('abort', {
      'coop.yaml': 'name: coop\nschedule: "* * * * *"\n',
      'stubborn.yaml': 'name: stubborn\nschedule: "* * * * *"\n',
    });
    const coop = gatedHandler('coop');
    const stubborn = gatedHandler('stubborn', { stubborn: true });
    const first = await w.worker({
      handlers: [coop.handler, stubborn.handler],
      concurrency: 2,
      shutdownGraceMs: 300,
      abortGraceMs: 300,
    });
    const a = w.run('coop', T0, '8');
    const b = w.run('stubborn', T0, '8');
    await w.publish(a, b);
    await coop.started(a.id);
    await stubborn.started(b.id);

    const t = Date.now();
    await withTimeout(first.close(), 15_000, 'bounded close');
    const took = Date.now() - t;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(5_000);
    // Both signals were aborted for shutdown; the cooperative handler returned, the stubborn one
    // was released after abortGraceMs. Both runs are back in the queue, attempt not consumed.
    for (const [h, id] of [
      [coop, a.id],
      [stubborn, b.id],
    ] as const) {
      const abort = h.aborts.find((x) => x.fireId === id)!;
      expect((abort.reason as RunAbortedError).abortCause).toBe('shutdown');
      expect(w.events.find((e) => e.fireId === id)).toMatchObject({
        status: 'aborted',
        reason: 'shutdown',
      });
      const bull = await w.bullJob(id);
      expect(bull.state).toBe('waiting');
      expect(bull.job.attemptsMade).toBe(0);
    }

    coop.release(a.id);
    stubborn.release(b.id);
    await w.worker({ handlers: [coop.handler, stubborn.handler], concurrency: 2 });
    for (const id of [a.id, b.id]) {
      await w.event((e) => e.fireId === id && e.status === 'completed', `${id} rerun`);
    }
    const records = w.runs(await w.history('coop'), a.id);
    expect(records.map((r) => [r.start, r.attempt, r.status, r.reason])).toEqual([
      [1, 1, 'aborted', 'shutdown'],
      [2, 1, 'completed', null],
    ]);
  });

  it('kill -9 of a worker mid-run: another worker process runs it again with the same fire id', async () => {
    const w = await world('kill9', {
      'blocker.yaml': 'name: blocker\nschedule: "* * * * *"\noverlap: forbid\n',
    });
    const logDir = await makeTempDir('baton-worker-');
    const env = {
      ...process.env,
      BATON_REDIS: w.redisUrl,
      BATON_QUEUE_PREFIX: w.prefix,
      BATON_JOBS: w.jobsDir,
      BATON_LOG_LEVEL: 'debug',
    };
    const spawnWorker = (id: string) => {
      const p = spawnManaged({
        name: `worker ${id}`,
        command: process.execPath,
        // prettier-ignore
        args: [
          BATON_BIN, 'worker', '--id', id, '--no-examples',
          '--lock-duration', '1s', '--stalled-interval', '300ms',
          '--handlers', FIXTURE_HANDLERS,
        ],
        logFile: path.join(logDir, `${id}.log`),
        env,
      });
      processes.push(p);
      return p;
    };
    const ready = (p: ManagedProcess) =>
      waitFor(() => p.logTail(200).includes('"worker ready"'), {
        timeoutMs: 15_000,
        description: `${p.name} ready`,
      });
    const starts = async () =>
      (await w.redis.lrange(`${w.prefix}:test:starts`, 0, -1)).map(
        (s) => JSON.parse(s) as { fireId: string; attempt: number; token: string; pid: number },
      );

    const one = spawnWorker('w1');
    await ready(one);
    const entry = w.run('blocker', T0, '12');
    await w.publish(entry);
    await waitFor(async () => (await starts()).length === 1, { description: 'w1 runs it' });
    expect((await starts())[0]).toMatchObject({ fireId: entry.id, pid: one.pid, attempt: 1 });

    const two = spawnWorker('w2');
    await ready(two);
    await one.kill9();
    const again = await waitFor(
      async () => {
        const s = await starts();
        return s.length >= 2 ? s : undefined;
      },
      { timeoutMs: 15_000, description: 'w2 runs it again after the stalled check' },
    );
    expect(again).toHaveLength(2);
    expect(again[1]).toMatchObject({ fireId: entry.id, token: '12', pid: two.pid, attempt: 1 });

    await w.redis.set(`${w.prefix}:test:release`, '1');
    await waitFor(async () => (await w.bullJob(entry.id)).state === 'completed', {
      description: 'run completed on w2',
    });
    const records = w.runs(await w.history('blocker'), entry.id);
    expect(records.map((r) => [r.start, r.attempt, r.status, r.reason, r.worker])).toEqual([
      [1, 1, 'failed', 'interrupted', 'w1'],
      [2, 1, 'completed', null, 'w2'],
    ]);
    const exit = await two.stop(10_000);
    expect(exit.code).toBe(0);
  });
});
