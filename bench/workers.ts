/**
 * Worker scenarios of `npm run bench` (baton alone against a plain BullMQ worker, no scheduler):
 * a backlog of no-op runs, published as the leader publishes them (`Dispatcher`), is drained.
 *
 * - worker-overhead: CPU of this process while baton's `Worker` (library, in process) drains the
 *   backlog, against a plain BullMQ `Worker` with a no-op processor on the same queue shape, in
 *   alternating rounds; and the Lua scripts Redis ran per run on each side.
 * - worker-processes: drain time and CPU of 1, then 2 `baton worker` processes on one queue.
 *
 * Sizes via env BENCH_WORKER_RUNS (1000), BENCH_WORKER_CONCURRENCY (100), BENCH_WORKER_ROUNDS (3),
 * BENCH_WORKER_PROCS_RUNS (10000), BENCH_WORKER_PROCS (`1,2`). BENCH_WORKER_PROFILE=<prefix>
 * writes a V8 CPU profile of each worker-overhead drain to `<prefix>-<side>-<round>.cpuprofile`.
 * Rows go to `report` (legacy.ts), which run.ts appends to bench/results/<date>.md.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { Queue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { OutboxEntry } from '../src/coordination/ledger.js';
import { Dispatcher } from '../src/dispatch/producer.js';
import { defineHandler, startWorker } from '../src/index.js';
import { cleanRedisPrefix, testNamespace } from '../test/helpers/namespace.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../test/helpers/process.js';
import {
  BATON_BIN,
  batonEnv,
  jobsFolder,
  stackKeys,
  type StackOptions,
} from '../test/helpers/replicas.js';
import { waitFor } from '../test/helpers/wait.js';
import { report, type Env } from './legacy.js';
import { median, processCpuSeconds, round } from './lib.js';
import { HANDLERS, waitForLog } from './stacks.js';

function count(name: string, fallback: string): number {
  const text = process.env[name] ?? fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name}="${text}": expected a whole number >= 1`);
  return n;
}

/** A namespace of its own on the bench's etcd and Redis; its queue prefix is the namespace. */
async function queueStack(env: Env, name: string): Promise<StackOptions> {
  return {
    etcd: [...env.etcd.endpoints],
    redisUrl: env.redis.url,
    namespace: testNamespace(name),
    jobsDir: await jobsFolder({}),
  };
}

/**
 * Publishes `runs` runs of the `bench` job into the stack's `baton` queue, as a leader does
 * (one `Dispatcher.publish` per 1,000), due at once; finished ones are kept (`keep`).
 */
async function fillBacklog(redis: Redis, opts: StackOptions, runs: number, keep: number) {
  const dispatcher = new Dispatcher(redis, stackKeys(opts));
  const base = Date.now();
  try {
    for (let i = 0; i < runs; i += 1000) {
      const entries: OutboxEntry[] = [];
      for (let k = i; k < Math.min(runs, i + 1000); k++) {
        const fireId = `bench@${base + k}`;
        entries.push({
          id: fireId,
          batch: 'bench',
          revision: '1',
          order: {
            kind: 'run',
            queue: 'baton',
            data: {
              job: 'bench',
              scheduledAt: new Date(base + k).toISOString(),
              fireId,
              fencingToken: '1',
              leader: 'bench',
              payload: null,
              manual: false,
            },
            availableAt: 0,
            attempts: 1,
            backoff: { type: 'exponential', delay: 1000 },
            keep: { ageSeconds: 3600, count: keep },
          },
        });
      }
      await dispatcher.publish(entries);
    }
  } finally {
    await dispatcher.close();
  }
}

/** Script calls (EVALSHA/EVAL) Redis has run so far: BullMQ and baton do their work in Lua. */
async function scriptCalls(redis: Redis): Promise<number> {
  const text = await redis.info('commandstats');
  let n = 0;
  for (const m of text.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

type WorkerSide = 'baton' | 'plain';

/** Drains the stack's backlog in this process; CPU seconds of this process while it drains. */
async function drain(side: WorkerSide, opts: StackOptions, runs: number, concurrency: number) {
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((resolve) => (finish = resolve));
  const counted = () => {
    if (++done === runs) finish();
  };
  const cpu0 = process.cpuUsage();
  let close: () => Promise<void>;
  if (side === 'baton') {
    const w = await startWorker({
      redisUrl: opts.redisUrl,
      prefix: opts.namespace,
      namespace: opts.namespace,
      queues: ['baton'],
      jobsDir: null,
      concurrency,
      handlers: [defineHandler('bench', async () => undefined)],
      logger: pino({ level: 'info' }, pino.destination('/dev/null')),
    });
    w.on('run', counted);
    close = () => w.close();
  } else {
    const url = new URL(opts.redisUrl);
    const w = new BullWorker('baton', async () => undefined, {
      connection: { host: url.hostname, port: Number(url.port) },
      prefix: opts.namespace,
      concurrency,
    });
    w.on('completed', counted);
    await w.waitUntilReady();
    close = () => w.close();
  }
  await all;
  const cpu = process.cpuUsage(cpu0);
  await close();
  return (cpu.user + cpu.system) / 1e6;
}

async function workerOverhead(env: Env): Promise<void> {
  const runs = count('BENCH_WORKER_RUNS', '1000');
  const concurrency = count('BENCH_WORKER_CONCURRENCY', '100');
  const rounds = count('BENCH_WORKER_ROUNDS', '3');
  const profile = process.env.BENCH_WORKER_PROFILE;
  const admin = new Redis(env.redis.url, { maxRetriesPerRequest: null });
  const cpu: Record<WorkerSide, number[]> = { baton: [], plain: [] };
  const scripts: Record<WorkerSide, number[]> = { baton: [], plain: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const side of ['baton', 'plain'] as const) {
        const opts = await queueStack(env, `wo-${side}`);
        await fillBacklog(admin, opts, runs, 1000);
        const session = profile ? new Session() : null;
        if (session) {
          session.connect();
          await session.post('Profiler.enable');
          await session.post('Profiler.start');
        }
        const calls0 = await scriptCalls(admin);
        cpu[side].push(await drain(side, opts, runs, concurrency));
        scripts[side].push(((await scriptCalls(admin)) - calls0) / runs);
        if (session) {
          const { profile: taken } = await session.post('Profiler.stop');
          await writeFile(`${profile}-${side}-${r}.cpuprofile`, JSON.stringify(taken));
          session.disconnect();
        }
        await cleanRedisPrefix(admin, opts.namespace);
      }
    }
  } finally {
    admin.disconnect();
  }
  const per1000 = (xs: number[]) => xs.map((x) => (x / runs) * 1000);
  const range = (xs: number[]) =>
    `${round(median(xs))} (${round(Math.min(...xs))}-${round(Math.max(...xs))})`;
  const ratios = cpu.baton.map((b, i) => b / cpu.plain[i]!);
  report(
    `| worker overhead: ${runs} no-op runs drained in process, concurrency ${concurrency}, ${rounds} round(s) | CPU-s per 1,000 runs: baton Worker ${range(per1000(cpu.baton))}, plain BullMQ Worker ${range(per1000(cpu.plain))}, ratio ${range(ratios)}; Lua scripts per run: baton ${range(scripts.baton)}, plain ${range(scripts.plain)} | reference: a plain BullMQ worker, same queue |`,
  );
}

/** Starts `baton worker` processes on the stack's queue, each ready when this resolves. */
async function startWorkers(opts: StackOptions, n: number, concurrency: number) {
  const procs: ManagedProcess[] = [];
  for (let i = 0; i < n; i++) {
    const dir = await makeTempDir('baton-bench-worker-');
    procs.push(
      spawnManaged({
        name: `baton worker ${i}`,
        command: process.execPath,
        // prettier-ignore
        args: [
          BATON_BIN, 'worker', '--id', `bench-w${i}`, '--no-examples', '--queues', 'baton',
          '--handlers', HANDLERS, '--concurrency', String(concurrency),
        ],
        logFile: path.join(dir, 'worker.log'),
        env: { ...batonEnv(opts), BATON_LOG_LEVEL: 'info' },
      }),
    );
  }
  await Promise.all(procs.map((p) => waitForLog(p, '"worker ready"', `${p.name} ready`)));
  return procs;
}

async function workerProcesses(env: Env): Promise<void> {
  const runs = count('BENCH_WORKER_PROCS_RUNS', '10000');
  const concurrency = count('BENCH_WORKER_CONCURRENCY', '100');
  const text = process.env.BENCH_WORKER_PROCS ?? '1,2';
  const counts = text.split(',').map((x) => Number(x.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 16))
    throw new Error(`BENCH_WORKER_PROCS="${text}": expected process counts 1 to 16, e.g. 1,2`);
  const admin = new Redis(env.redis.url, { maxRetriesPerRequest: null });
  try {
    for (const n of counts) {
      const opts = await queueStack(env, `wp-${n}`);
      const queue = new Queue('baton', { connection: admin, prefix: opts.namespace });
      let workers: ManagedProcess[] = [];
      try {
        await fillBacklog(admin, opts, runs, runs);
        // Paused until every process is ready: the clock measures the drain, not start-up.
        await queue.pause();
        workers = await startWorkers(opts, n, concurrency);
        const cpu0 = workers.map((w) => processCpuSeconds(w.pid));
        const t0 = Date.now();
        await queue.resume();
        await waitFor(async () => (await queue.getCompletedCount()) >= runs, {
          timeoutMs: 600_000,
          intervalMs: 20,
          description: `${runs} runs completed`,
        });
        const wallMs = Date.now() - t0;
        const cpu = workers.map((w, i) => processCpuSeconds(w.pid) - cpu0[i]!);
        report(
          `| ${n} baton worker process(es), concurrency ${concurrency} each: ${runs} no-op runs on one queue | drained in ${wallMs} ms (${Math.round((runs / wallMs) * 1000)} runs/s); worker CPU ${round(cpu.reduce((a, b) => a + b, 0))} s (${cpu.map((c) => round(c)).join(' + ')}) | more processes help only while Redis and the cores are not the limit |`,
        );
      } finally {
        await Promise.all(workers.map((w) => w.kill9()));
        await queue.close();
        await cleanRedisPrefix(admin, opts.namespace);
      }
    }
  } finally {
    admin.disconnect();
  }
}

export const WORKERS: Record<string, (env: Env) => Promise<void>> = {
  'worker-overhead': workerOverhead,
  'worker-processes': workerProcesses,
};
