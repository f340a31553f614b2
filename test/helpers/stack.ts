import { Redis } from 'ioredis';
import { inject } from 'vitest';
import type { ControlContext } from '../../src/control/context.js';
import type { RedisKeys } from '../../src/redis/keys.js';
import {
  executionsFile,
  outboxFireIds,
  queueIdle,
  readExecutions,
  recordLedger,
  startExecutionWorker,
  type LedgerRecording,
} from './executions.js';
import { testNamespace } from './namespace.js';
import type { ManagedProcess } from './process.js';
import {
  control,
  jobsFolder,
  stackKeys,
  startReplica,
  type ReplicaProcess,
  type StackOptions,
} from './replicas.js';
import { waitFor } from './wait.js';

/** What {@link startStack} sets up and starts. */
export interface StackSpec {
  /** Slug of the namespace (`testNamespace(name)`): each stack gets a fresh one. */
  name: string;
  /** Job definition files in a fresh jobs folder: file name -> YAML text. */
  jobs: Record<string, string>;
  /** etcd endpoints. @defaultValue the run's shared single node (`inject('etcdEndpoint')`) */
  etcd?: string[];
  /** Redis of the replicas and workers. @defaultValue the run's shared Redis */
  redisUrl?: string;
  /** Lease TTL of the replicas, seconds. @defaultValue 2 */
  leaseTtl?: number;
  /**
   * Record the ledger (`recordLedger`) before anything starts: needed by {@link Stack.settle}
   * and to compare executions with what leaders committed.
   */
  ledger?: boolean;
  /** Execution workers (`startExecutionWorker`) started after the ledger, before the replicas. */
  workers?: string[];
  /** `baton scheduler` replicas started last, together (no HTTP port). */
  replicas?: string[];
}

/** Options of {@link Stack.startReplica}. */
export interface ReplicaOptions {
  /** Serve the HTTP API on this port (from `freePort()`); 0: none. */
  httpPort?: number;
  /** Extra environment, e.g. `BATON_LOOKAHEAD`. */
  env?: NodeJS.ProcessEnv;
  /** Another Redis address for this replica alone (e.g. a TCP proxy in front of the stack's). */
  redisUrl?: string;
}

/** What a test ends with: see {@link Stack.settle}. */
export interface Settled {
  committed: LedgerRecording['runs'];
  /** Fire ids still in the outbox: committed, never handed to Redis (not expected to run). */
  pending: Set<string>;
  executions: Awaited<ReturnType<typeof readExecutions>>;
}

/**
 * One baton deployment of a test, in a namespace of its own on the shared (or given) etcd and
 * Redis: its jobs folder, a control context, an executions file, and every replica and worker
 * process started through it. {@link closeStacks} takes all of it down.
 */
export class Stack {
  /** Every replica started through the stack, in start order (killed ones stay listed). */
  readonly replicas: ReplicaProcess[] = [];
  /** Every worker started through the stack, in start order. */
  readonly workers: ManagedProcess[] = [];
  #ledger: LedgerRecording | undefined;
  readonly #deferred: (() => Promise<unknown>)[] = [];
  #redis: Redis | undefined;

  /** @internal use {@link startStack} */
  constructor(
    readonly opts: StackOptions,
    readonly ctx: ControlContext,
    /** Where the `append` fixture handler of the stack's workers writes one line per run. */
    readonly executionsFile: string,
  ) {}

  /** The ledger recording: only for a stack started with `{ ledger: true }`. */
  get ledger(): LedgerRecording {
    if (!this.#ledger) throw new Error('the stack was started without { ledger: true }');
    return this.#ledger;
  }

  /** @internal */
  set ledger(recording: LedgerRecording) {
    this.#ledger = recording;
  }

  /** The stack's Redis key layout (the namespace is also the queue prefix). */
  get redisKeys(): RedisKeys {
    return stackKeys(this.opts);
  }

  /** Every execution the stack's workers recorded so far. */
  executions() {
    return readExecutions(this.executionsFile);
  }

  /** One connection to the stack's Redis, made on first use and closed with the stack. */
  redis(): Redis {
    this.#redis ??= new Redis(this.opts.redisUrl, { maxRetriesPerRequest: 1 });
    return this.#redis;
  }

  async startReplica(id: string, options: ReplicaOptions = {}): Promise<ReplicaProcess> {
    const opts = options.redisUrl ? { ...this.opts, redisUrl: options.redisUrl } : this.opts;
    const replica = await startReplica(opts, id, options.httpPort ?? 0, options.env);
    this.replicas.push(replica);
    return replica;
  }

  /** Starts replicas together, without HTTP ports. */
  startReplicas(...ids: string[]): Promise<ReplicaProcess[]> {
    return Promise.all(ids.map((id) => this.startReplica(id)));
  }

  /** A real `baton worker` with the `append` fixture handler, ready when this resolves. */
  async startWorker(id: string, extraArgs: string[] = []): Promise<ManagedProcess> {
    const worker = await startExecutionWorker(this.opts, id, this.executionsFile, extraArgs);
    this.workers.push(worker);
    return worker;
  }

  /** The replica with this id (e.g. a status's `leader`); the running one if it restarted. */
  replica(id: string | null | undefined): ReplicaProcess {
    const mine = this.replicas.filter((r) => r.id === id);
    const found = mine.find((r) => r.proc.running) ?? mine[0];
    if (!found) throw new Error(`no replica ${String(id)} in ${this.opts.namespace}`);
    return found;
  }

  /** Runs `fn` when the stack closes, after its processes are killed (latest first). */
  defer(fn: () => Promise<unknown>): void {
    this.#deferred.push(fn);
  }

  /**
   * Ends the fire flow and returns what happened: kills every replica (nothing is decided
   * after), syncs the ledger recording, reads the fire ids still in the outbox, waits until the
   * workers have finished every run that reached Redis, and reads the executions.
   */
  async settle(): Promise<Settled> {
    const ledger = this.ledger;
    await Promise.all(this.replicas.map((r) => r.kill9()));
    await ledger.sync(this.ctx.etcd);
    const pending = await outboxFireIds(this.ctx.etcd, this.ctx.keys);
    await waitFor(() => queueIdle(this.opts.redisUrl, this.opts.namespace), {
      timeoutMs: 20_000,
      description: 'every run in Redis finished',
    });
    return { committed: ledger.runs, pending, executions: await this.executions() };
  }

  /** The last lines of every process's log, for a failed test. */
  logs(lines = 60): string {
    return [
      ...this.replicas.map((r) => `--- log of ${r.id}\n${r.log(lines)}`),
      ...this.workers.map((w) => `--- log of ${w.name}\n${w.logTail(lines)}`),
    ].join('\n');
  }

  /** Kills every process (-9), closes the ledger, context and Redis, then runs `defer`red work. */
  async close(): Promise<void> {
    await Promise.all([...this.replicas, ...this.workers].map((p) => p.kill9()));
    await this.#ledger?.close();
    this.ctx.close();
    this.#redis?.disconnect();
    for (const fn of this.#deferred.splice(0).reverse()) await fn().catch(() => undefined);
  }
}

/** Stacks started in this test file and not closed yet. */
const open = new Set<Stack>();

/**
 * Sets up a stack: a fresh namespace and jobs folder, a control context and an executions file;
 * then, in this order, the ledger recording, the workers and the replicas the spec names.
 * Close it with {@link closeStacks} (in `afterEach`).
 */
export async function startStack(spec: StackSpec): Promise<Stack> {
  const opts: StackOptions = {
    etcd: spec.etcd ?? [inject('etcdEndpoint')],
    redisUrl: spec.redisUrl ?? inject('redisUrl'),
    namespace: testNamespace(spec.name),
    jobsDir: await jobsFolder(spec.jobs),
    leaseTtl: spec.leaseTtl ?? 2,
  };
  const stack = new Stack(opts, control(opts), await executionsFile());
  open.add(stack);
  if (spec.ledger) stack.ledger = await recordLedger(stack.ctx.etcd, stack.ctx.keys);
  for (const id of spec.workers ?? []) await stack.startWorker(id);
  await stack.startReplicas(...(spec.replicas ?? []));
  return stack;
}

/**
 * Closes every stack of the file: `afterEach(closeStacks)`. When the test failed, prints each
 * stack's process logs first.
 */
export async function closeStacks(test?: { task: { result?: { state?: string } } }): Promise<void> {
  const stacks = [...open];
  open.clear();
  if (test?.task.result?.state === 'fail') for (const s of stacks) console.error(s.logs(200));
  for (const s of stacks) await s.close();
}
