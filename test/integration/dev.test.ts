import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import path from 'node:path';
import { expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir, processesMentioning } from '../helpers/process.js';
import { BATON_BIN } from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

it('baton dev runs the whole stack, shows fires and runs, and Ctrl-C leaves nothing running', async () => {
  const dir = await makeTempDir('baton-dev-');
  const [etcd, redis, http, sink] = await freePorts(4);
  const child = spawn(
    process.execPath,
    // prettier-ignore
    [BATON_BIN, 'dev', '--dir', path.join(dir, 'dev'), '--etcd-port', String(etcd), '--redis-port', String(redis),
      '--http-port', String(http), '--sink-port', String(sink), '--replicas', '2', '--workers', '1'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', BATON_LEASE_TTL: '2' },
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor(() => /dashboard\s+http:\/\/127\.0\.0\.1:\d+\/#token=\S+/.test(out), {
      timeoutMs: 30_000,
      description: 'dashboard URL',
    });
    // The heartbeat demo job fires every 15 s: a leader, a fire and its run show up.
    await waitFor(() => /state follower -> leader/.test(out), {
      timeoutMs: 30_000,
      description: 'a leader',
    });
    await waitFor(
      () => /fire heartbeat@\d+ token \d+/.test(out) && /run completed heartbeat@\d+/.test(out),
      {
        timeoutMs: 40_000,
        description: 'a fire and its run',
      },
    );
    const res = await fetch(`http://127.0.0.1:${http}/api/v1/status`);
    const status = (await res.json()) as { leader: string | null; members: unknown[] };
    expect(status.leader).toMatch(/^scheduler-\d$/);
    expect(status.members).toHaveLength(2);
  } finally {
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  }
  // Nothing it started is left: no etcd or redis on its data folder, nothing on its ports.
  expect(processesMentioning(dir)).toEqual([]);
  for (const port of [etcd, redis, http, http! + 1, sink])
    expect(await listening(port!)).toBe(false);
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
