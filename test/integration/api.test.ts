import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import type { JobAudit } from '../../src/control/audit.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ControlContext } from '../../src/control/context.js';
import { cleanEtcdPrefix, cleanRedisPrefix, testNamespace } from '../helpers/namespace.js';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import {
  BATON_BIN,
  batonEnv,
  control,
  jobsFolder,
  queuedRuns,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const FIXTURE_HANDLERS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/handlers/blocking.mjs',
);

const JOBS = {
  // Fires every second on a queue no worker serves: fires, lag and skips to observe.
  'tick.yaml': 'name: tick\nschedule: "* * * * * *"\nqueue: ticks\ncatchUp: none\n',
  'weekday.yaml': [
    'name: weekday',
    'schedule: "0 9 * * 1-5"',
    'timezone: America/New_York',
    'description: calls customers',
    'owner: telephony',
    'tags: [calls, customers]',
    '',
  ].join('\n'),
  // Runs only when triggered; the fixture's `blocker` handler returns at once (release key set).
  'manual.yaml': 'name: manual-job\nschedule: "0 0 1 1 *"\nhandler: blocker\n',
};

// --- the stack: three replicas (a, b with a token; c without), one worker -------------------

const TOKEN = randomBytes(16).toString('hex');
let opts: StackOptions;
let ctx: ControlContext;
let a: ReplicaProcess;
let b: ReplicaProcess;
let c: ReplicaProcess;
let worker: ManagedProcess | null = null;
let leader: ReplicaProcess;
/** A replica that does not lead (its stream shows what other processes produced). */
let follower: ReplicaProcess;
/** A replica with the token, other than {@link follower}. */
let mutator: ReplicaProcess;
const streams: SseStream[] = [];

beforeAll(async () => {
  opts = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace('api'),
    jobsDir: await jobsFolder(JOBS),
    // No fail-over here, and the tests name the leader read once: the product default keeps a
    // replica stalled by a loaded CI machine from losing its lease (see the dashboard test).
    leaseTtl: 5,
  };
  ctx = control(opts);
  const [pa, pb, pc] = (await freePorts(3)) as [number, number, number];
  [a, b, c] = await Promise.all([
    startReplica(opts, 'api-a', pa, { BATON_API_TOKEN: TOKEN }),
    startReplica(opts, 'api-b', pb, { BATON_API_TOKEN: TOKEN }),
    startReplica(opts, 'api-c', pc, { BATON_API_TOKEN: '' }),
  ]);
  const status = await waitForLeader(ctx, (s) => s.members.length === 3, 30_000);
  leader = [a, b, c].find((r) => r.id === status.leader)!;
  follower = [a, b, c].find((r) => r.id !== status.leader)!;
  mutator = [a, b].find((r) => r !== follower)!;
  // Every replica's API is up and every job is known to the cluster (the leader wrote its
  // watermark), so pause and trigger accept them.
  await waitFor(
    async () => {
      for (const r of [a, b, c]) if ((await fetch(`${r.http}/readyz`)).status !== 200) return false;
      const fires = await ctx.etcd.getAll().prefix(ctx.keys.firesPrefix).keys();
      return fires.length === 3;
    },
    { timeoutMs: 30_000, description: 'replicas ready and jobs known' },
  );
}, 120_000);

afterAll(async (suite) => {
  for (const s of streams.splice(0)) s.close();
  const failed = suite.tasks.some((t) => t.result?.state === 'fail');
  if (failed) {
    for (const r of [a, b, c]) if (r) console.error(`--- log of ${r.id}\n${r.log(60)}`);
    if (worker) console.error(`--- log of worker\n${worker.logTail(60)}`);
  }
  await worker?.kill9();
  // A clean SIGTERM stop of every replica, API server included.
  const exits = await Promise.all([a, b, c].filter(Boolean).map((r) => r.stop()));
  for (const e of exits) expect(e).toEqual({ code: 0, signal: null });
  const etcd = new Etcd3({ hosts: opts.etcd });
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
  await cleanEtcdPrefix(etcd, `${opts.namespace}/`);
  await cleanRedisPrefix(redis, opts.namespace);
  etcd.close();
  redis.disconnect();
  ctx.close();
});

// --- helpers -----------------------------------------------------------------------------

interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

async function call<T = Record<string, unknown>>(
  base: string | null,
  route: string,
  init: RequestInit & { token?: string | null } = {},
): Promise<Answer<T>> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  const res = await fetch(`${base}${route}`, { ...init, headers });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: body as T };
}

function post<T = Record<string, unknown>>(
  base: string | null,
  route: string,
  body?: unknown,
  token: string | null = TOKEN,
  extra: Record<string, string> = {},
): Promise<Answer<T>> {
  return call<T>(base, route, {
    method: 'POST',
    token,
    headers: body === undefined ? extra : { 'content-type': 'application/json', ...extra },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** A server-sent events stream read with fetch; frames parsed as they arrive. */
class SseStream {
  readonly events: SseEvent[] = [];
  raw = '';
  contentType = '';
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  private opened!: () => void;
  readonly open = new Promise<void>((resolve) => (this.opened = resolve));

  constructor(url: string) {
    this.done = this.read(url).catch(() => undefined);
  }

  private async read(url: string): Promise<void> {
    const res = await fetch(url, { signal: this.abort.signal });
    this.contentType = res.headers.get('content-type') ?? '';
    this.opened();
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      this.raw += value;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data !== '') this.events.push({ event, data: JSON.parse(data) as SseEvent['data'] });
      }
    }
  }

  find(event: string, match: (d: Record<string, unknown>) => boolean, description: string) {
    return waitFor(() => this.events.find((e) => e.event === event && match(e.data))?.data, {
      timeoutMs: 20_000,
      description,
    });
  }

  close(): void {
    this.abort.abort();
    void this.done;
  }
}

function sse(replica: ReplicaProcess): SseStream {
  const s = new SseStream(`${replica.http}/api/v1/events`);
  streams.push(s);
  return s;
}

/** `name{labels} value` lines of a Prometheus text exposition. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

async function metrics(replica: ReplicaProcess): Promise<string> {
  const res = await fetch(`${replica.http}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

function sum(list: { value: number }[]): number {
  return list.reduce((t, s) => t + s.value, 0);
}

async function startWorker(): Promise<ManagedProcess> {
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
  await redis.set(`${opts.namespace}:test:release`, '1');
  redis.disconnect();
  const logDir = await makeTempDir('baton-api-worker-');
  const p = spawnManaged({
    name: 'worker api-w1',
    command: process.execPath,
    // prettier-ignore
    args: [BATON_BIN, 'worker', '--id', 'api-w1', '--no-examples', '--queues', 'baton', '--handlers', FIXTURE_HANDLERS],
    logFile: path.join(logDir, 'worker.log'),
    env: batonEnv(opts),
  });
  await waitFor(() => p.logTail(200).includes('"worker ready"'), {
    timeoutMs: 15_000,
    description: 'worker ready',
  });
  return p;
}

const ISO_OFFSET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/;

// --- tests -------------------------------------------------------------------------------

describe('HTTP API of the scheduler replicas', () => {
  it('GET /healthz, /readyz and /api/v1/replica on every replica', async () => {
    for (const r of [a, b, c]) {
      expect(await call(r.http, '/healthz')).toMatchObject({ status: 200, body: { ok: true } });
      const ready = await call(r.http, '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({
        ready: true,
        state: r === leader ? 'leader' : 'follower',
        etcd: true,
        redis: true,
        problems: [],
      });
      const self = await call(r.http, '/api/v1/replica');
      expect(self.body).toMatchObject({ id: r.id, ready: true, jobs: 3 });
    }
  });

  it('GET /api/v1/status: leader, token, members with heartbeat age, self', async () => {
    const s = await call<{
      namespace: string;
      leader: string;
      token: string;
      members: { id: string; state: string; heartbeatAgeMs: number; http: string }[];
      self: { id: string; state: string; ready: boolean };
    }>(follower.http, '/api/v1/status');
    expect(s.status).toBe(200);
    expect(s.body.namespace).toBe(opts.namespace);
    expect(s.body.leader).toBe(leader.id);
    expect(s.body.token).toMatch(/^\d+$/);
    expect(s.body.members.map((m) => m.id)).toEqual(['api-a', 'api-b', 'api-c']);
    for (const m of s.body.members) {
      expect(m.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
      expect(m.heartbeatAgeMs).toBeLessThan(10_000);
      expect(m.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    expect(s.body.self).toEqual({ id: follower.id, state: 'follower', ready: true });
  });

  it('GET /api/v1/jobs: schedule in words, zone, next fires with offset, paused, last run', async () => {
    const r = await call<{ jobs: Record<string, unknown>[] }>(a.http, '/api/v1/jobs');
    expect(r.status).toBe(200);
    expect(r.body.jobs.map((j) => j.name)).toEqual(['manual-job', 'tick', 'weekday']);
    const weekday = r.body.jobs.find((j) => j.name === 'weekday')!;
    expect(weekday).toMatchObject({
      schedule: '0 9 * * 1-5',
      scheduleText: 'At 09:00 AM, Monday through Friday',
      timezone: 'America/New_York',
      queue: 'baton',
      handler: 'weekday',
      overlap: 'allow',
      catchUp: 'latest',
      description: 'calls customers',
      owner: 'telephony',
      tags: ['calls', 'customers'],
      paused: null,
      lastRun: null,
    });
    const next = weekday.nextFires as string[];
    expect(next).toHaveLength(3);
    for (const f of next) expect(f).toMatch(/T09:00:00-0[45]:00$/);
    const tick = r.body.jobs.find((j) => j.name === 'tick')!;
    expect(tick.scheduleText).toBe('Every second');
    for (const f of tick.nextFires as string[]) expect(f).toMatch(ISO_OFFSET);
  });

  it('GET /api/v1/jobs pages: limit, after, q (name, owner, tag), total, next; bad query 400', async () => {
    type Page = { jobs: { name: string }[]; total: number; next: string | null };
    const names = (p: Page) => p.jobs.map((j) => j.name);
    const all = await call<Page>(a.http, '/api/v1/jobs');
    expect(all.body.total).toBe(3);
    expect(all.body.next).toBeNull();

    const first = await call<Page>(a.http, '/api/v1/jobs?limit=2');
    expect(first.status).toBe(200);
    expect(names(first.body)).toEqual(['manual-job', 'tick']);
    expect(first.body).toMatchObject({ total: 3, next: 'tick' });
    const second = await call<Page>(a.http, `/api/v1/jobs?limit=2&after=${first.body.next}`);
    expect(names(second.body)).toEqual(['weekday']);
    expect(second.body).toMatchObject({ total: 3, next: null });
    const past = await call<Page>(a.http, '/api/v1/jobs?after=zzz');
    expect(past.body).toMatchObject({ jobs: [], total: 3, next: null });

    for (const q of ['WEEK', 'telephony', 'customers', 'calls customers']) {
      const r = await call<Page>(a.http, `/api/v1/jobs?q=${encodeURIComponent(q)}`);
      expect(names(r.body), q).toEqual(['weekday']);
      expect(r.body.total).toBe(1);
    }
    const none = await call<Page>(a.http, '/api/v1/jobs?q=nothing-matches');
    expect(none.body).toMatchObject({ jobs: [], total: 0, next: null });

    for (const bad of ['limit=0', 'limit=1001', 'limit=two', 'page=2']) {
      const r = await call(a.http, `/api/v1/jobs?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body, bad).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    }
  });

  it('GET /api/v1/jobs/:name: definition, 10 next fires, runs, skips; 404 and 400 as JSON', async () => {
    const r = await call<{
      job: Record<string, unknown> & { definition: Record<string, unknown> };
      nextFires: string[];
      recentRuns: unknown[];
      skips: unknown[];
    }>(b.http, '/api/v1/jobs/weekday');
    expect(r.status).toBe(200);
    expect(r.body.job).toMatchObject({ name: 'weekday', scheduleText: expect.any(String) });
    expect(r.body.job.definition).toMatchObject({
      name: 'weekday',
      timezone: 'America/New_York',
      retries: { attempts: 1 },
    });
    expect(r.body.nextFires).toHaveLength(10);
    expect(r.body.job.nextFires).toEqual(r.body.nextFires.slice(0, 3));
    expect(r.body.recentRuns).toEqual([]);
    expect(r.body.skips).toEqual([]);

    const missing = await call(b.http, '/api/v1/jobs/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: { code: 'UNKNOWN_JOB', message: expect.stringContaining('nope') },
    });
    const bad = await call(b.http, '/api/v1/jobs/Not_A_Name');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    const route = await call(b.http, '/api/v1/nothing-here');
    expect(route.status).toBe(404);
    expect(route.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('GET /api/v1/jobs/:name/history: limit validated (1..1000), shape of readHistory', async () => {
    const ok = await call<{ job: string; entries: unknown[]; counts: object; skipCounts: object }>(
      a.http,
      '/api/v1/jobs/tick/history?limit=5',
    );
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body).sort()).toEqual(['counts', 'entries', 'job', 'skipCounts']);
    expect(ok.body.job).toBe('tick');
    for (const limit of ['0', '1001', 'abc', '2.5', '-1']) {
      const bad = await call(a.http, `/api/v1/jobs/tick/history?limit=${limit}`);
      expect(bad.status, `limit=${limit}`).toBe(400);
      expect(bad.body).toMatchObject({
        error: { code: 'BAD_REQUEST', message: expect.stringMatching(/limit/) },
      });
    }
    expect((await call(a.http, '/api/v1/jobs/nope/history')).status).toBe(404);
  });

  it('GET /api/v1/audit: the shape of `baton audit --json`; bad range 400, unknown job 404', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    const ok = await call<{ jobs: JobAudit[] }>(
      a.http,
      `/api/v1/audit?job=tick&from=${encodeURIComponent(from)}`,
    );
    expect(ok.status).toBe(200);
    expect(ok.body.jobs.map((j) => j.job)).toEqual(['tick']);
    const audit = ok.body.jobs[0]!;
    expect(Object.keys(audit.counts).sort()).toEqual(
      ['duplicate', 'missing', 'pending', 'ran', 're-executed', 'refused', 'skipped'].sort(),
    );
    expect(audit.expected).toBe(Object.values(audit.counts).reduce((x, y) => x + y, 0));
    expect(typeof audit.ok).toBe('boolean');
    for (const query of [
      'from=yesterday',
      'from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z',
      'grace=soon',
      'all=yes',
    ]) {
      const bad = await call(a.http, `/api/v1/audit?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    }
    expect((await call(a.http, '/api/v1/audit?job=nope')).status).toBe(404);
  });

  it('mutations: 401 without or with a malformed header, 403 with a wrong token, 403 MUTATIONS_DISABLED without BATON_API_TOKEN', async () => {
    for (const route of ['pause', 'resume', 'trigger']) {
      const none = await post(a.http, `/api/v1/jobs/weekday/${route}`, {}, null);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(none.body).toEqual({
        error: { code: 'UNAUTHORIZED', message: expect.stringContaining('Bearer') },
      });
      const basic = await post(a.http, `/api/v1/jobs/weekday/${route}`, {}, null, {
        authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      });
      expect(basic.status).toBe(401);
      expect(basic.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      const wrong = await post(a.http, `/api/v1/jobs/weekday/${route}`, {}, `${TOKEN}x`);
      expect(wrong.status).toBe(403);
      expect(wrong.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
      const disabled = await post(c.http, `/api/v1/jobs/weekday/${route}`, {}, TOKEN);
      expect(disabled.status).toBe(403);
      expect(disabled.body).toEqual({
        error: {
          code: 'MUTATIONS_DISABLED',
          message: expect.stringContaining('BATON_API_TOKEN'),
        },
      });
    }
    // Auth comes first: an unauthenticated caller learns nothing about the body.
    expect((await post(a.http, '/api/v1/jobs/weekday/pause', '{bad', null)).status).toBe(401);
    // Nothing was paused by any of these.
    expect((await call(b.http, '/api/v1/jobs/weekday')).body).toMatchObject({
      job: { paused: null },
    });
    // c warned once at start; no replica ever logged the token.
    expect(c.log(400).match(/BATON_API_TOKEN is not set/g)).toHaveLength(1);
    for (const r of [a, b, c]) expect(r.log(2000)).not.toContain(TOKEN);
  });

  it('validation: bad reason type, too long reason, unknown key, bad JSON -> 400 JSON; unknown job -> 404', async () => {
    const cases: [string, unknown][] = [
      ['pause', { reason: 42 }],
      ['pause', { reason: 'x'.repeat(501) }],
      ['pause', { reason: 'ok', extra: true }],
      ['pause', '{"reason": '],
      ['pause', [1, 2]],
      ['trigger', '{nope'],
      ['trigger', { payload: 1, other: 2 }],
      ['resume', { what: 1 }],
    ];
    for (const [route, body] of cases) {
      const r = await post(a.http, `/api/v1/jobs/weekday/${route}`, body);
      expect(r.status, `${route} ${JSON.stringify(body)}`).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.body).toEqual({ error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    }
    const long = await post(a.http, '/api/v1/jobs/weekday/pause', { reason: 'x'.repeat(501) });
    expect((long.body as { error: { message: string } }).error.message).toMatch(/reason.*500/);
    for (const route of ['pause', 'trigger']) {
      const r = await post(a.http, `/api/v1/jobs/no-such-job/${route}`, {});
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: { code: 'UNKNOWN_JOB' } });
    }
    expect((await call(b.http, '/api/v1/jobs/weekday')).body).toMatchObject({
      job: { paused: null },
    });
  });

  it('pause through one replica: a second replica shows who, why and when, and streams it; resume', async () => {
    const stream = sse(follower);
    await stream.open;
    const before = Date.now();
    const paused = await post<{ job: string; paused: { by: string; reason: string; at: string } }>(
      mutator.http,
      '/api/v1/jobs/weekday/pause',
      { reason: 'carrier outage' },
      TOKEN,
      { 'x-baton-operator': 'alice@ops <script>' },
    );
    expect(paused.status).toBe(200);
    expect(paused.body).toEqual({
      job: 'weekday',
      paused: { by: 'alice@ops script', reason: 'carrier outage', at: expect.any(String) },
    });
    const at = Date.parse(paused.body.paused.at);
    expect(at).toBeGreaterThanOrEqual(before - 1000);

    for (const r of [a, b, c].filter((x) => x !== mutator)) {
      const job = await call<{ job: { paused: unknown } }>(r.http, '/api/v1/jobs/weekday');
      expect(job.body.job.paused).toEqual(paused.body.paused);
      const list = await call<{ jobs: { name: string; paused: unknown }[] }>(
        r.http,
        '/api/v1/jobs',
      );
      expect(list.body.jobs.find((j) => j.name === 'weekday')!.paused).toEqual(paused.body.paused);
    }
    await stream.find('paused', (d) => d.job === 'weekday' && d.paused !== null, 'paused event');

    // Without the operator header, the record names the caller's address.
    const anon = await post<{ paused: { by: string; reason: string | null } }>(
      mutator.http,
      '/api/v1/jobs/weekday/pause',
    );
    expect(anon.body.paused).toMatchObject({ by: 'api:127.0.0.1', reason: null });

    const resumed = await post(mutator.http, '/api/v1/jobs/weekday/resume');
    expect(resumed).toMatchObject({ status: 200, body: { job: 'weekday', resumed: true } });
    await stream.find('paused', (d) => d.job === 'weekday' && d.paused === null, 'resumed event');
    expect((await call(c.http, '/api/v1/jobs/weekday')).body).toMatchObject({
      job: { paused: null },
    });
    const again = await post(mutator.http, '/api/v1/jobs/weekday/resume', {});
    expect(again.body).toEqual({ job: 'weekday', resumed: false });
  });

  it('a paused job is skipped by the leader: `skip` events on every stream, skipped_paused counted', async () => {
    const stream = sse(follower);
    await stream.open;
    expect((await post(mutator.http, '/api/v1/jobs/tick/pause', { reason: 'quiet' })).status).toBe(
      200,
    );
    const skip = await stream.find(
      'skip',
      (d) => d.job === 'tick' && d.reason === 'paused',
      'skip event for the paused tick',
    );
    expect(skip).toMatchObject({
      count: expect.any(Number),
      first: expect.stringMatching(ISO_OFFSET),
    });
    await waitFor(
      async () =>
        sum(
          samples(await metrics(leader), 'baton_fires_total').filter(
            (s) => s.labels.job === 'tick' && s.labels.outcome === 'skipped_paused',
          ),
        ) > 0,
      { description: 'skipped_paused counted by the leader' },
    );
    expect((await post(mutator.http, '/api/v1/jobs/tick/resume')).status).toBe(200);
    const detail = await call<{ skips: { reason: string }[] }>(a.http, '/api/v1/jobs/tick');
    expect(detail.body.skips.some((s) => s.reason === 'paused')).toBe(true);
  });

  it("trigger through one replica: 202, the run is in the queue, `fire` on another replica's stream, `run` from a worker process", async () => {
    const stream = sse(follower);
    await stream.open;
    worker = await startWorker();
    const t = await post<{
      job: string;
      trigger: { id: string; job: string; by: string; payload: unknown };
      fireId: string;
    }>(mutator.http, '/api/v1/jobs/manual-job/trigger', { payload: { customers: ['c-1'] } });
    expect(t.status).toBe(202);
    expect(t.body.job).toBe('manual-job');
    expect(t.body.fireId).toBe(`manual-job@manual-${t.body.trigger.id}`);
    expect(t.body.trigger).toMatchObject({
      job: 'manual-job',
      by: 'api:127.0.0.1',
      payload: { customers: ['c-1'] },
    });

    const fire = await stream.find('fire', (d) => d.fireId === t.body.fireId, 'fire event');
    expect(fire).toMatchObject({
      job: 'manual-job',
      manual: true,
      token: expect.stringMatching(/^\d+$/),
      scheduledAt: expect.stringMatching(ISO_OFFSET),
    });
    const queued = await waitFor(
      async () =>
        (await queuedRuns(opts.redisUrl, opts.namespace)).find((r) => r.id === t.body.fireId),
      { description: 'the triggered run in the queue' },
    );
    expect(queued.data).toMatchObject({ manual: true, payload: { customers: ['c-1'] } });

    const run = await stream.find(
      'run',
      (d) => d.fireId === t.body.fireId && d.status === 'completed',
      'run event from the worker',
    );
    expect(run).toMatchObject({
      job: 'manual-job',
      attempt: 1,
      worker: 'api-w1',
      error: null,
      durationMs: expect.any(Number),
    });

    // The run is the job's last run, on every replica.
    await waitFor(
      async () => {
        const list = await call<{
          jobs: { name: string; lastRun: { fireId: string; status: string } | null }[];
        }>(c.http, '/api/v1/jobs');
        const last = list.body.jobs.find((j) => j.name === 'manual-job')!.lastRun;
        return last?.fireId === t.body.fireId && last.status === 'completed';
      },
      { description: 'lastRun of manual-job' },
    );
    const detail = await call<{ recentRuns: { kind: string; fireId: string }[] }>(
      b.http,
      '/api/v1/jobs/manual-job',
    );
    expect(detail.body.recentRuns[0]).toMatchObject({ kind: 'run', fireId: t.body.fireId });
  });

  it('GET /api/v1/events: event stream headers, retry, the current leader and members first', async () => {
    const stream = sse(c);
    await stream.open;
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    const first = await stream.find('leader', () => true, 'initial leader event');
    expect(first).toEqual({ leader: leader.id, token: expect.stringMatching(/^\d+$/) });
    const members = await stream.find('members', () => true, 'members event');
    expect((members.members as { id: string }[]).map((m) => m.id)).toEqual([
      'api-a',
      'api-b',
      'api-c',
    ]);
    expect(stream.raw.startsWith('retry: 2000\n\n')).toBe(true);
    // Heartbeats change member records: more `members` events follow.
    await waitFor(() => stream.events.filter((e) => e.event === 'members').length >= 3, {
      description: 'members events on heartbeats',
    });
  });

  it('GET /metrics: every family, leader flags sum to 1, fires grow, runs from Redis', async () => {
    const texts = await Promise.all([a, b, c].map(metrics));
    const leaders = texts.map((t) => sum(samples(t, 'baton_leader')));
    expect(leaders.reduce((x, y) => x + y, 0)).toBe(1);
    expect(leaders[[a, b, c].indexOf(leader)]).toBe(1);
    for (const [i, text] of texts.entries()) {
      const id = [a, b, c][i]!.id;
      const state = samples(text, 'baton_replica_state').filter((s) => s.labels.replica === id);
      expect(state.map((s) => s.labels.state).sort()).toEqual(['follower', 'leader', 'unknown']);
      expect(sum(state)).toBe(1);
      expect(samples(text, 'baton_elections_total')[0]?.labels.replica).toBe(id);
      // Every replica reaches the shared Redis.
      expect(samples(text, 'baton_redis_ready').filter((s) => s.labels.replica === id)).toEqual([
        expect.objectContaining({ value: 1 }),
      ]);
      for (const family of [
        'baton_fires_total',
        'baton_step_downs_total',
        'baton_backend_error',
        'baton_fire_lag_seconds',
        'baton_stale_token_rejections_total',
        'baton_runs_total',
        'baton_run_duration_seconds',
        'process_cpu_user_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ])
        expect(text, family).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
    }
    const lt = texts[[a, b, c].indexOf(leader)]!;
    expect(sum(samples(lt, 'baton_elections_total'))).toBe(1);

    const enqueued = (t: string) =>
      sum(
        samples(t, 'baton_fires_total').filter(
          (s) => s.labels.job === 'tick' && s.labels.outcome === 'enqueued',
        ),
      );
    const first = enqueued(lt);
    expect(first).toBeGreaterThan(0);
    await waitFor(async () => enqueued(await metrics(leader)) >= first + 2, {
      description: 'fires_total enqueued grows',
    });
    // Lag: every tick fire was published; the look-ahead puts most below 0.
    const lag = samples(await metrics(leader), 'baton_fire_lag_seconds_count');
    expect(sum(lag)).toBeGreaterThan(0);

    // Worker counters and durations come from Redis: the same on every replica.
    for (const r of [a, b, c]) {
      const text = await metrics(r);
      const runs = samples(text, 'baton_runs_total').filter(
        (s) => s.labels.job === 'manual-job' && s.labels.status === 'completed',
      );
      expect(sum(runs)).toBeGreaterThanOrEqual(1);
      const durations = samples(text, 'baton_run_duration_seconds_count').filter(
        (s) => s.labels.job === 'manual-job',
      );
      expect(sum(durations)).toBeGreaterThanOrEqual(1);
      expect(
        samples(text, 'baton_stale_token_rejections_total').find((s) => s.labels.job === 'tick')
          ?.value,
      ).toBe(0);
    }
  });

  it('`baton jobs` lists the jobs with their pause and last run (table and --json)', async () => {
    await post(a.http, '/api/v1/jobs/weekday/pause', { reason: 'maintenance' }, TOKEN, {
      'x-baton-operator': 'bob',
    });
    const env = batonEnv(opts);
    const json = await exec(process.execPath, [BATON_BIN, 'jobs', '--json'], { env });
    const parsed = JSON.parse(json.stdout) as {
      jobs: {
        name: string;
        scheduleText: string;
        paused: { by: string } | null;
        lastRun: unknown;
      }[];
    };
    expect(parsed.jobs.map((j) => j.name)).toEqual(['manual-job', 'tick', 'weekday']);
    expect(parsed.jobs[2]).toMatchObject({
      scheduleText: 'At 09:00 AM, Monday through Friday',
      paused: { by: 'bob', reason: 'maintenance' },
    });
    expect(parsed.jobs[0]!.lastRun).toMatchObject({ kind: 'run', status: 'completed' });
    const table = await exec(process.execPath, [BATON_BIN, 'jobs'], { env });
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^JOB\s+SCHEDULE\s+ZONE\s+NEXT FIRE\s+PAUSED\s+LAST RUN$/);
    expect(lines.find((l) => l.startsWith('weekday'))).toMatch(
      /At 09:00 AM, Monday through Friday\s+America\/New_York\s+\S+T09:00:00-0[45]:00\s+paused by bob: maintenance/,
    );
    expect(lines.find((l) => l.startsWith('manual-job'))).toMatch(/completed \d+s ago$/);
    await post(a.http, '/api/v1/jobs/weekday/resume');
  });
});
