import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveConfig } from '../../src/config/index.js';
import { openControl, type ControlContext } from '../../src/control/context.js';
import { getStatus, type ClusterStatus } from '../../src/control/status.js';
import type { RunData } from '../../src/fire.js';
import { redisKeys, type RedisKeys } from '../../src/redis/keys.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from './process.js';
import { waitFor } from './wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI: integration tests run what users run (`npm test` builds first). */
export const BATON_BIN = path.join(ROOT, 'dist/src/bin/baton.js');

export interface StackOptions {
  etcd: string[];
  redisUrl: string;
  namespace: string;
  jobsDir: string;
  leaseTtl?: number;
}

/** One `baton scheduler` child process. */
export class ReplicaProcess {
  constructor(
    readonly id: string,
    readonly proc: ManagedProcess,
    /** Base URL of its HTTP API, when started with a port. */
    readonly http: string | null = null,
  ) {}

  /** The replica's own view (GET /readyz): works while etcd is unreachable. */
  async readiness(): Promise<{ ready: boolean; state: string }> {
    if (!this.http) throw new Error(`${this.id} has no HTTP port`);
    const res = await fetch(`${this.http}/readyz`);
    return (await res.json()) as { ready: boolean; state: string };
  }
  get pid(): number {
    return this.proc.pid;
  }
  kill9() {
    return this.proc.kill9();
  }
  /** SIGTERM and wait for a clean exit. */
  stop() {
    return this.proc.stop(10_000);
  }
  sigstop(): void {
    process.kill(this.pid, 'SIGSTOP');
  }
  sigcont(): void {
    process.kill(this.pid, 'SIGCONT');
  }
  log(lines = 80): string {
    return this.proc.logTail(lines);
  }
}

export function batonEnv(opts: StackOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BATON_ETCD: opts.etcd.join(','),
    BATON_REDIS: opts.redisUrl,
    BATON_NAMESPACE: opts.namespace,
    BATON_JOBS: opts.jobsDir,
    BATON_QUEUE_PREFIX: opts.namespace,
    BATON_LEASE_TTL: String(opts.leaseTtl ?? 2),
    BATON_LOG_LEVEL: 'debug',
  };
}

/** The Redis key layout of a stack: {@link batonEnv} uses the namespace as the queue prefix. */
export function stackKeys(opts: StackOptions): RedisKeys {
  return redisKeys(opts.namespace, opts.namespace);
}

export async function startReplica(
  opts: StackOptions,
  id: string,
  httpPort = 0,
  /** Extra environment, e.g. BATON_API_TOKEN or BATON_CLOCK_OFFSET_MS. */
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<ReplicaProcess> {
  const logDir = await makeTempDir(`baton-${id}-`);
  const proc = spawnManaged({
    name: `replica ${id}`,
    command: process.execPath,
    args: [BATON_BIN, 'scheduler', '--id', id],
    logFile: path.join(logDir, 'replica.log'),
    env: { ...batonEnv(opts), BATON_HTTP: String(httpPort), ...extraEnv },
  });
  return new ReplicaProcess(id, proc, httpPort === 0 ? null : `http://127.0.0.1:${httpPort}`);
}

/** Writes job definition files (name -> YAML text) into a fresh folder. */
export async function jobsFolder(files: Record<string, string>): Promise<string> {
  const dir = await makeTempDir('baton-jobs-');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

export function control(opts: StackOptions): ControlContext {
  return openControl(
    resolveConfig(
      {
        etcd: opts.etcd.join(','),
        redis: opts.redisUrl,
        namespace: opts.namespace,
        jobs: opts.jobsDir,
      },
      {},
    ),
  );
}

/** Waits until etcd names a leader whose member record says `leader` (and, optionally, who). */
export async function waitForLeader(
  ctx: ControlContext,
  predicate: (s: ClusterStatus) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<ClusterStatus> {
  return waitFor(
    async () => {
      const s = await getStatus(ctx);
      const member = s.members.find((m) => m.id === s.leader);
      return s.leader !== null && member?.state === 'leader' && predicate(s) ? s : undefined;
    },
    { timeoutMs, intervalMs: 50, description: 'a leader' },
  );
}

/** Every run baton put into `queue` (any state), as job.data. */
export async function queuedRuns(
  redisUrl: string,
  prefix: string,
  queue = 'baton',
): Promise<{ id: string; data: RunData; delay: number; timestamp: number }[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const q = new Queue(queue, { connection: redis, prefix });
  try {
    const jobs = await q.getJobs(
      ['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized'],
      0,
      -1,
    );
    return jobs.map((j) => ({
      id: j.id!,
      data: j.data as RunData,
      delay: j.delay,
      timestamp: j.timestamp,
    }));
  } finally {
    await q.close();
    redis.disconnect();
  }
}

/**
 * Scheduled instants (epoch ms) of the scheduled (not manual) runs of `job`, ascending, and the
 * runs. Throws if an instant appears twice (only possible if run ids stopped being fire ids).
 * It cannot see a fire executed twice: BullMQ keeps one job per id, so a second publish of a
 * fire leaves no trace here. To check "once", count executions (`executions.ts`).
 */
export async function scheduledRuns(opts: StackOptions, job: string) {
  const runs = (await queuedRuns(opts.redisUrl, opts.namespace)).filter(
    (r) => r.data.job === job && !r.data.manual,
  );
  const at = runs.map((r) => Date.parse(r.data.scheduledAt)).sort((a, b) => a - b);
  if (new Set(at).size !== at.length) throw new Error(`${job}: an instant was enqueued twice`);
  return { at, runs };
}
