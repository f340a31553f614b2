import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { UnknownJobError, UsageError } from '../errors.js';
import { loadDefinitions } from '../definitions/index.js';
import { compileSchedule, formatInstant, nextFires } from '../schedule/index.js';
import { ExitError, EXIT } from './exit.js';
import { formatProblem } from '../errors.js';

/** Parses `--from`: ISO 8601 with an offset or Z; a bare local time is read in the job's zone. */
export function parseFrom(text: string, zone: string): number {
  const dt = DateTime.fromISO(text, { zone, setZone: true });
  if (!dt.isValid) {
    throw new UsageError(
      `--from "${text}" is not an ISO 8601 time (e.g. 2024-03-10T01:00:00-05:00)`,
    );
  }
  return dt.toMillis();
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
            `--count must be a whole number from 1 to 10000, got "${opts.count}"`,
          );
        }
        const result = await loadDefinitions(folder);
        const job = result.jobs.find((j) => j.name === name);
        if (!job) {
          for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
          throw new UnknownJobError(name);
        }
        const from = opts.from === undefined ? Date.now() : parseFrom(opts.from, job.timezone);
        const fires = nextFires(compileSchedule(job.schedule, job.timezone), from, count).map(
          (ms) => formatInstant(ms, job.timezone),
        );
        if (opts.json) process.stdout.write(`${JSON.stringify(fires)}\n`);
        else process.stdout.write(fires.map((f) => `${f}\n`).join(''));
        if (fires.length === 0) throw new ExitError(EXIT.failure);
      },
    );
}
