import { describe, expect, it } from 'vitest';
import { JOB_KEYS, parseDefinitionsFile } from '../../../src/definitions/index.js';
import type { JobDefinition } from '../../../src/definitions/index.js';

const ALLOWED = JOB_KEYS.join(', ');

function problemsOf(text: string): string[] {
  return parseDefinitionsFile('f.yaml', text).problems.map(
    (p) => `${p.line}:${p.col}: ${p.message}`,
  );
}

function jobOf(text: string): JobDefinition {
  const result = parseDefinitionsFile('f.yaml', text);
  expect(result.problems).toEqual([]);
  expect(result.jobs).toHaveLength(1);
  return result.jobs[0]!;
}

describe('parseDefinitionsFile: defaults and shapes', () => {
  it('applies every default to a minimal job', () => {
    expect(jobOf('name: minimal\nschedule: "@hourly"\n')).toEqual({
      name: 'minimal',
      schedule: '@hourly',
      timezone: 'UTC',
      handler: 'minimal',
      queue: 'baton',
      payload: {},
      catchUp: 'latest',
      catchUpLimit: 100,
      startingDeadlineMs: null,
      overlap: 'allow',
      jitterMs: 0,
      retries: { attempts: 1, backoff: 'exponential', delayMs: 1000 },
      timeoutMs: null,
      paused: false,
      retention: { ageMs: 7 * 86_400_000, count: 1000 },
      description: null,
      owner: null,
      tags: [],
      alerts: { onFailure: [], onMissed: [], onStale: [], onRecovered: [] },
      source: { file: 'f.yaml', line: 1, col: 7 },
    } satisfies JobDefinition);
  });

  it('reads the short forms of retries and retention', () => {
    const job = jobOf('name: j\nschedule: "@daily"\nretries: 3\nretention: 30d\n');
    expect(job.retries).toEqual({ attempts: 3, backoff: 'exponential', delayMs: 1000 });
    expect(job.retention).toEqual({ ageMs: 30 * 86_400_000, count: 1000 });
  });

  it('accepts null for startingDeadline, timeout, description and owner', () => {
    const job = jobOf(
      'name: j\nschedule: "@daily"\nstartingDeadline: null\ntimeout:\ndescription: ~\nowner: null\n',
    );
    expect(job.startingDeadlineMs).toBeNull();
    expect(job.timeoutMs).toBeNull();
    expect(job.description).toBeNull();
  });

  it('accepts any JSON payload, including a scalar', () => {
    expect(jobOf('name: j\nschedule: "@daily"\npayload: 42\n').payload).toBe(42);
    expect(jobOf('name: j\nschedule: "@daily"\npayload: [1, "a", null]\n').payload).toEqual([
      1,
      'a',
      null,
    ]);
  });

  it('reads a jobs: list, an empty one included', () => {
    const result = parseDefinitionsFile(
      'f.yaml',
      'jobs:\n  - name: a\n    schedule: "@daily"\n  - {name: b, schedule: "@hourly"}\n',
    );
    expect(result.problems).toEqual([]);
    expect(result.jobs.map((j) => [j.name, j.source.line, j.source.col])).toEqual([
      ['a', 2, 11],
      ['b', 4, 12],
    ]);
    expect(parseDefinitionsFile('f.yaml', 'jobs: []\n').problems.map((p) => p.message)).toEqual([
      'jobs is an empty list: this file defines no job (add one, or delete the file)',
    ]);
  });
});

describe('parseDefinitionsFile: problems', () => {
  it('collects every problem of a file, each at its own position', () => {
    expect(
      problemsOf(
        [
          'name: j',
          'schedule: "@daily"',
          'catchUp: lastest',
          'overlap: 3',
          'retries: { attempts: 0, backof: fixed }',
          'timeout: 0s',
          'tags: [a, 7, ""]',
        ].join('\n'),
      ),
    ).toEqual([
      '3:10: catchUp must be one of none, latest, all, got "lastest" (did you mean "latest"?)',
      '4:10: overlap must be one of allow, forbid, replace, got 3',
      '5:22: retries.attempts must be a positive integer (total attempts, including the first), got 0',
      '5:25: unknown key "backof" in retries (did you mean "backoff"? allowed keys: attempts, backoff, delay)',
      '6:10: timeout must be longer than 0, got "0s" (leave it out or use null for none)',
      '7:11: tags[1] must be a non-empty string, got 7',
      '7:14: tags[2] must be a non-empty string, got ""',
    ]);
  });

  it('reports a wrong short form at the value as written', () => {
    expect(problemsOf('name: j\nschedule: "@daily"\nretries: 0\nretention: forever\n')).toEqual([
      '3:10: retries must be a positive integer (total attempts, including the first), got 0',
      '4:12: bad duration "forever" for retention (use a number with a unit: 500ms, 30s, 5m, 1h, 7d)',
    ]);
    expect(problemsOf('name: j\nschedule: "@daily"\nretries: "3"\n')).toEqual([
      '3:10: retries must be a number of attempts or a mapping with attempts, backoff, delay, got "3"',
    ]);
  });

  it('refuses a plain number as a duration', () => {
    expect(problemsOf('name: j\nschedule: "@daily"\njitter: 5000\n')).toEqual([
      '3:9: bad duration 5000 for jitter (use a number with a unit: 500ms, 30s, 5m, 1h, 7d)',
    ]);
  });

  it('points at the key of an empty value', () => {
    expect(problemsOf('name: j\nschedule: "@daily"\ntimezone:\n')).toEqual([
      '3:1: timezone must be an IANA time zone name such as "Europe/London" or "UTC", got null (an empty value)',
    ]);
  });

  it('reports missing keys at the job mapping', () => {
    expect(problemsOf('jobs:\n  - description: nothing\n')).toEqual([
      '2:5: missing required key "name"',
      '2:5: missing required key "schedule"',
    ]);
  });

  it('refuses names with "@", "/", ":" or capitals, and bad queue names', () => {
    const rule =
      'use 1-63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit; no "@", "/" or ":"';
    expect(problemsOf('name: a/b\nschedule: "@daily"\nqueue: "q:1"\n')).toEqual([
      `1:7: bad job name "a/b" (${rule})`,
      `3:8: bad queue name "q:1" (${rule})`,
    ]);
    expect(problemsOf(`name: ${'a'.repeat(64)}\nschedule: "@daily"\n`)).toHaveLength(1);
    expect(problemsOf(`name: ${'a'.repeat(63)}\nschedule: "@daily"\n`)).toEqual([]);
  });

  it('suggests a close time zone', () => {
    expect(problemsOf('name: j\nschedule: "@daily"\ntimezone: America/New_Yrok\n')).toEqual([
      '3:11: unknown time zone "America/New_Yrok" (did you mean "America/New_York"? use an IANA zone such as "Europe/London" or "UTC")',
    ]);
  });

  it('refuses payload values JSON cannot carry', () => {
    expect(problemsOf('name: j\nschedule: "@daily"\npayload:\n  limit: .inf\n')).toEqual([
      '4:10: payload.limit must be a JSON value (null, true/false, a string, a finite number, a list or a mapping), got Infinity',
    ]);
  });

  it('lists the allowed keys and suggests "jobs" at the top level', () => {
    expect(problemsOf('job:\n  - name: a\n')).toEqual([
      '1:1: missing required key "name"',
      '1:1: missing required key "schedule"',
      `1:1: unknown key "job" (did you mean "jobs"? allowed keys: ${ALLOWED})`,
    ]);
    expect(problemsOf('name: j\nschedule: "@daily"\ncolour: red\n')).toEqual([
      `3:1: unknown key "colour" (allowed keys: ${ALLOWED})`,
    ]);
  });

  it('refuses other keys beside jobs:, a jobs: that is not a list, and entries that are not mappings', () => {
    expect(problemsOf('name: x\njobs:\n  - name: a\n    schedule: "@daily"\n')).toEqual([
      '1:1: unknown key "name" beside jobs (a file holds one job (a mapping with name, schedule, ...) or jobs: followed by a list of jobs, not both)',
    ]);
    expect(problemsOf('jobs:\n')).toEqual([
      '1:1: jobs must be a list of jobs, got null (an empty value)',
    ]);
    expect(problemsOf('jobs:\n  - nightly\n')).toEqual([
      '2:5: a job must be a mapping with at least name and schedule, got "nightly"',
    ]);
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(problemsOf('# nothing yet\n')).toEqual([
      '1:1: empty file (a file holds one job (a mapping with name, schedule, ...) or jobs: followed by a list of jobs)',
    ]);
    expect(problemsOf('- name: a\n')).toEqual([
      '1:1: a file holds one job (a mapping with name, schedule, ...) or jobs: followed by a list of jobs, got a list',
    ]);
  });

  it('reports YAML errors with their position and stops there', () => {
    expect(problemsOf('name: j\nschedule: "@daily\n')).toEqual([
      '3:1: YAML error: Missing closing "quote',
    ]);
    expect(problemsOf('name: j\nschedule: "@daily"\nname: k\n')).toEqual([
      '3:1: duplicate key "name" (a key may appear only once in a mapping)',
    ]);
    expect(problemsOf('name: j\n---\nname: k\n')[0]).toMatch(
      /^2:1: YAML error: more than one document/,
    );
  });

  it('reports duplicate names inside a file at every occurrence and keeps neither', () => {
    const result = parseDefinitionsFile(
      'f.yaml',
      'jobs:\n  - name: a\n    schedule: "@daily"\n  - name: a\n    schedule: "@hourly"\n',
    );
    expect(result.jobs).toEqual([]);
    expect(result.problems.map((p) => `${p.line}:${p.col}: ${p.message}`)).toEqual([
      '2:11: duplicate job name "a" (also defined at f.yaml:4:11)',
      '4:11: duplicate job name "a" (also defined at f.yaml:2:11)',
    ]);
  });
});
