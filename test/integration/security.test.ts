import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { baton, NO_STACK } from '../helpers/cli.js';
import { startEtcdNode, type EtcdCluster } from '../helpers/etcd.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/process.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import {
  jobsFolder,
  queuedRuns,
  startReplica,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

// The security options of docs/operations.md against real servers: etcd over mutual TLS, etcd
// with authentication, Redis over TLS with an ACL user. Each server belongs to this file.

const exec = promisify(execFile);
const TICK = 'name: tick\nschedule: "* * * * * *"\n';

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate (openssl). */
async function makePki(): Promise<Pki> {
  const dir = await makeTempDir('baton-pki-');
  const openssl = (args: string[]) => exec('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2'].concat([
      '-subj',
      '/CN=baton-test-ca',
    ]),
  );
  const exts = {
    server: 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
    client: 'extendedKeyUsage=clientAuth\n',
  };
  for (const [name, ext] of Object.entries(exts)) {
    await writeFile(path.join(dir, `${name}.ext`), ext);
    await openssl(
      ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`].concat([
        '-subj',
        `/CN=baton-${name}`,
      ]),
    );
    await openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key'].concat([
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ]),
    );
  }
  const f = (name: string) => path.join(dir, name);
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

/** `baton status --json` with `env`: the leader's id once one leads. */
async function leaderVia(env: NodeJS.ProcessEnv): Promise<string> {
  return waitFor(
    async () => {
      const r = await baton(['status', '--json'], env);
      if (r.code !== 0) throw new Error(r.stderr.trim());
      return (JSON.parse(r.stdout) as { leader: string | null }).leader ?? undefined;
    },
    { timeoutMs: 20_000, description: 'a leader, read through the CLI' },
  );
}

/** A namespace of its own with one every-second job, on the given etcd and Redis. */
async function tickStack(etcd: string, redisUrl: string, name: string): Promise<StackOptions> {
  return {
    etcd: [etcd],
    redisUrl,
    namespace: testNamespace(name),
    jobsDir: await jobsFolder({ 'tick.yaml': TICK }),
  };
}

/** Waits until the leader's fires are in the queue, read through `redisUrl`. */
async function firesQueued(redisUrl: string, opts: StackOptions, how: string): Promise<void> {
  await waitFor(async () => (await queuedRuns(redisUrl, opts.namespace)).length >= 2, {
    timeoutMs: 20_000,
    description: `fires ${how}`,
  });
}

let pki: Pki;
const replicas: ReplicaProcess[] = [];
const servers: (EtcdCluster | RedisServer)[] = [];

beforeAll(async () => {
  pki = await makePki();
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.kill9()));
  await Promise.all(servers.map((s) => s.stopAll()));
});

describe('etcd over mutual TLS', () => {
  it('a replica with the CA and a client certificate leads; the CLI without them gets one line', async () => {
    const tlsPort = await freePort();
    const etcd = await startEtcdNode({
      tls: { port: tlsPort, cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
    });
    servers.push(etcd);
    const endpoint = `https://127.0.0.1:${tlsPort}`;
    const opts = await tickStack(endpoint, inject('redisUrl'), 'tls');
    const tls = {
      BATON_ETCD: endpoint,
      BATON_ETCD_CA: pki.ca,
      BATON_ETCD_CERT: pki.clientCert,
      BATON_ETCD_KEY: pki.clientKey,
      BATON_NAMESPACE: opts.namespace,
    };
    replicas.push(await startReplica(opts, 'tls-1', 0, tls));
    expect(await leaderVia(tls)).toBe('tls-1');
    // Fires go on through the TLS connection (etcd commits, then Redis).
    await firesQueued(opts.redisUrl, opts, 'committed over TLS');

    // The server's certificate is not trusted without the CA; without a client certificate etcd
    // refuses the handshake. Either way: one line, exit 3.
    for (const env of [
      { BATON_ETCD: endpoint, BATON_NAMESPACE: opts.namespace },
      { BATON_ETCD: endpoint, BATON_ETCD_CA: pki.ca, BATON_NAMESPACE: opts.namespace },
    ]) {
      const r = await baton(['status'], env);
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^baton: cannot reach etcd at https:\/\/127\.0\.0\.1/);
      expect(r.stderr).not.toMatch(NO_STACK);
    }
  });
});

describe('etcd with authentication', () => {
  it('a replica with user and password leads; a wrong password gets one line and exit 4; the password is never logged', async () => {
    const etcd = await startEtcdNode();
    servers.push(etcd);
    const endpoint = etcd.endpoints[0]!;
    const PASSWORD = 'etcd-secret-7c1d';
    const etcdctl = (...args: string[]) =>
      exec('etcdctl', ['--endpoints', endpoint, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
    await etcdctl('user', 'add', `root:${PASSWORD}`);
    // A user without any role: authenticated, but allowed nothing.
    await etcdctl('user', 'add', 'nobody:nobody-pw');
    await etcdctl('auth', 'enable');

    const opts = await tickStack(endpoint, inject('redisUrl'), 'auth');
    const auth = {
      BATON_ETCD_USERNAME: 'root',
      BATON_ETCD_PASSWORD: PASSWORD,
      BATON_NAMESPACE: opts.namespace,
      BATON_ETCD: endpoint,
    };
    const replica = await startReplica(opts, 'auth-1', 0, auth);
    replicas.push(replica);
    expect(await leaderVia(auth)).toBe('auth-1');
    await firesQueued(opts.redisUrl, opts, 'committed with authentication');

    // Refused credentials are not an outage: exit 4, one line that says so.
    for (const [env, says] of [
      [{ ...auth, BATON_ETCD_PASSWORD: 'wrong' }, 'refused the credentials'],
      [{ ...auth, BATON_ETCD_USERNAME: '', BATON_ETCD_PASSWORD: '' }, 'refused the credentials'],
      [
        { ...auth, BATON_ETCD_USERNAME: 'nobody', BATON_ETCD_PASSWORD: 'nobody-pw' },
        'denied permission',
      ],
    ] as const) {
      const r = await baton(['status'], env);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(
        new RegExp(`^baton: etcd at ${endpoint} ${says} to read the status: `),
      );
      expect(r.stderr).not.toMatch(NO_STACK);
      expect(r.stderr).not.toContain(PASSWORD);
    }
    expect(replica.log(100_000)).not.toContain(PASSWORD);

    // A replica with a wrong password keeps retrying (the credentials may be fixed), but says why:
    // one error line with the cause `auth`, its readiness and a metric.
    const port = await freePort();
    const wrong = await startReplica(opts, 'auth-wrong', port, {
      ...auth,
      BATON_ETCD_PASSWORD: 'wrong-password-3e9f',
    });
    replicas.push(wrong);
    const lines = () =>
      wrong
        .log(100_000)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map(
          (l) =>
            JSON.parse(l) as {
              level: number;
              msg: string;
              cause?: string;
              err?: { message: string };
            },
        );
    await waitFor(() => lines().filter((l) => l.msg === 'etcd call failed').length >= 3, {
      timeoutMs: 20_000,
      description: 'the replica with a wrong password retried three times',
    });
    const errors = lines().filter((l) => l.level >= 50);
    expect(errors, wrong.log(200)).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      cause: 'auth',
      msg: 'etcd refused the credentials or the rights; state unknown, retrying with backoff',
    });
    expect(errors[0]!.err?.message).toContain('authentication failed');
    const ready = await fetch(`${wrong.http}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      ready: false,
      state: 'unknown',
      problems: [{ service: 'etcd', cause: 'auth' }],
    });
    const metrics = await (await fetch(`${wrong.http}/metrics`)).text();
    expect(metrics).toContain(
      'baton_backend_error{replica="auth-wrong",service="etcd",cause="auth"} 1',
    );
    expect(wrong.log(100_000)).not.toContain('wrong-password-3e9f');
  });
});

describe('Redis over TLS with an ACL user', () => {
  it('fires reach a rediss:// Redis with the CA and a password, which is never logged', async () => {
    const PASSWORD = 'redis-secret-91ab';
    const tlsPort = await freePort();
    // The plain port stays for the harness; there the default user may only PING. baton's user
    // has a password.
    const redis = await startRedis({
      extraArgs: [
        ['--tls-port', String(tlsPort)],
        ['--tls-cert-file', pki.serverCert, '--tls-key-file', pki.serverKey],
        ['--tls-ca-cert-file', pki.ca, '--tls-auth-clients', 'no'],
        ['--user', 'default', 'on', 'nopass', '-@all', '+ping'],
        ['--user', 'baton', 'on', `>${PASSWORD}`, '~*', '&*', '+@all'],
        // Connects (AUTH, INFO for the ready check) but may read no key.
        ['--user', 'limited', 'on', '>limited-pw', '~*', '-@all', '+ping', '+info'],
      ].flat(),
    });
    servers.push(redis);
    const opts = await tickStack(
      inject('etcdEndpoint'),
      `rediss://baton:${PASSWORD}@127.0.0.1:${tlsPort}`,
      'rediss',
    );
    const replica = await startReplica(opts, 'rediss-1', 0, { BATON_REDIS_CA: pki.ca });
    replicas.push(replica);
    const plain = `redis://baton:${PASSWORD}@127.0.0.1:${redis.port}`;
    await firesQueued(plain, opts, 'published over TLS');
    expect(replica.log(100_000)).not.toContain(PASSWORD);

    // A wrong password, or a user without the rights to read: exit 4,
    // one line naming Redis' refusal, never the password.
    for (const [url, says] of [
      [
        `rediss://baton:wrong@127.0.0.1:${tlsPort}`,
        'refused the credentials to read the last runs: WRONGPASS',
      ],
      [
        `rediss://limited:limited-pw@127.0.0.1:${tlsPort}`,
        'denied permission to read the last runs: NOPERM',
      ],
    ] as const) {
      const r = await baton(['jobs', '--jobs', opts.jobsDir], {
        BATON_ETCD: inject('etcdEndpoint'),
        BATON_NAMESPACE: opts.namespace,
        BATON_REDIS: url,
        BATON_REDIS_CA: pki.ca,
      });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(says);
      expect(r.stderr).not.toContain(PASSWORD);
      expect(r.stderr).not.toMatch(NO_STACK);
    }

    // A worker with a wrong password does not start: exit 4, one line.
    const w = await baton(['worker', '--no-examples', '--jobs', opts.jobsDir], {
      BATON_NAMESPACE: opts.namespace,
      BATON_REDIS: `rediss://baton:wrong@127.0.0.1:${tlsPort}`,
      BATON_REDIS_CA: pki.ca,
    });
    expect(w.code, w.stderr).toBe(4);
    expect(w.stderr.trim().split('\n'), w.stderr).toEqual([
      expect.stringMatching(
        /^baton: Redis at .* refused the credentials to claim the queue prefix: WRONGPASS/,
      ),
    ]);

    // A replica with a wrong Redis password: fires wait in the outbox, and it says why (auth).
    const port = await freePort();
    const wrongOpts = await tickStack(
      inject('etcdEndpoint'),
      `rediss://baton:wrong-redis-pw-5a2c@127.0.0.1:${tlsPort}`,
      'rediss-wrong',
    );
    const wrong = await startReplica(wrongOpts, 'rediss-wrong', port, { BATON_REDIS_CA: pki.ca });
    replicas.push(wrong);
    const problems = await waitFor(
      async () => {
        const body = (await (await fetch(`${wrong.http}/readyz`)).json()) as {
          ready: boolean;
          problems: { service: string; cause: string; message: string }[];
        };
        return body.problems.length > 0 ? body : undefined;
      },
      { timeoutMs: 20_000, description: 'the replica reports its Redis problem' },
    );
    expect(problems.ready).toBe(false);
    expect(problems.problems).toMatchObject([
      { service: 'redis', cause: 'auth', message: expect.stringContaining('WRONGPASS') },
    ]);
    const redisErrors = wrong
      .log(100_000)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; service?: string; cause?: string })
      .filter((l) => l.level >= 50);
    expect(redisErrors, wrong.log(100)).toMatchObject([{ service: 'redis', cause: 'auth' }]);
    expect(wrong.log(100_000)).not.toContain('wrong-redis-pw-5a2c');

    // Without the CA the server is not trusted: the CLI says so in one line.
    const r = await baton(['jobs', '--jobs', opts.jobsDir], {
      BATON_ETCD: inject('etcdEndpoint'),
      BATON_NAMESPACE: opts.namespace,
      BATON_REDIS: opts.redisUrl,
      BATON_REDIS_CA: '',
    });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^baton: cannot reach Redis/);
    expect(r.stderr).not.toContain(PASSWORD);
    expect(r.stderr).not.toMatch(NO_STACK);
    // With it, the same command reads the jobs and their last runs.
    const ok = await baton(['jobs', '--jobs', opts.jobsDir, '--json'], {
      BATON_ETCD: inject('etcdEndpoint'),
      BATON_NAMESPACE: opts.namespace,
      BATON_REDIS: opts.redisUrl,
      BATON_REDIS_CA: pki.ca,
    });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('"tick"');
  });
});
