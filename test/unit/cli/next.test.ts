import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../helpers/cli-in-process.js';
import { EXIT } from '../../../src/cli/exit.js';

afterEach(() => vi.restoreAllMocks());

const run = runCli;

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'baton-next-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('baton next on a job that is not loaded', () => {
  it('says the job was rejected, where it is defined and why, not "unknown job"', async () => {
    const dir = folder({
      'a.yaml':
        'jobs:\n  - name: billing\n    schedule: "0 61 * * *"\n  - name: ok\n    schedule: "@daily"\n',
    });
    const r = await run(['next', 'billing', '--jobs', dir]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(/a\.yaml:3:\d+: /); // the problem itself
    expect(r.err).toMatch(
      /job "billing" \(.*a\.yaml:2:\d+\) was rejected by validation: its file has a problem/,
    );
    expect(r.err).not.toMatch(/unknown job/i);
    // A valid job of the same file is not loaded either, and says why.
    const ok = await run(['next', 'ok', '--jobs', dir]);
    expect(ok.err).toMatch(/job "ok" .* was rejected by validation/);
  });

  it('names the files when two declare the same job', async () => {
    const dir = folder({
      'a.yaml': 'name: twice\nschedule: "@daily"\n',
      'b.yaml': 'name: twice\nschedule: "@hourly"\n',
    });
    const r = await run(['next', 'twice', '--jobs', dir]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(
      /job "twice" \(.*a\.yaml:1:\d+, .*b\.yaml:1:\d+\) was rejected by validation/,
    );
  });

  it('still says unknown job for a name no file declares', async () => {
    const dir = folder({ 'a.yaml': 'name: real\nschedule: "@daily"\n' });
    const r = await run(['next', 'ghost', '--jobs', dir]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(/unknown job/i);
  });
});
