import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DefinitionProblem } from '../../../src/errors.js';
import {
  displayPath,
  watchDefinitions,
  type DefinitionsSnapshot,
  type DefinitionsWatcher,
  type ReloadEvent,
} from '../../../src/definitions/index.js';

/** Collects the watcher's callbacks and lets a test await the first future reload matching a test. */
function recorder() {
  const changes: DefinitionsSnapshot[] = [];
  const problemCalls: DefinitionProblem[][] = [];
  const errors: unknown[] = [];
  const waiters: { test: (e: ReloadEvent) => boolean; resolve: (e: ReloadEvent) => void }[] = [];
  return {
    changes,
    problemCalls,
    errors,
    options: {
      debounceMs: 20,
      onChange: (r: DefinitionsSnapshot) => changes.push(r),
      onProblems: (p: DefinitionProblem[]) => problemCalls.push(p),
      onError: (e: unknown) => errors.push(e),
      onReload: (e: ReloadEvent) => {
        for (const w of [...waiters]) {
          if (w.test(e)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(e);
          }
        }
      },
    },
    /** Resolves on the first reload after this call for which `test` holds. */
    next(test: (e: ReloadEvent) => boolean): Promise<ReloadEvent> {
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
  };
}

const job = (name: string, schedule = '0 * * * *') => `name: ${name}\nschedule: '${schedule}'\n`;
const names = (w: DefinitionsWatcher) => w.current().map((j) => j.name);
const scheduleOf = (w: DefinitionsWatcher, name: string) =>
  w.current().find((j) => j.name === name)?.schedule;

describe('watchDefinitions', () => {
  let dir: string;
  let watcher: DefinitionsWatcher | undefined;

  /** Writes a file atomically (temp dotfile + rename) so no reload sees it half written. */
  const put = async (name: string, text: string) => {
    const tmp = path.join(dir, `.${name}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, path.join(dir, name));
  };
  const fileOf = (name: string) => displayPath(path.join(dir, name));

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'baton-defs-'));
  });
  afterEach(async () => {
    await watcher?.close();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('loads good files initially and reports the problems of bad ones', async () => {
    await put('a.yaml', job('a'));
    await put('b.yaml', 'name: b\nschedule: nope nope\n');
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    expect(names(watcher)).toEqual(['a']);
    expect(rec.problemCalls).toHaveLength(1);
    expect(rec.problemCalls[0]!.map((p) => [p.file, p.line, p.col])).toEqual([
      [fileOf('b.yaml'), 2, 11],
    ]);
    expect(watcher.problems()).toEqual(rec.problemCalls[0]);
    expect(rec.changes).toEqual([]);
  });

  it('applies an added file, keeps its last good jobs while broken, applies the fix, removes it when deleted', async () => {
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    expect(names(watcher)).toEqual([]);
    const initialHash = watcher.hash();

    // add
    let event = rec.next((e) => e.jobsChanged);
    await put('a.yaml', job('a'));
    await event;
    expect(names(watcher)).toEqual(['a']);
    expect(rec.changes.at(-1)!.jobs.map((j) => j.name)).toEqual(['a']);
    expect(rec.changes.at(-1)!.hash).toBe(watcher.hash());
    expect(watcher.hash()).not.toBe(initialHash);

    // break: problems reported, the last good job stays in effect
    event = rec.next((e) => e.problems.length > 0);
    await put('a.yaml', 'name: a\nschedule: 0 * * * *\ntimzone: UTC\n');
    const broken = await event;
    expect(broken.jobsChanged).toBe(false);
    expect(rec.problemCalls.at(-1)!.map((p) => `${p.line}:${p.col}`)).toEqual(['3:1']);
    expect(rec.problemCalls.at(-1)![0]!.message).toContain('did you mean "timezone"?');
    expect(scheduleOf(watcher, 'a')).toBe('0 * * * *');

    // fix with a new schedule: applied, problems cleared
    event = rec.next((e) => e.jobsChanged);
    await put('a.yaml', job('a', '*/5 * * * *'));
    const fixed = await event;
    expect(fixed.problems).toEqual([]);
    expect(rec.problemCalls.at(-1)).toEqual([]);
    expect(scheduleOf(watcher, 'a')).toBe('*/5 * * * *');

    // delete: removed
    event = rec.next((e) => e.jobsChanged);
    await unlink(path.join(dir, 'a.yaml'));
    const removed = await event;
    expect(removed.changedFiles).toEqual([fileOf('a.yaml')]);
    expect(names(watcher)).toEqual([]);
    expect(watcher.hash()).toBe(initialHash);
  });

  it('rejects a change that defines a name another file already has, and applies it once fixed', async () => {
    await put('a.yaml', job('x'));
    await put('b.yaml', job('y'));
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    expect(names(watcher)).toEqual(['x', 'y']);

    let event = rec.next((e) => e.problems.length > 0);
    await put(
      'b.yaml',
      `jobs:\n  - name: y\n    schedule: '@daily'\n  - name: x\n    schedule: '@daily'\n`,
    );
    const dup = await event;
    expect(dup.jobsChanged).toBe(false);
    expect(dup.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`)).toEqual([
      `${fileOf('a.yaml')}:1:7: duplicate job name "x" (also defined at ${fileOf('b.yaml')}:4:11)`,
      `${fileOf('b.yaml')}:4:11: duplicate job name "x" (also defined at ${fileOf('a.yaml')}:1:7)`,
    ]);
    // b.yaml keeps its previous content; a.yaml is untouched.
    expect(names(watcher)).toEqual(['x', 'y']);
    expect(scheduleOf(watcher, 'y')).toBe('0 * * * *');
    expect(watcher.current().find((j) => j.name === 'x')!.source.file).toBe(fileOf('a.yaml'));

    // A new file with a taken name is not applied either.
    event = rec.next((e) => e.changedFiles.includes(fileOf('c.yaml')));
    await put('c.yaml', job('y', '@weekly'));
    await event;
    expect(names(watcher)).toEqual(['x', 'y']);
    expect(scheduleOf(watcher, 'y')).toBe('0 * * * *');

    // Resolving both conflicts applies the new content.
    await unlink(path.join(dir, 'c.yaml'));
    event = rec.next((e) => e.jobsChanged);
    await put(
      'b.yaml',
      `jobs:\n  - name: y\n    schedule: '@daily'\n  - name: z\n    schedule: '@daily'\n`,
    );
    const ok = await event;
    expect(ok.problems).toEqual([]);
    expect(names(watcher)).toEqual(['x', 'y', 'z']);
    expect(scheduleOf(watcher, 'y')).toBe('@daily');
  });

  it('applies a file held back by a duplicate once the other file gives the name up', async () => {
    await put('a.yaml', job('x'));
    await put('b.yaml', job('x'));
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    expect(names(watcher)).toEqual([]);
    expect(watcher.problems()).toHaveLength(2);

    const event = rec.next((e) => e.jobsChanged);
    await put('b.yaml', job('y'));
    await event;
    expect(watcher.current().map((j) => [j.name, j.source.file])).toEqual([
      ['x', fileOf('a.yaml')],
      ['y', fileOf('b.yaml')],
    ]);
    expect(watcher.problems()).toEqual([]);
  });

  it('sees the last of several quick saves of one file', async () => {
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    const event = rec.next((e) => e.jobs.some((j) => j.schedule === '@weekly'));
    await put('a.yaml', job('a', '@hourly'));
    await put('a.yaml', job('a', '@daily'));
    await put('a.yaml', job('a', '@weekly'));
    await event;
    expect(watcher.current().map((j) => j.schedule)).toEqual(['@weekly']);
  });

  it('runs a job moved from one file to another', async () => {
    await put('a.yaml', job('x'));
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    await put('b.yaml', job('x'));
    await unlink(path.join(dir, 'a.yaml'));
    // Whatever reloads the file events caused, a reload now sees the settled folder.
    await watcher.reload();
    expect(watcher.problems()).toEqual([]);
    expect(watcher.current().map((j) => [j.name, j.source.file])).toEqual([
      ['x', fileOf('b.yaml')],
    ]);
  });

  it('never throws into the caller: a throwing callback goes to onError', async () => {
    const errors: unknown[] = [];
    const rec = recorder();
    watcher = await watchDefinitions(dir, {
      ...rec.options,
      onChange: () => {
        throw new Error('boom');
      },
      onError: (e) => errors.push(e),
    });
    const event = rec.next((e) => e.jobsChanged);
    await put('a.yaml', job('a'));
    await event;
    expect(names(watcher)).toEqual(['a']);
    expect(errors).toEqual([new Error('boom')]);
  });

  it('reload() re-reads the folder on demand and reports nothing new when nothing changed', async () => {
    await put('a.yaml', job('a'));
    const rec = recorder();
    watcher = await watchDefinitions(dir, rec.options);
    const again = await watcher.reload();
    expect(again).toMatchObject({
      initial: false,
      changedFiles: [],
      jobsChanged: false,
      problemsChanged: false,
    });
    expect(rec.changes).toEqual([]);
  });

  it('rejects at start for a missing folder', async () => {
    await expect(watchDefinitions(path.join(dir, 'missing'))).rejects.toThrow(/does not exist/);
  });
});
