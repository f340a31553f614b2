import type { Command } from 'commander';
import { auditJobs, auditRange, type AuditBackfill, type JobAudit } from '../control/audit.js';
import { loadDefinitions, parseDuration } from '../definitions/index.js';
import { formatProblem, UnknownJobError, UsageError } from '../errors.js';
import { EXIT, ExitError } from './exit.js';
import { configOf, paint, printJson, printTable, withControl, withRedis } from './output.js';

function summaryLine(a: JobAudit): string {
  const c = a.counts;
  const parts = [
    `${a.expected} expected`,
    `${c.ran} ran once`,
    c['re-executed'] > 0 ? `${c['re-executed']} re-executed after a worker died` : '',
    c.skipped > 0
      ? `${c.skipped} skipped (${Object.entries(a.skippedBy)
          .map(([r, n]) => `${r} ${n}`)
          .join(', ')})`
      : '',
    c.refused > 0 ? `${c.refused} refused` : '',
    c.pending > 0 ? `${c.pending} pending` : '',
    c.missing > 0 ? paint(`${c.missing} MISSING`, 'red') : '',
    c.duplicate > 0 ? paint(`${c.duplicate} RAN TWICE`, 'red') : '',
    a.unaccounted.length > 0 ? paint(`${a.unaccounted.length} unaccounted executions`, 'red') : '',
    a.manual > 0 ? `${a.manual} manual` : '',
    a.backfill > 0 ? `${a.backfill} backfill runs` : '',
    a.backfillDuplicates.length > 0
      ? paint(`${a.backfillDuplicates.length} backfill runs RAN TWICE`, 'red')
      : '',
  ].filter((p) => p !== '');
  return `${a.ok ? paint('ok', 'green') : paint('NOT OK', 'red')} ${a.job}: ${parts.join(', ')}`;
}

/** One backfill request of the job: its state, and for a cancel who and how far it got. */
function backfillLine(b: AuditBackfill): string {
  const of = `${b.decided} of ${b.total ?? '?'} instants decided, ${b.enqueued} enqueued`;
  if (b.state === 'cancelled' && b.cancel) {
    return `backfill ${b.id} ${paint('cancelled', 'yellow')} by ${b.cancel.by} at ${b.cancel.at}: ${b.cancel.decided} of ${b.total ?? '?'} instants decided before the cancel, ${b.enqueued} enqueued (they ran or run); none after`;
  }
  return `backfill ${b.id} ${b.state} (by ${b.by}): ${of}`;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      'for every instant in a range: ran once, skipped (why), refused, or missing; exit 0 only when all are accounted for',
    )
    .argument('[job]', 'one job (default: every job of the definitions)')
    .option('--from <iso>', 'start of the range (default: 24 hours before --to)')
    .option('--to <iso>', 'end of the range (default: now)')
    .option('--all', 'list every instant, not only those that did not simply run once')
    .option(
      '--grace <duration>',
      'a decided fire this recent without a record is pending, not missing',
      '60s',
    )
    .option('--json', 'print { jobs: [...] } as JSON (the shape of GET /api/v1/audit)')
    .action(
      async (
        job: string | undefined,
        opts: { from?: string; to?: string; all?: boolean; json?: boolean; grace: string },
        cmd: Command,
      ) => {
        const range = auditRange(opts.from, opts.to);
        let graceMs: number;
        try {
          graceMs = parseDuration(opts.grace, '--grace');
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        const config = configOf(cmd);
        const loaded = await loadDefinitions(config.jobsDir);
        for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
        const defs = job === undefined ? loaded.jobs : loaded.jobs.filter((d) => d.name === job);
        if (job !== undefined && defs.length === 0) throw new UnknownJobError(job);
        const audits = await withRedis(config, 'read the run history', (redis) =>
          withControl(cmd, (ctx) =>
            auditJobs(ctx, redis, defs, { ...range, all: opts.all, graceMs }),
          ),
        );
        if (opts.json) {
          printJson({ jobs: audits });
        } else {
          for (const a of audits) {
            process.stdout.write(`${summaryLine(a)}\n`);
            for (const b of a.backfills) process.stdout.write(`  ${backfillLine(b)}\n`);
            if (a.instants.length > 0) {
              printTable(
                ['INSTANT', 'OUTCOME', 'EXECUTIONS', 'DETAIL'],
                a.instants.map((i) => [i.at, i.outcome, String(i.executions), i.reason ?? '-']),
              );
            }
            for (const u of a.unaccounted)
              process.stdout.write(
                `  unaccounted: ${u.fireId} started ${u.startedAt} (${u.status})\n`,
              );
          }
        }
        if (audits.some((a) => !a.ok) || loaded.problems.length > 0)
          throw new ExitError(EXIT.failure);
      },
    );
}
