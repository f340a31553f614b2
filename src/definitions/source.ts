import { formatProblem, type DefinitionProblem } from '../errors.js';
import type { Logger } from '../log.js';
import { unreadableRefs } from './alerts.js';
import { definitionsHash } from './hash.js';
import { loadDefinitions } from './load.js';
import type { JobDefinition } from './types.js';
import { watchDefinitions, type DefinitionsSnapshot, type DefinitionsWatcher } from './watch.js';

/** Options of {@link openDefinitions}. */
export interface DefinitionsSourceOptions {
  /** Definitions given directly (no folder read). Takes precedence over `dir`. */
  definitions?: readonly JobDefinition[];
  /** The definitions folder; null for none (no jobs). */
  dir: string | null;
  /** Reload the folder when its files change. @defaultValue true */
  watch?: boolean;
  logger: Logger;
  /** How a problem of the folder is logged. @defaultValue warn, 'definition problem' */
  problems?: { level: 'warn' | 'error'; message: string };
  /**
   * Warn (`alert secret unreadable`, at `file:line:col`) of each `{ env }` / `{ file }`
   * reference of the webhooks this process cannot read, after every load: replicas, which
   * deliver as leader. The jobs load anyway. @defaultValue false
   */
  checkSecrets?: boolean;
  /** The jobs in effect changed on a reload (never called for the initial load). */
  onChange?: (snapshot: DefinitionsSnapshot) => void;
}

/** The definitions a process runs with, loaded once or kept up to date. */
export interface DefinitionsSource {
  /** The jobs in effect now. */
  current(): JobDefinition[];
  /** Their {@link definitionsHash} (computed once per load, not per call). */
  hash(): string;
  /** Stops watching (no-op when not watching). */
  close(): Promise<void>;
}

/**
 * The one way replicas and workers get their definitions: given directly, read once, or read
 * and watched (`watchDefinitions`: per-file last good, hot reload), with every problem of the
 * folder logged as one line (`file:line:col message`). Rejects when `dir` is missing.
 */
export async function openDefinitions(
  options: DefinitionsSourceOptions,
): Promise<DefinitionsSource> {
  const fixed = (jobs: JobDefinition[]): DefinitionsSource => {
    let hash: string | undefined; // computed when first asked (workers never ask)
    return {
      current: () => jobs,
      hash: () => (hash ??= definitionsHash(jobs)),
      close: () => Promise.resolve(),
    };
  };
  const checkSecrets = (jobs: readonly JobDefinition[]) => {
    if (options.checkSecrets !== true) return;
    void unreadableRefs(jobs).then(
      (list) => {
        for (const u of list)
          options.logger.warn({ problem: `${u.at}: ${u.message}` }, 'alert secret unreadable');
      },
      (err: unknown) => options.logger.warn({ err }, 'alert secrets could not be checked'),
    );
  };
  if (options.definitions) {
    checkSecrets(options.definitions);
    return fixed([...options.definitions]);
  }
  if (options.dir === null) return fixed([]);
  const { level, message } = options.problems ?? { level: 'warn', message: 'definition problem' };
  const logProblems = (problems: readonly DefinitionProblem[]) => {
    for (const p of problems) options.logger[level]({ problem: formatProblem(p) }, message);
  };
  if (options.watch === false) {
    const loaded = await loadDefinitions(options.dir);
    logProblems(loaded.problems);
    checkSecrets(loaded.jobs);
    return fixed(loaded.jobs);
  }
  const watcher: DefinitionsWatcher = await watchDefinitions(options.dir, {
    onChange: (s) => {
      checkSecrets(s.jobs);
      options.onChange?.(s);
    },
    onProblems: logProblems,
    onError: (err) => options.logger.warn({ err }, 'definitions watch error'),
  });
  checkSecrets(watcher.current());
  return {
    current: () => watcher.current(),
    hash: () => watcher.hash(),
    close: () => watcher.close(),
  };
}
