import type { Command } from 'commander';
import { formatProblem } from '../errors.js';
import { loadDefinitions } from '../definitions/index.js';
import { ExitError, EXIT } from './exit.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'check every job definition in a folder; one line per problem (file:line:col: message)',
    )
    .argument('[dir]', 'folder of job definitions (default: --jobs / BATON_JOBS / ./jobs)')
    .option('--json', 'print { jobs, calendars, problems } as JSON')
    .action(async (dir: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const folder =
        dir ?? cmd.optsWithGlobals<{ jobs?: string }>().jobs ?? process.env.BATON_JOBS ?? './jobs';
      const result = await loadDefinitions(folder);
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ jobs: result.jobs.map((j) => j.name), calendars: result.calendars.map((c) => c.name), problems: result.problems }, null, 2)}\n`,
        );
      } else if (result.problems.length > 0) {
        for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
      } else {
        const calendars =
          result.calendars.length > 0 ? ` and ${result.calendars.length} calendar(s)` : '';
        process.stdout.write(`${result.jobs.length} job(s)${calendars} valid in ${folder}\n`);
      }
      if (result.problems.length > 0) throw new ExitError(EXIT.failure);
    });
}
