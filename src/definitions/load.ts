import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError, type DefinitionProblem } from '../errors.js';
import {
  duplicateMessage,
  parseDefinitionsFile,
  type FileResult,
  type NameLocation,
} from './parse.js';
import { MAX_FILE_BYTES, MAX_JOBS_PER_FOLDER, MAX_LISTED_LOCATIONS } from './limits.js';
import type { CalendarDefinition, JobDefinition } from './types.js';
import { resolveCalendarRefs } from './calendar-refs.js';

/** The outcome of loading a definitions folder. */
export interface LoadResult {
  /**
   * The jobs to run: every job of every file without a problem of its own; a file with any problem
   * contributes no job at all, and good files that share a job name are all left out (see
   * {@link resolveEffective}). Sorted by file, then file order.
   */
  jobs: JobDefinition[];
  /** Every problem of every file, including cross-file duplicate names; sorted by file, line, col. */
  problems: DefinitionProblem[];
  /** Each file's own result, keyed by its display path (see {@link displayPath}), in folder order. */
  files: Map<string, FileResult>;
  /** The calendars in effect (per-file last good, like jobs), sorted by file, then file order. */
  calendars: CalendarDefinition[];
}

/**
 * How a file is named in problems and `source.file`: relative to the current working directory
 * when the file is inside it (`jobs/dialer.yaml`), else absolute (`/etc/baton/jobs/dialer.yaml`).
 */
export function displayPath(file: string): string {
  const abs = path.resolve(file);
  const rel = path.relative(process.cwd(), abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    return rel === '' ? '.' : abs;
  }
  return rel;
}

/** True for names the loader reads: `*.yaml` / `*.yml`, not starting with a dot. */
export function isDefinitionFileName(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/i.test(name);
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The absolute paths of the definition files directly in `dir` (not recursive), sorted by name.
 * @throws UsageError when `dir` is missing or not a folder.
 */
export async function listDefinitionFiles(dir: string): Promise<string[]> {
  const abs = path.resolve(dir);
  let entries;
  try {
    entries = await readdir(abs, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `definitions folder "${dir}" does not exist`
        : code === 'ENOTDIR'
          ? `definitions folder "${dir}" is not a folder`
          : `cannot read definitions folder "${dir}": ${(err as Error).message}`,
    );
  }
  const files: string[] = [];
  for (const entry of entries) {
    if (!isDefinitionFileName(entry.name)) continue;
    const full = path.join(abs, entry.name);
    if (entry.isFile()) files.push(full);
    else if (entry.isSymbolicLink()) {
      const target = await stat(full).catch(() => undefined);
      if (target?.isFile()) files.push(full);
    }
  }
  return files.sort((a, b) => compareNames(path.basename(a), path.basename(b)));
}

/**
 * Reads and parses one file. A file that vanished since it was listed gives undefined; any other
 * read error is a problem of that file.
 */
export async function readDefinitionsFile(
  absFile: string,
): Promise<{ text: string | null; result: FileResult } | undefined> {
  const file = displayPath(absFile);
  // A file that yields nothing but one problem at its start.
  const unreadable = (message: string) => ({
    text: null,
    result: { file, jobs: [], names: [], problems: [{ file, line: 1, col: 1, message }] },
  });
  let text: string;
  try {
    // A file over the limit is refused unread (a 5 GB file must not fill the memory).
    const size = (await stat(absFile)).size;
    if (size > MAX_FILE_BYTES) {
      return unreadable(
        `file too large: ${size} bytes (at most ${MAX_FILE_BYTES} bytes, 1 MiB; split the jobs over several files)`,
      );
    }
    text = await readFile(absFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return unreadable(`cannot read file: ${(err as Error).message}`);
  }
  return { text, result: parseDefinitionsFile(file, text) };
}

/** Problems for job (or calendar) names declared in more than one file, one at every declaration. */
export function crossFileDuplicates(
  files: Iterable<FileResult>,
  what: 'job' | 'calendar' = 'job',
): DefinitionProblem[] {
  const byName = new Map<string, NameLocation[]>();
  for (const f of files) {
    for (const loc of what === 'job' ? f.names : (f.calendarNames ?? [])) {
      const list = byName.get(loc.name);
      if (list === undefined) byName.set(loc.name, [loc]);
      else list.push(loc);
    }
  }
  const problems: DefinitionProblem[] = [];
  for (const [name, locs] of byName) {
    if (locs.every((l) => l.file === locs[0]!.file)) continue;
    // Linear in the declarations: per file a count, and a small sample to list (the first few
    // declarations of the first few files), so 100,000 copies of a name stay cheap.
    const perFile = new Map<string, number>();
    const sample: NameLocation[] = [];
    const sampled = new Set<string>();
    for (const loc of locs) {
      const n = perFile.get(loc.file) ?? 0;
      if (n === 0 && sampled.size <= MAX_LISTED_LOCATIONS) sampled.add(loc.file);
      if (n < MAX_LISTED_LOCATIONS && sampled.has(loc.file)) sample.push(loc);
      perFile.set(loc.file, n + 1);
    }
    for (const loc of locs) {
      problems.push({
        file: loc.file,
        line: loc.line,
        col: loc.col,
        message: duplicateMessage(
          name,
          sample.filter((o) => o.file !== loc.file),
          locs.length - perFile.get(loc.file)!,
          what,
        ),
      });
    }
  }
  return problems;
}

/** Sorts problems by the folder order of their files, then line and column. */
export function sortProblems(
  problems: DefinitionProblem[],
  fileOrder: readonly string[],
): DefinitionProblem[] {
  const rank = new Map(fileOrder.map((f, i) => [f, i]));
  return problems.sort(
    (a, b) =>
      (rank.get(a.file) ?? Infinity) - (rank.get(b.file) ?? Infinity) ||
      compareNames(a.file, b.file) ||
      a.line - b.line ||
      a.col - b.col,
  );
}

/**
 * Chooses the jobs in effect for each file.
 *
 * Each file wants its newest good content: its latest jobs when the file has no problem of its
 * own, else what it had in effect before (`previous`, its last good jobs; nothing for a file never
 * good). A file whose wanted content differs from `previous` is "changing"; when changing files
 * would make a name appear in two files, every changing file involved keeps its previous content
 * instead, until no name is in two files. With an empty `previous` (a fresh load) this leaves out
 * every file that is bad or shares a name with another file.
 *
 * @param latest each existing file's latest result, in folder order (deleted files are absent)
 * @param previous the jobs each file had in effect before; conflict-free
 */
export function resolveEffective<T extends { name: string } = JobDefinition>(
  latest: readonly { file: string; problems: readonly unknown[]; jobs: readonly T[] }[],
  previous: ReadonlyMap<string, readonly T[]>,
): Map<string, readonly T[]> {
  // Arrays are never mutated, so identity tells "same content as before" cheaply: an unchanged
  // file's latest jobs are the very array that was in effect.
  const chosen = new Map<string, readonly T[]>();
  const changing = new Set<string>();
  for (const f of latest) {
    const before = previous.get(f.file) ?? [];
    const wanted = f.problems.length === 0 ? f.jobs : before;
    chosen.set(f.file, wanted);
    if (wanted !== before) changing.add(f.file);
  }
  for (;;) {
    const owners = new Map<string, string[]>();
    for (const [file, jobs] of chosen) {
      for (const job of jobs) {
        const list = owners.get(job.name);
        if (list === undefined) owners.set(job.name, [file]);
        else list.push(file);
      }
    }
    const revert = new Set<string>();
    for (const files of owners.values()) {
      if (files.length < 2) continue;
      for (const file of files) if (changing.has(file)) revert.add(file);
    }
    if (revert.size === 0) break;
    for (const file of revert) {
      chosen.set(file, previous.get(file) ?? []);
      changing.delete(file);
    }
  }
  return chosen;
}

/**
 * Loads every `*.yaml` / `*.yml` file directly in `dir` (sorted by name, dotfiles ignored).
 * Never throws for bad content: every problem of every file is in `problems`.
 * @throws UsageError when `dir` is missing or not a folder.
 */
export async function loadDefinitions(dir: string): Promise<LoadResult> {
  const paths = await listDefinitionFiles(dir);
  const files = new Map<string, FileResult>();
  for (const p of paths) {
    const read = await readDefinitionsFile(p);
    if (read !== undefined) files.set(read.result.file, read.result);
  }
  return assemble(files, new Map()).result;
}

/**
 * Files whose jobs would take the folder past {@link MAX_JOBS_PER_FOLDER} (in folder order) are
 * refused as a whole, each with one problem; the results given are not modified.
 */
function folderLimit(list: FileResult[]): FileResult[] {
  let total = 0;
  return list.map((f) => {
    total += f.jobs.length;
    if (total <= MAX_JOBS_PER_FOLDER || f.jobs.length === 0) return f;
    total -= f.jobs.length;
    return {
      ...f,
      jobs: [],
      problems: [
        ...f.problems,
        {
          file: f.file,
          line: 1,
          col: 1,
          message: `too many jobs in the folder: this file's ${f.jobs.length} job(s) would make more than ${MAX_JOBS_PER_FOLDER} (its jobs are left out)`,
        },
      ],
    };
  });
}

const NO_CALENDARS: readonly CalendarDefinition[] = [];

/**
 * Builds a LoadResult from per-file results and the previously effective jobs and calendars per
 * file. Calendars are chosen first (per-file last good, as jobs); then every job's calendar
 * references are resolved against them: a job file naming a calendar not in effect has a problem
 * there and keeps its last good jobs (which carry the calendar content they were loaded with).
 */
export function assemble(
  files: Map<string, FileResult>,
  previous: ReadonlyMap<string, readonly JobDefinition[]>,
  previousCalendars: ReadonlyMap<string, readonly CalendarDefinition[]> = new Map(),
): {
  result: LoadResult;
  effective: Map<string, readonly JobDefinition[]>;
  calendars: Map<string, readonly CalendarDefinition[]>;
} {
  const all = [...files.values()];
  const calendars = resolveEffective(
    all.map((f) => ({ file: f.file, problems: f.problems, jobs: f.calendars ?? NO_CALENDARS })),
    previousCalendars,
  );
  const known = new Map<string, CalendarDefinition>();
  for (const list of calendars.values()) for (const c of list) known.set(c.name, c);
  const declared = new Map<string, string>();
  for (const f of all) {
    for (const n of f.calendarNames ?? []) if (!known.has(n.name)) declared.set(n.name, f.file);
  }
  const list = folderLimit(all.map((f) => resolveCalendarRefs(f, known, declared)));
  const effective = resolveEffective(list, previous);
  const order = list.map((f) => f.file);
  const problems = sortProblems(
    [
      ...list.flatMap((f) => f.problems),
      ...crossFileDuplicates(list),
      ...crossFileDuplicates(list, 'calendar'),
    ],
    order,
  );
  const jobs = order.flatMap((f) => effective.get(f) ?? []);
  const calendarList = order.flatMap((f) => calendars.get(f) ?? []);
  return { result: { jobs, problems, files, calendars: calendarList }, effective, calendars };
}
