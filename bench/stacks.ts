/**
 * The two systems under test, started the same way for every scenario:
 * - `baton`: a `baton scheduler` replica (the leader) and one `baton worker` process running
 *   bench/handlers.mjs, on the shared etcd and Redis, in a namespace of their own;
 * - `bullmq`: BullMQ's own job schedulers (`upsertJobScheduler`, from a child process) and one
 *   plain BullMQ `Worker` process (bench/bullmq-child.mjs), on the same Redis, own prefix;
 * - `baton-plain`: baton's replica, with the plain BullMQ worker on baton's queue instead of
 *   `baton worker` (what a worker costs without baton's per-run bookkeeping).
 * Both workers record each handler start with bench/recorder.mjs.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import type { EtcdCluster } from '../test/helpers/etcd.js';
import { cleanEtcdPrefix, cleanRedisPrefix, testNamespace } from '../test/helpers/namespace.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../test/helpers/process.js';
import type { RedisServer } from '../test/helpers/redis.js';
import {
  BATON_BIN,
  batonEnv,
  control,
  jobsFolder,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../test/helpers/replicas.js';
import { StopWaiting, waitFor } from '../test/helpers/wait.js';
import { processCpuSeconds, redisCpuSeconds } from './lib.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const HANDLERS = path.join(HERE, 'handlers.mjs');
export const BULLMQ_CHILD = path.join(HERE, 'bullmq-child.mjs');

/** Finished jobs kept per queue: baton's default retention (count 1,000, 7 days) on both sides. */
export const DEFAULT_KEEP = 1000;

export type Side = 'baton' | 'bullmq' | 'baton-plain';

export interface Env {
  etcd: EtcdCluster;
  redis: RedisServer;
  /** A connection of the benchmark's own, for INFO, CONFIG and counts. */
  admin: Redis;
  quick: boolean;
  /** Redis `hz` of every scenario but those that set their own (idle, promotion floor). */
  hz: number;
}

export interface StackSpec {
  /** Number of schedules. */
  jobs: number;
  /** 6-field cron, the same text on both sides. */
  pattern: string;
  concurrency: number;
  /** Finished jobs kept per queue. @defaultValue {@link DEFAULT_KEEP} */
  keep?: number;
}

/** CPU seconds used so far, by process. */
export type CpuSnapshot = Record<string, number>;

export interface Stack {
  side: Side;
  /** Recorder file of the worker. */
  record: string;
  /** Redis queue prefix and queue name of the runs. */
  prefix: string;
  queue: string;
  /** CPU used so far by each process of this stack, Redis and (baton) etcd included. */
  cpu(): Promise<CpuSnapshot>;
  /** Jobs of the queue in any state (finished ones are kept, see `keep`). */
  jobsInRedis(): Promise<number>;
  /** Kills every process of the stack, deletes its keys. */
  stop(): Promise<void>;
}

function jobsYaml(from: number, n: number, pattern: string, keep: number): string {
  let s = 'jobs:\n';
  for (let i = from; i < from + n; i++) {
    s += `  - name: j${i}\n    schedule: "${pattern}"\n    handler: bench\n    catchUp: none\n`;
    if (keep !== DEFAULT_KEEP) s += `    retention: { age: 7d, count: ${keep} }\n`;
  }
  return s;
}

/** Definition files of 1,000 jobs each, as a team with that many jobs would keep them. */
export function definitionFiles(jobs: number, pattern: string, keep = DEFAULT_KEEP) {
  const files: Record<string, string> = {};
  for (let f = 0; f * 1000 < jobs; f++)
    files[`jobs-${f}.yaml`] = jobsYaml(f * 1000, Math.min(1000, jobs - f * 1000), pattern, keep);
  return files;
}

/** Waits until `proc` has logged `text`; fails at once if it exits first. */
export async function waitForLog(
  proc: ManagedProcess,
  text: string,
  what: string,
  timeoutMs = 60_000,
) {
  await waitFor(
    () => {
      if (!proc.running) throw new StopWaiting(`${what} exited:\n${proc.logTail(40)}`);
      return proc.logTail(400).includes(text);
    },
    { timeoutMs, intervalMs: 20, description: what },
  );
}

/** One plain BullMQ worker process (bench/bullmq-child.mjs), recording into `record`. */
async function startPlainWorker(
  env: Env,
  prefix: string,
  queue: string,
  concurrency: number,
  record: string,
): Promise<ManagedProcess> {
  const dir = await makeTempDir('baton-bench-bullmq-');
  const proc = spawnManaged({
    name: 'bullmq worker',
    command: process.execPath,
    args: [BULLMQ_CHILD, 'worker', env.redis.url, prefix, queue, String(concurrency)],
    logFile: path.join(dir, 'worker.log'),
    env: { ...process.env, BENCH_RECORD: record },
  });
  await waitForLog(proc, 'worker ready', 'bullmq worker ready');
  return proc;
}

/** Upserts `jobs` schedulers in a child process; its figures (ms, peak RSS) and wall time. */
export async function upsertSchedulers(
  env: Env,
  prefix: string,
  queue: string,
  jobs: number,
  pattern: string,
  keep = DEFAULT_KEEP,
): Promise<{ ms: number; wallMs: number; peakRssMb: number }> {
  const dir = await makeTempDir('baton-bench-upsert-');
  const started = Date.now();
  const proc = spawnManaged({
    name: 'bullmq upsert',
    command: process.execPath,
    // prettier-ignore
    args: [BULLMQ_CHILD, 'upsert', env.redis.url, prefix, queue, String(jobs), pattern, String(keep)],
    logFile: path.join(dir, 'upsert.log'),
  });
  const exit = await proc.exited;
  const wallMs = Date.now() - started;
  const line = proc
    .logTail(20)
    .split('\n')
    .find((l) => l.startsWith('{"upserted"'));
  if (exit.code !== 0 || !line) throw new Error(`upsert child failed:\n${proc.logTail(40)}`);
  const out = JSON.parse(line) as { ms: number; peakRssMb: number };
  return { ms: out.ms, wallMs, peakRssMb: out.peakRssMb };
}

async function countJobs(env: Env, prefix: string, queue: string): Promise<number> {
  const q = new Queue(queue, { connection: env.admin, prefix });
  const c = await q.getJobCounts(
    'waiting',
    'delayed',
    'prioritized',
    'active',
    'completed',
    'failed',
  );
  return Object.values(c).reduce((a, b) => a + b, 0);
}

/** Starts one side for `spec` and waits until its processes are ready (not for a first run). */
export async function startStack(env: Env, side: Side, spec: StackSpec, label: string) {
  const record = path.join(await makeTempDir('baton-bench-record-'), 'runs.jsonl');
  const keep = spec.keep ?? DEFAULT_KEEP;
  const etcdPid = () => env.etcd.members[0]?.pid;
  if (side === 'bullmq') {
    const prefix = testNamespace(`q-${label}`);
    const queue = 'bench';
    await upsertSchedulers(env, prefix, queue, spec.jobs, spec.pattern, keep);
    const worker = await startPlainWorker(env, prefix, queue, spec.concurrency, record);
    const stack: Stack = {
      side,
      record,
      prefix,
      queue,
      cpu: async () => ({
        worker: processCpuSeconds(worker.pid),
        redis: await redisCpuSeconds(env.admin),
      }),
      jobsInRedis: () => countJobs(env, prefix, queue),
      stop: async () => {
        await worker.kill9();
        await cleanRedisPrefix(env.admin, prefix);
      },
    };
    return stack;
  }
  const opts: StackOptions = {
    etcd: [...env.etcd.endpoints],
    redisUrl: env.redis.url,
    namespace: testNamespace(`b-${label}`),
    jobsDir: await jobsFolder(definitionFiles(spec.jobs, spec.pattern, keep)),
    leaseTtl: 5,
  };
  const ctx = control(opts);
  let replica: ReplicaProcess | undefined;
  let worker: ManagedProcess | undefined;
  const stop = async () => {
    ctx.close();
    await Promise.all([replica?.kill9(), worker?.kill9()]);
    await cleanRedisPrefix(env.admin, opts.namespace);
    const etcd = new Etcd3({ hosts: [...env.etcd.endpoints] });
    try {
      await cleanEtcdPrefix(etcd, `${opts.namespace}/`);
    } finally {
      etcd.close();
    }
  };
  try {
    // Production log level (info), not the tests' debug.
    replica = await startReplica(opts, 'bench-leader', 0, { BATON_LOG_LEVEL: 'info' });
    if (side === 'baton') {
      const dir = await makeTempDir('baton-bench-worker-');
      worker = spawnManaged({
        name: 'baton worker',
        command: process.execPath,
        // prettier-ignore
        args: [
          BATON_BIN, 'worker', '--id', 'bench-worker', '--no-examples',
          '--handlers', HANDLERS, '--concurrency', String(spec.concurrency),
        ],
        logFile: path.join(dir, 'worker.log'),
        env: { ...batonEnv(opts), BATON_LOG_LEVEL: 'info', BENCH_RECORD: record },
      });
      await waitForLog(worker, '"worker ready"', 'baton worker ready');
    } else {
      worker = await startPlainWorker(env, opts.namespace, 'baton', spec.concurrency, record);
    }
    await waitForLeader(ctx, undefined, 120_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const stack: Stack = {
    side,
    record,
    prefix: opts.namespace,
    queue: 'baton',
    cpu: async () => ({
      scheduler: processCpuSeconds(replica?.pid),
      worker: processCpuSeconds(worker?.pid),
      redis: await redisCpuSeconds(env.admin),
      etcd: processCpuSeconds(etcdPid()),
    }),
    jobsInRedis: () => countJobs(env, opts.namespace, 'baton'),
    stop,
  };
  return stack;
}

/** Waits until the stack's worker has recorded a first run. */
export async function firstRun(stack: Stack, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await stat(stack.record)).size > 0;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 20, description: `a first run on ${stack.side}` },
  );
}
