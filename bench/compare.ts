/**
 * Side-by-side scenarios: baton against BullMQ's own job schedulers on the same Redis, in
 * alternating rounds (baton, BullMQ, baton, BullMQ, ...), plus the floors both sit on.
 * Each scenario returns, per round and side, a flat record of figures; the caller summarises
 * them (min/median/max per side and of the ratio baton/BullMQ of each round).
 */
import { Queue, Worker } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { cleanRedisPrefix, testNamespace } from '../test/helpers/namespace.js';
import { startReplica, jobsFolder, type StackOptions } from '../test/helpers/replicas.js';
import { StopWaiting, waitFor } from '../test/helpers/wait.js';
import { cleanEtcdPrefix } from '../test/helpers/namespace.js';
import {
  peakRssMb,
  pct,
  readRuns,
  redisUsedMemory,
  sleepUntil,
  untilNextSecond,
  type Run,
} from './lib.js';
import {
  definitionFiles,
  firstRun,
  startStack,
  upsertSchedulers,
  type CpuSnapshot,
  type Env,
  type Side,
  type Stack,
  type StackSpec,
} from './stacks.js';

/** Figures of one side in one round. */
export type Figures = Record<string, number>;

export interface SideRound {
  side: Side | 'floor';
  round: number;
  figures: Figures;
}

/** How a figure compares: which way is better, and its unit. */
export interface FigureSpec {
  key: string;
  label: string;
  unit: string;
  better: 'lower' | 'higher';
  /** Can be negative (a time before the instant): no ratio. */
  signed?: boolean;
}

export interface ScenarioRun {
  id: string;
  group: string;
  title: string;
  /** What was run, in words (sizes, windows, concurrency). */
  setup: string;
  figures: FigureSpec[];
  rounds: SideRound[];
}

/** Sizes and windows of a comparative run; every field can be set by env (see run.ts). */
export interface CompareConfig {
  rounds: number;
  /** Measured window of the every-second scenarios. */
  windowMs: number;
  /** Measured window per `hz` setting of the idle scenario. */
  idleWindowMs: number;
  /** Runs before the window (after the first run) that are not counted. */
  warmupMs: number;
  /** After the window, how long runs of its instants may still start to count as run. */
  graceMs: number;
  /** Every-second loads: jobs and worker concurrency. */
  loads: { jobs: number; concurrency: number }[];
  /** Loads also run with a plain BullMQ worker on baton's queue (worker overhead). */
  plainLoads: { jobs: number; concurrency: number }[];
  burstJobs: number;
  burstPeriodS: number;
  setupJobs: number;
}

const MB = 2 ** 20;

function log(text: string): void {
  console.log(`[bench] ${new Date().toISOString().slice(11, 23)} ${text}`);
}

function sorted(values: number[]): number[] {
  return values.sort((a, b) => a - b);
}

function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(a)) out[k] = b[k]! - a[k]!;
  return out;
}

interface Window {
  t0: number;
  t1: number;
  cpu: Record<string, number>;
  memBytes: number;
}

/** A window of whole seconds [t0, t1): CPU used by each process over it, Redis memory at t1. */
async function measureWindow(env: Env, stack: Stack, windowMs: number): Promise<Window> {
  const t0 = await untilNextSecond();
  const c0 = await stack.cpu();
  const t1 = await sleepUntil(t0 + windowMs);
  const c1 = await stack.cpu();
  const memBytes = await redisUsedMemory(env.admin);
  return { t0, t1, cpu: cpuDelta(c0, c1), memBytes };
}

/** Lag, misses and CPU per 1,000 runs of the instants in a window, N runs due per second. */
function loadFigures(runs: Run[], w: Window, perSecond: number, memBase: number): Figures {
  const inWindow = runs.filter(([at]) => at >= w.t0 && at < w.t1);
  const lags = sorted(inWindow.map(([at, start]) => start - at));
  const first = new Map<number, number>();
  for (const [at, start] of inWindow)
    first.set(at, Math.min(first.get(at) ?? Infinity, start - at));
  const firsts = sorted([...first.values()]);
  const expected = perSecond * Math.round((w.t1 - w.t0) / 1000);
  const started = runs.filter(([, start]) => start >= w.t0 && start < w.t1).length;
  const per1000 = (s: number) => (started > 0 ? (s * 1000 * 1000) / started : NaN);
  const f: Figures = {
    lagP50: pct(lags, 50),
    lagP99: pct(lags, 99),
    lagMax: pct(lags, 100),
    firstP50: pct(firsts, 50),
    missed: Math.max(0, expected - inWindow.length),
    runsPerS: started / ((w.t1 - w.t0) / 1000),
    redisMb: (w.memBytes - memBase) / MB,
  };
  let total = 0;
  for (const [proc, s] of Object.entries(w.cpu)) {
    f[`cpu_${proc}`] = per1000(s);
    total += s;
  }
  f.cpu_total = per1000(total);
  return f;
}

export const LAG_FIGURES: FigureSpec[] = [
  { key: 'lagP50', label: 'lag p50 (instant -> handler start)', unit: 'ms', better: 'lower' },
  { key: 'lagP99', label: 'lag p99', unit: 'ms', better: 'lower' },
  { key: 'lagMax', label: 'lag max', unit: 'ms', better: 'lower' },
  { key: 'firstP50', label: 'first run of each instant, p50', unit: 'ms', better: 'lower' },
  {
    key: 'missed',
    label: 'runs not started by the end of the grace period (BullMQ: skipped for good)',
    unit: 'runs',
    better: 'lower',
  },
  { key: 'runsPerS', label: 'runs started per second', unit: '/s', better: 'higher' },
];

const CPU_FIGURES: FigureSpec[] = [
  { key: 'cpu_total', label: 'CPU per 1,000 runs, all processes', unit: 'ms', better: 'lower' },
  { key: 'cpu_scheduler', label: 'CPU per 1,000: scheduler (leader)', unit: 'ms', better: 'lower' },
  { key: 'cpu_worker', label: 'CPU per 1,000: worker process', unit: 'ms', better: 'lower' },
  { key: 'cpu_redis', label: 'CPU per 1,000: Redis', unit: 'ms', better: 'lower' },
  { key: 'cpu_etcd', label: 'CPU per 1,000: etcd', unit: 'ms', better: 'lower' },
  { key: 'redisMb', label: 'Redis used_memory delta', unit: 'MB', better: 'lower' },
];

async function sides(
  cfg: CompareConfig,
  order: Side[],
  one: (side: Side, round: number) => Promise<Figures>,
): Promise<SideRound[]> {
  const out: SideRound[] = [];
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const side of order) {
      log(`  round ${round}: ${side}`);
      out.push({ side, round, figures: await one(side, round) });
    }
  }
  return out;
}

/** Runs `body` on a started stack, then stops it whatever happens. */
async function withStack<T>(
  env: Env,
  side: Side,
  spec: StackSpec,
  label: string,
  body: (stack: Stack) => Promise<T>,
): Promise<T> {
  const stack = await startStack(env, side, spec, label);
  try {
    return await body(stack);
  } finally {
    await stack.stop();
  }
}

/** Runs due every second on both sides: lag, misses, CPU per 1,000 runs by process, memory. */
export async function everySecond(
  env: Env,
  cfg: CompareConfig,
  load: { jobs: number; concurrency: number },
  plain: boolean,
): Promise<ScenarioRun> {
  const order: Side[] = plain ? ['baton', 'bullmq', 'baton-plain'] : ['baton', 'bullmq'];
  const rounds = await sides(cfg, order, async (side) => {
    const memBase = await redisUsedMemory(env.admin);
    const spec = { jobs: load.jobs, pattern: '* * * * * *', concurrency: load.concurrency };
    return withStack(env, side, spec, `load-${load.jobs}`, async (stack) => {
      await firstRun(stack);
      await sleepUntil(Date.now() + cfg.warmupMs);
      const w = await measureWindow(env, stack, cfg.windowMs);
      await sleepUntil(w.t1 + cfg.graceMs);
      return loadFigures(await readRuns(stack.record), w, load.jobs, memBase);
    });
  });
  return {
    id: `every-second-${load.jobs}-c${load.concurrency}`,
    group: 'every-second',
    title: `${load.jobs.toLocaleString('en')} jobs due every second, worker concurrency ${load.concurrency}`,
    setup: `one worker process each; ${cfg.windowMs / 1000} s window after ${cfg.warmupMs / 1000} s warm-up; runs of the window's instants counted if started within ${cfg.graceMs / 1000} s after it${plain ? '; baton-plain: baton scheduler with a plain BullMQ Worker on its queue' : ''}`,
    figures: [...LAG_FIGURES, ...CPU_FIGURES],
    rounds,
  };
}

/** One job due every second with an idle worker: instant -> handler start at hz 10 and hz 100. */
export async function idle(env: Env, cfg: CompareConfig): Promise<ScenarioRun> {
  const rounds = await sides(cfg, ['baton', 'bullmq'], async (side) => {
    const spec = { jobs: 1, pattern: '* * * * * *', concurrency: 1 };
    return withStack(env, side, spec, 'idle', async (stack) => {
      const f: Figures = {};
      await env.admin.config('SET', 'hz', String(env.hz));
      try {
        await firstRun(stack);
        await sleepUntil(Date.now() + cfg.warmupMs);
        for (const hz of [10, 100]) {
          await env.admin.config('SET', 'hz', String(hz));
          await sleepUntil(Date.now() + 1000);
          const w = await measureWindow(env, stack, cfg.idleWindowMs);
          await sleepUntil(w.t1 + cfg.graceMs);
          const runs = (await readRuns(stack.record)).filter(([at]) => at >= w.t0 && at < w.t1);
          const lags = sorted(runs.map(([at, start]) => start - at));
          f[`p50_hz${hz}`] = pct(lags, 50);
          f[`max_hz${hz}`] = pct(lags, 100);
          f[`missed_hz${hz}`] = Math.max(0, Math.round((w.t1 - w.t0) / 1000) - runs.length);
          f[`redisCpu_hz${hz}`] = (w.cpu.redis! * 1000) / ((w.t1 - w.t0) / 1000);
        }
      } finally {
        await env.admin.config('SET', 'hz', String(env.hz));
      }
      return f;
    });
  });
  const figures: FigureSpec[] = [];
  for (const hz of [10, 100]) {
    figures.push(
      { key: `p50_hz${hz}`, label: `hz ${hz}: lag p50`, unit: 'ms', better: 'lower' },
      { key: `max_hz${hz}`, label: `hz ${hz}: lag max`, unit: 'ms', better: 'lower' },
      { key: `missed_hz${hz}`, label: `hz ${hz}: missed runs`, unit: 'runs', better: 'lower' },
      {
        key: `redisCpu_hz${hz}`,
        label: `hz ${hz}: Redis CPU while idle`,
        unit: 'ms/s',
        better: 'lower',
      },
    );
  }
  return {
    id: 'idle',
    group: 'idle',
    title: 'Idle precision: one job due every second, idle worker (concurrency 1)',
    setup: `${cfg.idleWindowMs / 1000} s window at Redis hz 10, then ${cfg.idleWindowMs / 1000} s at hz 100 (CONFIG SET), same processes`,
    figures,
    rounds,
  };
}

/**
 * N jobs due in the same second, every P seconds: when the last of an instant's N runs is in
 * Redis relative to the instant (negative: before it), by counting the queue's jobs every 20 ms
 * (finished jobs are kept), and the lag of that instant's runs.
 */
export async function sameSecond(env: Env, cfg: CompareConfig): Promise<ScenarioRun> {
  const n = cfg.burstJobs;
  const periodMs = cfg.burstPeriodS * 1000;
  const rounds = await sides(cfg, ['baton', 'bullmq'], async (side) => {
    const memBase = await redisUsedMemory(env.admin);
    const spec = {
      jobs: n,
      pattern: `*/${cfg.burstPeriodS} * * * * *`,
      concurrency: 1000,
      keep: n * 5,
    };
    return withStack(env, side, spec, 'burst', async (stack) => {
      const pollStart = Date.now();
      // The instant measured: its predecessor is after the first count, so every one of its
      // jobs arrives while the counts are taken.
      const target = Math.ceil((pollStart + periodMs + 100) / periodMs) * periodMs;
      const samples: [number, number][] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const total = await stack.jobsInRedis();
          samples.push([Date.now(), total]);
          await sleepUntil(Date.now() + 20);
        }
      })();
      let runs: Run[] = [];
      try {
        await waitFor(
          async () => {
            runs = await readRuns(stack.record);
            const done = runs.filter(([at]) => at === target).length;
            return done >= n || Date.now() > target + periodMs + 10_000;
          },
          { timeoutMs: 2 * periodMs + 60_000, intervalMs: 200, description: 'the burst run' },
        );
      } finally {
        polling = false;
        await poller;
      }
      const before = runs.filter(([at]) => at < target).length;
      const mine = runs.filter(([at]) => at === target);
      const threshold = before + mine.length;
      const reached = samples.find(([, total]) => total >= threshold);
      if (!reached) throw new StopWaiting(`${side}: the queue never held the burst's jobs`);
      const lags = sorted(mine.map(([at, start]) => start - at));
      return {
        allInRedis: reached[0] - target,
        lagP50: pct(lags, 50),
        lagP99: pct(lags, 99),
        lagMax: pct(lags, 100),
        missed: n - mine.length,
        redisMb: ((await redisUsedMemory(env.admin)) - memBase) / MB,
      };
    });
  });
  return {
    id: 'same-second',
    group: 'same-second',
    title: `Burst: ${n.toLocaleString('en')} jobs due in the same second, every ${cfg.burstPeriodS} s, concurrency 1,000`,
    setup: `one instant measured per round; "all in Redis" from queue counts every 20 ms (negative: before the instant)`,
    figures: [
      {
        key: 'allInRedis',
        label: 'all in Redis, relative to the instant',
        unit: 'ms',
        better: 'lower',
        signed: true,
      },
      { key: 'lagP50', label: 'lag p50', unit: 'ms', better: 'lower' },
      { key: 'lagP99', label: 'lag p99', unit: 'ms', better: 'lower' },
      { key: 'lagMax', label: 'lag max (last run started)', unit: 'ms', better: 'lower' },
      {
        key: 'missed',
        label: 'runs not started 10 s after the next instant (BullMQ: skipped for good)',
        unit: 'runs',
        better: 'lower',
      },
      { key: 'redisMb', label: 'Redis used_memory delta', unit: 'MB', better: 'lower' },
    ],
    rounds,
  };
}

/**
 * Setup of N schedules: baton from definition files to "takeover done" (process start ->
 * ready, its peak RSS); BullMQ `upsertJobScheduler` x N from one process (start -> done, its
 * peak RSS). Redis memory they leave behind.
 */
export async function setup(env: Env, cfg: CompareConfig): Promise<ScenarioRun> {
  const n = cfg.setupJobs;
  const pattern = '0 0 0 1 1 *';
  const rounds = await sides(cfg, ['baton', 'bullmq'], async (side) => {
    const memBase = await redisUsedMemory(env.admin);
    if (side === 'bullmq') {
      const prefix = testNamespace('q-setup');
      try {
        const r = await upsertSchedulers(env, prefix, 'bench', n, pattern);
        return {
          readyMs: r.wallMs,
          workMs: r.ms,
          peakRssMb: r.peakRssMb,
          redisMb: ((await redisUsedMemory(env.admin)) - memBase) / MB,
        };
      } finally {
        await cleanRedisPrefix(env.admin, prefix);
      }
    }
    const opts: StackOptions = {
      etcd: [...env.etcd.endpoints],
      redisUrl: env.redis.url,
      namespace: testNamespace('b-setup'),
      jobsDir: await jobsFolder(definitionFiles(n, pattern)),
      leaseTtl: 5,
    };
    const started = Date.now();
    const replica = await startReplica(opts, 'bench-setup', 0, { BATON_LOG_LEVEL: 'info' });
    try {
      const line = await waitFor(
        () => {
          if (!replica.proc.running) throw new StopWaiting(`replica exited:\n${replica.log(40)}`);
          return replica
            .log(400)
            .split('\n')
            .find((l) => l.includes('"takeover done"'));
        },
        { timeoutMs: 300_000, intervalMs: 20, description: 'takeover done' },
      );
      return {
        readyMs: Date.now() - started,
        workMs: (JSON.parse(line) as { ms: number }).ms,
        peakRssMb: peakRssMb(replica.pid),
        redisMb: ((await redisUsedMemory(env.admin)) - memBase) / MB,
      };
    } finally {
      await replica.kill9();
      await cleanRedisPrefix(env.admin, opts.namespace);
      const etcd = new Etcd3({ hosts: [...env.etcd.endpoints] });
      await cleanEtcdPrefix(etcd, `${opts.namespace}/`).finally(() => etcd.close());
    }
  });
  return {
    id: 'setup',
    group: 'setup',
    title: `Setup of ${n.toLocaleString('en')} schedules`,
    setup: `baton: ${Math.ceil(n / 1000)} definition files -> leader's "takeover done"; BullMQ: upsertJobScheduler x ${n.toLocaleString('en')} (256 in flight) from one process`,
    figures: [
      { key: 'readyMs', label: 'process start -> ready', unit: 'ms', better: 'lower' },
      {
        key: 'workMs',
        label: 'work alone (baton: election -> takeover done; BullMQ: the upserts)',
        unit: 'ms',
        better: 'lower',
      },
      { key: 'peakRssMb', label: 'peak RSS of that process', unit: 'MB', better: 'lower' },
      { key: 'redisMb', label: 'Redis used_memory delta', unit: 'MB', better: 'lower' },
    ],
    rounds,
  };
}

/** What both sit on: Redis round trip, an etcd 128-op txn, addBulk of 1,000, idle promotion. */
export async function floors(env: Env, cfg: CompareConfig): Promise<ScenarioRun> {
  const rounds: SideRound[] = [];
  for (let round = 1; round <= cfg.rounds; round++) {
    log(`  round ${round}: floors`);
    const f: Figures = {};
    const pings: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t = process.hrtime.bigint();
      await env.admin.ping();
      pings.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    sorted(pings);
    f.pingP50 = pct(pings, 50);
    f.pingP99 = pct(pings, 99);

    const etcd = new Etcd3({ hosts: [...env.etcd.endpoints] });
    const ns = testNamespace('floor');
    try {
      const txns: number[] = [];
      for (let i = 0; i < 20; i++) {
        const ops = Array.from({ length: 128 }, (_, k) => etcd.put(`${ns}/k${k}`).value(`v${i}`));
        const t = process.hrtime.bigint();
        await etcd
          .if(`${ns}/guard`, 'Version', '==', 0)
          .then(...ops)
          .commit();
        txns.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      sorted(txns);
      f.etcdTxnP50 = pct(txns, 50);
      f.etcdTxnMax = pct(txns, 100);
      await cleanEtcdPrefix(etcd, `${ns}/`);
    } finally {
      etcd.close();
    }

    const prefix = testNamespace('floor');
    const queue = new Queue('floor', { connection: env.admin, prefix });
    try {
      const bulks: number[] = [];
      for (let i = 0; i < 5; i++) {
        const jobs = Array.from({ length: 1000 }, (_, k) => ({
          name: 'f',
          data: { k },
          opts: { jobId: `b${i}-${k}`, delay: 3_600_000 },
        }));
        const t = process.hrtime.bigint();
        await queue.addBulk(jobs);
        bulks.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      f.addBulkP50 = pct(sorted(bulks), 50);
      await queue.obliterate({ force: true });

      // One delayed job at a time, an idle plain worker: due time -> processor start.
      let resolveRun: ((ms: number) => void) | undefined;
      const worker = new Worker(
        'floor',
        async (job) => {
          resolveRun?.(Date.now() - (job.timestamp + (job.opts.delay ?? 0)));
          return null;
        },
        {
          connection: { host: '127.0.0.1', port: env.redis.port, maxRetriesPerRequest: null },
          prefix,
          concurrency: 1,
        },
      );
      await worker.waitUntilReady();
      try {
        for (const hz of [10, 100]) {
          await env.admin.config('SET', 'hz', String(hz));
          const lags: number[] = [];
          for (let i = 0; i < (env.quick ? 4 : 10); i++) {
            const ran = new Promise<number>((resolve) => (resolveRun = resolve));
            await queue.add('p', {}, { delay: 250 + Math.floor(Math.random() * 100) });
            lags.push(await ran);
          }
          sorted(lags);
          f[`promoteP50_hz${hz}`] = pct(lags, 50);
          f[`promoteMax_hz${hz}`] = pct(lags, 100);
        }
      } finally {
        await env.admin.config('SET', 'hz', String(env.hz));
        await worker.close(true);
      }
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await cleanRedisPrefix(env.admin, prefix);
    }
    rounds.push({ side: 'floor', round, figures: f });
  }
  const fig = (key: string, label: string): FigureSpec => ({
    key,
    label,
    unit: 'ms',
    better: 'lower',
  });
  return {
    id: 'floors',
    group: 'floors',
    title: 'Floors (measured from the benchmark process)',
    setup:
      '1,000 sequential PINGs; 20 etcd txns of 128 puts; 5 addBulk of 1,000 delayed jobs; one delayed job at a time (250-350 ms) to an idle plain BullMQ worker',
    figures: [
      fig('pingP50', 'Redis round trip (PING) p50'),
      fig('pingP99', 'Redis round trip (PING) p99'),
      fig('etcdTxnP50', 'etcd txn of 128 puts, p50'),
      fig('etcdTxnMax', 'etcd txn of 128 puts, max'),
      fig('addBulkP50', 'BullMQ addBulk of 1,000 delayed jobs, p50'),
      fig('promoteP50_hz10', 'idle promotion at hz 10 (due -> processor start), p50'),
      fig('promoteMax_hz10', 'idle promotion at hz 10, max'),
      fig('promoteP50_hz100', 'idle promotion at hz 100, p50'),
      fig('promoteMax_hz100', 'idle promotion at hz 100, max'),
    ],
    rounds,
  };
}
