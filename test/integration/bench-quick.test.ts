import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir, spawnManaged } from '../helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Spread {
  min: number;
  median: number;
  max: number;
}
interface Row {
  key: string;
  sides: Record<string, Spread>;
  ratio: Spread | null;
  plainRatio: Spread | null;
}
interface Summary {
  id: string;
  group: string;
  rows: Row[];
  rounds: { side: string; round: number; figures: Record<string, number> }[];
}

/** Every figure of every round, spread and ratio: where a scenario yielded NaN or nothing. */
function badNumbers(s: Summary): string[] {
  const bad: string[] = [];
  const check = (where: string, x: unknown) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) bad.push(`${s.id}: ${where} = ${String(x)}`);
  };
  for (const r of s.rounds)
    for (const [k, v] of Object.entries(r.figures)) check(`${r.side} round ${r.round} ${k}`, v);
  for (const row of s.rows) {
    for (const [side, spread] of Object.entries(row.sides))
      for (const [k, v] of Object.entries(spread)) check(`${row.key} ${side} ${k}`, v);
    for (const ratio of [row.ratio, row.plainRatio])
      if (ratio) for (const [k, v] of Object.entries(ratio)) check(`${row.key} ratio ${k}`, v);
  }
  return bad;
}

/**
 * Runs `bench/run.ts <args> --out <fresh temp dir>`, expects it to exit 0, and hands the
 * directory to `check`; the directory is removed afterwards.
 */
async function runBench(
  args: string[],
  env: NodeJS.ProcessEnv,
  check: (out: string) => Promise<void>,
): Promise<void> {
  const out = await makeTempDir('baton-bench-test-');
  try {
    const proc = spawnManaged({
      name: `bench ${args.join(' ')}`,
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), ...args, '--out', out],
      logFile: path.join(out, 'bench.log'),
      env: { ...process.env, ...env },
    });
    const exit = await proc.exited;
    expect(exit.code, `bench failed:\n${proc.logTail(60)}`).toBe(0);
    await check(out);
  } finally {
    await removeTempDir(out);
  }
}

// `npm run bench -- --quick` end to end, so the benchmark cannot rot: it starts its own etcd and
// Redis, runs every side-by-side scenario once at small sizes and writes JSON and Markdown; and
// the worker scenarios, small, which write Markdown rows. No timing is asserted: only that every
// scenario ran and produced numbers.
describe('npm run bench at small sizes', () => {
  it('runs every side-by-side scenario and writes numeric results', { timeout: 420_000 }, () =>
    runBench(['--quick'], {}, async (out) => {
      const files = await readdir(out);
      const jsonFile = files.find((f) => f.endsWith('-compare-quick.json'));
      expect(files.some((f) => f.endsWith('-compare-quick.md'))).toBe(true);
      expect(jsonFile).toBeDefined();
      const json = JSON.parse(await readFile(path.join(out, jsonFile!), 'utf8')) as {
        quick: boolean;
        failures: unknown[];
        scenarios: Summary[];
      };
      expect(json.quick).toBe(true);
      expect(json.failures).toEqual([]);
      const groups = new Set(json.scenarios.map((s) => s.group));
      expect([...groups].sort()).toEqual([
        'every-second',
        'floors',
        'idle',
        'same-second',
        'setup',
      ]);
      for (const s of json.scenarios) {
        expect(s.rows.length, s.id).toBeGreaterThan(0);
        const sides = new Set(s.rounds.map((r) => r.side));
        if (s.group === 'floors') expect([...sides]).toEqual(['floor']);
        else {
          expect(sides.has('baton') && sides.has('bullmq'), s.id).toBe(true);
          // Every figure both sides have a process for is there for both (the scheduler and
          // etcd rows are baton's alone).
          const shared = s.rows.filter((r) => !['cpu_scheduler', 'cpu_etcd'].includes(r.key));
          for (const row of shared)
            expect(Object.keys(row.sides), `${s.id} ${row.key}`).toEqual(
              expect.arrayContaining(['baton', 'bullmq']),
            );
        }
        expect(badNumbers(s)).toEqual([]);
      }
      const worker = json.scenarios
        .filter((s) => s.group === 'every-second')
        .flatMap((s) => s.rows)
        .find((r) => r.key === 'cpu_worker' && r.plainRatio !== null);
      expect(worker, 'worker-overhead ratio against a plain BullMQ worker').toBeDefined();
    }),
  );

  it(
    'runs the worker scenarios (worker-overhead, worker-processes) and writes their rows',
    { timeout: 300_000 },
    () =>
      runBench(
        ['worker-overhead', 'worker-processes'],
        {
          BENCH_WORKER_RUNS: '200',
          BENCH_WORKER_ROUNDS: '1',
          BENCH_WORKER_PROCS_RUNS: '500',
          BENCH_WORKER_PROCS: '1,2',
        },
        async (out) => {
          const file = (await readdir(out)).find((f) => /^\d{4}-\d\d-\d\d\.md$/.test(f));
          expect(file).toBeDefined();
          const rows = (await readFile(path.join(out, file!), 'utf8'))
            .split('\n')
            .filter((l) => /^\| (worker overhead|\d baton worker)/.test(l));
          expect(rows.map((r) => r.split(' | ')[0])).toEqual([
            '| worker overhead: 200 no-op runs drained in process, concurrency 100, 1 round(s)',
            '| 1 baton worker process(es), concurrency 100 each: 500 no-op runs on one queue',
            '| 2 baton worker process(es), concurrency 100 each: 500 no-op runs on one queue',
          ]);
          for (const r of rows) expect(r).not.toMatch(/NaN|Infinity|undefined/);
          expect(rows[0]).toMatch(/ratio \d+(\.\d+)? /);
          expect(rows[1]).toMatch(/drained in \d+ ms \(\d+ runs\/s\)/);
        },
      ),
  );
});
