import type { Command } from 'commander';
import { listJobs, type JobSummary } from '../control/jobs.js';
import { loadDefinitions } from '../definitions/index.js';
import { formatProblem } from '../errors.js';
import { ExitError, EXIT } from './exit.js';
import { ago, configOf, paint, printJson, printTable, withControl, withRedis } from './output.js';

function pausedCell(j: JobSummary): string {
  if (!j.paused) return '-';
  const why = j.paused.reason ? `: ${j.paused.reason}` : '';
  return paint(`paused by ${j.paused.by}${why}`, 'yellow');
}

function lastRunCell(j: JobSummary): string {
  const r = j.lastRun;
  if (!r || r.kind !== 'run') return '-';
  const colour =
    r.status === 'completed'
      ? 'green'
      : r.status === 'running'
        ? 'bold'
        : r.status === 'skipped'
          ? 'yellow'
          : 'red';
  return `${paint(r.status, colour)} ${ago(r.startedAt)}`;
}

export function registerJobs(program: Command): void {
  program
    .command('jobs')
    .description(
      'every job of the definitions: schedule in words, zone, next fire, paused, last run status',
    )
    .option('--json', 'print { jobs: [...] } as JSON (the shape of GET /api/v1/jobs)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const loaded = await loadDefinitions(config.jobsDir);
      for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
      const jobs: JobSummary[] = await withRedis(config, 'read the last runs', (redis) =>
        withControl(cmd, (ctx) => listJobs(ctx, redis, loaded.jobs)),
      );
      if (opts.json) {
        printJson({ jobs });
      } else if (jobs.length === 0) {
        process.stdout.write(`no jobs defined in ${config.jobsDir}\n`);
      } else {
        printTable(
          ['JOB', 'SCHEDULE', 'ZONE', 'NEXT FIRE', 'PAUSED', 'LAST RUN'],
          jobs.map((j) => [
            j.name,
            j.scheduleText,
            j.timezone,
            j.nextFires[0] ?? '-',
            pausedCell(j),
            lastRunCell(j),
          ]),
        );
      }
      // The list is incomplete when some definitions are invalid.
      if (loaded.problems.length > 0) throw new ExitError(EXIT.failure);
    });
}
