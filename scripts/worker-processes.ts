// Drain time and CPU of N baton worker processes on one queue. Usage:
//   node --import tsx scripts/worker-processes.ts <redisUrl> [runs=10000] [concurrency=100] [procs=1]
// The parent publishes the runs (as the leader does), starts the workers, and waits until all
// runs are completed; prints wall time from the workers' start and each worker's CPU seconds.
import { fork } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { defineHandler, redisKeys, startWorker } from '../src/index.js';
import { Dispatcher } from '../src/dispatch/producer.js';
import type { OutboxEntry } from '../src/coordination/ledger.js';

const [redisUrl = 'redis://127.0.0.1:6379', runsArg = '10000', concArg = '100', procsArg = '1'] =
  process.argv.slice(2);

if (process.env.WORKER_PREFIX) {
  const w = await startWorker({
    redisUrl,
    prefix: process.env.WORKER_PREFIX,
    queues: ['baton'],
    jobsDir: null,
    concurrency: Number(concArg),
    handlers: [defineHandler('bench', async () => undefined)],
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
  });
  const cpu0 = process.cpuUsage();
  process.send?.({ ready: true });
  process.on('message', () => {
    const cpu = process.cpuUsage(cpu0);
    process.send?.({ cpu: (cpu.user + cpu.system) / 1e6, runs: w.stats().completed ?? 0 });
    void w.close().then(() => process.exit(0));
  });
} else {
  const runs = Number(runsArg);
  const procs = Number(procsArg);
  const prefix = `procs-${process.pid}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const dispatcher = new Dispatcher(redis, redisKeys(prefix, 'baton'));
  const base = Date.now();
  for (let i = 0; i < runs; i += 1000) {
    const entries: OutboxEntry[] = Array.from({ length: Math.min(1000, runs - i) }, (_, k) => {
      const fireId = `bench@${base + i + k}`;
      return {
        id: fireId,
        batch: 'bench',
        revision: '1',
        order: {
          kind: 'run' as const,
          queue: 'baton',
          data: {
            job: 'bench',
            scheduledAt: new Date(base + i + k).toISOString(),
            fireId,
            fencingToken: '1',
            leader: 'bench',
            payload: null,
            manual: false,
          },
          availableAt: 0,
          attempts: 1,
          backoff: { type: 'exponential' as const, delay: 1000 },
          keep: { ageSeconds: 3600, count: 100_000 },
        },
      };
    });
    await dispatcher.publish(entries);
  }
  await dispatcher.close();
  // Start the workers paused on a pause flag? No: they start together and the clock starts when
  // the first is ready (the others' start-up overlaps the drain, as in a real fleet).
  await new Queue('baton', { connection: redis, prefix }).pause();
  const children = Array.from({ length: procs }, () =>
    fork(new URL(import.meta.url).pathname, process.argv.slice(2), {
      env: { ...process.env, WORKER_PREFIX: prefix },
      execArgv: ['--import', 'tsx'],
    }),
  );
  await Promise.all(children.map((c) => new Promise<void>((r) => c.once('message', () => r()))));
  const queue = new Queue('baton', { connection: redis, prefix });
  const t0 = Date.now();
  await queue.resume();
  for (;;) {
    const completed = await queue.getCompletedCount();
    if (completed >= runs) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const wallMs = Date.now() - t0;
  const reports = await Promise.all(
    children.map(
      (c) =>
        new Promise<{ cpu: number; runs: number }>((r) => {
          c.once('message', (m) => r(m as { cpu: number; runs: number }));
          c.send('stop');
        }),
    ),
  );
  console.log(
    JSON.stringify({
      runs,
      concurrency: Number(concArg),
      procs,
      wallMs,
      runsPerSecond: Math.round((runs / wallMs) * 1000),
      workers: reports,
      cpuTotal: +reports.reduce((a, b) => a + b.cpu, 0).toFixed(2),
    }),
  );
  const keys = await redis.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  await queue.close();
  redis.disconnect();
}
