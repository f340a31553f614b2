import type { Command } from 'commander';
import {
  backfillLimits,
  checkBackfillId,
  decidedOf,
  parseOverlap,
  parseRate,
  type BackfillRecord,
} from '../coordination/backfills.js';
import {
  cancelBackfill,
  getBackfill,
  planBackfill,
  requestBackfill,
  listBackfills,
  type BackfillInput,
} from '../control/backfill.js';
import { operatorName } from '../control/commands.js';
import { loadDefinitions } from '../definitions/index.js';
import { formatProblem, UsageError } from '../errors.js';
import { excerpt } from '../text.js';
import { ExitError, EXIT } from './exit.js';
import { configOf, printJson, printTable, withControl, withRedis } from './output.js';

interface BackfillOptions {
  from?: string;
  to?: string;
  dryRun?: boolean;
  overlap?: string;
  rate?: string;
  json?: boolean;
}

function progress(r: BackfillRecord): string {
  const s = r.skipped;
  const skipped = s.alreadyRan + s.overlap + s.notDue;
  return `${r.enqueued} enqueued, ${skipped} skipped (already ran ${s.alreadyRan}, overlap ${s.overlap}, not due ${s.notDue}) of ${r.total ?? '?'}`;
}

/** The STATE column: the state, and why it failed or who cancelled it. */
export function stateText(r: BackfillRecord): string {
  if (r.state === 'cancelled' && r.cancel) return `cancelled by ${r.cancel.by} at ${r.cancel.at}`;
  return r.error ? `${r.state}: ${r.error}` : r.state;
}

/** `baton backfill cancel <id>`: exit 0 once the cancel is committed, 1 when already finished. */
async function cancel(id: string | undefined, opts: BackfillOptions, cmd: Command): Promise<void> {
  if (id === undefined) {
    throw new UsageError(
      'baton backfill cancel needs the id of a backfill (baton backfills lists them)',
    );
  }
  checkBackfillId(id);
  const extra = (['from', 'to', 'dryRun', 'overlap', 'rate'] as const).find(
    (k) => opts[k] !== undefined,
  );
  if (extra !== undefined) {
    throw new UsageError(
      `baton backfill cancel takes an id and --json only, not --${extra === 'dryRun' ? 'dry-run' : extra}`,
    );
  }
  const result = await withControl(cmd, (ctx) => cancelBackfill(ctx, id, operatorName()));
  if (result.outcome === 'unknown') throw new UsageError(`no backfill ${id}`);
  const r = result.record;
  if (opts.json) printJson(r);
  if (result.outcome === 'finished') {
    process.stderr.write(
      `backfill ${id} of ${r.job} is already ${r.state}${r.state === 'cancelled' && r.cancel ? ` (by ${r.cancel.by} at ${r.cancel.at})` : ''}: nothing to cancel\n`,
    );
    throw new ExitError(EXIT.failure);
  }
  if (!opts.json) {
    process.stdout.write(
      `backfill ${id} of ${r.job} cancelled: ${decidedOf(r)} of ${r.total ?? '?'} instants were decided before the cancel (${r.enqueued} enqueued; they run), no later instant will be enqueued\n`,
    );
  }
}

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description(
      'run the instants of a job in a past range [from, to] now, decided by the leader as <job>@backfill-<epochMs>',
    )
    .usage('<job> --from <iso> --to <iso> [options]\n       baton backfill cancel <id> [--json]')
    .argument('<job>', 'job name, or cancel to cancel a backfill')
    .argument('[id]', 'with cancel: the backfill to cancel (pending or running)')
    .option('--from <iso>', 'first instant considered (included), e.g. 2026-11-01T00:00:00Z')
    .option('--to <iso>', 'last instant considered (included); not in the future')
    .option('--dry-run', 'print the plan (instants, what already ran) and change nothing')
    .option(
      '--overlap <mode>',
      'allow | forbid | buffer (default: allow for a job with overlap: allow, else buffer)',
    )
    .option('--rate <n/s>', 'runs enqueued per second at most (default 10/s)')
    .option('--json', 'print the request record (or, with --dry-run, the plan) as JSON')
    .action(async (job: string, id: string | undefined, opts: BackfillOptions, cmd: Command) => {
      // `cancel <id>`; a job named cancel is backfilled as usual (--from/--to, no id).
      if (
        job === 'cancel' &&
        (id !== undefined || (opts.from === undefined && opts.to === undefined))
      )
        return cancel(id, opts, cmd);
      if (id !== undefined) {
        throw new UsageError(
          `baton backfill takes one job name; got also ${excerpt(id)} (to cancel: baton backfill cancel <id>)`,
        );
      }
      const limits = backfillLimits();
      const input: BackfillInput = { job, from: opts.from, to: opts.to, by: operatorName() };
      if (opts.overlap !== undefined) input.overlap = parseOverlap(opts.overlap);
      if (opts.rate !== undefined) input.rate = parseRate(opts.rate, limits);
      const config = configOf(cmd);
      const loaded = await loadDefinitions(config.jobsDir);
      for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
      if (opts.dryRun) {
        const plan = await withRedis(config, 'read what already ran', (redis) =>
          withControl(cmd, (ctx) => planBackfill(ctx, redis, loaded.jobs, input)),
        );
        if (opts.json) {
          printJson(plan);
          return;
        }
        process.stdout.write(
          `dry run: backfill of ${plan.job} from ${plan.from} to ${plan.to} (overlap ${plan.overlap}, ${plan.rate}/s): ${plan.count} instants, ${plan.run} would run, ${plan.alreadyRan} already ran, ${plan.notDue} not yet decided by the scheduler; nothing changed\n`,
        );
        printTable(
          ['INSTANT', 'ACTION', 'FIRE'],
          plan.instants.map((i) => [
            i.at,
            i.action,
            i.action === 'already-ran' ? `${i.ranAs} ran` : i.fireId,
          ]),
        );
        return;
      }
      const record = await withControl(cmd, (ctx) => requestBackfill(ctx, loaded.jobs, input));
      if (opts.json) printJson(record);
      else
        process.stdout.write(
          `backfill ${record.id} of ${record.job} from ${record.from} to ${record.to} requested (overlap ${record.overlap}, ${record.rate}/s); the leader enqueues it; follow it with baton backfills ${record.id}\n`,
        );
    });

  program
    .command('backfills')
    .description('backfill requests and their progress (oldest first), or one with its id')
    .argument('[id]', 'one backfill request')
    .option('--json', 'print the record(s) as JSON (the shape of GET /api/v1/backfills)')
    .action(async (id: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      if (id !== undefined) checkBackfillId(id);
      const records = await withControl(cmd, async (ctx) =>
        id === undefined ? listBackfills(ctx) : [await getBackfill(ctx, id)],
      );
      if (id !== undefined && records[0] === null) throw new UsageError(`no backfill ${id}`);
      const list = records as BackfillRecord[];
      if (opts.json) {
        printJson(id === undefined ? { backfills: list } : list[0]);
        return;
      }
      if (list.length === 0) {
        process.stdout.write('no backfills\n');
        return;
      }
      printTable(
        ['ID', 'JOB', 'FROM', 'TO', 'STATE', 'PROGRESS', 'BY'],
        list.map((r) => [r.id, r.job, r.from, r.to, stateText(r), progress(r), r.by]),
      );
    });
}
