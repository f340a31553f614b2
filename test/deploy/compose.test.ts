// The container stack for real: docker-compose.yaml as committed, on images built from
// deploy/Dockerfile, under a project name of its own. Run by `npm run test:deploy`
// (scripts/test-deploy.sh), which installs Docker, starts the engine and builds the images first.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOCKER = process.env.BATON_DOCKER || 'docker';
// scripts/test-deploy.sh names the project (and takes it down whatever happens to this file).
const PROJECT =
  process.env.BATON_DEPLOY_PROJECT || `baton-deploy-${randomBytes(4).toString('hex')}`;
const SCHEDULERS = ['scheduler-1', 'scheduler-2', 'scheduler-3'];
/** The schedulers' BATON_LEASE_TTL in docker-compose.yaml. */
const LEASE_TTL_MS =
  Number(
    (
      parse(readFileSync(path.join(ROOT, 'docker-compose.yaml'), 'utf8'), { merge: true }) as {
        services: Record<string, { environment: Record<string, string> }>;
      }
    ).services['scheduler-1']!.environment.BATON_LEASE_TTL,
  ) * 1_000;

async function docker(...args: string[]): Promise<string> {
  return (await run(DOCKER, args, { maxBuffer: 64 << 20 })).stdout.trim();
}

async function compose(...args: string[]): Promise<string> {
  const { stdout } = await run(
    'docker-compose',
    ['-p', PROJECT, '-f', 'docker-compose.yaml', ...args],
    {
      cwd: ROOT,
      maxBuffer: 64 << 20,
    },
  );
  return stdout.trim();
}

/** Container ids of a service (running or not). */
async function containers(service: string): Promise<string[]> {
  return (await compose('ps', '-q', service)).split('\n').filter(Boolean);
}

async function running(id: string): Promise<boolean> {
  return (await docker('inspect', '-f', '{{.State.Running}}', id)) === 'true';
}

/** `baton <args>` inside a running container of one of the given services (its environment). */
async function baton(services: string[], ...args: string[]): Promise<string> {
  for (const s of services) {
    for (const id of await containers(s)) {
      if (await running(id)) {
        return docker('exec', id, 'node', 'dist/src/bin/baton.js', ...args);
      }
    }
  }
  throw new Error(`no running container among ${services.join(', ')}`);
}

async function batonJson<T>(args: string[], services = SCHEDULERS): Promise<T> {
  return JSON.parse(await baton(services, ...args, '--json')) as T;
}

interface Status {
  leader: string | null;
  members: { id: string; state: string; http: string | null }[];
}
interface RunEntry {
  kind: 'run' | 'skip';
  fireId: string;
  status: string;
  reason: string | null;
  worker: string;
  error: string | null;
  result: unknown;
}

/**
 * `baton status --json` from one of `services`, answering `null` while it cannot say (CLI exit 3);
 * exit 1 (no leader) still prints the status.
 */
async function status(services = SCHEDULERS): Promise<Status | null> {
  try {
    return await batonJson<Status>(['status'], services);
  } catch (err) {
    const out = (err as { stdout?: string }).stdout;
    return out ? (JSON.parse(out) as Status) : null;
  }
}

async function runs(job: string): Promise<RunEntry[]> {
  const h = await batonJson<{ entries: RunEntry[] }>(['history', job, '--limit', '50']);
  return h.entries.filter((e) => e.kind === 'run');
}

/**
 * Checks `probe` until it returns a value (not undefined), at most `timeoutMs`. Every probe is a
 * `docker exec` into the stack (no event reaches the test from inside the containers).
 */
function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  return waitFor(probe, { timeoutMs, intervalMs: 250, description: what });
}

/** The run of `fireId` once it has ended; a failed run fails the test with its error. */
async function finished(job: string, fireId: string, timeoutMs = 90_000): Promise<RunEntry> {
  const r = await until(`${fireId} to end`, timeoutMs, async () =>
    (await runs(job)).find((e) => e.fireId === fireId && e.status !== 'running'),
  );
  expect(r.status, `${fireId}: ${r.error}`).toBe('completed');
  return r;
}

async function trigger(job: string, payload?: unknown): Promise<string> {
  const extra = payload === undefined ? [] : ['--payload', JSON.stringify(payload)];
  return (await batonJson<{ fireId: string }>(['trigger', job, ...extra])).fireId;
}

async function leaderService(): Promise<string> {
  return until('a leader', 60_000, async () => (await status())?.leader ?? undefined);
}

async function workerIds(): Promise<Map<string, string>> {
  // A worker's id is <hostname>-<pid>; a container's hostname is its short id.
  const ids = await containers('worker');
  return new Map(ids.map((id) => [id.slice(0, 12), id]));
}

/** Time (epoch ms, from its log) of the first line of a container matching `msg` after `since`. */
async function logged(service: string, msg: RegExp, since = 0): Promise<number | undefined> {
  for (const id of await containers(service)) {
    const { stdout } = await run(DOCKER, ['logs', id], { maxBuffer: 64 << 20 });
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as { time: number; msg: string };
      if (rec.time >= since && msg.test(rec.msg)) return rec.time;
    }
  }
  return undefined;
}

function workerOf(entry: RunEntry, workers: Map<string, string>): string | undefined {
  return [...workers].find(([host]) => entry.worker.startsWith(`${host}-`))?.[1];
}

let downDone = false;

beforeAll(async () => {
  await compose('up', '-d', '--no-build');
}, 180_000);

afterAll(async () => {
  if (!downDone) await compose('down', '-v', '--remove-orphans').catch(() => undefined);
}, 120_000);

describe('docker-compose.yaml', () => {
  it('runs 3 etcd members, and one leader among three schedulers that advertise reachable URLs', async () => {
    // etcdctl of the baton image (the etcd image has none), from the compose network.
    const etcdMembers = await until('etcd answering', 60_000, async () =>
      docker(
        'exec',
        (await containers('scheduler-1'))[0]!,
        'etcdctl',
        '--endpoints=http://etcd-1:2379',
        'member',
        'list',
      ),
    );
    expect(etcdMembers.split('\n').filter((l) => l.includes('started'))).toHaveLength(3);

    const s = await until('a leader and 3 replicas', 90_000, async () => {
      const st = await status();
      return st?.leader && st.members.length === 3 ? st : undefined;
    });
    expect(s.members.filter((m) => m.state === 'leader').map((m) => m.id)).toEqual([s.leader]);
    expect(SCHEDULERS).toContain(s.leader);
    expect(s.members.map((m) => m.http).sort()).toEqual(SCHEDULERS.map((n) => `http://${n}:8080`));
  }, 150_000);

  it('runs the heartbeat on a worker', async () => {
    const workers = await workerIds();
    expect(workers.size).toBe(2);
    const done = await until('a completed heartbeat', 60_000, async () =>
      (await runs('heartbeat')).find((e) => e.status === 'completed'),
    );
    expect(workerOf(done, workers), done.worker).toBeDefined();
  }, 90_000);

  it('takes full and delta etcd snapshots into the workers’ data volume', async () => {
    const full = await finished('etcd-full-snapshot', await trigger('etcd-full-snapshot'));
    const delta = await finished('etcd-delta-snapshot', await trigger('etcd-delta-snapshot'));
    expect(full.status).toBe('completed');
    expect(delta.status).toBe('completed');
    const [worker] = await containers('worker');
    const files = await docker('exec', worker!, 'ls', '/app/.baton/backups/etcd');
    expect(files.split('\n').length).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('dials every customer through the telephony sink', async () => {
    const fireId = await trigger('appointment-dialer');
    const run = await finished('appointment-dialer', fireId);
    expect(run.result).toMatchObject({ called: expect.any(Number), duplicates: 0 });
    expect((run.result as { called: number }).called).toBeGreaterThan(0);
    // Through the port compose publishes on loopback.
    const calls = (await (
      await fetch(`http://127.0.0.1:4010/calls?fireId=${encodeURIComponent(fireId)}`)
    ).json()) as unknown[];
    expect(calls).toHaveLength((run.result as { called: number }).called);
  }, 150_000);

  it('fails over when the leader is killed (once its lease expires)', async () => {
    const old = await leaderService();
    const [id] = await containers(old);
    const others = SCHEDULERS.filter((n) => n !== old);
    const killedAt = Date.now();
    await docker('kill', id!);
    const next = await until('a new leader', 30_000, async () => {
      const l = (await status(others))?.leader;
      return l && l !== old ? l : undefined;
    });
    expect(SCHEDULERS).toContain(next);
    // From the new leader's log: it waited for the killed leader's lease (kept alive every
    // TTL/3) to expire.
    const electedAt = (await logged(next, /-> leader$/, killedAt))!;
    expect(electedAt - killedAt).toBeGreaterThanOrEqual(LEASE_TTL_MS / 3);
    await compose('start', old);
    await until(`${old} back as a follower`, 60_000, async () => {
      const st = await status();
      return st?.members.find((m) => m.id === old && m.state === 'follower');
    });
  }, 150_000);

  it('hands over at once when the leader is stopped (lease revoked, exit 0)', async () => {
    const old = await leaderService();
    const [id] = await containers(old);
    const t0 = Date.now();
    const others = SCHEDULERS.filter((n) => n !== old);
    await docker('stop', id!);
    const next = await until('a new leader', 30_000, async () => {
      const l = (await status(others))?.leader;
      return l && l !== old ? l : undefined;
    });
    expect(SCHEDULERS).toContain(next);
    // From the logs: the next replica led well before the lease could have expired, because the
    // stopping leader revoked it.
    const stoppingAt = (await logged(old, /^shutting down$/, t0))!;
    const electedAt = (await logged(next, /-> leader$/, t0))!;
    expect(stoppingAt).toBeDefined();
    expect(electedAt - stoppingAt).toBeLessThan(LEASE_TTL_MS / 2);
    expect(await docker('inspect', '-f', '{{.State.ExitCode}}', id!)).toBe('0');
    await compose('start', old);
  }, 120_000);

  it('a worker stopped mid-run hands its run back to the other worker', async () => {
    const workers = await workerIds();
    // A rolling defrag that waits 10 minutes between members: still running when its worker stops.
    const fireId = await trigger('etcd-defrag', { minDbSizeBytes: 0, pauseBetweenMembers: '10m' });
    const first = await until('the defrag running', 60_000, async () =>
      (await runs('etcd-defrag')).find((e) => e.fireId === fireId && e.status === 'running'),
    );
    const stoppedId = workerOf(first, workers)!;
    expect(stoppedId, first.worker).toBeDefined();
    await docker('stop', stoppedId);
    expect(await docker('inspect', '-f', '{{.State.ExitCode}}', stoppedId)).toBe('0');
    const entries = await until('the run handed back and running elsewhere', 90_000, async () => {
      const es = (await runs('etcd-defrag')).filter((e) => e.fireId === fireId);
      const back = es.find((e) => e.status === 'aborted' && e.reason === 'shutdown');
      const again = es.find((e) => e.status === 'running' && workerOf(e, workers) !== stoppedId);
      return back && again ? { back, again } : undefined;
    });
    expect(workerOf(entries.back, workers)).toBe(stoppedId);
    expect(workerOf(entries.again, workers)).toBeDefined();
  }, 180_000);

  it('down -v leaves no container, network or volume of the project', async () => {
    const label = `label=com.docker.compose.project=${PROJECT}`;
    expect(await docker('ps', '-aq', '--filter', label)).not.toBe('');
    await compose('down', '-v', '--remove-orphans');
    downDone = true;
    expect(await docker('ps', '-aq', '--filter', label)).toBe('');
    expect(await docker('network', 'ls', '-q', '--filter', label)).toBe('');
    expect(await docker('volume', 'ls', '-q', '--filter', label)).toBe('');
    expect(await docker('network', 'ls', '-q', '--filter', `name=${PROJECT}`)).toBe('');
    expect(await docker('volume', 'ls', '-q', '--filter', `name=${PROJECT}`)).toBe('');
  }, 120_000);
});
