/**
 * `npm run bench`: baton side by side with BullMQ 6.7's own job schedulers on the same Redis, in
 * alternating rounds, against real etcd, Redis and processes on this machine; see
 * docs/operations.md "Benchmarks" for what each scenario measures and how to read the results.
 *
 *   npm run bench                         every side-by-side scenario (~15 min on 2 cores)
 *   npm run bench -- idle setup           only these scenarios
 *   npm run bench -- --quick              small sizes, 1 round, ~90 s; results in a temp dir
 *   npm run bench -- --quick --out DIR    ... results in DIR
 *   npm run bench -- lag failover         the baton-only scenarios (bench/legacy.ts, workers.ts)
 *   npm run bench -- all                  both
 *
 * Side-by-side scenarios: floors, idle, every-second, same-second, setup. Results:
 * bench/results/<date>-compare.json and .md (never overwritten: -2, -3, ... when taken).
 * Baton-only scenarios (lag, burst, takeover, failover, redis-cutoff, worker-overhead,
 * worker-processes) append their rows to bench/results/<date>.md. Sizes and windows: see
 * CONFIG_ENV below, bench/legacy.ts and bench/workers.ts.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startEtcdNode } from '../test/helpers/etcd.js';
import { stopAllProcesses } from '../test/helpers/process.js';
import { startRedis } from '../test/helpers/redis.js';
import { BATON_BIN } from '../test/helpers/replicas.js';
import {
  everySecond,
  floors,
  idle,
  sameSecond,
  setup,
  type CompareConfig,
  type ScenarioRun,
} from './compare.js';
import { LEGACY, lines as legacyLines, report as legacyReport } from './legacy.js';
import { markdown, summarise, type Summary } from './report.js';
import type { Env } from './stacks.js';
import { WORKERS } from './workers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

type Emit = (run: ScenarioRun) => void;

/** Scenarios of baton alone: rows appended to bench/results/<date>.md. */
const BATON_ONLY = { ...LEGACY, ...WORKERS };

const COMPARE: Record<string, (env: Env, cfg: CompareConfig, emit: Emit) => Promise<void>> = {
  floors: async (env, cfg, emit) => emit(await floors(env, cfg)),
  idle: async (env, cfg, emit) => emit(await idle(env, cfg)),
  'every-second': async (env, cfg, emit) => {
    for (const load of cfg.loads) {
      const plain = cfg.plainLoads.some(
        (p) => p.jobs === load.jobs && p.concurrency === load.concurrency,
      );
      emit(await everySecond(env, cfg, load, plain));
    }
  },
  'same-second': async (env, cfg, emit) => emit(await sameSecond(env, cfg)),
  setup: async (env, cfg, emit) => emit(await setup(env, cfg)),
};

/** Env variables of the side-by-side sizes: name, full default, --quick default. */
const CONFIG_ENV = {
  BENCH_ROUNDS: ['3', '1'],
  BENCH_WINDOW_S: ['8', '2'],
  BENCH_IDLE_WINDOW_S: ['6', '2'],
  BENCH_WARMUP_S: ['1', '0.5'],
  BENCH_GRACE_S: ['2', '1'],
  BENCH_LOADS: ['20:100,1000:100,1000:1000,10000:1000', '50:100'],
  BENCH_PLAIN_LOADS: ['1000:100', '50:100'],
  BENCH_SAME_SECOND_JOBS: ['10000', '200'],
  BENCH_SAME_SECOND_PERIOD_S: ['10', '3'],
  BENCH_SETUP_JOBS: ['100000', '1000'],
} as const;

function setting(name: keyof typeof CONFIG_ENV, quick: boolean): string {
  return process.env[name] ?? CONFIG_ENV[name][quick ? 1 : 0];
}

function positive(name: keyof typeof CONFIG_ENV, quick: boolean, integer = true): number {
  const text = setting(name, quick);
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new Error(`${name}="${text}": expected a positive ${integer ? 'whole ' : ''}number`);
  return n;
}

function loads(name: keyof typeof CONFIG_ENV, quick: boolean) {
  const text = setting(name, quick);
  return text
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((pair) => {
      const m = /^\s*(\d+):(\d+)\s*$/.exec(pair);
      const jobs = Number(m?.[1]);
      const concurrency = Number(m?.[2]);
      if (!m || jobs < 1 || concurrency < 1 || concurrency > 1000)
        throw new Error(
          `${name}="${text}": "${pair}" is not jobs:concurrency (e.g. 1000:100; concurrency 1 to 1000)`,
        );
      return { jobs, concurrency };
    });
}

function config(quick: boolean): CompareConfig {
  const period = positive('BENCH_SAME_SECOND_PERIOD_S', quick);
  if (60 % period !== 0)
    throw new Error(`BENCH_SAME_SECOND_PERIOD_S="${period}": must divide 60 (cron */${period})`);
  return {
    rounds: positive('BENCH_ROUNDS', quick),
    windowMs: positive('BENCH_WINDOW_S', quick) * 1000,
    idleWindowMs: positive('BENCH_IDLE_WINDOW_S', quick) * 1000,
    warmupMs: positive('BENCH_WARMUP_S', quick, false) * 1000,
    graceMs: positive('BENCH_GRACE_S', quick, false) * 1000,
    loads: loads('BENCH_LOADS', quick),
    plainLoads: loads('BENCH_PLAIN_LOADS', quick),
    burstJobs: positive('BENCH_SAME_SECOND_JOBS', quick),
    burstPeriodS: period,
    setupJobs: positive('BENCH_SETUP_JOBS', quick),
  };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** A file name not taken yet: `<base>.json`, else `<base>-2.json`, ... */
function freeBase(dir: string, base: string): string {
  for (let i = 1; ; i++) {
    const b = i === 1 ? base : `${base}-${i}`;
    if (!existsSync(path.join(dir, `${b}.json`)) && !existsSync(path.join(dir, `${b}.md`)))
      return path.join(dir, b);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const outAt = args.indexOf('--out');
  const outArg = outAt >= 0 ? args[outAt + 1] : undefined;
  if (outAt >= 0 && !outArg) throw new Error('--out needs a directory');
  const names = args.filter((a, i) => !a.startsWith('--') && !(outAt >= 0 && i === outAt + 1));
  const known = [...Object.keys(COMPARE), ...Object.keys(BATON_ONLY), 'all'];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const all = names.includes('all');
  const compare =
    all || names.length === 0 ? Object.keys(COMPARE) : names.filter((n) => n in COMPARE);
  const legacy = all ? Object.keys(BATON_ONLY) : names.filter((n) => n in BATON_ONLY);
  if (!existsSync(BATON_BIN))
    throw new Error(`${BATON_BIN} is missing: run \`npm run build\` first`);
  const cfg = config(quick);
  const fsync = process.env.BENCH_REDIS_FSYNC ?? 'everysec';
  if (!['always', 'everysec', 'no'].includes(fsync))
    throw new Error(`BENCH_REDIS_FSYNC="${fsync}": expected always, everysec or no`);
  const hz = Number(process.env.BENCH_REDIS_HZ ?? 10);
  if (!Number.isInteger(hz) || hz < 1 || hz > 500)
    throw new Error(`BENCH_REDIS_HZ="${process.env.BENCH_REDIS_HZ}": expected 1 to 500`);

  const outDir = outArg
    ? path.resolve(outArg)
    : quick
      ? mkdtempSync(path.join(os.tmpdir(), 'baton-bench-quick-'))
      : path.join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });

  const [etcd, redis] = await Promise.all([
    startEtcdNode(),
    startRedis({ extraArgs: ['--appendfsync', fsync] }),
  ]);
  const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  const env: Env = { etcd, redis, admin, quick, hz };
  const when = new Date().toISOString();
  const load0 = os.loadavg();
  const started = Date.now();
  const summaries: Summary[] = [];
  /** Scenarios that threw: the others are still written, and the run exits 1. */
  const failures: { scenario: string; error: string }[] = [];
  const base = freeBase(outDir, `${when.slice(0, 10)}-compare${quick ? '-quick' : ''}`);
  const versions = {
    node: process.version,
    redis: 'unknown',
    bullmq: sh('node', ['-p', "require('bullmq/package.json').version"]),
    etcd: sh('etcd', ['--version']).split('\n')[0] ?? 'unknown',
    baton: sh('git', ['rev-parse', '--short', 'HEAD']),
  };
  // Written after every scenario, so a late failure or an interrupted run keeps what was done.
  const write = () => {
    if (compare.length === 0) return;
    const machine = {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      loadavgStart: load0.map((x) => Math.round(x * 100) / 100),
      loadavgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
      shared:
        "a development machine shared with other developers' test runs: absolute figures are noisy; compare the two sides within this run",
    };
    const durationS = Math.round((Date.now() - started) / 1000);
    const json = {
      date: when,
      durationS,
      quick,
      redis: { appendfsync: fsync, hz },
      config: cfg,
      machine,
      versions,
      failures,
      scenarios: summaries,
    };
    writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
    const header = [
      `## baton vs BullMQ job schedulers — ${when}${quick ? ' (quick)' : ''}`,
      '',
      `${machine.cores} cores (${machine.cpu}), ${machine.memGiB} GiB; load average ${machine.loadavgStart.join(' ')} at start, ${machine.loadavgEnd.join(' ')} at the end: ${machine.shared}.`,
      `Node ${versions.node}, Redis ${versions.redis} (AOF on, appendfsync ${fsync}, hz ${hz} but where a scenario sets it), BullMQ ${versions.bullmq}, ${versions.etcd}, baton ${versions.baton}. ${cfg.rounds} round(s), sides alternating (baton, BullMQ, ...); ${durationS} s in all.`,
      'Cells: median (min – max) over the rounds; ratios are baton / BullMQ of the same round. Lag: scheduled instant -> handler start, as each handler saw it. CPU: /proc of each process, Redis from INFO cpu. "none ran": no run of the window\'s instants started within the grace period in any round.',
      ...failures.map((f) => `\n**${f.scenario} failed**: ${f.error}`),
    ];
    writeFileSync(`${base}.md`, `${markdown(summaries, header)}\n`);
  };
  try {
    await admin.config('SET', 'hz', String(hz));
    versions.redis = (await admin.info('server')).match(/redis_version:(\S+)/)?.[1] ?? 'unknown';
    for (const name of compare) {
      console.log(`[bench] ${name}`);
      try {
        await COMPARE[name]!(env, cfg, (run) => {
          summaries.push(summarise(run));
          write();
        });
      } catch (err) {
        console.error(`[bench] ${name} failed:`, err);
        failures.push({ scenario: name, error: (err as Error).message.slice(0, 2000) });
        write();
      }
    }
    if (legacy.length > 0) {
      legacyReport(
        `\n## ${when} — ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${legacy.join(', ')}\n`,
      );
      legacyReport('| scenario | result | design target |');
      legacyReport('| --- | --- | --- |');
      for (const name of legacy) await BATON_ONLY[name]!({ etcd, redis });
    }
  } finally {
    admin.disconnect();
    await Promise.allSettled([etcd.stopAll(), redis.stopAll()]);
    await stopAllProcesses();
    write();
    if (legacyLines.length > 0)
      appendFileSync(path.join(outDir, `${when.slice(0, 10)}.md`), `${legacyLines.join('\n')}\n`);
  }
  if (compare.length > 0) console.log(`[bench] results: ${base}.json and ${base}.md`);
  if (failures.length > 0) {
    console.error(`[bench] failed: ${failures.map((f) => f.scenario).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
