/** Measuring helpers shared by the benchmark's scenarios: percentiles, CPU and memory readings. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** Min, median and max of the finite values (a round where nothing ran has NaN: left out). */
export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    min: finite.length === 0 ? NaN : Math.min(...finite),
    median: median(finite),
    max: finite.length === 0 ? NaN : Math.max(...finite),
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat), NaN if it is gone. */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Peak resident set (VmHWM) of a live process in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 'NaN') / 1024);
}

/** Parses `INFO <section>` into numbers where the value is one. */
export async function redisInfo(redis: Redis, section: string): Promise<Record<string, number>> {
  const text = await redis.info(section);
  const out: Record<string, number> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** CPU seconds Redis has used (`INFO cpu`: used_cpu_sys + used_cpu_user, main and I/O threads). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const cpu = await redisInfo(redis, 'cpu');
  return (cpu.used_cpu_sys ?? NaN) + (cpu.used_cpu_user ?? NaN);
}

export async function redisUsedMemory(redis: Redis): Promise<number> {
  return (await redisInfo(redis, 'memory')).used_memory ?? NaN;
}

/** One recorded run: [scheduled instant, handler start], epoch ms. */
export type Run = [number, number];

/** Every run written so far by bench/recorder.mjs into `file` (none if it does not exist yet). */
export async function readRuns(file: string): Promise<Run[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const runs: Run[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    for (const r of JSON.parse(line) as Run[]) runs.push(r);
  }
  return runs;
}

/** Resolves at the next whole second plus `offsetMs`. */
export function untilNextSecond(offsetMs = 0): Promise<number> {
  const now = Date.now();
  const at = Math.ceil(now / 1000) * 1000 + offsetMs;
  return sleepUntil(at);
}

/** Resolves at epoch ms `at` (a deadline of the measurement, not a wait for a condition). */
export function sleepUntil(at: number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(at), Math.max(0, at - Date.now())));
}
