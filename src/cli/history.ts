import type { Command } from 'commander';
import { NAME_PATTERN, NAME_RULE } from '../definitions/index.js';
import { UsageError } from '../errors.js';
import { redisKeysOf } from '../redis/keys.js';
import { excerpt } from '../text.js';
import { readHistory, type HistoryEntry, type JobHistory } from '../worker/index.js';
import { configOf, paint, printJson, printTable, withRedis } from './output.js';

function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1_000)}s`;
}

function statusColour(status: string): string {
  const colour =
    status === 'completed'
      ? 'green'
      : status === 'running'
        ? 'bold'
        : status === 'skipped'
          ? 'yellow'
          : 'red';
  return paint(status, colour);
}

function summary(h: JobHistory): string {
  const order = ['completed', 'failed', 'stale', 'skipped', 'aborted'];
  const runs = order
    .filter((k) => (h.counts[k] ?? 0) > 0)
    .map((k) => `${h.counts[k]} ${k}`)
    .join(', ');
  const skips = Object.entries(h.skipCounts)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const total = h.skipCounts.total ?? 0;
  return `history of ${h.job}: runs ${runs || 'none'}; skipped fires ${total}${skips ? ` (${skips})` : ''}`;
}

function row(e: HistoryEntry): string[] {
  if (e.kind === 'skip') {
    const fires = e.count === 1 ? e.first : `${e.first} .. ${e.last} (${e.count})`;
    const why = e.detail ? `${e.reason}: ${e.detail}` : e.reason;
    return [e.decidedAt, fires, '-', statusColour('skipped'), '-', e.leader, e.token, why];
  }
  const status = e.status === 'failed' && e.willRetry ? `${e.status} (retrying)` : e.status;
  const detail = [e.backfill === undefined ? null : `backfill ${e.backfill}`, e.reason, e.error]
    .filter((x) => x !== null && x !== '')
    .join(': ');
  return [
    e.startedAt,
    e.fireId,
    String(e.attempt),
    statusColour(status),
    duration(e.durationMs),
    e.worker,
    e.token,
    detail || '-',
  ];
}

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('recent runs of a job (start, end, status, worker, attempt) and skipped fires')
    .argument('<job>', 'job name')
    .option('--limit <n>', 'most entries shown, newest first', '20')
    .option('--json', 'print { job, entries, counts, skipCounts } as JSON')
    .action(async (job: string, opts: { limit: string; json?: boolean }, cmd: Command) => {
      if (!NAME_PATTERN.test(job)) throw new UsageError(`job name ${excerpt(job)}: ${NAME_RULE}`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new UsageError(
          `--limit must be a whole number from 1 to 10000, got ${excerpt(opts.limit)}`,
        );
      }
      const config = configOf(cmd);
      const history: JobHistory = await withRedis(config, 'read the history', (redis) =>
        readHistory(redis, redisKeysOf(config), job, { limit }),
      );
      if (opts.json) {
        printJson(history);
        return;
      }
      process.stdout.write(`${summary(history)}\n`);
      if (history.entries.length === 0) {
        process.stdout.write(`no runs recorded for ${job}\n`);
        return;
      }
      printTable(
        ['STARTED', 'FIRE', 'ATTEMPT', 'STATUS', 'DURATION', 'WORKER', 'TOKEN', 'DETAIL'],
        history.entries.map(row),
      );
    });
}
