import type { Command } from 'commander';
import { operatorName, pauseJob } from '../control/commands.js';
import { printJson, withControl } from './output.js';

export function registerPause(program: Command): void {
  program
    .command('pause')
    .description('pause a job: the leader skips (and records) its fires until it is resumed')
    .argument('<job>', 'job name')
    .option('--reason <text>', 'why (shown in status and the dashboard)')
    .option('--json', 'print the pause record as JSON')
    .action(async (job: string, opts: { reason?: string; json?: boolean }, cmd: Command) => {
      const record = await withControl(cmd, (ctx) =>
        pauseJob(ctx, job, operatorName(), opts.reason ?? null),
      );
      if (opts.json) printJson({ job, ...record });
      else process.stdout.write(`paused ${job}${record.reason ? ` (${record.reason})` : ''}\n`);
    });
}
