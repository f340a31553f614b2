import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, expect, inject, it } from 'vitest';
import { redisKeys } from '../../src/redis/keys.js';
import { readHistory } from '../../src/history/records.js';
import { NO_STACK } from '../helpers/cli.js';
import { testNamespace } from '../helpers/namespace.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import {
  BATON_BIN,
  batonEnv,
  jobsFolder,
  startReplica,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

// Section 4 of issue 8: two installations (namespaces) on one Redis. baton's own keys are scoped
// by namespace, and a queue prefix belongs to one namespace: a second namespace on the same
// prefix refuses to start instead of sharing the BullMQ queues (where the first stack's worker
// would take its runs, see its newer tokens and refuse its own runs as stale).

const run = promisify(execFile);
const TICK = 'name: tick\nschedule: "* * * * * *"\nhandler: heartbeat\ncatchUp: all\n';

const processes: (ReplicaProcess | ManagedProcess)[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
});
const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

async function stack(name: string): Promise<StackOptions> {
  return {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace(name),
    jobsDir: await jobsFolder({ 'tick.yaml': TICK }),
  };
}

function env(opts: StackOptions, prefix: string): NodeJS.ProcessEnv {
  return { ...batonEnv(opts), BATON_QUEUE_PREFIX: prefix };
}

async function startWorker(opts: StackOptions, prefix: string, id: string) {
  const logDir = await makeTempDir(`baton-${id}-`);
  const p = spawnManaged({
    name: `worker ${id}`,
    command: process.execPath,
    args: [BATON_BIN, 'worker', '--id', id],
    logFile: path.join(logDir, 'worker.log'),
    env: env(opts, prefix),
  });
  processes.push(p);
  await waitFor(() => p.logTail(200).includes('"worker ready"'), {
    timeoutMs: 20_000,
    description: `${id} ready`,
  });
  return p;
}

/** A baton command expected to refuse to start: its exit code and stderr (killed after 20 s). */
async function refused(args: string[], e: NodeJS.ProcessEnv) {
  try {
    await run(process.execPath, [BATON_BIN, ...args], { env: e, timeout: 20_000 });
    return { code: 0, stderr: '' };
  } catch (err) {
    const x = err as { code: number | null; signal: string | null; stderr: string };
    return { code: x.code, signal: x.signal, stderr: x.stderr };
  }
}

/** Completed and stale runs of `tick` in a namespace, as its workers recorded them. */
async function outcomes(prefix: string, namespace: string) {
  const h = await readHistory(redis, redisKeys(prefix, namespace), 'tick', { limit: 1000 });
  return { completed: h.counts.completed ?? 0, stale: h.counts.stale ?? 0 };
}

it('a second namespace on the same queue prefix refuses to start; with its own prefix both run', async () => {
  const prefix = testNamespace('shared-prefix');
  const a = await stack('first');
  const b = await stack('second');
  processes.push(await startReplica(a, 'a1', 0, { BATON_QUEUE_PREFIX: prefix }));
  await startWorker(a, prefix, 'a-worker');
  await waitFor(async () => (await outcomes(prefix, a.namespace)).completed >= 2, {
    timeoutMs: 30_000,
    description: 'the first stack runs its job',
  });
  expect(await redis.get(redisKeys(prefix, a.namespace).owner)).toBe(a.namespace);

  // The second namespace's scheduler and worker on the same Redis and prefix: one line, exit 5.
  for (const args of [
    ['scheduler', '--id', 'b1'],
    ['worker', '--id', 'b-worker'],
  ]) {
    const r = await refused(args, env(b, prefix));
    expect(r.code, `${args[0]}: ${r.stderr}`).toBe(5);
    expect(r.stderr.trim().split('\n'), r.stderr).toEqual([
      `baton: queue prefix "${prefix}" on ${inject('redisUrl')} belongs to namespace ` +
        `"${a.namespace}", not "${b.namespace}": give each namespace its own --queue-prefix ` +
        '(BATON_QUEUE_PREFIX)',
    ]);
    expect(r.stderr).not.toMatch(NO_STACK);
  }
  // Nothing of the second namespace reached the shared prefix.
  expect(await redis.keys(`${prefix}:baton:${b.namespace}:*`)).toEqual([]);

  // The first stack goes on, and never refuses a run as stale.
  const before = (await outcomes(prefix, a.namespace)).completed;
  await waitFor(async () => (await outcomes(prefix, a.namespace)).completed >= before + 2, {
    timeoutMs: 30_000,
    description: 'the first stack still runs its job',
  });

  // With a queue prefix of its own, the second namespace runs beside the first.
  const own = testNamespace('own-prefix');
  processes.push(await startReplica(b, 'b1', 0, { BATON_QUEUE_PREFIX: own }));
  await startWorker(b, own, 'b-worker');
  await waitFor(async () => (await outcomes(own, b.namespace)).completed >= 2, {
    timeoutMs: 30_000,
    description: 'the second stack runs its job on its own prefix',
  });
  const after = (await outcomes(prefix, a.namespace)).completed;
  await waitFor(async () => (await outcomes(prefix, a.namespace)).completed >= after + 2, {
    timeoutMs: 30_000,
    description: 'the first stack runs beside the second',
  });
  expect((await outcomes(prefix, a.namespace)).stale).toBe(0);
  expect((await outcomes(own, b.namespace)).stale).toBe(0);
});
