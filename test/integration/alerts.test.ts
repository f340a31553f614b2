import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { AlertPayload } from '../../src/alerts/events.js';
import { AlertStore, deliveryId } from '../../src/alerts/store.js';
import { sendWebhook } from '../../src/alerts/webhook.js';
import { triggerJob } from '../../src/control/commands.js';
import type { ControlContext } from '../../src/control/context.js';
import { FENCE_HISTORY_MAX, padDecimal } from '../../src/dispatch/producer.js';
import { redisKeys } from '../../src/redis/keys.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import {
  BATON_BIN,
  batonEnv,
  control,
  jobsFolder,
  stackKeys,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Alerts end to end: real etcd, Redis, scheduler replicas and a worker, and a webhook receiver on
 * 127.0.0.1 that records every request. Each delivery answered 2xx counts as delivered; the
 * tests assert one per event and webhook, through retries and a leader killed with -9.
 */

const HANDLERS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/handlers/alerts.mjs',
);
/** Secrets in the webhook URLs and headers: they must never appear in a log. */
const SECRET_PATH = 'T0ALERTS/B0ALERTS/pathSecret9f3k2';
const SECRET_QUERY = 'querySecret7d1x';
const SECRET_HEADER = 'headerSecret5q8w';
const SECRET_FILE_TOKEN = 'fileSecret3m6z';

interface Received {
  path: string;
  eventId: string;
  attempt: string;
  authorization: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  status: number;
}

/** A webhook receiver: answers with `respond(request number, path)` and records each request. */
async function receiver(respond: (n: number, path: string) => number = () => 200) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const status = respond(received.length, req.url ?? '');
      received.push({
        path: (req.url ?? '').split('/')[1] ?? '',
        eventId: String(req.headers['baton-event-id']),
        attempt: String(req.headers['baton-delivery-attempt']),
        authorization: req.headers.authorization,
        headers: req.headers,
        body: JSON.parse(text) as unknown,
        status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return {
    received,
    base: `http://127.0.0.1:${port}`,
    /** 2xx answers per `<path> <event id>`. */
    delivered(): Map<string, number> {
      const m = new Map<string, number>();
      for (const r of received)
        if (r.status < 300)
          m.set(`${r.path} ${r.eventId}`, (m.get(`${r.path} ${r.eventId}`) ?? 0) + 1);
      return m;
    },
  };
}

let replicas: ReplicaProcess[] = [];
let workers: ManagedProcess[] = [];
let contexts: ControlContext[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const r of replicas) console.error(`--- log of ${r.id}\n${r.log(60)}`);
    for (const w of workers) console.error(`--- log of ${w.name}\n${w.logTail(40)}`);
  }
  await Promise.all([...replicas, ...workers].map((p) => p.kill9()));
  for (const c of contexts) c.close();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  replicas = [];
  workers = [];
  contexts = [];
});

async function stack(name: string, files: Record<string, string>) {
  const opts: StackOptions = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace(name),
    jobsDir: await jobsFolder(files),
    leaseTtl: 2,
  };
  const ctx = control(opts);
  contexts.push(ctx);
  const failFile = path.join(await makeTempDir('baton-alerts-'), 'fail');
  return { opts, ctx, failFile };
}

async function startWorker(opts: StackOptions, id: string, failFile: string) {
  const logDir = await makeTempDir(`baton-worker-${id}-`);
  const worker = spawnManaged({
    name: `worker ${id}`,
    command: process.execPath,
    args: [BATON_BIN, 'worker', '--id', id, '--no-examples', '--handlers', HANDLERS],
    logFile: path.join(logDir, 'worker.log'),
    env: { ...batonEnv(opts), BATON_TEST_FAIL_FILE: failFile },
  });
  workers.push(worker);
  await waitFor(() => worker.logTail(200).includes('"worker ready"'), {
    timeoutMs: 20_000,
    description: `worker ${id} ready`,
  });
  return worker;
}

async function startReplicas(opts: StackOptions, ids: string[], ports: number[] = []) {
  const started = await Promise.all(ids.map((id, i) => startReplica(opts, id, ports[i] ?? 0)));
  replicas.push(...started);
  return started;
}

/** The delivery records of a namespace: every one settled (none pending) and their states. */
async function deliveries(opts: StackOptions) {
  const redis = new Redis(opts.redisUrl);
  try {
    const keys = stackKeys(opts);
    const pending = await redis.zcard(keys.alertsPending);
    const found: {
      id: string;
      state: string;
      attempts: number;
      token: string;
      error: string | undefined;
    }[] = [];
    let cursor = '0';
    do {
      const [next, list] = await redis.scan(cursor, 'MATCH', `${keys.alert('')}*`, 'COUNT', 1000);
      cursor = next;
      for (const k of list) {
        const h = await redis.hgetall(k);
        found.push({
          id: h.id!,
          state: h.state!,
          attempts: Number(h.attempts),
          token: h.token!,
          error: h.error,
        });
      }
    } while (cursor !== '0');
    return { pending, records: found };
  } finally {
    redis.disconnect();
  }
}

/** Every value under the namespace's Redis keys, as text (to look for secrets in). */
async function redisDump(opts: StackOptions): Promise<string> {
  const redis = new Redis(opts.redisUrl);
  try {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, list] = await redis.scan(cursor, 'MATCH', `${opts.namespace}*`, 'COUNT', 1000);
      cursor = next;
      for (const k of list) {
        const type = await redis.type(k);
        const value =
          type === 'string'
            ? await redis.get(k)
            : type === 'hash'
              ? await redis.hgetall(k)
              : type === 'zset'
                ? await redis.zrange(k, '0', '-1', 'WITHSCORES')
                : type === 'list'
                  ? await redis.lrange(k, 0, -1)
                  : type === 'set'
                    ? await redis.smembers(k)
                    : type === 'stream'
                      ? await redis.xrange(k, '-', '+')
                      : `(${type})`;
        out.push(`${k} ${JSON.stringify(value)}`);
      }
    } while (cursor !== '0');
    expect(out.length).toBeGreaterThan(0);
    return out.join('\n');
  } finally {
    redis.disconnect();
  }
}

/** Triggers `flaky` once the leader has taken it over (its watermark exists). */
async function trigger(ctx: ControlContext) {
  await waitFor(() => ctx.etcd.get(ctx.keys.fire('flaky')).exists(), {
    description: 'the leader to know flaky',
  });
  return triggerJob(ctx, 'flaky', 'test');
}

function flakyJob(base: string, extra = ''): string {
  return `name: flaky
schedule: "0 0 1 1 *"
handler: flaky
retries: { attempts: 2, backoff: fixed, delay: 100ms }
alerts:
  onFailure:
    - url: ${base}/json/${SECRET_PATH}?token=${SECRET_QUERY}
      headers: { Authorization: "Bearer ${SECRET_HEADER}" }
    - { url: "${base}/slack/${SECRET_PATH}", format: slack }
  onRecovered: ${base}/json/${SECRET_PATH}
${extra}`;
}

describe('alerts', () => {
  it('delivers one onFailure per webhook after retrying a 500, then onRecovered; secrets stay out of logs', async () => {
    // The JSON webhook answers its first request with 500.
    let firstJson = true;
    const hook = await receiver((_n, url) => {
      if (url.startsWith('/json/') && firstJson) {
        firstJson = false;
        return 500;
      }
      return 200;
    });
    const { opts, ctx, failFile } = await stack('failure', { 'flaky.yaml': flakyJob(hook.base) });
    const ports = await freePorts(2);
    await startReplicas(opts, ['a1', 'a2'], ports);
    await startWorker(opts, 'w1', failFile);
    const status = await waitForLeader(ctx);

    await writeFile(failFile, 'fail');
    const failed = await trigger(ctx);
    const failedFire = `flaky@manual-${failed.id}`;
    const failure = `failure:${failedFire}`;
    await waitFor(
      () => hook.delivered().has(`json ${failure}`) && hook.delivered().has(`slack ${failure}`),
      { timeoutMs: 30_000, description: 'onFailure delivered to both webhooks' },
    );
    const json = hook.received.filter((r) => r.path === 'json');
    expect(json.map((r) => [r.eventId, r.attempt, r.status])).toEqual([
      [failure, '1', 500],
      [failure, '2', 200],
    ]);
    expect(json[0]!.authorization).toBe(`Bearer ${SECRET_HEADER}`);
    expect(json[1]!.body).toMatchObject({
      id: failure,
      event: 'failure',
      job: 'flaky',
      fireId: failedFire,
      status: 'failed',
      attempts: 2,
      error: 'flaky failed on purpose',
      replica: status.leader!,
    } satisfies Partial<AlertPayload>);
    const slack = hook.received.filter((r) => r.path === 'slack');
    expect(slack).toHaveLength(1);
    expect(Object.keys(slack[0]!.body as object)).toEqual(['text']);
    expect((slack[0]!.body as { text: string }).text).toContain(
      'job flaky failed after 2 attempt(s)',
    );

    await rm(failFile);
    const ok = await trigger(ctx);
    const recovered = `recovered:flaky@manual-${ok.id}`;
    await waitFor(() => hook.delivered().has(`json ${recovered}`), {
      timeoutMs: 30_000,
      description: 'onRecovered delivered',
    });
    expect(hook.received.find((r) => r.eventId === recovered)!.body).toMatchObject({
      event: 'recovered',
      recoveredFrom: failedFire,
    });

    // Nothing is left to deliver, and each event reached each webhook once.
    const settled = await waitFor(
      async () => {
        const d = await deliveries(opts);
        return d.pending === 0 && d.records.every((r) => r.state === 'delivered') && d;
      },
      { description: 'every delivery settled' },
    );
    expect(settled.records).toHaveLength(3);
    expect([...hook.delivered().values()]).toEqual([1, 1, 1]);

    // The leader counted a retried and three delivered attempts.
    const leaderHttp = replicas.find((r) => r.id === status.leader)!.http!;
    const metrics = await (await fetch(`${leaderHttp}/metrics`)).text();
    expect(metrics).toContain('baton_alert_deliveries_total{event="failure",outcome="retried"} 1');
    expect(metrics).toContain(
      'baton_alert_deliveries_total{event="failure",outcome="delivered"} 2',
    );
    expect(metrics).toContain(
      'baton_alert_deliveries_total{event="recovered",outcome="delivered"} 1',
    );

    // The job as the API shows it: targets redacted.
    const job = await (await fetch(`${leaderHttp}/api/v1/jobs/flaky`)).text();
    const logs = [...replicas.map((r) => r.proc.logFile), ...workers.map((w) => w.logFile)];
    for (const secret of [SECRET_PATH, SECRET_QUERY, SECRET_HEADER]) {
      expect(job).not.toContain(secret);
      for (const file of logs) expect(await readFile(file, 'utf8'), file).not.toContain(secret);
    }
    expect(replicas.some((r) => r.log(400).includes('"alert delivered"'))).toBe(true);
  }, 90_000);

  it('reads { env } and { file } references on the leader: the webhook gets the values, logs, API, Redis and etcd never do', async () => {
    const hook = await receiver();
    const secretsDir = await makeTempDir('baton-alert-secrets-');
    const tokenFile = path.join(secretsDir, 'token');
    await writeFile(tokenFile, `${SECRET_FILE_TOKEN}\n`);
    const { opts, ctx, failFile } = await stack('secrets', {
      'flaky.yaml': `name: flaky
schedule: "0 0 1 1 *"
handler: flaky
alerts:
  onFailure:
    - url: { env: BATON_TEST_HOOK_URL }
      headers: { Authorization: { env: BATON_TEST_ALERT_TOKEN } }
    - url: ${hook.base}/file/hook
      headers: { X-Token: { file: ${tokenFile} } }
    - url: ${hook.base}/unset/hook
      headers: { Authorization: { env: BATON_TEST_UNSET_TOKEN } }
`,
    });
    const [port] = await freePorts(1);
    const replica = await startReplica(opts, 's1', port, {
      BATON_TEST_HOOK_URL: `${hook.base}/env/${SECRET_PATH}?token=${SECRET_QUERY}`,
      BATON_TEST_ALERT_TOKEN: `Bearer ${SECRET_HEADER}`,
    });
    replicas.push(replica);
    await startWorker(opts, 'w1', failFile);
    await waitForLeader(ctx);
    // The job loads; the reference this replica cannot read is named at its place.
    const warning = await waitFor(
      () =>
        replica
          .log(400)
          .split('\n')
          .find((l) => l.includes('"alert secret unreadable"')),
      { description: 'the unreadable reference reported at load' },
    );
    expect(warning).toMatch(
      /flaky\.yaml:11:33: alerts\.onFailure\[2\]\.headers\.Authorization: env BATON_TEST_UNSET_TOKEN is not set on this replica; the job loads/,
    );

    await writeFile(failFile, 'fail');
    const t = await trigger(ctx);
    const failure = `failure:flaky@manual-${t.id}`;
    await waitFor(
      () => hook.delivered().has(`env ${failure}`) && hook.delivered().has(`file ${failure}`),
      { timeoutMs: 30_000, description: 'onFailure delivered to the env and file webhooks' },
    );
    const byPath = (p: string) => hook.received.find((r) => r.path === p)!;
    expect(byPath('env').authorization).toBe(`Bearer ${SECRET_HEADER}`);
    expect(byPath('file').headers['x-token']).toBe(SECRET_FILE_TOKEN);
    // The webhook whose token is not set is not called: its attempt failed with the reason.
    await waitFor(() => replica.log(400).includes('"alert delivery failed; retrying"'), {
      description: 'the unset reference fails its delivery attempt',
    });
    expect(hook.received.some((r) => r.path === 'unset')).toBe(false);
    const unset = (await deliveries(opts)).records.find((r) => r.state === 'pending');
    expect(unset?.error).toMatch(
      /^env BATON_TEST_UNSET_TOKEN is not set \(alerts\.onFailure\[2\]\.headers\.Authorization at .*flaky\.yaml:11:33\)$/,
    );
    // Counted as a retried attempt (again each second or more while the test goes on).
    const metrics = await (await fetch(`${replica.http!}/metrics`)).text();
    expect(metrics).toMatch(
      /baton_alert_deliveries_total\{event="failure",outcome="retried"\} [1-9]/,
    );
    expect(metrics).toContain(
      'baton_alert_deliveries_total{event="failure",outcome="delivered"} 2',
    );

    // The API names the references, never what they hold.
    const job = (await (await fetch(`${replica.http!}/api/v1/jobs/flaky`)).json()) as {
      job: { definition: { alerts: { onFailure: { url: string; headers: object }[] } } };
    };
    expect(job.job.definition.alerts.onFailure.map((t) => [t.url, t.headers])).toEqual([
      ['env:BATON_TEST_HOOK_URL', { Authorization: 'env:BATON_TEST_ALERT_TOKEN' }],
      [`${hook.base}/…`, { 'X-Token': `file:${tokenFile}` }],
      [`${hook.base}/…`, { Authorization: 'env:BATON_TEST_UNSET_TOKEN' }],
    ]);
    const everything = [
      JSON.stringify(job),
      await readFile(replica.proc.logFile, 'utf8'),
      ...(await Promise.all(workers.map((w) => readFile(w.logFile, 'utf8')))),
      await redisDump(opts),
      JSON.stringify(await ctx.etcd.getAll().prefix(ctx.keys.root).strings()),
    ];
    for (const secret of [SECRET_PATH, SECRET_QUERY, SECRET_HEADER, SECRET_FILE_TOKEN])
      for (const text of everything) expect(text).not.toContain(secret);
  }, 90_000);

  it('a leader killed -9 with a pending delivery: the next leader delivers it, once', async () => {
    let down = true;
    const hook = await receiver(() => (down ? 500 : 200));
    const { opts, ctx, failFile } = await stack('failover', { 'flaky.yaml': flakyJob(hook.base) });
    await startReplicas(opts, ['k1', 'k2']);
    await startWorker(opts, 'w1', failFile);
    const first = await waitForLeader(ctx);
    await writeFile(failFile, 'fail');
    const t = await trigger(ctx);
    const failure = `failure:flaky@manual-${t.id}`;
    // The leader tried and was answered 500: the deliveries are pending.
    await waitFor(() => hook.received.some((r) => r.eventId === failure), {
      timeoutMs: 30_000,
      description: 'a first (failed) delivery attempt',
    });
    await replicas.find((r) => r.id === first.leader)!.kill9();
    down = false;
    const second = await waitForLeader(ctx, (s) => s.leader !== first.leader);
    await waitFor(
      async () => {
        const d = await deliveries(opts);
        return (
          d.pending === 0 &&
          d.records.length === 2 &&
          d.records.every((r) => r.state === 'delivered') &&
          d
        );
      },
      { timeoutMs: 30_000, description: 'the next leader delivers what was pending' },
    );
    expect(hook.delivered()).toEqual(
      new Map([
        [`json ${failure}`, 1],
        [`slack ${failure}`, 1],
      ]),
    );
    // Delivered under the new leader's claim.
    const d = await deliveries(opts);
    expect(new Set(d.records.map((r) => r.token.replace(/^0+/, '')))).toEqual(
      new Set([second.token]),
    );
  }, 90_000);

  it('dead-man: instants passed while no replica ran raise onMissed when one starts again', async () => {
    const hook = await receiver();
    const { opts, ctx, failFile } = await stack('missed', {
      'tick.yaml': `name: tick
schedule: "*/2 * * * * *"
handler: flaky
catchUp: none
startingDeadline: 2s
alerts:
  onMissed: ${hook.base}/missed/${SECRET_PATH}
`,
    });
    const keys = stackKeys(opts);
    const redis = new Redis(opts.redisUrl);
    cleanups.push(async () => redis.disconnect());
    const [r1] = await startReplicas(opts, ['m1']);
    await startWorker(opts, 'w1', failFile);
    await waitForLeader(ctx);
    // The check watches the job (its cursor exists) and a run completed.
    await waitFor(async () => (await redis.get(keys.alertsMissedCursor('tick'))) !== null, {
      timeoutMs: 20_000,
      description: 'the dead-man cursor',
    });
    await waitFor(async () => (await redis.hget(keys.run('tick').counts, 'completed')) !== null, {
      timeoutMs: 20_000,
      description: 'a completed run',
    });
    await r1!.stop();
    const stoppedAt = Date.now();
    // No replica runs across several instants and past their deadline: time itself is the
    // condition here.
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const restartedAt = Date.now();
    await startReplicas(opts, ['m2']);
    const missed = await waitFor(
      () =>
        hook.received
          .map((r) => r.body as AlertPayload)
          .find(
            (b) =>
              b.event === 'missed' &&
              Date.parse(b.missed!.last) >= stoppedAt &&
              Date.parse(b.missed!.first) <= restartedAt,
          ),
      { timeoutMs: 30_000, description: 'onMissed for the instants without a replica' },
    );
    expect(missed.missed!.count).toBeGreaterThanOrEqual(2);
    expect(missed.reason).toMatch(/^(past-deadline|catch-up-none|not-started)$/);
    expect(missed.id).toBe(`missed:tick@${Date.parse(missed.missed!.first)}`);
    // Each event arrived once.
    expect([...hook.delivered().values()].every((n) => n === 1)).toBe(true);
  }, 90_000);
});

describe('alert delivery records (real Redis)', () => {
  it('are raised once per event id and refused to a leader older than the newest in the fence', async () => {
    const redis = new Redis(inject('redisUrl'));
    cleanups.push(async () => redis.disconnect());
    const ns = testNamespace('alert-store');
    const keys = redisKeys(ns, ns);
    const fence = async (token: string) =>
      redis.zadd(keys.fence, 0, `${padDecimal(token)}/${padDecimal('1')}`);
    await fence('5');
    const payload = { id: 'failure:j@1', job: 'j', event: 'failure' } as AlertPayload;
    const old = new AlertStore(redis, keys, '5');
    expect(await old.raise([{ payload, target: 't1' }], 1000)).toBe(1);
    expect(await old.raise([{ payload, target: 't1' }], 1000)).toBe(0);
    const id = deliveryId(payload.id, 't1');
    const claim = await old.claim(id, 1000, 2000);
    expect('claimed' in claim && claim.claimed.attempts).toBe(1);
    expect(await old.claim(id, 1500, 2500)).toEqual({ refused: 'busy' });

    // A newer leader takes over: the old one can neither settle, claim nor raise any more.
    await fence('9');
    expect(await old.settle(id, 'delivered', 1600)).toBe('stale');
    expect(await old.claim(id, 3000, 4000)).toEqual({ refused: 'stale' });
    expect(await old.raise([{ payload: { ...payload, id: 'failure:j@2' }, target: 't1' }], 1)).toBe(
      'stale',
    );
    const next = new AlertStore(redis, keys, '9');
    const again = await next.claim(id, 3000, 4000);
    expect('claimed' in again && again.claimed.attempts).toBe(2);
    expect(await old.settle(id, 'delivered', 3100)).toBe('stale');
    expect(await next.settle(id, 'delivered', 3100)).toBe('ok');
    expect(await next.claim(id, 5000, 6000)).toEqual({ refused: 'delivered' });
    expect(await redis.zcard(keys.alertsPending)).toBe(0);
    expect(FENCE_HISTORY_MAX).toBeGreaterThan(0);
  });
});

describe('webhook POST (a receiver on 127.0.0.1)', () => {
  it('delivers on 2xx, gives up on 4xx and redirects, retries 429, 5xx and timeouts; errors name no secret', async () => {
    const statuses: Record<string, number> = {
      ok: 204,
      gone: 404,
      busy: 429,
      down: 503,
      moved: 302,
    };
    const hook = await receiver((_n, url) => {
      const name = url.split('/')[1]!;
      return statuses[name] ?? 200;
    });
    // A socket that accepts and never answers.
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      silent.closeAllConnections();
      return new Promise((resolve) => silent.close(resolve));
    });
    const payload = { id: 'failure:j@1', event: 'failure' } as AlertPayload;
    const send = (url: string, timeoutMs?: number) =>
      sendWebhook({ url, format: 'json', headers: {} }, payload, 1, { timeoutMs });
    const at = (name: string) => `${hook.base}/${name}/${SECRET_PATH}`;
    expect(await send(at('ok'))).toEqual({ ok: true, status: 204 });
    expect(await send(at('gone'))).toMatchObject({ ok: false, permanent: true, status: 404 });
    expect(await send(at('moved'))).toMatchObject({ ok: false, permanent: true, status: 302 });
    expect(await send(at('busy'))).toMatchObject({ ok: false, permanent: false, status: 429 });
    expect(await send(at('down'))).toMatchObject({ ok: false, permanent: false, status: 503 });
    const port = (silent.address() as AddressInfo).port;
    const slow = await send(`http://127.0.0.1:${port}/x/${SECRET_PATH}`, 300);
    expect(slow).toMatchObject({ ok: false, permanent: false, status: null });
    const closed = await send(`http://127.0.0.1:1/x/${SECRET_PATH}`);
    expect(closed).toMatchObject({ ok: false, permanent: false });
    for (const r of [slow, closed]) expect(JSON.stringify(r)).not.toContain(SECRET_PATH);
    expect(hook.received.map((r) => r.path)).toEqual(['ok', 'gone', 'moved', 'busy', 'down']);
  });
});
