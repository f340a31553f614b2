import type { Command } from 'commander';
import { resolveConfig, type BatonOptions, type ResolvedConfig } from '../config/index.js';
import type { Redis } from 'ioredis';
import {
  classifyRedisError,
  etcdWhere,
  openControl,
  redisCall,
  withDeadline,
  type ControlContext,
} from '../control/context.js';
import { createRedis } from '../redis/connection.js';
import { UnavailableError } from '../errors.js';
import { redactUrl } from '../log.js';

/** Global flags + env of a subcommand, resolved. */
export function configOf(cmd: Command): ResolvedConfig {
  return resolveConfig(cmd.optsWithGlobals<BatonOptions>());
}

/**
 * Runs `fn` with an operator context and always closes its connections. Every etcd call of an
 * operator command answers within the deadline (`--timeout`, default 5 s; see etcdCall), so a
 * silent etcd (accepting connections, answering nothing) is one line and exit 3, not a hang or
 * etcd3's ~15 s of retries. The whole of `fn` is bounded too (4 deadlines), as a backstop.
 */
export async function withControl<T>(
  cmd: Command,
  fn: (ctx: ControlContext) => Promise<T>,
): Promise<T> {
  const config = configOf(cmd);
  const ctx = openControl(config);
  try {
    return await withDeadline(fn(ctx), 4 * config.timeoutMs, () => tooLong(config));
  } finally {
    ctx.close();
  }
}

function tooLong(config: ResolvedConfig): Error {
  return new UnavailableError(
    'etcd',
    `no answer from etcd at ${etcdWhere(config)} or Redis at ${redactUrl(config.redisUrl)} within ${(4 * config.timeoutMs) / 1000}s (--timeout / BATON_TIMEOUT)`,
  );
}

/**
 * Runs `fn` with a Redis connection for an operator command and always closes it. Redis is
 * probed first with a PING that must answer within the deadline (`--timeout`, default 5 s), so a
 * silent Redis is one line and exit 3; the whole of `fn` is bounded too (4 deadlines). A
 * connection failure becomes one clear {@link UnavailableError} naming the cause ioredis
 * reported (its command error only says "max retries per request"), refused credentials an
 * AuthError (exit 4) and a server that is not Redis a WrongServiceError (exit 6); other errors
 * pass through.
 */
export async function withRedis<T>(
  config: ResolvedConfig,
  what: string,
  fn: (redis: Redis) => Promise<T>,
): Promise<T> {
  const redis = createRedis(config, 'cli');
  let connectError: Error | undefined;
  // The first error that names a configuration cause (auth, not Redis) wins over the network
  // errors that follow it (an HTTP server closes the socket: EPIPE).
  let known: Error | undefined;
  redis.on('error', (err: Error) => {
    connectError = err;
    known ??= classifyRedisError(config, what, err);
  });
  try {
    await redisCall(config, what, () => redis.ping(), redis);
    const run = redisCall({ redisUrl: config.redisUrl }, what, () => fn(redis), redis);
    return await withDeadline(run, 4 * config.timeoutMs, () => tooLong(config));
  } catch (err) {
    if (err instanceof UnavailableError && err.code === 'REDIS_UNAVAILABLE' && connectError) {
      // The command only saw "max retries" or the deadline: the connection's error says why.
      if (known) throw known;
      throw new UnavailableError(
        'redis',
        `cannot reach Redis at ${redactUrl(config.redisUrl)} to ${what}: ${connectError.message.split('\n')[0]}`,
        err,
      );
    }
    throw err;
  } finally {
    redis.disconnect();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const useColour = () => process.stdout.isTTY === true && !process.env.NO_COLOR;

/** Colours text only on a TTY (and never with NO_COLOR). */
export function paint(text: string, colour: 'green' | 'yellow' | 'red' | 'dim' | 'bold'): string {
  if (!useColour()) return text;
  const codes = { green: 32, yellow: 33, red: 31, dim: 2, bold: 1 } as const;
  return `\u001b[${codes[colour]}m${text}\u001b[0m`;
}

/** A plain aligned table; cells may contain colour codes (ignored for width). */
export function printTable(headers: string[], rows: string[][]): void {
  // eslint-disable-next-line no-control-regex
  const width = (s: string) => s.replace(/\u001b\[\d+m/g, '').length;
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ');
  process.stdout.write(`${line(headers.map((h) => paint(h, 'bold')))}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60
    ? `${s}s ago`
    : s < 3600
      ? `${Math.round(s / 60)}m ago`
      : `${Math.round(s / 3600)}h ago`;
}
