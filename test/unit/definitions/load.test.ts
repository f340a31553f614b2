import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatProblem, UsageError } from '../../../src/errors.js';
import { displayPath, JOB_KEYS, loadDefinitions } from '../../../src/definitions/index.js';

const fixtures = fileURLToPath(new URL('../../fixtures/definitions/', import.meta.url));
const examples = fileURLToPath(new URL('../../../jobs/', import.meta.url));
const brokenDir = path.join(fixtures, 'broken');
const broken = (name: string): string => displayPath(path.join(brokenDir, name));

describe('loadDefinitions: valid fixtures', () => {
  it('loads both file shapes with defaults applied, in file order', async () => {
    const result = await loadDefinitions(path.join(fixtures, 'valid'));
    expect(result.problems).toEqual([]);
    expect([...result.files.keys()]).toEqual([
      displayPath(path.join(fixtures, 'valid/list.yaml')),
      displayPath(path.join(fixtures, 'valid/minimal.yaml')),
    ]);
    const [daily, cleanup, minimal] = result.jobs;
    expect(result.jobs.map((j) => j.name)).toEqual(['report.daily', 'cleanup_tmp', 'minimal']);
    expect(daily).toMatchObject({
      timezone: 'Europe/London',
      handler: 'report.daily',
      queue: 'baton',
      payload: { format: 'pdf', pages: [1, 2] },
      catchUp: 'all',
      catchUpLimit: 10,
      startingDeadlineMs: null,
      overlap: 'allow',
      jitterMs: 90_000,
      retries: { attempts: 4, backoff: 'exponential', delayMs: 1000 },
      timeoutMs: null,
      paused: false,
      retention: { ageMs: 30 * 86_400_000, count: 1000 },
      description: null,
      owner: null,
      tags: ['reports'],
      source: { file: displayPath(path.join(fixtures, 'valid/list.yaml')), line: 2, col: 11 },
    });
    expect(cleanup).toMatchObject({
      schedule: '*/30 * * * * *',
      timezone: 'UTC',
      handler: 'cleanup',
      queue: 'maintenance',
      catchUp: 'none',
      catchUpLimit: 100,
      startingDeadlineMs: 500,
      overlap: 'replace',
      jitterMs: 0,
      retries: { attempts: 2, backoff: 'fixed', delayMs: 0 },
      timeoutMs: 3_600_000,
      paused: true,
      retention: { ageMs: 7 * 86_400_000, count: 5 },
      description: 'Removes temporary files.',
      owner: 'ops',
      tags: [],
    });
    expect(minimal).toMatchObject({ name: 'minimal', schedule: '@hourly', handler: 'minimal' });
  });

  it('validates the examples in jobs/ with zero problems', async () => {
    const result = await loadDefinitions(examples);
    expect(result.problems.map(formatProblem)).toEqual([]);
    const byName = new Map(result.jobs.map((j) => [j.name, j]));
    expect([...byName.keys()].sort()).toEqual([
      'appointment-dialer',
      'etcd-defrag',
      'etcd-delta-snapshot',
      'etcd-full-snapshot',
      'heartbeat',
    ]);
    expect(byName.get('appointment-dialer')).toMatchObject({
      schedule: '0 9 * * 1-5',
      timezone: 'America/New_York',
      handler: 'appointment-dialer',
      overlap: 'forbid',
      catchUp: 'latest',
      startingDeadlineMs: 30 * 60_000,
      retries: { attempts: 3, backoff: 'exponential', delayMs: 10_000 },
      timeoutMs: 30 * 60_000,
      payload: { appointmentsFile: 'jobs/data/appointments.json' },
    });
    expect(byName.get('etcd-full-snapshot')).toMatchObject({
      schedule: '0 * * * *',
      queue: 'etcd-maintenance',
      overlap: 'forbid',
    });
    expect(byName.get('etcd-delta-snapshot')).toMatchObject({
      schedule: '*/5 * * * *',
      queue: 'etcd-maintenance',
      overlap: 'forbid',
    });
    expect(byName.get('etcd-defrag')).toMatchObject({
      schedule: '30 3 * * *',
      timezone: 'UTC',
      overlap: 'forbid',
      timeoutMs: 3_600_000,
    });
  });
});

describe('loadDefinitions: broken fixtures', () => {
  const load = loadDefinitions(brokenDir);
  const problemsIn = async (name: string) =>
    (await load).problems
      .filter((p) => p.file === broken(name))
      .map((p) => `${p.line}:${p.col}: ${p.message}`);

  it('names files relative to the working directory, as file:line:col', async () => {
    const first = (await load).problems[0]!;
    expect(path.isAbsolute(first.file)).toBe(false);
    expect(formatProblem(first)).toBe(
      `${broken('bad-cron.yaml')}:${first.line}:${first.col}: ${first.message}`,
    );
  });

  it('reports an unknown key with a did-you-mean', async () => {
    expect(await problemsIn('unknown-key.yaml')).toEqual([
      `3:1: unknown key "timzone" (did you mean "timezone"? allowed keys: ${JOB_KEYS.join(', ')})`,
    ]);
  });

  it('reports an invalid cron expression at the schedule value', async () => {
    expect(await problemsIn('bad-cron.yaml')).toEqual([
      '2:11: invalid cron expression "61 * * * *": minute 61 is out of range (allowed 0-59)',
    ]);
  });

  it('reports an unknown time zone at the timezone value', async () => {
    expect(await problemsIn('unknown-zone.yaml')).toEqual([
      '3:11: unknown time zone "Mars/Base" (use an IANA zone such as "Europe/London" or "UTC")',
    ]);
  });

  it('reports a bad duration and what is allowed', async () => {
    expect(await problemsIn('bad-duration.yaml')).toEqual([
      '3:9: bad duration "5 minutes" for jitter (use a number with a unit: 500ms, 30s, 5m, 1h, 7d)',
    ]);
  });

  it('reports wrong types as expected vs got', async () => {
    expect(await problemsIn('wrong-type.yaml')).toEqual([
      '3:9: paused must be true or false, got "yes"',
      '4:15: catchUpLimit must be a positive integer, got "ten"',
      '5:7: tags must be a list of strings, got "urgent"',
    ]);
  });

  it('reports a missing required key at the job mapping', async () => {
    expect(await problemsIn('missing-required.yaml')).toEqual([
      '3:1: missing required key "schedule"',
    ]);
  });

  it('reports a YAML syntax error with its position', async () => {
    // "   b: 2" is indented deeper than "  a: 1": yaml reads the value of a as a multi-line key.
    expect(await problemsIn('yaml-syntax.yaml')).toEqual([
      '4:6: YAML error: Nested mappings are not allowed in compact mappings',
      '4:6: YAML error: Implicit keys need to be on a single line',
    ]);
  });

  it('reports a bad name charset', async () => {
    expect(await problemsIn('bad-name.yaml')).toEqual([
      '1:7: bad job name "Nightly@Backup" (use 1-63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit; no "@", "/" or ":")',
    ]);
  });

  it('reports the bad entry of a jobs: list and keeps the whole file out', async () => {
    const result = await load;
    expect(await problemsIn('list-one-bad.yaml')).toEqual([
      '6:14: overlap must be one of allow, forbid, replace, got "sometimes"',
    ]);
    expect(result.files.get(broken('list-one-bad.yaml'))!.jobs.map((j) => j.name)).toEqual([
      'list-good',
    ]);
    expect(result.jobs).toEqual([]);
  });

  it('reports duplicate names across files at every location and runs neither', async () => {
    const dir = path.join(brokenDir, 'duplicate');
    const a = displayPath(path.join(dir, 'a.yaml'));
    const b = displayPath(path.join(dir, 'b.yaml'));
    const result = await loadDefinitions(dir);
    expect(result.problems.map(formatProblem)).toEqual([
      `${a}:1:7: duplicate job name "dup-job" (also defined at ${b}:5:11)`,
      `${b}:5:11: duplicate job name "dup-job" (also defined at ${a}:1:7)`,
    ]);
    expect(result.jobs.map((j) => j.name)).toEqual([]);
  });

  it('reads only *.yaml/*.yml directly in the folder (no subfolders, no dotfiles)', async () => {
    const result = await load;
    expect([...result.files.keys()].map((f) => path.basename(f))).toEqual([
      'bad-cron.yaml',
      'bad-duration.yaml',
      'bad-name.yaml',
      'list-one-bad.yaml',
      'missing-required.yaml',
      'unknown-key.yaml',
      'unknown-zone.yaml',
      'wrong-type.yaml',
      'yaml-syntax.yaml',
    ]);
  });

  it('throws a UsageError for a missing folder', async () => {
    await expect(loadDefinitions(path.join(fixtures, 'nope'))).rejects.toThrow(UsageError);
  });
});

describe('displayPath', () => {
  it('is relative inside the working directory and absolute outside', () => {
    expect(displayPath(path.join(process.cwd(), 'jobs', 'a.yaml'))).toBe(
      path.join('jobs', 'a.yaml'),
    );
    expect(displayPath('/elsewhere/a.yaml')).toBe('/elsewhere/a.yaml');
  });
});
