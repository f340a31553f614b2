// Worker CPU per run: baton's Worker against a plain BullMQ Worker with a no-op processor, on
// the same queue shape (jobs as the leader publishes them). Usage:
//   node --import tsx scripts/worker-overhead.ts <redisUrl> [runs=1000] [concurrency=100] [rounds=3]
// Prints, per round, CPU seconds (user+system) of this process spent while the runs drain.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { defineHandler, redisKeys, startWorker } from '../src/index.js';
import { Dispatcher } from '../src/dispatch/producer.js';
import type { OutboxEntry } from '../src/coordination/ledger.js';

const [redisUrl = 'redis://127.0.0.1:6379', runsArg = '1000', concArg = '100', roundsArg = '3'] =
  process.argv.slice(2);
const runs = Number(runsArg);
const concurrency = Number(concArg);
const rounds = Number(roundsArg);
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

let next = Date.now();
function entries(job: string, n: number): OutboxEntry[] {
  const base = next;
  next += n;
  return Array.from({ length: n }, (_, i) => {
    const fireId = `${job}@${base + i}`;
    return {
      id: fireId,
      batch: 'bench',
      revision: '1',
      order: {
        kind: 'run' as const,
        queue: 'baton',
        data: {
          job,
          scheduledAt: new Date(base + i).toISOString(),
          fireId,
          fencingToken: '1',
          leader: 'bench',
          payload: null,
          manual: false,
        },
        availableAt: 0,
        attempts: 1,
        backoff: { type: 'exponential' as const, delay: 1000 },
        keep: { ageSeconds: 3600, count: 1000 },
      },
    };
  });
}

async function fill(prefix: string, n: number): Promise<void> {
  const dispatcher = new Dispatcher(redis, redisKeys(prefix, 'baton'));
  for (let i = 0; i < n; i += 1000)
    await dispatcher.publish(entries('bench', Math.min(1000, n - i)));
  await dispatcher.close();
}

async function drain(kind: 'baton' | 'plain', prefix: string): Promise<number> {
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  let close: () => Promise<void>;
  const commands0 = await commandsProcessed();
  const cpu0 = process.cpuUsage();
  if (kind === 'baton') {
    const w = await startWorker({
      redisUrl,
      prefix,
      queues: ['baton'],
      jobsDir: null,
      concurrency,
      handlers: [defineHandler('bench', async () => undefined)],
      logger: pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination('/dev/null')),
    });
    w.on('run', () => {
      if (++done === runs) finish();
    });
    close = () => w.close();
  } else {
    const w = new BullWorker('baton', async () => undefined, {
      connection: { host: new URL(redisUrl).hostname, port: Number(new URL(redisUrl).port) },
      prefix,
      concurrency,
    });
    w.on('completed', () => {
      if (++done === runs) finish();
    });
    await w.waitUntilReady();
    close = () => w.close();
  }
  await all;
  const cpu = process.cpuUsage(cpu0);
  await close();
  commandsPerRun[kind]!.push(((await commandsProcessed()) - commands0) / runs);
  return (cpu.user + cpu.system) / 1e6;
}

/** Script calls (EVALSHA/EVAL) Redis has run so far: BullMQ and baton do their work in Lua. */
async function commandsProcessed(): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (m[1] === 'evalsha' || m[1] === 'eval') n += Number(m[2]);
  }
  return n;
}
const commandsPerRun: Record<string, number[]> = { baton: [], plain: [] };

const results: Record<string, number[]> = { baton: [], plain: [] };
for (let r = 0; r < rounds; r++) {
  for (const kind of (process.env.ONLY ? [process.env.ONLY] : ['baton', 'plain']) as (
    'baton' | 'plain'
  )[]) {
    const prefix = `bench-${kind}-${process.pid}-${r}`;
    await fill(prefix, runs);
    const session = process.env.PROFILE ? new Session() : null;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    results[kind]!.push(await drain(kind, prefix));
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${process.env.PROFILE}-${kind}-${r}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    }
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const b = median(results.baton!);
const p = median(results.plain!);
console.log(
  JSON.stringify({
    runs,
    concurrency,
    rounds,
    baton: results.baton,
    plain: results.plain,
    ratio: +(b / p).toFixed(2),
    commandsPerRun,
  }),
);
redis.disconnect();
