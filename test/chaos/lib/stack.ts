import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveConfig } from '../../../src/config/index.js';
import { openControl, type ControlContext } from '../../../src/control/context.js';
import { getStatus } from '../../../src/control/status.js';
import { startEtcdCluster, type EtcdCluster } from '../../helpers/etcd.js';
import { spawnManaged, type ManagedProcess } from '../../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../../helpers/proxy.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { BATON_BIN } from '../../helpers/replicas.js';
import { waitFor } from '../../helpers/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const LEDGER_HANDLERS = path.join(ROOT, 'test/fixtures/handlers/ledger.mjs');
/**
 * The `baton` CLI the stack runs: this checkout's build, or `BATON_CHAOS_BIN` (another build's
 * `dist/src/bin/baton.js`, e.g. an older commit's, to show what the suite finds there).
 */
export const CHAOS_BIN = process.env.BATON_CHAOS_BIN || BATON_BIN;

/** The chaos suite's jobs: file name -> YAML. All run the fixture `ledger` handler. */
export const CHAOS_JOBS: Record<string, string> = {
  'tick.yaml': [
    'name: tick',
    'schedule: "* * * * * *"',
    'handler: ledger',
    'catchUp: all',
    'retention: { age: 1d, count: 100000 }',
    'payload: { sleepMs: 50 }',
    '',
  ].join('\n'),
  'tock.yaml': [
    'name: tock',
    'schedule: "*/3 * * * * *"',
    'handler: ledger',
    'catchUp: all',
    'retention: { age: 1d, count: 100000 }',
    'payload: { sleepMs: 200 }',
    '',
  ].join('\n'),
  // Runs 3 s, fires every 2 s: every other fire meets a running one.
  'slow.yaml': [
    'name: slow',
    'schedule: "*/2 * * * * *"',
    'handler: ledger',
    'catchUp: all',
    'overlap: forbid',
    'retention: { age: 1d, count: 100000 }',
    'payload: { sleepMs: 3000 }',
    '',
  ].join('\n'),
};

/** Job names and schedules, for the analysis. */
export const CHAOS_SCHEDULES: { name: string; schedule: string }[] = [
  { name: 'tick', schedule: '* * * * * *' },
  { name: 'tock', schedule: '*/3 * * * * *' },
  { name: 'slow', schedule: '*/2 * * * * *' },
];

export interface ChaosStackOptions {
  /** Where logs, the ledger and the jobs folder go (kept after the run). */
  dir: string;
  namespace: string;
  leaseTtl: number;
  /** Redis `appendfsync`. */
  fsync: 'everysec' | 'always';
  /** Appended to every line of the harness log. */
  log: (line: string) => void;
}

/** Lines appended to a log file since `offset`, and the new offset. */
export function readFrom(file: string, offset: number): { text: string; offset: number } {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size <= offset) return { text: '', offset };
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n') + 1; // only whole lines
    return { text: text.slice(0, end), offset: offset + Buffer.byteLength(text.slice(0, end)) };
  } catch {
    return { text: '', offset };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fileSize(file: string): number {
  try {
    const fd = openSync(file, 'r');
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch {
    return 0;
  }
}

/** Waits until `file` gets a line matching `re` after byte `offset`. */
export async function waitForLogLine(
  file: string,
  offset: number,
  re: RegExp,
  what: string,
  timeoutMs = 30_000,
  alive?: () => boolean,
): Promise<void> {
  await waitFor(
    () => {
      if (alive && !alive()) throw new Error(`${what}: the process exited`);
      return re.test(readFrom(file, offset).text);
    },
    { timeoutMs, intervalMs: 100, description: what },
  );
}

/** A process of the stack that exited without the harness asking it to (a crash). */
export interface UnexpectedExit {
  process: string;
  pid: number;
  t: number;
  code: number | null;
  signal: string | null;
  /** The last lines of its log (the crash's stack trace). */
  logTail: string;
}

/** Records exits nobody asked for. */
function watchExit(
  name: string,
  proc: ManagedProcess,
  expected: () => boolean,
  exits: UnexpectedExit[],
): void {
  void proc.exited.then((info) => {
    if (expected()) return;
    exits.push({
      process: name,
      pid: proc.pid,
      t: Date.now(),
      code: info.code,
      signal: info.signal,
      logTail: proc.logTail(25),
    });
  });
}

/** One `baton scheduler` reaching etcd and Redis only through its own TCP proxies. */
export class ChaosReplica {
  proc: ManagedProcess | undefined;
  clockOffsetMs = 0;
  readonly pids: number[] = [];
  #stopping = false;

  constructor(
    readonly id: string,
    readonly logFile: string,
    readonly etcdProxies: TcpProxy[],
    readonly redisProxy: TcpProxy,
    private readonly env: NodeJS.ProcessEnv,
    private readonly exits: UnexpectedExit[],
  ) {}

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  start(): void {
    if (this.running) throw new Error(`${this.id} is already running`);
    this.proc = spawnManaged({
      name: `replica ${this.id}`,
      command: process.execPath,
      args: [CHAOS_BIN, 'scheduler', '--id', this.id],
      logFile: this.logFile,
      env: {
        ...this.env,
        BATON_ETCD: this.etcdProxies.map((p) => p.endpoint).join(','),
        BATON_REDIS: `redis://127.0.0.1:${this.redisProxy.port}`,
        BATON_CLOCK_OFFSET_MS: String(this.clockOffsetMs),
      },
    });
    this.pids.push(this.proc.pid);
    const proc = this.proc;
    this.#stopping = false;
    watchExit(`replica ${this.id}`, proc, () => this.#stopping || this.proc !== proc, this.exits);
  }

  async kill9(): Promise<void> {
    this.#stopping = true;
    this.sigcont();
    await this.proc?.kill9();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.sigcont();
    await this.proc?.stop(10_000);
  }

  sigstop(): void {
    if (this.running) process.kill(this.proc!.pid, 'SIGSTOP');
  }

  sigcont(): void {
    if (this.running) process.kill(this.proc!.pid, 'SIGCONT');
  }

  cutEtcd(): void {
    for (const p of this.etcdProxies) p.cut('blackhole');
  }

  restoreEtcd(): void {
    for (const p of this.etcdProxies) if (p.cutMode !== undefined) p.restore();
  }

  restoreRedis(): void {
    if (this.redisProxy.cutMode !== undefined) this.redisProxy.restore();
  }
}

/** One `baton worker` running the ledger handler. */
export class ChaosWorker {
  proc: ManagedProcess | undefined;
  readonly pids: number[] = [];
  #stopping = false;

  constructor(
    readonly id: string,
    readonly logFile: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly exits: UnexpectedExit[],
  ) {}

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  get pid(): number | undefined {
    return this.running ? this.proc!.pid : undefined;
  }

  /** Starts the worker and waits until it takes runs (`worker ready`). */
  async start(): Promise<void> {
    const offset = fileSize(this.logFile);
    this.proc = spawnManaged({
      name: `worker ${this.id}`,
      command: process.execPath,
      // prettier-ignore
      args: [
        CHAOS_BIN, 'worker', '--id', this.id, '--no-examples', '--handlers', LEDGER_HANDLERS,
        // A killed worker's runs are handed out again within seconds, not the default 30 s.
        '--lock-duration', '5s', '--stalled-interval', '2s', '--grace', '5s',
      ],
      logFile: this.logFile,
      env: { ...this.env, BATON_ID: this.id },
    });
    this.pids.push(this.proc.pid);
    const proc = this.proc;
    this.#stopping = false;
    watchExit(`worker ${this.id}`, proc, () => this.#stopping || this.proc !== proc, this.exits);
    await waitForLogLine(
      this.logFile,
      offset,
      /"msg":"worker ready"/,
      `worker ${this.id} ready`,
      30_000,
      () => proc.running,
    );
  }

  async kill9(): Promise<void> {
    this.#stopping = true;
    await this.proc?.kill9();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.proc?.stop(15_000);
  }
}

/**
 * The system under test: a 3-member etcd cluster, Redis with AOF, three scheduler replicas (each
 * behind its own proxies to every etcd member and to Redis, so one replica can be partitioned),
 * two workers. Everything on loopback, on free ports.
 */
export class ChaosStack {
  cluster!: EtcdCluster;
  redis!: RedisServer;
  replicas: ChaosReplica[] = [];
  workers: ChaosWorker[] = [];
  proxies: TcpProxy[] = [];
  /** Replicas and workers that exited on their own (crashes). */
  readonly unexpectedExits: UnexpectedExit[] = [];
  ctx!: ControlContext;
  readonly jobsDir: string;
  readonly ledgerFile: string;

  constructor(readonly options: ChaosStackOptions) {
    this.jobsDir = path.join(options.dir, 'jobs');
    this.ledgerFile = path.join(options.dir, 'ledger.jsonl');
  }

  get namespace(): string {
    return this.options.namespace;
  }

  /** The environment of a `baton` command against this stack (straight to etcd and Redis). */
  controlEnv(): NodeJS.ProcessEnv {
    return {
      BATON_ETCD: this.cluster.endpointsCsv,
      BATON_REDIS: this.redis.url,
      BATON_NAMESPACE: this.namespace,
      BATON_QUEUE_PREFIX: this.namespace,
      BATON_JOBS: this.jobsDir,
    };
  }

  /** Starts everything; on failure stops what was started and rethrows. */
  async start(): Promise<void> {
    try {
      await this.startInner();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async startInner(): Promise<void> {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(this.jobsDir, { recursive: true });
    for (const [name, text] of Object.entries(CHAOS_JOBS)) {
      await writeFile(path.join(this.jobsDir, name), text);
    }
    await writeFile(this.ledgerFile, '');
    const [cluster, redis] = await Promise.all([
      startEtcdCluster({ size: 3 }),
      startRedis({ extraArgs: ['--appendfsync', this.options.fsync] }),
    ]);
    this.cluster = cluster;
    this.redis = redis;
    this.ctx = openControl(
      resolveConfig(
        { etcd: cluster.endpointsCsv, redis: redis.url, namespace: this.namespace },
        {},
      ),
    );
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      BATON_NAMESPACE: this.namespace,
      BATON_QUEUE_PREFIX: this.namespace,
      BATON_JOBS: this.jobsDir,
      BATON_LEASE_TTL: String(this.options.leaseTtl),
      BATON_LOG_LEVEL: 'info',
      BATON_HTTP: '0',
    };
    for (const id of ['r1', 'r2', 'r3']) {
      const etcdProxies = await Promise.all(
        cluster.members.map((m) => startTcpProxy({ port: m.clientPort })),
      );
      const redisProxy = await startTcpProxy({ port: redis.port });
      this.proxies.push(...etcdProxies, redisProxy);
      const r = new ChaosReplica(
        id,
        path.join(this.options.dir, `replica-${id}.log`),
        etcdProxies,
        redisProxy,
        base,
        this.unexpectedExits,
      );
      this.replicas.push(r);
      r.start();
    }
    for (const id of ['w1', 'w2']) {
      const w = new ChaosWorker(
        id,
        path.join(this.options.dir, `worker-${id}.log`),
        {
          ...base,
          BATON_REDIS: redis.url,
          BATON_CHAOS_LEDGER: this.ledgerFile,
        },
        this.unexpectedExits,
      );
      this.workers.push(w);
    }
    await Promise.all(this.workers.map((w) => w.start()));
    await this.leader(30_000);
  }

  replica(id: string): ChaosReplica {
    const r = this.replicas.find((x) => x.id === id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
  }

  /** The replica etcd names leader (lowest campaign key) whose member record says `leader`. */
  async leader(timeoutMs = 20_000, not?: ChaosReplica): Promise<ChaosReplica> {
    const id = await waitFor(
      async () => {
        const s = await getStatus(this.ctx);
        const member = s.members.find((m) => m.id === s.leader);
        if (s.leader === null || member?.state !== 'leader') return undefined;
        if (not && s.leader === not.id) return undefined;
        return s.leader;
      },
      {
        timeoutMs,
        intervalMs: 100,
        description: not ? `a leader other than ${not.id}` : 'a leader',
      },
    );
    return this.replica(id);
  }

  /** The current leader's id, or null (no waiting; null when etcd cannot say). */
  async leaderNow(): Promise<string | null> {
    try {
      return (await getStatus(this.ctx)).leader;
    } catch {
      return null;
    }
  }

  /** Number of outbox entries in etcd. */
  async outboxSize(): Promise<number> {
    const keys = await this.ctx.etcd.getAll().prefix(this.ctx.keys.outboxPrefix).keys();
    return keys.length;
  }

  /** Fire ids of the run orders in the etcd outbox. */
  async outboxFireIds(): Promise<string[]> {
    const values = await this.ctx.etcd.getAll().prefix(this.ctx.keys.outboxPrefix).strings();
    const ids: string[] = [];
    for (const v of Object.values(values)) {
      try {
        for (const o of JSON.parse(v) as { kind: string; data?: { fireId: string } }[]) {
          if (o.kind === 'run' && o.data) ids.push(o.data.fireId);
        }
      } catch {
        // not an outbox entry
      }
    }
    return ids;
  }

  /** Runs of the queue not yet finished (waiting, delayed, active, prioritized). */
  async pendingRuns(): Promise<number> {
    const redis = new Redis(this.redis.url, { maxRetriesPerRequest: 1 });
    const q = new Queue('baton', { connection: redis, prefix: this.namespace });
    try {
      const c = await q.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return Object.values(c).reduce((a, b) => a + b, 0);
    } finally {
      await q.close();
      redis.disconnect();
    }
  }

  /** Stops everything this stack started (safe to call twice, and after a failed start). */
  async stop(): Promise<void> {
    await Promise.allSettled([
      ...this.replicas.map((r) => r.kill9()),
      ...this.workers.map((w) => w.kill9()),
    ]);
    await Promise.allSettled(this.proxies.map((p) => p.close()));
    this.ctx?.close();
    await Promise.allSettled([this.cluster?.stopAll(), this.redis?.stopAll()]);
  }
}
