import net from 'node:net';
import path from 'node:path';
import { freePort } from './ports.js';
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
      // What baton requires in production (DESIGN.md): BullMQ keys must never be evicted.
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
