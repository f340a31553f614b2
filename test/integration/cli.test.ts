import { describe, expect, inject, it } from 'vitest';
import { baton, NO_STACK } from '../helpers/cli.js';
import { jobsFolder } from '../helpers/replicas.js';

describe('baton CLI as a subprocess', () => {
  it('validate: exit 0 on the examples, exit 1 with file:line:col for every broken file', async () => {
    const ok = await baton(['validate', 'jobs']);
    expect(ok.code).toBe(0);
    const bad = await baton(['validate', 'test/fixtures/definitions/broken']);
    expect(bad.code).toBe(1);
    const lines = bad.stderr.trim().split('\n');
    for (const file of [
      'bad-cron',
      'bad-duration',
      'bad-name',
      'list-one-bad',
      'missing-required',
      'unknown-key',
      'unknown-zone',
      'wrong-type',
      'yaml-syntax',
    ]) {
      expect(lines.some((l) => new RegExp(`broken/${file}\\.yaml:\\d+:\\d+: \\S`).test(l))).toBe(
        true,
      );
    }
    expect(lines.every((l) => /^\S+\.yaml:\d+:\d+: /.test(l))).toBe(true);
    expect(bad.stderr).not.toMatch(NO_STACK);
  });

  it('next: ISO instants with the zone offset across a DST change, --json, --from', async () => {
    const dir = await jobsFolder({
      'a.yaml': 'name: skipped-hour\nschedule: "30 2 * * *"\ntimezone: America/New_York\n',
    });
    const r = await baton([
      'next',
      'skipped-hour',
      '--jobs',
      dir,
      '--from',
      '2024-03-09T12:00:00-05:00',
      '--count',
      '3',
      '--json',
    ]);
    expect(r.code).toBe(0);
    // 2024-03-10 02:30 does not exist in New York: it runs once right after the change, at 03:00 EDT.
    expect(JSON.parse(r.stdout)).toEqual([
      '2024-03-10T03:00:00-04:00',
      '2024-03-11T02:30:00-04:00',
      '2024-03-12T02:30:00-04:00',
    ]);
    const dialer = await baton([
      'next',
      'appointment-dialer',
      '--jobs',
      'jobs',
      '--from',
      '2024-11-01T12:00:00-04:00',
      '--count',
      '2',
    ]);
    expect(dialer.stdout.trim().split('\n')).toEqual([
      '2024-11-04T09:00:00-05:00',
      '2024-11-05T09:00:00-05:00',
    ]);
  });

  it('unknown job and bad flags: exit 2 with one line', async () => {
    const r = await baton(['next', 'nope', '--jobs', 'jobs']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('baton: unknown job "nope"');
    const c = await baton(['next', 'appointment-dialer', '--jobs', 'jobs', '--count', 'many']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('--count must be a whole number');
  });

  it('etcd unreachable: one clear line, exit 3, no stack', async () => {
    for (const args of [
      ['status'],
      ['members', '--json'],
      ['pause', 'x'],
      ['resume', 'x'],
      ['trigger', 'x'],
    ]) {
      const r = await baton(args, { BATON_ETCD: 'http://127.0.0.1:1' });
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^baton: cannot reach etcd at http:\/\/127\.0\.0\.1:1/);
      expect(r.stderr).not.toMatch(NO_STACK);
    }
  });

  it('jobs: etcd or Redis unreachable gives one clear line and exit 3', async () => {
    const noEtcd = await baton(['jobs', '--jobs', 'jobs'], {
      BATON_ETCD: 'http://127.0.0.1:1',
      BATON_REDIS: inject('redisUrl'),
    });
    expect(noEtcd.code).toBe(3);
    expect(noEtcd.stderr.trim().split('\n')).toHaveLength(1);
    expect(noEtcd.stderr).toMatch(/^baton: cannot reach etcd at http:\/\/127\.0\.0\.1:1/);
    const noRedis = await baton(['jobs', '--jobs', 'jobs', '--json'], {
      BATON_ETCD: inject('etcdEndpoint'),
      BATON_REDIS: 'redis://127.0.0.1:1',
    });
    expect(noRedis.code).toBe(3);
    expect(noRedis.stderr.trim().split('\n')).toHaveLength(1);
    expect(noRedis.stderr).toMatch(
      /^baton: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 to read the last runs: /,
    );
    expect(noRedis.stdout).toBe('');
  });

  it('--help lists every subcommand, and every read command offers --json', async () => {
    const r = await baton(['--help']);
    expect(r.code).toBe(0);
    // prettier-ignore
    const commands = ['status', 'members', 'jobs', 'next', 'validate', 'pause', 'resume', 'trigger', 'history', 'scheduler', 'worker', 'dev'];
    for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const c of ['status', 'members', 'jobs', 'next', 'history', 'validate']) {
      const help = await baton([c, '--help']);
      expect(help.code, c).toBe(0);
      expect(help.stdout, c).toMatch(/^\s+--json\s/m);
    }
  });

  it('--help lists the environment variables', async () => {
    const r = await baton(['--help']);
    expect(r.code).toBe(0);
    for (const v of [
      'BATON_ETCD',
      'BATON_REDIS',
      'BATON_NAMESPACE',
      'BATON_JOBS',
      'BATON_API_TOKEN',
    ])
      expect(r.stdout).toContain(v);
  });
});
