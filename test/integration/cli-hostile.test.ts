import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { baton, NO_STACK } from '../helpers/cli.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { jobsFolder, startReplica, type ReplicaProcess } from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

// Issue 9, the CLI against servers that refuse or never answer, and secrets in output: each
// command ends within its deadline with one line and an exit code naming the cause.

const SECRET = 'S3CRET-pw-9f2c';
const servers: (net.Server | http.Server)[] = [];
const sockets = new Set<net.Socket>();
let silentPort: number;
let httpPort: number;
let locked: RedisServer;

async function listen(server: net.Server | http.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  // Accepts connections and never answers a byte (a hung or black-holed server).
  silentPort = await listen(net.createServer(() => undefined));
  httpPort = await listen(http.createServer((_req, res) => res.end('hello')));
  // A Redis of this file's own that requires a password.
  locked = await startRedis();
  const admin = new Redis(locked.url, { maxRetriesPerRequest: 1 });
  await admin.config('SET', 'requirepass', SECRET);
  admin.disconnect();
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await locked?.stopAll();
});

function expectOneLine(r: { code: number; stdout: string; stderr: string }, code: number) {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(NO_STACK);
  expect(r.stderr).not.toContain('internal error');
  expect(r.stdout + r.stderr).not.toContain(SECRET);
}

describe('servers that never answer: exit 3 within the deadline', () => {
  it('Redis accepts connections but never answers: history and jobs end', async () => {
    for (const args of [
      ['history', 'x'],
      ['jobs', '--jobs', 'jobs'],
    ]) {
      const r = await baton([...args, '--timeout', '1'], {
        BATON_ETCD: inject('etcdEndpoint'),
        BATON_REDIS: `redis://127.0.0.1:${silentPort}`,
      });
      expectOneLine(r, 3);
      expect(r.stderr).toMatch(
        new RegExp(
          `^baton: Redis at redis://127\\.0\\.0\\.1:${silentPort} did not answer within 1s`,
        ),
      );
    }
  });

  it('etcd accepts connections but never answers: status ends within the deadline, not ~15 s', async () => {
    for (const args of [['status'], ['pause', 'x'], ['members']]) {
      const r = await baton([...args, '--timeout', '1'], {
        BATON_ETCD: `http://127.0.0.1:${silentPort}`,
      });
      expectOneLine(r, 3);
      expect(r.stderr).toMatch(/^baton: (etcd at|cannot reach etcd at) http:\/\/127\.0\.0\.1:\d+/);
    }
  });
});

describe('servers that refuse: the cause, with its own exit code', () => {
  it('a missing or wrong Redis password is an authentication error: exit 4', async () => {
    const missing = await baton(['history', 'x'], { BATON_REDIS: locked.url });
    expectOneLine(missing, 4);
    expect(missing.stderr).toMatch(/requires a password and none was given/);
    for (const url of [
      `redis://:wrong-${SECRET}@127.0.0.1:${locked.port}`,
      `redis://127.0.0.1:${locked.port}/?password=wrong-${SECRET}`,
    ]) {
      const wrong = await baton(['history', 'x'], { BATON_REDIS: url });
      expectOneLine(wrong, 4);
      expect(wrong.stderr).toMatch(/refused the credentials/);
    }
    const right = await baton(['history', 'x', '--json'], {
      BATON_REDIS: `redis://:${SECRET}@127.0.0.1:${locked.port}`,
    });
    expect(right.code, right.stderr).toBe(0);
  });

  it('a Redis URL pointing at an HTTP port: not Redis, exit 6', async () => {
    const r = await baton(['history', 'x'], { BATON_REDIS: `redis://127.0.0.1:${httpPort}` });
    expectOneLine(r, 6);
    expect(r.stderr).toMatch(/does not speak the Redis protocol/);
  });

  it('an etcd endpoint pointing at an HTTP port: not etcd, exit 6', async () => {
    const r = await baton(['status'], { BATON_ETCD: `http://127.0.0.1:${httpPort}` });
    expectOneLine(r, 6);
    expect(r.stderr).toMatch(/does not speak etcd's gRPC protocol/);
  });
});

describe('baton validate on hostile files', () => {
  it('an alias copy, a complex key and deep nesting: exit 1, one file:line:col line each, no warning', async () => {
    const dir = await jobsFolder({
      'alias.yaml': "jobs:\n  - &j {name: a, schedule: '* * * * *'}\n  - *j\n",
      'complex.yaml': "name: b\nschedule: '@daily'\n? [a, b]\n: x\n",
      'deep.yaml': `name: c\nschedule: '@daily'\npayload: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      'empty.yaml': 'jobs: []\n',
    });
    const r = await baton(['validate', dir]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const l of lines) expect(l).toMatch(/^\S+\.yaml:\d+:\d+: /);
    expect(r.stderr).toMatch(/alias\.yaml:3:5: duplicate job name "a"/);
    expect(r.stderr).toMatch(/complex\.yaml:3:3: a key must be a plain value/);
    expect(r.stderr).toMatch(/deep\.yaml:3:\d+: nested too deep/);
    expect(r.stderr).toMatch(/empty\.yaml:1:1: jobs is an empty list/);
    expect(r.stderr).not.toMatch(/Warning|call stack/);
  });
});

describe('no secret in any output', () => {
  it('CLI errors redact every credential form of the Redis URL and etcd endpoints', async () => {
    for (const url of [
      `redis://127.0.0.1:1/?password=${SECRET}`,
      `redis://:${SECRET}@127.0.0.1:1`,
      `redis://${SECRET}@127.0.0.1:1`,
      `redis://user:${SECRET}@127.0.0.1:1/?db=0`,
    ]) {
      const r = await baton(['history', 'x'], { BATON_REDIS: url });
      expectOneLine(r, 3);
    }
    const etcd = await baton(['status'], { BATON_ETCD: `http://root:${SECRET}@127.0.0.1:2379` });
    expectOneLine(etcd, 2);
    expect(etcd.stderr).toMatch(/BATON_ETCD_USERNAME/);
  });

  it('the scheduler\'s "replica starting" log does not show a password given as ?password=', async () => {
    const ns = testNamespace('secret-log');
    const opts = {
      etcd: [inject('etcdEndpoint')],
      // The shared Redis has no password: a default user without one accepts any.
      redisUrl: `${inject('redisUrl')}/?password=${SECRET}`,
      namespace: ns,
      jobsDir: await jobsFolder({ 'a.yaml': "name: a\nschedule: '0 0 1 1 *'\n" }),
    };
    const replica: ReplicaProcess = await startReplica(opts, 'secret-a', await freePort());
    try {
      const log = await waitFor(
        () => {
          const text = replica.log(200);
          return text.includes('replica starting') ? text : undefined;
        },
        { timeoutMs: 30_000, description: 'replica starting line' },
      );
      expect(log).toContain('password=redacted');
      expect(log).not.toContain(SECRET);
    } finally {
      await replica.stop();
    }
  });
});
