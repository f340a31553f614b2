import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, freePorts } from './ports.js';
import {
  makeTempDir,
  REDIS_BINARY,
  removeTempDir,
  resolveBinary,
  spawnManaged,
  type ManagedProcess,
} from './process.js';
import { StopWaiting, waitFor } from './wait.js';

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** @defaultValue a free port */
  port?: number;
  /** Deadline of start and restart (includes loading the AOF). @defaultValue 30_000 */
  readyTimeoutMs?: number;
  /** Appended to the command line, e.g. `['--appendfsync', 'everysec']`. */
  extraArgs?: string[];
}

/**
 * One redis-server on loopback with its own temp dir. `kill9()`/`stop()` keep port and dir, so
 * `restart()` brings the same data back from the append-only file.
 */
export class RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly dir: string;
  readonly logFile: string;
  /** Every pid this server ever had (for "nothing left behind" checks). */
  readonly pids: number[] = [];
  readonly #args: string[];
  readonly #readyTimeoutMs: number;
  #process: ManagedProcess | undefined;

  /** @internal use {@link startRedis} */
  constructor(port: number, dir: string, options: RedisOptions) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.dir = dir;
    this.logFile = path.join(dir, 'redis.log');
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    // prettier-ignore
    this.#args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--daemonize', 'no',
      // No RDB snapshots: the AOF alone is the durability under test.
      '--save', '',
      '--appendonly', 'yes',
      // An acknowledged write is in the AOF before the reply leaves. With `everysec` Redis may
      // postpone the write(2) while a background fsync runs and still reply, so a kill -9 right
      // after an acknowledged write could lose it and the AOF test would be flaky.
      '--appendfsync', 'always',
      // What baton requires in production (docs/operations.md): BullMQ keys must never be evicted.
      '--maxmemory-policy', 'noeviction',
      ...(options.extraArgs ?? []),
    ];
  }

  /** Pid of the current process, or undefined while stopped. Changes on restart. */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** @internal */
  spawn(): void {
    if (this.running) throw new Error('redis-server is already running');
    this.#process = spawnManaged({
      name: 'redis-server',
      command: resolveBinary(REDIS_BINARY),
      args: this.#args,
      logFile: this.logFile,
    });
    this.pids.push(this.#process.pid);
  }

  /** SIGKILL and wait until the process is gone. */
  async kill9(): Promise<void> {
    await this.#process?.kill9();
  }

  /** SIGTERM (Redis flushes the AOF and exits), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.#process?.stop(graceMs);
  }

  /** Starts again on the same port and dir and waits until the AOF is loaded (PING answers). */
  async restart(): Promise<void> {
    this.spawn();
    await this.waitReady();
  }

  /** Polls PING until `+PONG` (not `-LOADING`); fails early with the log if the process exits. */
  async waitReady(timeoutMs = this.#readyTimeoutMs): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running)
          throw new StopWaiting(`redis-server exited: ${JSON.stringify(this.#process?.exitInfo)}`);
        return (await redisPing(this.port)) || undefined;
      },
      { timeoutMs, intervalMs: 50, description: `redis-server on port ${this.port} ready` },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- log of redis-server ---\n${this.logTail()}`, {
        cause: err,
      });
    });
  }

  logTail(lines = 60): string {
    return this.#process?.logTail(lines) ?? '(never started)';
  }

  /** Stops the server and removes its dir. */
  async stopAll(graceMs = 3_000): Promise<void> {
    await this.stop(graceMs);
    await removeTempDir(this.dir);
  }
}

/** Sends a raw `PING` and resolves true on `+PONG` (false on `-LOADING`, refusal, timeout). */
export function redisPing(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** Starts a redis-server on a free port in a new temp dir and waits until it answers PING. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const dir = await makeTempDir('baton-redis-');
    const server = new RedisServer(options.port ?? (await freePort()), dir, options);
    try {
      server.spawn();
      await server.waitReady();
      return server;
    } catch (err) {
      const log = server.logTail(50);
      await server.stopAll(500);
      if (attempt < 2 && options.port === undefined && /Address already in use/i.test(log))
        continue;
      throw err;
    }
  }
}

/** Options of {@link startSentinels}. */
export interface SentinelOptions {
  /** Master name the sentinels monitor. @defaultValue 'baton' */
  name?: string;
  /** @defaultValue 3 */
  count?: number;
  /** How long a silent master takes to count as down. @defaultValue 1_000 */
  downAfterMs?: number;
  /** Replicas each sentinel must have discovered before the group counts as ready. @defaultValue 1 */
  replicas?: number;
}

/** Sentinels (`redis-server --sentinel`) on loopback, watching one master. */
export class SentinelGroup {
  /** @internal use {@link startSentinels} */
  constructor(
    readonly name: string,
    readonly ports: number[],
    readonly processes: ManagedProcess[],
    readonly dir: string,
  ) {}

  /** `redis+sentinel://127.0.0.1:<p1>,…/<name>` plus `suffix` (e.g. `?waitReplicas=0`). */
  url(suffix = ''): string {
    return `redis+sentinel://${this.ports.map((p) => `127.0.0.1:${p}`).join(',')}/${this.name}${suffix}`;
  }

  /** `SENTINEL <args>` on one sentinel. */
  async ask(port: number, ...args: string[]): Promise<unknown> {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await client.call('SENTINEL', ...args);
    } finally {
      client.disconnect();
    }
  }

  /** The master's port as the first sentinel that answers sees it. */
  async masterPort(): Promise<number> {
    for (const port of this.ports) {
      try {
        const addr = (await this.ask(port, 'get-master-addr-by-name', this.name)) as string[];
        return Number(addr[1]);
      } catch {
        // the next sentinel
      }
    }
    throw new Error('no sentinel answers');
  }

  logTail(lines = 40): string {
    return this.processes.map((p) => `--- ${p.name} ---\n${p.logTail(lines)}`).join('\n');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(3_000)));
    await removeTempDir(this.dir);
  }
}

/**
 * Starts `count` sentinels (quorum: a majority) monitoring `master`, and waits until every one
 * has found the others and the master's replicas (so a fail-over can be agreed on).
 */
export async function startSentinels(
  master: RedisServer,
  options: SentinelOptions = {},
): Promise<SentinelGroup> {
  const name = options.name ?? 'baton';
  const count = options.count ?? 3;
  const dir = await makeTempDir('baton-sentinel-');
  const ports = await freePorts(count);
  const processes: ManagedProcess[] = [];
  for (const port of ports) {
    const conf = path.join(dir, `sentinel-${port}.conf`);
    // prettier-ignore
    await writeFile(conf, [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1_000}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'));
    processes.push(
      spawnManaged({
        name: `redis-sentinel ${port}`,
        command: resolveBinary(REDIS_BINARY),
        args: [conf, '--sentinel'],
        logFile: path.join(dir, `sentinel-${port}.log`),
      }),
    );
  }
  const group = new SentinelGroup(name, ports, processes, dir);
  const replicas = options.replicas ?? 1;
  await waitFor(
    async () => {
      for (const port of ports) {
        const others = (await group.ask(port, 'sentinels', name)) as unknown[];
        const found = (await group.ask(port, 'replicas', name)) as unknown[];
        if (others.length < count - 1 || found.length < replicas) return false;
      }
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 200, description: `${count} sentinels that know each other` },
  ).catch(async (err: unknown) => {
    const log = group.logTail();
    await group.stopAll();
    throw new Error(`${(err as Error).message}\n${log}`, { cause: err });
  });
  return group;
}
