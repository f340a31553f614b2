// The BullMQ side of the benchmark, as its own process (plain JavaScript, like the built
// `baton worker`), so its CPU and memory are measured apart from the benchmark's:
//
//   node bench/bullmq-child.mjs upsert <redisUrl> <prefix> <queue> <count> <pattern> <keep>
//     upsertJobScheduler s0..s<count-1> with { pattern } and a template that keeps `keep`
//     finished jobs (baton's default retention), 256 calls in flight; prints one JSON line
//     { "upserted": count, "ms": ..., "peakRssMb": ... } and exits.
//   node bench/bullmq-child.mjs worker <redisUrl> <prefix> <queue> <concurrency>
//     one plain BullMQ Worker whose processor records its start (bench/recorder.mjs) and returns;
//     the run's instant is the scheduler's `prevMillis` (or baton's `scheduledAt`, when it
//     consumes baton's queue). Prints "worker ready"; closes on SIGTERM.
import console from 'node:console';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { record } from './recorder.mjs';

const [mode, redisUrl, prefix, queueName, ...rest] = process.argv.slice(2);
const url = new URL(redisUrl);
const connection = {
  host: url.hostname,
  port: Number(url.port),
  maxRetriesPerRequest: null,
};

function peakRssMb() {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 'NaN') / 1024);
}

if (mode === 'upsert') {
  const [count, pattern, keep] = [Number(rest[0]), rest[1], Number(rest[2])];
  const queue = new Queue(queueName, { connection, prefix });
  await queue.waitUntilReady();
  const template = {
    name: 'bench',
    data: {},
    opts: {
      removeOnComplete: { age: 7 * 86_400, count: keep },
      removeOnFail: { age: 7 * 86_400, count: keep },
    },
  };
  const started = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await queue.upsertJobScheduler(`s${i}`, { pattern }, template);
    }
  };
  await Promise.all(Array.from({ length: Math.min(256, count) }, lane));
  const ms = Date.now() - started;
  console.log(JSON.stringify({ upserted: count, ms, peakRssMb: peakRssMb() }));
  await queue.close();
  process.exit(0);
} else if (mode === 'worker') {
  const concurrency = Number(rest[0]);
  const worker = new Worker(
    queueName,
    async (job) => {
      const instant = job.opts.prevMillis ?? Date.parse(job.data.scheduledAt);
      record(instant);
      return null;
    },
    { connection, prefix, concurrency },
  );
  worker.on('error', (err) => console.error('worker error', err.message));
  await worker.waitUntilReady();
  console.log('worker ready');
  process.once('SIGTERM', () => {
    void worker.close().finally(() => process.exit(0));
  });
} else {
  console.error(`unknown mode ${mode}: upsert or worker`);
  process.exit(2);
}
