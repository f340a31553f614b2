import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  loadDefinitions,
  parseDefinitionsFile,
  type FileResult,
  type JobDefinition,
} from '../../../src/definitions/index.js';
import { assemble } from '../../../src/definitions/load.js';
import { checkJson } from '../../../src/definitions/json.js';
import {
  MAX_FILE_BYTES,
  MAX_JOBS_PER_FILE,
  MAX_JOBS_PER_FOLDER,
  MAX_MESSAGE_LENGTH,
  MAX_PAYLOAD_BYTES,
  MAX_PAYLOAD_DEPTH,
} from '../../../src/definitions/limits.js';
import { MAX_PROBLEMS_PER_FILE } from '../../../src/definitions/parse.js';
import { didYouMean } from '../../../src/definitions/suggest.js';
import { formatProblem } from '../../../src/errors.js';

// Reproductions of issue 9 (hostile definitions): each of these passed silently, hung, blew up
// the output or crashed before.

const JOB = "name: a\nschedule: '* * * * *'\n";
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

function problems(text: string) {
  return parseDefinitionsFile('f.yaml', text).problems;
}
function lines(text: string): string[] {
  return problems(text).map((p) => `${p.line}:${p.col}: ${p.message}`);
}

let dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  dirs = [];
  vi.restoreAllMocks();
});
async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'baton-hostile-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

describe('no silent drop', () => {
  it('a job repeated through a YAML alias is a duplicate, reported at the alias', async () => {
    const text = "jobs:\n  - &j {name: a, schedule: '* * * * *'}\n  - *j\n";
    expect(lines(text)).toEqual([
      '2:15: duplicate job name "a" (also defined at f.yaml:3:5)',
      '3:5: duplicate job name "a" (also defined at f.yaml:2:15)',
    ]);
    const dir = await folder({ 'a.yaml': text });
    const loaded = await loadDefinitions(dir);
    expect(loaded.jobs).toEqual([]);
    expect(loaded.problems).toHaveLength(2);
  });

  it('aliases inside a job (a shared payload) still work', () => {
    const r = parseDefinitionsFile(
      'f.yaml',
      "jobs:\n  - {name: a, schedule: '@daily', payload: &p {x: 1}}\n  - {name: b, schedule: '@daily', payload: *p}\n",
    );
    expect(r.problems).toEqual([]);
    expect(r.jobs.map((j) => [j.name, j.payload])).toEqual([
      ['a', { x: 1 }],
      ['b', { x: 1 }],
    ]);
  });

  it('a file that yields no job says so', () => {
    expect(lines('jobs: []\n')).toEqual([
      '1:1: jobs is an empty list: this file defines no job (add one, or delete the file)',
    ]);
  });

  it('every file loaded without a problem contributes every job it lists', async () => {
    const dir = await folder({
      'a.yaml': "jobs:\n  - {name: a, schedule: '@daily'}\n  - {name: b, schedule: '@daily'}\n",
      'b.yaml': "name: c\nschedule: '@daily'\n",
    });
    const loaded = await loadDefinitions(dir);
    expect(loaded.problems).toEqual([]);
    expect(loaded.jobs.map((j) => j.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('bounded work and output', () => {
  it('a 100 KB time zone gets a short message and no suggestion search', () => {
    const [p, ...rest] = problems(`${JOB}timezone: ${'x'.repeat(100_000)}\n`);
    expect(rest).toEqual([]);
    expect(p!.message).toMatch(/^unknown time zone "x{40}"…\(100000 characters\) \(use an IANA/);
  });

  it('twenty 10 KB zones and a 1 MB catchUp value are refused quickly and briefly', () => {
    const zones = Array.from(
      { length: 20 },
      (_, i) => `  - {name: j${i}, schedule: '@daily', timezone: ${'Europe/Londn'.repeat(900)}}`,
    ).join('\n');
    const many = problems(`jobs:\n${zones}\n`);
    expect(many).toHaveLength(20);
    for (const p of many) expect(p.message.length).toBeLessThan(300);
    const [c] = problems(`${JOB}catchUp: ${'lates'.repeat(200_000)}\n`);
    expect(c!.message).toMatch(
      /^catchUp must be one of none, latest, all, got "(lates)+la"…\(1000000 characters\)$/,
    );
    expect(c!.message.length).toBeLessThan(200);
  });

  it('did-you-mean compares only short values', () => {
    expect(didYouMean('Europe/Londn', ['Europe/London', 'UTC'])).toBe('Europe/London');
    expect(didYouMean('x'.repeat(65), ['x'.repeat(64)])).toBeUndefined();
  });

  it('2,000 copies of one name: capped location lists, capped problem count', () => {
    const text = `jobs:\n${"  - {name: a, schedule: '@daily'}\n".repeat(2000)}`;
    const all = problems(text);
    expect(all).toHaveLength(MAX_PROBLEMS_PER_FILE + 1);
    expect(all[0]!.message).toBe(
      'duplicate job name "a" (also defined at f.yaml:3:12, f.yaml:4:12, f.yaml:5:12 and 1996 more)',
    );
    expect(all.at(-1)!.message).toBe(
      '1900 more problem(s) in this file not shown (fix the ones above first)',
    );
  });

  it('cross-file duplicates list at most three other places', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`f${i}.yaml`] = JOB;
    const loaded = await loadDefinitions(await folder(files));
    expect(loaded.problems).toHaveLength(6);
    expect(loaded.problems[0]!.message).toMatch(
      /^duplicate job name "a" \(also defined at \S+f1\.yaml:1:7, \S+f2\.yaml:1:7, \S+f3\.yaml:1:7 and 2 more\)$/,
    );
  });

  it('a 1 MB name and a name with \\r echo a short escaped excerpt', () => {
    for (const name of ['a'.repeat(1_000_000), 'evil\rname', 'x\u001b[2Jy']) {
      const all = problems(`name: ${JSON.stringify(name)}\nschedule: '@daily'\n`);
      expect(all).toHaveLength(1);
      const line = formatProblem(all[0]!);
      expect(line.length).toBeLessThan(300);
      expect(line).not.toMatch(RAW_CONTROL);
      expect(line).toMatch(/^f\.yaml:1:7: bad job name "/);
    }
  });

  it('every message is capped, even from a 10,000-character unknown key', () => {
    const all = problems(`${JOB}? ${'k'.repeat(10_000)}\n: 1\n`);
    expect(all).toHaveLength(1);
    expect(all[0]!.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH + 1);
    expect(all[0]!.message).toMatch(/^unknown key "k{40}"…\(10000 characters\)/);
  });
});

describe('limits', () => {
  it('refuses a file over 1 MiB unread, at 1:1', async () => {
    const big = `${JOB}description: ${'x'.repeat(MAX_FILE_BYTES)}\n`;
    expect(lines(big)[0]).toMatch(/^1:1: file too large: \d+ bytes \(at most 1048576 bytes, 1 MiB/);
    const loaded = await loadDefinitions(await folder({ 'big.yaml': big }));
    expect(loaded.problems.map(formatProblem)).toEqual([
      expect.stringMatching(/big\.yaml:1:1: file too large: 1048620 bytes/),
    ]);
  });

  it('refuses the files that take the folder past 100,000 jobs, each with one problem', () => {
    const fake = (file: string, n: number): FileResult => ({
      file,
      jobs: Array.from({ length: n }, (_, i) => ({ name: `${file}-${i}` }) as JobDefinition),
      problems: [],
      names: [],
    });
    const files = new Map(
      [fake('a.yaml', 60_000), fake('b.yaml', 40_000), fake('c.yaml', 1)].map((f) => [f.file, f]),
    );
    const { result } = assemble(files, new Map());
    expect(result.jobs).toHaveLength(MAX_JOBS_PER_FOLDER);
    expect(result.problems.map(formatProblem)).toEqual([
      `c.yaml:1:1: too many jobs in the folder: this file's 1 job(s) would make more than ${MAX_JOBS_PER_FOLDER} (its jobs are left out)`,
    ]);
  });

  it('refuses more jobs per file than the limit, at the list', () => {
    const text = `jobs:\n${'  - {}\n'.repeat(MAX_JOBS_PER_FILE + 1)}`;
    expect(lines(text)).toEqual([
      `2:3: too many jobs in one file: ${MAX_JOBS_PER_FILE + 1} (at most ${MAX_JOBS_PER_FILE}; split them over several files)`,
    ]);
  });

  it('refuses a payload nested deeper than the limit or larger than the limit', () => {
    const deep = `${JOB}payload: ${'['.repeat(MAX_PAYLOAD_DEPTH + 1)}${']'.repeat(MAX_PAYLOAD_DEPTH + 1)}\n`;
    const [d, ...rest] = problems(deep);
    expect(rest).toEqual([]);
    expect(d!.message).toMatch(/is nested too deep \(at most 32 levels/);
    const ok = `${JOB}payload: ${'['.repeat(MAX_PAYLOAD_DEPTH)}${']'.repeat(MAX_PAYLOAD_DEPTH)}\n`;
    expect(problems(ok)).toEqual([]);
    const large = `${JOB}payload: {s: ${'x'.repeat(MAX_PAYLOAD_BYTES)}}\n`;
    expect(lines(large)).toEqual([
      `3:10: payload is too large (at most ${MAX_PAYLOAD_BYTES} bytes as JSON)`,
    ]);
  });

  it('checkJson is iterative: 100,000 levels cost no stack', () => {
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = [v];
    expect(checkJson(v)).toMatchObject({ kind: 'depth' });
    expect(checkJson({ a: [1, 'x', null, true, { b: 2 }] })).toBeNull();
    expect(checkJson({ a: Number.NaN })).toEqual({ kind: 'notJson', path: ['a'], got: 'NaN' });
  });
});

describe('clear messages', () => {
  it('nesting 5,000 deep: one message at the level past the limit, no stack overflow', () => {
    for (const [text, where] of [
      // Level 65 is the 63rd bracket: the file's mapping and payload's list come first.
      [`${JOB}payload: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, '3:73'],
      [
        `${JOB}payload:\n${Array.from({ length: 900 }, (_, i) => `${' '.repeat(i + 1)}- `).join('\n')}x\n`,
        '67:65',
      ],
    ]) {
      const all = lines(text!);
      expect(all).toHaveLength(1);
      expect(all[0]).toBe(
        `${where}: nested too deep: lists and mappings inside each other at most 64 levels (payloads at most 32)`,
      );
      expect(all[0]).not.toMatch(/call stack/);
    }
  });

  it('a complex mapping key is reported at its own line and column, without a warning', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    expect(lines(`${JOB}? [a, b]\n: x\n`)).toEqual([
      '3:3: a key must be a plain value such as name or schedule, not a list',
    ]);
    expect(lines(`${JOB}? {a: 1}\n: x\n`)).toEqual([
      '3:3: a key must be a plain value such as name or schedule, not a mapping',
    ]);
    expect(warn).not.toHaveBeenCalled();
  });
});
