import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { formatProblem, type DefinitionProblem } from '../errors.js';
import { definitionsHash } from './hash.js';
import {
  assemble,
  isDefinitionFileName,
  listDefinitionFiles,
  readDefinitionsFile,
} from './load.js';
import type { FileResult } from './parse.js';
import type { CalendarDefinition, JobDefinition } from './types.js';

/** The definitions in effect and the problems of the folder as it is now. */
export interface DefinitionsSnapshot {
  /** Jobs in effect (per-file last good), sorted by file then file order. */
  jobs: JobDefinition[];
  /** Every problem of the folder as it is on disk now (what `baton validate` would print). */
  problems: DefinitionProblem[];
  /** {@link definitionsHash} of `jobs`. */
  hash: string;
}

/** Reported after every reload, the initial load included. */
export interface ReloadEvent extends DefinitionsSnapshot {
  /** True for the load done before {@link watchDefinitions} resolves. */
  initial: boolean;
  /** Display paths of files added, changed or deleted since the previous reload. */
  changedFiles: string[];
  /** The jobs in effect changed (their hash did). */
  jobsChanged: boolean;
  /** The problem list differs from the previous reload's. */
  problemsChanged: boolean;
}

export interface WatchDefinitionsOptions {
  /** The jobs in effect changed (never called for the initial load: use `current()`). */
  onChange?: (result: DefinitionsSnapshot) => void;
  /**
   * The problem list changed: called with the whole current list (empty once everything is
   * fixed), and after the initial load when it has problems.
   */
  onProblems?: (problems: DefinitionProblem[]) => void;
  /** After every reload, the initial one included; handy to await in tests. */
  onReload?: (event: ReloadEvent) => void;
  /** A reload could not read the folder, chokidar failed, or a callback threw. Never fatal. */
  onError?: (error: unknown) => void;
  /** Quiet time after the last file event before reloading. @defaultValue 100 */
  debounceMs?: number;
}

export interface DefinitionsWatcher {
  /** The jobs in effect now. */
  current(): JobDefinition[];
  /** The folder's current problems. */
  problems(): DefinitionProblem[];
  /** {@link definitionsHash} of `current()`. */
  hash(): string;
  /** Reloads now (after any reload in progress) instead of waiting for a file event. */
  reload(): Promise<ReloadEvent>;
  /** Stops watching; resolves once chokidar is closed and no reload is running. */
  close(): Promise<void>;
}

/**
 * Loads the definitions folder and keeps it loaded as files are added, changed and deleted.
 *
 * Per-file last good: a file that turns bad keeps its last good jobs in effect (its problems are
 * reported); a good file applies; a deleted file's jobs are removed. When a change would put one
 * job name in two files, the changed files involved keep their previous content and the duplicate
 * is reported (see `resolveEffective`). The initial load applies every good file (files sharing a
 * name are all left out).
 *
 * Resolves after the initial load, with the watch running. Rejects only when `dir` is missing or
 * not a folder at start; afterwards nothing is thrown: errors go to `onError`.
 */
export async function watchDefinitions(
  dir: string,
  options: WatchDefinitionsOptions = {},
): Promise<DefinitionsWatcher> {
  const absDir = path.resolve(dir);
  const debounceMs = options.debounceMs ?? 100;
  await listDefinitionFiles(absDir); // fail fast on a missing folder

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let queued: Promise<ReloadEvent> | undefined;

  // State of the last reload.
  let effective = new Map<string, readonly JobDefinition[]>();
  let effectiveCalendars = new Map<string, readonly CalendarDefinition[]>();
  const texts = new Map<string, string | null>();
  let fileResults = new Map<string, FileResult>();
  let snapshot: DefinitionsSnapshot = { jobs: [], problems: [], hash: definitionsHash([]) };
  let problemKey = '';
  let loaded = false;

  function reportError(err?: unknown): void {
    try {
      options.onError?.(err);
    } catch {
      // an error handler that throws has nowhere left to report to
    }
  }

  const safely = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      reportError(err);
    }
  };

  async function reloadNow(): Promise<ReloadEvent> {
    const initial = !loaded;
    let paths: string[];
    try {
      paths = await listDefinitionFiles(absDir);
    } catch (err) {
      reportError(err);
      return { ...snapshot, initial, changedFiles: [], jobsChanged: false, problemsChanged: false };
    }
    const files = new Map<string, FileResult>();
    const changedFiles: string[] = [];
    const seen = new Set<string>();
    for (const p of paths) {
      const read = await readDefinitionsFile(p);
      if (read === undefined) continue; // vanished since listed; its unlink event follows
      const file = read.result.file;
      seen.add(file);
      const before = fileResults.get(file);
      if (before !== undefined && read.text !== null && texts.get(file) === read.text) {
        files.set(file, before); // unchanged: keep the parsed result (same object)
      } else {
        files.set(file, read.result);
        texts.set(file, read.text);
        changedFiles.push(file);
      }
    }
    for (const file of fileResults.keys()) {
      if (!seen.has(file)) {
        texts.delete(file);
        changedFiles.push(file);
      }
    }

    const {
      result,
      effective: next,
      calendars: nextCalendars,
    } = assemble(files, effective, effectiveCalendars);
    const hash = definitionsHash(result.jobs);
    const nextProblemKey = result.problems.map(formatProblem).join('\n');
    const jobsChanged = hash !== snapshot.hash;
    const problemsChanged = nextProblemKey !== problemKey;

    effective = next;
    effectiveCalendars = nextCalendars;
    fileResults = files;
    problemKey = nextProblemKey;
    snapshot = { jobs: result.jobs, problems: result.problems, hash };
    loaded = true;

    const event: ReloadEvent = {
      ...snapshot,
      jobs: [...snapshot.jobs],
      problems: [...snapshot.problems],
      initial,
      changedFiles,
      jobsChanged,
      problemsChanged,
    };
    if (!initial && jobsChanged && options.onChange) {
      const onChange = options.onChange;
      safely(() => onChange({ jobs: [...snapshot.jobs], problems: [...snapshot.problems], hash }));
    }
    if (problemsChanged && options.onProblems) {
      const onProblems = options.onProblems;
      safely(() => onProblems([...snapshot.problems]));
    }
    if (options.onReload) {
      const onReload = options.onReload;
      safely(() => onReload(event));
    }
    return event;
  }

  /** Queues a reload after the running one; calls made before it starts share it. */
  function enqueue(): Promise<ReloadEvent> {
    if (queued !== undefined) return queued;
    const run = chain.then(() => {
      queued = undefined;
      return reloadNow();
    });
    queued = run;
    chain = run.catch(reportError);
    return run;
  }

  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) void enqueue().catch(reportError);
    }, debounceMs);
  };

  const watcher: FSWatcher = watch(absDir, {
    ignoreInitial: true,
    depth: 0,
    ignored: (p: string) => path.resolve(p) !== absDir && !isDefinitionFileName(path.basename(p)),
  });
  watcher.on('add', schedule);
  watcher.on('change', schedule);
  watcher.on('unlink', schedule);
  watcher.on('unlinkDir', schedule);
  // chokidar drops a 'change' that follows another within 50 ms for the same path (no trailing
  // event), so two quick saves could leave the second unseen. The raw fs.watch events are not
  // throttled: any of them naming a definitions file also schedules a reload (which re-reads the
  // whole folder, so extra triggers cost little).
  watcher.on('raw', (_event: string, rawPath: string) => {
    if (typeof rawPath === 'string' && isDefinitionFileName(path.basename(rawPath))) schedule();
  });
  watcher.on('error', (err) => reportError(err));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));

  await enqueue();

  return {
    current: () => [...snapshot.jobs],
    problems: () => [...snapshot.problems],
    hash: () => snapshot.hash,
    reload: () =>
      closed
        ? Promise.resolve({
            ...snapshot,
            initial: false,
            changedFiles: [],
            jobsChanged: false,
            problemsChanged: false,
          })
        : enqueue(),
    close: async () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      try {
        await watcher.close();
      } catch (err) {
        reportError(err);
      }
      await chain.catch(() => undefined);
    },
  };
}
