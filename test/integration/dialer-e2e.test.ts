import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DateTime } from 'luxon';
import { afterAll, expect, inject, it } from 'vitest';
import { startTelephonySink, type TelephonySink } from '../../jobs/telephony/sink.js';
import { queueIdle } from '../helpers/executions.js';
import { testNamespace } from '../helpers/namespace.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import {
  BATON_BIN,
  batonEnv,
  control,
  jobsFolder,
  scheduledRuns,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

const CUSTOMERS = ['c-1', 'c-2', 'c-3'];
const processes: (ReplicaProcess | ManagedProcess)[] = [];
let sink: TelephonySink | undefined;

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill9()));
  await sink?.close();
});

it('the dialer calls each customer once for the 09:00 fire although the leader is killed at 08:59:59', async () => {
  sink = await startTelephonySink({ port: 0 });
  const dir = await makeTempDir('baton-dialer-');
  const appointments = path.join(dir, 'appointments.json');
  await writeFile(
    appointments,
    JSON.stringify(
      CUSTOMERS.map((customer, i) => ({
        customer,
        phone: `+1-555-01${i}`,
        date: '*',
        time: '10:00',
      })),
    ),
  );
  const opts: StackOptions = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace('dialer'),
    jobsDir: await jobsFolder({
      'dialer.yaml': `name: appointment-dialer
schedule: "0 9 * * 1-5"
timezone: America/New_York
overlap: forbid
catchUp: latest
startingDeadline: 30m
retries: { attempts: 3, backoff: fixed, delay: 200ms }
payload:
  telephonyUrl: ${sink.url}
  appointmentsFile: ${appointments}
`,
    }),
    leaseTtl: 2,
  };
  // The replicas' clock stands at Monday 2024-03-11 08:59:48 New York time (a controllable clock:
  // BATON_CLOCK_OFFSET_MS): twelve seconds to start three replicas and elect one, even on a
  // loaded CI machine, before 09:00.
  const nine = DateTime.fromISO('2024-03-11T09:00:00', { zone: 'America/New_York' }).toMillis();
  const offset = nine - 12_000 - Date.now();
  const clock = { BATON_CLOCK_OFFSET_MS: String(offset) };
  const replicas = await Promise.all(
    ['r1', 'r2', 'r3'].map((id) => startReplica(opts, id, 0, clock)),
  );
  processes.push(...replicas);
  const logDir = await makeTempDir('baton-dialer-worker-');
  processes.push(
    spawnManaged({
      name: 'worker',
      command: process.execPath,
      args: [BATON_BIN, 'worker', '--id', 'w1'],
      logFile: path.join(logDir, 'worker.log'),
      env: { ...batonEnv(opts) },
    }),
  );
  const ctx = control(opts);
  try {
    const first = await waitForLeader(ctx, (s) => s.members.length === 3);
    // The first leader has committed the job's watermark, so the next leader catches 09:00 up.
    await waitFor(
      async () => (await ctx.etcd.getAll().prefix(ctx.keys.firesPrefix).keys()).length,
      {
        description: "the first leader's watermark",
      },
    );
    expect(Date.now() + offset, 'the stack was up before 08:59:59').toBeLessThan(nine - 1000);
    // 08:59:59 on the replicas' clock: kill the leader.
    await waitFor(() => Date.now() + offset >= nine - 1000, {
      timeoutMs: 15_000,
      description: '08:59:59',
    });
    await replicas.find((r) => r.id === first.leader)!.kill9();

    await waitFor(() => sink!.calls().length >= CUSTOMERS.length, {
      timeoutMs: 30_000,
      description: 'the calls',
    });
    // Its run (one BullMQ id per fire id, by construction) finished, retries included, before the
    // sink's counts are read: a second execution would be a second request per customer.
    await waitFor(() => queueIdle(opts.redisUrl, opts.namespace), {
      description: 'the run finished',
    });
    const runs = await waitFor(
      async () => {
        const { runs } = await scheduledRuns(opts, 'appointment-dialer');
        return runs.length === 1 ? runs : undefined;
      },
      { description: 'one run' },
    );
    expect(runs[0]!.id).toBe(`appointment-dialer@${nine}`);
    const summary = sink.summary();
    expect(
      sink
        .calls()
        .map((c) => c.customer)
        .sort(),
    ).toEqual(CUSTOMERS);
    // One call per customer and no request for this fire seen twice (a second execution of the
    // run would show here as duplicates: the sink deduplicates by Idempotency-Key).
    expect(summary).toMatchObject({
      calls: CUSTOMERS.length,
      duplicates: 0,
      perCustomer: Object.fromEntries(CUSTOMERS.map((c) => [c, 1])),
    });
  } finally {
    ctx.close();
  }
});
