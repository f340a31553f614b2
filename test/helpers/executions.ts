import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import type { Etcd3, Watcher } from 'etcd3';
import { Redis } from 'ioredis';
import type { Keys } from '../../src/coordination/keys.js';
import type { Watermark } from '../../src/coordination/ledger.js';
import { redisKeys } from '../../src/redis/keys.js';
import type { Order, RunOrder } from '../../src/fire.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from './process.js';
import { BATON_BIN, batonEnv, type StackOptions } from './replicas.js';
import { waitFor } from './wait.js';

/**
 * The handlers module whose `append` handler writes one line per execution (see the file). Jobs
 * that should be counted say `handler: append`.
 */
export const EXECUTION_HANDLERS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/handlers/executions.mjs',
);

/** One line of the executions file: one run of a handler, as the handler saw it. */
export interface Execution {
  fireId: string;
  job: string;
  /** Epoch ms. */
  scheduledAt: number;
  token: string;
  attempt: number;
  manual: boolean;
  /** The worker process that ran it. */
  pid: number;
  /** Epoch ms when the handler started. */
  at: number;
}

/** A fresh, empty executions file path in its own temp dir. */
export async function executionsFile(): Promise<string> {
  return path.join(await makeTempDir('baton-executions-'), 'executions.jsonl');
}

/** Every execution recorded in `file` so far (none if it does not exist yet). */
export async function readExecutions(file: string): Promise<Execution[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Execution);
}

/**
 * Starts a real `baton worker` process on the stack's Redis and queue prefix with the
 * {@link EXECUTION_HANDLERS} module, recording into `file`, and waits until it says it is ready.
 */
export async function startExecutionWorker(
  opts: StackOptions,
  id: string,
  file: string,
  extraArgs: string[] = [],
): Promise<ManagedProcess> {
  const logDir = await makeTempDir(`baton-worker-${id}-`);
  const worker = spawnManaged({
    name: `worker ${id}`,
    command: process.execPath,
    // prettier-ignore
    args: [
      BATON_BIN, 'worker', '--id', id, '--no-examples',
      '--handlers', EXECUTION_HANDLERS,
      ...extraArgs,
    ],
    logFile: path.join(logDir, 'worker.log'),
    env: { ...batonEnv(opts), BATON_TEST_EXECUTIONS: file },
  });
  await waitFor(
    () => {
      if (!worker.running) throw new Error(`worker ${id} exited:\n${worker.logTail(40)}`);
      return worker.logTail(200).includes('"worker ready"');
    },
    { timeoutMs: 20_000, description: `worker ${id} ready` },
  );
  return worker;
}

/**
 * True when no run of `queue` is waiting, delayed, prioritized or active: every run that reached
 * Redis has finished (completed or failed for good), retries included.
 */
export async function queueIdle(redisUrl: string, prefix: string, queue = 'baton') {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const q = new Queue(queue, { connection: redis, prefix });
  try {
    const counts = await q.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
    return Object.values(counts).every((n) => n === 0);
  } finally {
    await q.close();
    redis.disconnect();
  }
}

/** A run order as a leader committed it to the etcd outbox. */
export interface CommittedRun {
  fireId: string;
  job: string;
  /** Epoch ms. */
  scheduledAt: number;
  /** The committing leader's token (the outbox batch key is `<token>-<seq>`). */
  token: string;
  /** The outbox batch it was committed in. */
  batch: string;
  manual: boolean;
}

/**
 * What leaders committed to the ledger, recorded from an etcd watch on the namespace: every
 * outbox batch put (its run orders) and every watermark put. This is the ground truth a test
 * compares executions with, independent of Redis and of what BullMQ deduplicates.
 */
export class LedgerRecording {
  /** Every run order put into the outbox, in commit order (a fire id twice = decided twice). */
  readonly runs: CommittedRun[] = [];
  /** Every watermark put, in commit order. */
  readonly watermarks: ({ job: string } & Watermark)[] = [];
  /** Outbox batch keys (`<token>-<seq>`) put and deleted. */
  readonly batchesPut: string[] = [];
  readonly batchesDeleted: string[] = [];

  /** @internal use {@link recordLedger} */
  constructor(
    private readonly watcher: Watcher,
    private readonly keys: Keys,
  ) {
    watcher.on('put', (kv) => {
      const key = kv.key.toString();
      const value = kv.value.toString();
      if (key.startsWith(keys.outboxPrefix)) {
        const batch = key.slice(keys.outboxPrefix.length);
        this.batchesPut.push(batch);
        for (const o of outboxOrders(value)) {
          if (o.kind !== 'run') continue;
          const run = o as RunOrder;
          this.runs.push({
            fireId: run.data.fireId,
            job: run.data.job,
            scheduledAt: Date.parse(run.data.scheduledAt),
            token: batch.slice(0, batch.lastIndexOf('-')),
            batch,
            manual: run.data.manual,
          });
        }
      } else if (key === `${keys.root}test-barrier`) {
        this.barriers.add(value);
      } else if (key.startsWith(keys.firesPrefix)) {
        const w = JSON.parse(value) as Watermark;
        this.watermarks.push({ job: key.slice(keys.firesPrefix.length), ...w });
      }
    });
    watcher.on('delete', (kv) => {
      const key = kv.key.toString();
      if (key.startsWith(keys.outboxPrefix))
        this.batchesDeleted.push(key.slice(keys.outboxPrefix.length));
    });
  }

  private readonly barriers = new Set<string>();

  /**
   * Resolves once the recording has seen every change made to the namespace before this call: it
   * puts a barrier key and awaits its event (a watch delivers events in revision order).
   */
  async sync(etcd: Etcd3): Promise<void> {
    const value = randomBytes(8).toString('hex');
    await etcd.put(`${this.keys.root}test-barrier`).value(value);
    await waitFor(() => this.barriers.has(value), {
      timeoutMs: 10_000,
      description: 'the ledger recording to catch up',
    });
  }

  /** The last instant `token` moved `job`'s watermark to (every instant it decided is <= it). */
  highestWatermark(job: string, token: string): number | undefined {
    const mine = this.watermarks.filter((w) => w.job === job && w.token === token);
    return mine.length === 0 ? undefined : Math.max(...mine.map((w) => w.at));
  }

  /** Scheduled runs of `job` (manual ones left out). */
  scheduled(job: string): CommittedRun[] {
    return this.runs.filter((r) => r.job === job && !r.manual);
  }

  async close(): Promise<void> {
    await this.watcher.cancel();
  }
}

/** Orders of one outbox value: a JSON array of orders (or an object carrying `orders`). */
function outboxOrders(value: string): Order[] {
  const parsed = JSON.parse(value) as unknown;
  if (Array.isArray(parsed)) return parsed as Order[];
  const orders = (parsed as { orders?: unknown }).orders;
  if (Array.isArray(orders)) return orders as Order[];
  throw new Error(`unexpected outbox value: ${value.slice(0, 200)}`);
}

/** Starts recording `keys`' namespace; resolves once the watch is established. */
export async function recordLedger(etcd: Etcd3, keys: Keys): Promise<LedgerRecording> {
  const watcher = await etcd.watch().prefix(keys.root).create();
  return new LedgerRecording(watcher, keys);
}

/** Fire ids of the run orders still in the outbox now (committed, not yet acknowledged). */
export async function outboxFireIds(etcd: Etcd3, keys: Keys): Promise<Set<string>> {
  const values = await etcd.getAll().prefix(keys.outboxPrefix).strings();
  const ids = new Set<string>();
  for (const v of Object.values(values))
    for (const o of outboxOrders(v)) if (o.kind === 'run') ids.add((o as RunOrder).data.fireId);
  return ids;
}

/**
 * The fire ids among `ids` that a pause withdrew from Redis before a worker took them (their fire
 * marker says `withdrawn`; they are recorded as skipped instead of run).
 */
export async function withdrawnFireIds(
  redisUrl: string,
  /** The stack's queue prefix, which is also its namespace (see `batonEnv`). */
  prefix: string,
  ids: readonly string[],
): Promise<Set<string>> {
  const keys = redisKeys(prefix, prefix);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const out = new Set<string>();
    for (const id of ids) if ((await redis.get(keys.fired(id))) === 'withdrawn') out.add(id);
    return out;
  } finally {
    redis.disconnect();
  }
}

/**
 * Committed runs against executions. `pending`: fire ids still in the outbox (committed but never
 * handed to Redis: not expected to have run). Everything empty means: every committed fire that
 * left the outbox executed exactly once, nothing executed that no leader committed, and no fire
 * id was committed twice.
 */
export function compareExecutions(
  committed: readonly CommittedRun[],
  executions: readonly Execution[],
  pending: ReadonlySet<string> = new Set(),
) {
  const committedCount = new Map<string, number>();
  for (const r of committed) committedCount.set(r.fireId, (committedCount.get(r.fireId) ?? 0) + 1);
  const executed = new Map<string, number>();
  for (const e of executions) executed.set(e.fireId, (executed.get(e.fireId) ?? 0) + 1);
  return {
    /** Committed, out of the outbox, never executed. */
    notExecuted: [...committedCount.keys()].filter((id) => !pending.has(id) && !executed.has(id)),
    /** Executed more than once: fire id -> executions. */
    executedTwice: Object.fromEntries([...executed].filter(([, n]) => n > 1)),
    /** Executed although no leader committed it. */
    notCommitted: [...executed.keys()].filter((id) => !committedCount.has(id)),
    /** Committed by more than one decision. */
    committedTwice: Object.fromEntries([...committedCount].filter(([, n]) => n > 1)),
  };
}

/** The empty result of {@link compareExecutions}. */
export const EXACTLY_ONCE = {
  notExecuted: [],
  executedTwice: {},
  notCommitted: [],
  committedTwice: {},
};
