import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Keys whose values never reach a log line: credentials and auth headers. (Fencing tokens are not
 * secrets and stay visible.) URLs with passwords are logged through {@link redactUrl}.
 */
const REDACT = [
  'password',
  '*.password',
  'apiToken',
  '*.apiToken',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
];

/** The root logger of a process. JSON to stdout (or the given destination). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env.BATON_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    ...options,
  });
}

/** A logger that prints nothing, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Removes the password (and user) from a URL before it is logged or printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
  }
}
