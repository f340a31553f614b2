import type { Command } from 'commander';
import { operatorName, triggerJob } from '../control/commands.js';
import { UsageError } from '../errors.js';
import { manualFireId } from '../fire.js';
import { printJson, withControl } from './output.js';

export function registerTrigger(program: Command): void {
  program
    .command('trigger')
    .description('run a job now: the leader enqueues it once, fenced, as <job>@manual-<id>')
    .argument('<job>', 'job name')
    .option('--payload <json>', "payload for this run instead of the definition's")
    .option('--json', 'print the trigger record as JSON')
    .action(async (job: string, opts: { payload?: string; json?: boolean }, cmd: Command) => {
      let payload: unknown;
      if (opts.payload !== undefined) {
        try {
          payload = JSON.parse(opts.payload);
        } catch {
          throw new UsageError('--payload must be JSON, e.g. \'{"customers":["c-1"]}\'');
        }
      }
      const record = await withControl(cmd, (ctx) => triggerJob(ctx, job, operatorName(), payload));
      if (opts.json) printJson({ ...record, fireId: manualFireId(job, record.id) });
      else
        process.stdout.write(
          `triggered ${job}: run ${manualFireId(job, record.id)} will be enqueued by the leader\n`,
        );
    });
}
