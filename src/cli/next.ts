import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { UnknownJobError, UsageError } from '../errors.js';
import { loadDefinitions, type LoadResult } from '../definitions/index.js';
import { compileSchedule, formatInstant, nextFires } from '../cron/index.js';
import { excerpt } from '../text.js';
import { ExitError, EXIT } from './exit.js';
import { formatProblem } from '../errors.js';

/** The last instant `--from` may name: fires are searched up to the end of year 9999. */
const LAST_FROM = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Parses `--from`: ISO 8601 with an offset or Z; a bare local time is read in the job's zone.
 * The offset must be a real one (at most ±18:00, minutes 00-59); the instant must lie in years
 * 1970-9999.
 */
export function parseFrom(text: string, zone: string): number {
  const bad = (why: string): never => {
    throw new UsageError(`--from ${excerpt(text)} ${why} (e.g. 2024-03-10T01:00:00-05:00)`);
  };
  if (text.length > 64) bad('is not an ISO 8601 time');
  const offset = /([+-])(\d{2}):?(\d{2})$/.exec(text);
  if (offset && /T/i.test(text)) {
    const hours = Number(offset[2]);
    const minutes = Number(offset[3]);
    if (minutes > 59 || hours * 60 + minutes > 18 * 60) {
      bad('has an offset beyond ±18:00 (no zone is that far from UTC)');
    }
  }
  const dt = DateTime.fromISO(text, { zone, setZone: true });
  if (!dt.isValid) bad('is not an ISO 8601 time');
  const ms = dt.toMillis();
  if (ms < 0 || ms >= LAST_FROM) bad('is outside the years 1970 to 9999');
  return ms;
}

/**
 * Why a job named in a definitions file is not loaded (its file has problems, or another file
 * declares the same name), as a usage error naming where it is defined; null when no file
 * declares it.
 */
export function rejectedJob(name: string, result: LoadResult): UsageError | null {
  const declared = [...result.files.values()].flatMap((f) =>
    f.names.filter((n) => n.name === name),
  );
  if (declared.length === 0) return null;
  const at = declared.map((n) => `${n.file}:${n.line}:${n.col}`).join(', ');
  const own = declared.flatMap((n) => result.files.get(n.file)?.problems ?? []);
  const why =
    own.length > 0
      ? `its file has ${own.length === 1 ? 'a problem' : `${own.length} problems`} (listed above; a file with any problem loads no job)`
      : 'more than one file declares it (listed above)';
  return new UsageError(`job ${excerpt(name)} (${at}) was rejected by validation: ${why}`);
}

export function registerNext(program: Command): void {
  program
    .command('next')
    .description('print the next fire instants of a job (pure: reads only the definitions)')
    .argument('<job>', 'job name')
    .option('--from <iso>', 'start strictly after this instant (default now)')
    .option('--count <n>', 'how many instants', '5')
    .option('--json', 'print a JSON array of ISO strings')
    .action(
      async (
        name: string,
        opts: { from?: string; count: string; json?: boolean },
        cmd: Command,
      ) => {
        const folder =
          cmd.optsWithGlobals<{ jobs?: string }>().jobs ?? process.env.BATON_JOBS ?? './jobs';
        const count = Number(opts.count);
        if (!Number.isInteger(count) || count < 1 || count > 10_000) {
          throw new UsageError(
            `--count must be a whole number from 1 to 10000, got ${excerpt(opts.count)}`,
          );
        }
        const result = await loadDefinitions(folder);
        const job = result.jobs.find((j) => j.name === name);
        if (!job) {
          for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
          throw rejectedJob(name, result) ?? new UnknownJobError(name);
        }
        const from = opts.from === undefined ? Date.now() : parseFrom(opts.from, job.timezone);
        const fires = nextFires(compileSchedule(job.schedule, job.timezone), from, count).map(
          (ms) => formatInstant(ms, job.timezone),
        );
        if (opts.json) process.stdout.write(`${JSON.stringify(fires)}\n`);
        else process.stdout.write(fires.map((f) => `${f}\n`).join(''));
        if (fires.length === 0) {
          process.stderr.write(
            `baton: ${name} has no fire after ${formatInstant(from, job.timezone)} (fires are computed up to the end of year 9999)\n`,
          );
          throw new ExitError(EXIT.failure);
        }
      },
    );
}
