import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ControlContext } from '../../src/control/context.js';
import { cleanEtcdPrefix, cleanRedisPrefix, testNamespace } from '../helpers/namespace.js';
import { freePort } from '../helpers/ports.js';
import {
  control,
  jobsFolder,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { fuzzParams, fuzzTimeout, hostileString } from '../helpers/fuzz.js';
import { waitFor } from '../helpers/wait.js';

// Issue 9 against a real replica (real etcd and Redis, loopback): a deeply nested trigger
// payload answered 500, HEAD /api/v1/events never answered, and the replica's RSS grew without
// bound under reads (a new Intl.DateTimeFormat per formatted instant).

const TOKEN = randomBytes(16).toString('hex');
const ZONES = ['UTC', 'Europe/London', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];
const JOBS: Record<string, string> = {
  'jobs.yaml': `jobs:\n${Array.from(
    { length: 40 },
    (_, i) =>
      `  - { name: j${i}, schedule: '0 0 1 1 *', timezone: ${ZONES[i % ZONES.length]}, queue: q-none }\n`,
  ).join('')}`,
};

let opts: StackOptions;
let ctx: ControlContext;
let replica: ReplicaProcess;
let base: string;

beforeAll(async () => {
  opts = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace('hostile-api'),
    jobsDir: await jobsFolder(JOBS),
    leaseTtl: 5,
  };
  ctx = control(opts);
  replica = await startReplica(opts, 'hostile-a', await freePort(), { BATON_API_TOKEN: TOKEN });
  base = replica.http!;
  await waitForLeader(ctx, (s) => s.leader === 'hostile-a', 30_000);
  await waitFor(
    async () => {
      if ((await fetch(`${base}/readyz`).catch(() => null))?.status !== 200) return false;
      const fires = await ctx.etcd.getAll().prefix(ctx.keys.firesPrefix).keys();
      return fires.length === 40;
    },
    { timeoutMs: 30_000, description: 'replica ready and jobs known' },
  );
}, 120_000);

afterAll(async (suite) => {
  if (suite.tasks.some((t) => t.result?.state === 'fail')) console.error(replica?.log(80));
  const exit = await replica?.stop();
  expect(exit).toEqual({ code: 0, signal: null });
  const etcd = new Etcd3({ hosts: opts.etcd });
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 });
  await cleanEtcdPrefix(etcd, `${opts.namespace}/`);
  await cleanRedisPrefix(redis, opts.namespace);
  etcd.close();
  redis.disconnect();
  ctx.close();
});

function trigger(body: string): Promise<Response> {
  return fetch(`${base}/api/v1/jobs/j1/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body,
  });
}

/** Resident set size of a process, from /proc (Linux). */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

describe('hostile HTTP input against a real replica', () => {
  it('a payload nested 5,000 deep, or over 64 KiB, is 400 BAD_REQUEST, not 500', async () => {
    const deep = await trigger(`{"payload":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    expect(deep.status).toBe(400);
    const d = (await deep.json()) as { error: { code: string; message: string } };
    expect(d.error.code).toBe('BAD_REQUEST');
    expect(d.error.message).toMatch(/payload is nested too deep \(at most 32 levels/);
    const large = await trigger(JSON.stringify({ payload: { s: 'x'.repeat(70_000) } }));
    expect(large.status).toBe(400);
    expect(((await large.json()) as { error: { message: string } }).error.message).toMatch(
      /payload is too large \(at most 65536 bytes as JSON\)/,
    );
    const ok = await trigger(JSON.stringify({ payload: { n: [[[1]]] } }));
    expect(ok.status).toBe(202);
  });

  it('HEAD /api/v1/events answers with the stream headers', async () => {
    const res = await fetch(`${base}/api/v1/events`, {
      method: 'HEAD',
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('RSS stays flat (within 100 MB after warm-up) over a long run of reads and SSE connections', async () => {
    const pid = replica.pid;
    // Reads that format instants in five zones (40 jobs x 3 next fires per page), job pages,
    // status, and event streams opened and closed, 8 at a time.
    const routes = ['/api/v1/jobs', '/api/v1/jobs/j3', '/api/v1/status', '/api/v1/jobs?limit=5'];
    let n = 0;
    const one = async (): Promise<void> => {
      const i = n++;
      if (i % 50 === 0) {
        const abort = new AbortController();
        const res = await fetch(`${base}/api/v1/events`, { signal: abort.signal });
        const reader = res.body!.getReader();
        await reader.read(); // the first frame has arrived
        abort.abort();
        await reader.read().catch(() => undefined);
        return;
      }
      const res = await fetch(`${base}${routes[i % routes.length]}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    };
    const run = async (count: number): Promise<void> => {
      const end = n + count;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (n < end) await one();
        }),
      );
    };
    // Warm-up: JIT, pools, caches and the V8 heap settle within ~3,000 requests. Measured after
    // it: 28-37 MB of growth over the next 6,000 here, 54 MB once on a loaded CI machine (V8
    // collects when it likes); the leak this guards against grew ~50 MB per 1,000 requests, so
    // ~300 MB over these 6,000. The bound sits between the two.
    await run(3_000);
    const before = rssBytes(pid);
    await run(6_000);
    const after = rssBytes(pid);
    const growthMb = (after - before) / 1024 / 1024;
    console.log(
      `RSS ${Math.round(before / 1048576)} MB -> ${Math.round(after / 1048576)} MB over 6000 requests`,
    );
    expect(growthMb).toBeLessThan(100);
  }, 300_000);

  it(
    'fuzz: any request is answered, never 500, errors in the one shape, nosniff everywhere',
    async () => {
      const port = Number(new URL(base).port);
      const segment = fc.oneof(
        fc.constantFrom('j1', 'nope', '%E0%A4%A', '%00', '..', 'a'.repeat(120), '%2F', ''),
        hostileString
          .filter((t) => t.length < 500)
          .map((t) => encodeURIComponent(t).replace(/%25/g, '%')),
      );
      const path = fc.oneof(
        fc.constantFrom('/', '/healthz', '/readyz', '/metrics', '/api/v1/status', '/api/v1/jobs'),
        fc
          .tuple(segment, fc.constantFrom('', '/history', '/pause', '/resume', '/trigger'))
          .map(([name, rest]) => `/api/v1/jobs/${name}${rest}`),
        fc
          .tuple(fc.constantFrom('q', 'limit', 'after', 'x'), segment)
          .map(([k, v]) => `/api/v1/jobs?${k}=${v}`),
      );
      const method = fc.constantFrom(
        'GET',
        'POST',
        'HEAD',
        'PUT',
        'DELETE',
        'OPTIONS',
        'BREW',
        'G\u0000T',
      );
      const type = fc.constantFrom(
        null,
        'application/json',
        'text/plain',
        'application/xml',
        'application/json; charset=latin1',
        'multipart/form-data',
      );
      const body = fc.oneof(
        fc.constant(''),
        fc
          .integer({ min: 0, max: 6000 })
          .map((n) => `{"payload":${'['.repeat(n)}${']'.repeat(n)}}`),
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ payload: v })),
        fc.constantFrom('{oops', '{"reason":1}', '{"reasn":"x"}', '{"__proto__":{"a":1}}'),
        hostileString.filter((t) => t.length < 2000),
      );
      const header = fc.oneof(
        fc.constant(''),
        fc.constant(`Authorization: Bearer ${TOKEN}\r\n`),
        fc.constant('Authorization: Bearer wrong\r\n'),
        fc.constant(`X-Big: ${'a'.repeat(20_000)}\r\n`),
        fc.constant('X-Baton-Operator: \u00ff\u0001x\r\n'),
      );
      const request = fc.tuple(method, path, type, body, header).map(([m, p, t, body0, h]) => {
        // No body on GET and HEAD: the server does not read one, and closing a socket with
        // unread bytes makes the kernel reset it, losing the answer on the client side.
        const b = m === 'GET' || m === 'HEAD' ? '' : body0;
        const bytes = Buffer.byteLength(b);
        return (
          `${m} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${h}` +
          `${t === null ? '' : `Content-Type: ${t}\r\n`}` +
          `${b === '' ? '' : `Content-Length: ${bytes}\r\n`}\r\n${b}`
        );
      });
      const send = (text: string): Promise<string> =>
        new Promise((resolve, reject) => {
          // write, not end: Node's HTTP server closes a half-closed connection before a slow
          // route answers; `Connection: close` makes the server close it after the answer.
          const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
          let data = '';
          socket.setTimeout(15_000, () => {
            socket.destroy();
            reject(new Error(`no answer within 15 s to ${JSON.stringify(text.slice(0, 200))}`));
          });
          socket.on('data', (chunk) => (data += chunk.toString('latin1')));
          // The server may close while a large request is still being written (431, 413).
          socket.on('error', () => undefined);
          socket.on('close', () => resolve(data));
        });
      await fc.assert(
        fc.asyncProperty(request, async (text) => {
          const answer = await send(text);
          // A request that the server dropped without a byte would be a bug too.
          expect(answer, `${text.slice(0, 300)}\n${replica.log(15)}`).toMatch(/^HTTP\/1\.1 \d{3} /);
          const status = Number(answer.slice(9, 12));
          const [head = '', ...rest] = answer.split('\r\n\r\n');
          expect(status).not.toBe(500);
          expect(head.toLowerCase()).toContain('x-content-type-options: nosniff');
          if (status >= 400 && !text.startsWith('HEAD ')) {
            const parsed = JSON.parse(rest.join('\r\n\r\n')) as {
              error: { code: string; message: string };
            };
            expect(Object.keys(parsed)).toEqual(['error']);
            expect(typeof parsed.error.code).toBe('string');
            expect(parsed.error.message.length).toBeLessThanOrEqual(1001);
          }
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(300, 200, 120_000),
  );
});
