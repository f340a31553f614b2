import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { UnknownJobError, UsageError } from '../errors.js';
import { loadDefinitions, type LoadResult } from '../definitions/index.js';
import {
  compileSchedule,
  describeSkip,
  dstNote,
  formatInstant,
  gateOf,
  instantsAhead,
  nextGatedFires,
  type CompiledSchedule,
  type InstantGate,
} from '../cron/index.js';
import type { JobDefinition } from '../definitions/index.js';
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

/** One line of `baton next --explain` (and one element of its `--json`). */
export interface ExplainedInstant {
  at: string;
  /** True for an instant that fires; false for skipped ones. */
  fires: boolean;
  /** Skipped runs of several instants: the last of them and how many. */
  last?: string;
  count?: number;
  /** Why skipped: `excluded: calendar us-holidays (Christmas Day)`, `inactive: …`. */
  skipped?: string;
  /** What a DST change does to this fire. */
  note?: string;
}

/** Most lines `--explain` prints besides the fires asked for (runs of skipped instants). */
const MAX_SKIPPED_LINES = 1000;

/** The next `count` fires after `from` with every skipped run between them, explained. */
export function explainNext(
  job: Pick<JobDefinition, 'timezone'>,
  schedule: CompiledSchedule,
  gate: InstantGate | null,
  from: number,
  count: number,
): ExplainedInstant[] {
  const out: ExplainedInstant[] = [];
  let fires = 0;
  let skipped = 0;
  let previous: number | null = null;
  const iso = (ms: number) => formatInstant(ms, job.timezone);
  for (const e of instantsAhead(schedule, gate, from, true)) {
    if (e.skip === null) {
      const note = dstNote(schedule, e.at, previous);
      out.push({ at: iso(e.at), fires: true, ...(note === null ? {} : { note }) });
      previous = e.at;
      if (++fires >= count) break;
    } else {
      out.push({
        at: iso(e.at),
        fires: false,
        ...(e.count > 1 ? { last: iso(e.last), count: e.count } : {}),
        skipped: describeSkip(e.skip),
      });
      previous = e.last;
      if (++skipped >= MAX_SKIPPED_LINES) break;
    }
  }
  return out;
}

function explainLine(e: ExplainedInstant): string {
  if (e.fires) return `${e.at}  fires${e.note === undefined ? '' : `: ${e.note}`}`;
  const what = e.last === undefined ? e.at : `${e.at} .. ${e.last} (${e.count} instants)`;
  return `${what}  skipped: ${e.skipped}`;
}

export function registerNext(program: Command): void {
  program
    .command('next')
    .description('print the next fire instants of a job (pure: reads only the definitions)')
    .argument('<job>', 'job name')
    .option('--from <iso>', 'start strictly after this instant (default now)')
    .option('--count <n>', 'how many instants', '5')
    .option('--json', 'print a JSON array of ISO strings')
    .option(
      '--explain',
      'also list the skipped instants between the fires (excluded, outside the active window) and what DST changes do, with reasons',
    )
    .action(
      async (
        name: string,
        opts: { from?: string; count: string; json?: boolean; explain?: boolean },
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
        const schedule = compileSchedule(job.schedule, job.timezone);
        const gate = gateOf(job);
        let found: number;
        if (opts.explain) {
          const lines = explainNext(job, schedule, gate, from, count);
          found = lines.filter((l) => l.fires).length;
          if (opts.json) process.stdout.write(`${JSON.stringify(lines)}\n`);
          else process.stdout.write(lines.map((l) => `${explainLine(l)}\n`).join(''));
        } else {
          const fires = nextGatedFires(schedule, gate, from, count).map((ms) =>
            formatInstant(ms, job.timezone),
          );
          found = fires.length;
          if (opts.json) process.stdout.write(`${JSON.stringify(fires)}\n`);
          else process.stdout.write(fires.map((f) => `${f}\n`).join(''));
        }
        if (found === 0) {
          const why =
            job.activeUntil !== undefined && from >= job.activeUntil.ms
              ? `its active window ended (activeUntil ${job.activeUntil.text})`
              : gate !== null
                ? 'within 10 years, every instant is excluded or outside the active window'
                : 'fires are computed up to the end of year 9999';
          process.stderr.write(
            `baton: ${name} has no fire after ${formatInstant(from, job.timezone)} (${why})\n`,
          );
          throw new ExitError(EXIT.failure);
        }
      },
    );
}
