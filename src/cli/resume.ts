import type { Command } from 'commander';
import { resumeJob } from '../control/commands.js';
import { printJson, withControl } from './output.js';

export function registerResume(program: Command): void {
  program
    .command('resume')
    .description('resume a paused job from its next instant (the paused period is not replayed)')
    .argument('<job>', 'job name')
    .option('--json', 'print the lifted pause as JSON')
    .action(async (job: string, opts: { json?: boolean }, cmd: Command) => {
      const lifted = await withControl(cmd, (ctx) => resumeJob(ctx, job));
      if (opts.json) printJson({ job, resumed: lifted !== null, pause: lifted });
      else process.stdout.write(lifted ? `resumed ${job}\n` : `${job} was not paused\n`);
    });
}
