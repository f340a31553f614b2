import type { Command } from 'commander';
import { resolveConfig, type BatonOptions, type ResolvedConfig } from '../config/index.js';
import type { Redis } from 'ioredis';
import { openControl, redisCall, type ControlContext } from '../control/context.js';
import { createRedis } from '../dispatch/redis.js';

/** Global flags + env of a subcommand, resolved. */
export function configOf(cmd: Command): ResolvedConfig {
  return resolveConfig(cmd.optsWithGlobals<BatonOptions>());
}

/** Runs `fn` with an operator context and always closes its connections. */
export async function withControl<T>(
  cmd: Command,
  fn: (ctx: ControlContext) => Promise<T>,
): Promise<T> {
  const ctx = openControl(configOf(cmd));
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

/**
 * Runs `fn` with a Redis connection for an operator command and always closes it. A connection
 * failure becomes one clear {@link UnavailableError} naming the cause ioredis reported (its
 * command error only says "max retries per request"); other errors pass through.
 */
export async function withRedis<T>(
  config: ResolvedConfig,
  what: string,
  fn: (redis: Redis) => Promise<T>,
): Promise<T> {
  const redis = createRedis(config, 'cli');
  try {
    return await redisCall(config, what, () => fn(redis), redis);
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
