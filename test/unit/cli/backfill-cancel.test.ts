import { describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/cli/exit.js';
import { runCli } from '../../helpers/cli-in-process.js';

// `baton backfill cancel <id>`: usage errors are refused with one line and exit 2 before any
// connection (nothing listens on the endpoints these runs would use).

const env = ['--etcd', 'http://127.0.0.1:1', '--timeout', '1'];

describe('baton backfill cancel: usage', () => {
  it.each([
    [['backfill', 'cancel'], 'baton backfill cancel needs the id of a backfill'],
    [['backfill', 'cancel', 'Not An Id'], 'backfill id "Not An Id": ids look like'],
    [
      ['backfill', 'cancel', 'miy3k2x0a-1f2e3d4c', '--rate', '5'],
      'takes an id and --json only, not --rate',
    ],
    [['backfill', 'cancel', 'miy3k2x0a-1f2e3d4c', '--dry-run'], 'not --dry-run'],
    [['backfill', 'nightly', 'miy3k2x0a-1f2e3d4c'], 'baton backfill takes one job name'],
    [['backfills', 'nope'], 'backfill id "nope": ids look like'],
  ])('baton %j', async (args, message) => {
    const r = await runCli([...env, ...args]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('a job named cancel is still backfilled: with --from/--to and no id it is a job name', async () => {
    // No definitions folder: reading the definitions is the backfill path (a cancel reads none).
    const r = await runCli([
      ...env,
      '--jobs',
      '/nonexistent-baton-jobs',
      'backfill',
      'cancel',
      '--from',
      '2026-01-01T00:00:00Z',
      '--to',
      '2026-01-02T00:00:00Z',
    ]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain('definitions folder "/nonexistent-baton-jobs" does not exist');
  });
});
