// Run recorder shared by the benchmark's two workers (bench/handlers.mjs in `baton worker`, and
// bench/bullmq-child.mjs's plain BullMQ Worker), so both sides pay the same for being measured:
// one array push per run, and one append(2) of the buffered runs every 200 ms.
// Each line of the file named by BENCH_RECORD is `[[instantMs, handlerStartMs], ...]`.
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';

const file = process.env.BENCH_RECORD;
let buffer = [];

function flush() {
  if (buffer.length === 0 || !file) return;
  const runs = buffer;
  buffer = [];
  appendFileSync(file, `${JSON.stringify(runs)}\n`);
}

if (file) {
  setInterval(flush, 200).unref();
  process.once('exit', flush);
}

/** Records one handler start for the run due at `instantMs`. */
export function record(instantMs) {
  buffer.push([instantMs, Date.now()]);
}
