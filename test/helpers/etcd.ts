import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  noop,
  retry,
} from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { freePorts } from './ports.js';
import {
  ETCD_BINARY,
  makeTempDir,
  removeTempDir,
  resolveBinary,
  spawnManaged,
  type ManagedProcess,
} from './process.js';
import { StopWaiting, waitFor } from './wait.js';

/**
 * Raft timing for tests. etcd's defaults (100 ms heartbeat, 1000 ms election timeout) are kept:
 * a loaded 2-core CI machine runs four etcd processes, Redis, vitest and the code under test,
 * and with 50/500 a follower starved for half a second would call an election; a spurious
 * leader change in the shared cluster would make unrelated tests flaky. A killed leader is
 * replaced in ~1.5-2.5 s with these values (measured ~1.7 s here).
 */
export const DEFAULT_HEARTBEAT_MS = 100;
export const DEFAULT_ELECTION_TIMEOUT_MS = 1_000;

/** How long a start or restart may take before it fails with the server's log. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

/** Options of {@link startEtcdCluster} and {@link startEtcdNode}. */
export interface EtcdClusterOptions {
  /** Number of members. @defaultValue 3 ({@link startEtcdNode}: 1) */
  size?: number;
  /** `--heartbeat-interval`. @defaultValue {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatIntervalMs?: number;
  /** `--election-timeout`. @defaultValue {@link DEFAULT_ELECTION_TIMEOUT_MS} */
  electionTimeoutMs?: number;
  /** Deadline of start and restart. @defaultValue {@link DEFAULT_READY_TIMEOUT_MS} */
  readyTimeoutMs?: number;
  /** Appended to every member's command line. */
  extraArgs?: string[];
  /**
   * Single node only: also serve clients over TLS on `port`, requiring a client certificate
   * signed by `ca` (`--client-cert-auth`). The plain listener stays, for the harness's health
   * checks. Files are PEM paths.
   */
  tls?: { port: number; cert: string; key: string; ca: string };
}

/**
 * One etcd process on loopback. `kill9()`/`stop()` keep its data dir and ports, so `restart()`
 * brings back the same member, which rejoins its cluster.
 */
export class EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** `http://127.0.0.1:<clientPort>` */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly #args: string[];
  readonly #readyTimeoutMs: number;
  #process: ManagedProcess | undefined;

  /** @internal use {@link startEtcdCluster} */
  constructor(init: {
    name: string;
    clientPort: number;
    peerPort: number;
    baseDir: string;
    args: string[];
    readyTimeoutMs: number;
  }) {
    this.name = init.name;
    this.clientPort = init.clientPort;
    this.peerPort = init.peerPort;
    this.endpoint = `http://127.0.0.1:${init.clientPort}`;
    this.peerUrl = `http://127.0.0.1:${init.peerPort}`;
    this.dataDir = path.join(init.baseDir, `${init.name}.etcd`);
    this.logFile = path.join(init.baseDir, `${init.name}.log`);
    this.#args = ['--data-dir', this.dataDir, ...init.args];
    this.#readyTimeoutMs = init.readyTimeoutMs;
  }

  /** Pid of the current process, or undefined while stopped. Changes on restart. */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  /** Every pid this member ever had (for "nothing left behind" checks). */
  readonly pids: number[] = [];

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** @internal */
  spawn(): void {
    if (this.running) throw new Error(`etcd ${this.name} is already running`);
    this.#process = spawnManaged({
      name: `etcd ${this.name}`,
      command: resolveBinary(ETCD_BINARY),
      args: this.#args,
      logFile: this.logFile,
    });
    this.pids.push(this.#process.pid);
  }

  /** SIGKILL and wait until the process is gone. Data dir and ports are kept. */
  async kill9(): Promise<void> {
    await this.#process?.kill9();
  }

  /** SIGTERM, wait for exit (SIGKILL after `graceMs`). Data dir and ports are kept. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.#process?.stop(graceMs);
  }

  /** Starts the member again on the same data dir and ports, then waits until it is healthy. */
  async restart(): Promise<void> {
    this.spawn();
    await this.waitHealthy();
  }

  /**
   * Polls `/health` until the member reports a leader and a working quorum. Fails early, with
   * the member's log, if the process exits.
   */
  async waitHealthy(timeoutMs = this.#readyTimeoutMs): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running) {
          throw new StopWaiting(
            `etcd ${this.name} exited: ${JSON.stringify(this.#process?.exitInfo)}`,
          );
        }
        return (await etcdHealth(this.endpoint)) || undefined;
      },
      { timeoutMs, intervalMs: 100, description: `etcd ${this.name} at ${this.endpoint} healthy` },
    ).catch((err: unknown) => {
      throw new Error(
        `${(err as Error).message}\n--- log of etcd ${this.name} ---\n${this.logTail()}`,
        {
          cause: err,
        },
      );
    });
  }

  /** Member id as etcd reports it (decimal string), read from this member alone. */
  async memberId(): Promise<string> {
    const status = await memberStatus(this.endpoint);
    return status.header.member_id;
  }

  /** The last lines of this member's log (all its runs, appended). */
  logTail(lines = 60): string {
    return this.#process?.logTail(lines) ?? '(never started)';
  }
}

/** GET /health; true when etcd says it has a leader and can serve a quorum read. */
export function etcdHealth(endpoint: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${endpoint}/health`, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(
            res.statusCode === 200 && (JSON.parse(body) as { health?: string }).health === 'true',
          );
        } catch {
          resolve(false);
        }
      });
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Maintenance.Status of exactly one member, without retries on other hosts. */
async function memberStatus(endpoint: string, timeoutMs = 1_000) {
  const client = new Etcd3({
    hosts: endpoint,
    dialTimeout: timeoutMs,
    faultHandling: { host: () => noop, global: noop },
  });
  try {
    return await client.maintenance.status({ deadline: Date.now() + timeoutMs });
  } finally {
    client.close();
  }
}

function etcdArgs(o: {
  name: string;
  clientPort: number;
  peerPort: number;
  initialCluster: string;
  clusterToken: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  extraArgs: string[];
  tls?: EtcdClusterOptions['tls'];
}): string[] {
  let client = `http://127.0.0.1:${o.clientPort}`;
  const tlsArgs: string[] = [];
  if (o.tls) {
    client += `,https://127.0.0.1:${o.tls.port}`;
    // prettier-ignore
    tlsArgs.push(
      '--cert-file', o.tls.cert,
      '--key-file', o.tls.key,
      '--trusted-ca-file', o.tls.ca,
      '--client-cert-auth',
    );
  }
  const peer = `http://127.0.0.1:${o.peerPort}`;
  // prettier-ignore
  return [
    '--name', o.name,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', o.initialCluster,
    '--initial-cluster-token', o.clusterToken,
    // Ignored once the data dir exists, so restart() rejoins instead of bootstrapping.
    '--initial-cluster-state', 'new',
    '--heartbeat-interval', String(o.heartbeatIntervalMs),
    '--election-timeout', String(o.electionTimeoutMs),
    // Default from etcd 3.5 on: a member that was cut off does not force an election with a
    // higher term when it comes back, so restarts and healed partitions disturb less.
    '--pre-vote=true',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...tlsArgs,
    ...o.extraArgs,
  ];
}

/**
 * Real etcd members on loopback: a single node is a cluster of size 1. The cluster owns one temp
 * dir (`baton-etcd-*`) holding each member's data dir and log; `stopAll()` removes it.
 */
export class EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client endpoints, one a member. */
  readonly endpoints: readonly string[];
  /** Client endpoints comma-joined, the format of `--etcd` / `BATON_ETCD`. */
  readonly endpointsCsv: string;
  readonly baseDir: string;
  readonly #clients = new Set<Etcd3>();

  /** @internal use {@link startEtcdCluster} */
  constructor(members: EtcdMember[], baseDir: string) {
    this.members = members;
    this.endpoints = members.map((m) => m.endpoint);
    this.endpointsCsv = this.endpoints.join(',');
    this.baseDir = baseDir;
  }

  /** The member called `name`. */
  member(name: string): EtcdMember {
    const found = this.members.find((m) => m.name === name);
    if (!found) throw new Error(`no etcd member ${name}`);
    return found;
  }

  /**
   * The member that leads, as etcd itself says (Maintenance.Status of every running member):
   * waits until all running members that answer agree on one leader that is itself running.
   * After a leader is killed this awaits the election of the next one.
   */
  async leader(timeoutMs = 15_000): Promise<EtcdMember> {
    return waitFor(
      async () => {
        const answers = await Promise.all(
          this.members
            .filter((m) => m.running)
            .map(async (m) => {
              try {
                const s = await memberStatus(m.endpoint);
                return { member: m, id: s.header.member_id, leader: s.leader };
              } catch {
                return undefined;
              }
            }),
        );
        const ok = answers.filter((a) => a !== undefined);
        const leaderId = ok[0]?.leader;
        if (!leaderId || leaderId === '0' || ok.some((a) => a.leader !== leaderId))
          return undefined;
        return ok.find((a) => a.id === leaderId)?.member;
      },
      { timeoutMs, intervalMs: 100, description: 'an agreed etcd leader' },
    );
  }

  /** Running members other than the current leader. */
  async followers(timeoutMs?: number): Promise<EtcdMember[]> {
    const leader = await this.leader(timeoutMs);
    return this.members.filter((m) => m !== leader && m.running);
  }

  /**
   * An etcd3 client on the given endpoints (default: all members) with {@link testClientOptions};
   * closed by stopAll().
   */
  client(hosts: readonly string[] = this.endpoints, overrides: Partial<IOptions> = {}): Etcd3 {
    const client = new Etcd3({ ...testClientOptions([...hosts]), ...overrides });
    this.#clients.add(client);
    return client;
  }

  /** Log tails of all members, for a failing test. */
  logTail(lines = 40): string {
    return this.members
      .map((m) => `--- etcd ${m.name} (${m.endpoint}) ---\n${m.logTail(lines)}`)
      .join('\n');
  }

  /**
   * Closes clients, SIGKILLs every member, waits until they are reaped and removes the temp dir.
   * Not SIGTERM: a leader told to stop while its followers stop too waits ~7 s for a leadership
   * transfer that cannot happen, and the data is thrown away anyway. Use a member's stop() to
   * test a graceful shutdown.
   */
  async stopAll(): Promise<void> {
    for (const client of this.#clients) client.close();
    this.#clients.clear();
    await Promise.all(this.members.map((m) => m.kill9()));
    await removeTempDir(this.baseDir);
  }
}

/**
 * Client options for tests that mirror what production code should use against a cluster.
 * etcd3 1.1.2's defaults are unsafe with a dead or partitioned member (see docs/testing.md):
 * - no call deadline: a call on a black-holed connection never returns, so every unary call
 *   gets a deadline (streams — watch, lease keepalive — must not have one);
 * - the global retry has no backoff (3 immediate retries on random hosts), which all land
 *   inside one leader election and fail; here: 8 attempts with exponential backoff ≈ 5 s.
 */
export function testClientOptions(hosts: string[], callTimeoutMs = 5_000): IOptions {
  return {
    hosts,
    dialTimeout: 2_000,
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + callTimeoutMs },
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: 1_000,
          breaker: new ConsecutiveBreaker(3),
        }),
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: 8,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }),
      }),
    },
  };
}

/**
 * Starts `size` etcd members (default 3) on free loopback ports, waits until all are healthy and
 * a leader is agreed. If a member cannot bind its port (another process took it in the instant
 * between probe and bind) the whole cluster is retried once on new ports.
 */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const size = options.size ?? 3;
  if (options.tls && size !== 1) throw new Error('tls is for a single etcd node');
  for (let attempt = 1; ; attempt++) {
    const baseDir = await makeTempDir('baton-etcd-');
    const ports = await freePorts(size * 2);
    const specs = Array.from({ length: size }, (_, i) => ({
      name: `n${i}`,
      clientPort: ports[2 * i] as number,
      peerPort: ports[2 * i + 1] as number,
    }));
    const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
    const clusterToken = `baton-test-${randomBytes(4).toString('hex')}`;
    const members = specs.map(
      (s) =>
        new EtcdMember({
          ...s,
          baseDir,
          readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
          args: etcdArgs({
            ...s,
            initialCluster,
            clusterToken,
            heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS,
            electionTimeoutMs: options.electionTimeoutMs ?? DEFAULT_ELECTION_TIMEOUT_MS,
            extraArgs: options.extraArgs ?? [],
            tls: options.tls,
          }),
        }),
    );
    const cluster = new EtcdCluster(members, baseDir);
    try {
      for (const m of members) m.spawn();
      await Promise.all(members.map((m) => m.waitHealthy()));
      await cluster.leader();
      return cluster;
    } catch (err) {
      const logs = cluster.logTail(200);
      await cluster.stopAll();
      if (attempt < 2 && /address already in use/.test(logs)) continue;
      throw err;
    }
  }
}

/** A single-node etcd: a cluster of size 1 (`members[0]` is the node). */
export function startEtcdNode(
  options: Omit<EtcdClusterOptions, 'size'> = {},
): Promise<EtcdCluster> {
  return startEtcdCluster({ ...options, size: 1 });
}

/** What {@link startEtcdNodeFrom} tells the function that prepares the data dir. */
export interface PreparedMemberSpec {
  /** The member's data dir; does not exist yet (etcdctl snapshot restore creates it). */
  dataDir: string;
  /** Member name, `n0`. */
  name: string;
  /** `http://127.0.0.1:<peerPort>` */
  peerUrl: string;
  /** `n0=<peerUrl>` */
  initialCluster: string;
  clusterToken: string;
}

/**
 * A single-node etcd started on a data dir that `prepare` fills first, for example with
 * `etcdctl snapshot restore <file> --data-dir <dataDir> --name <name> --initial-cluster
 * <initialCluster> --initial-advertise-peer-urls <peerUrl>`. Otherwise as {@link startEtcdNode}
 * (free ports, one temp dir removed by stopAll()).
 */
export async function startEtcdNodeFrom(
  prepare: (member: PreparedMemberSpec) => Promise<void>,
  options: Omit<EtcdClusterOptions, 'size'> = {},
): Promise<EtcdCluster> {
  const baseDir = await makeTempDir('baton-etcd-');
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const name = 'n0';
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const initialCluster = `${name}=${peerUrl}`;
  const clusterToken = `baton-test-${randomBytes(4).toString('hex')}`;
  const member = new EtcdMember({
    name,
    clientPort,
    peerPort,
    baseDir,
    readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    args: etcdArgs({
      name,
      clientPort,
      peerPort,
      initialCluster,
      clusterToken,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS,
      electionTimeoutMs: options.electionTimeoutMs ?? DEFAULT_ELECTION_TIMEOUT_MS,
      extraArgs: options.extraArgs ?? [],
    }),
  });
  const cluster = new EtcdCluster([member], baseDir);
  try {
    await prepare({ dataDir: member.dataDir, name, peerUrl, initialCluster, clusterToken });
    member.spawn();
    await member.waitHealthy();
    await cluster.leader();
    return cluster;
  } catch (err) {
    await cluster.stopAll();
    throw err;
  }
}
