import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

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
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = {
    level: process.env.BATON_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: serializeError },
    ...options,
  };
  return destination ? pino(opts, destination) : pino(opts);
}

/**
 * How a failure appears in a log line: every logger of {@link createLogger} passes the `err` field
 * through this, so code logs `{ err }` with whatever it caught. An Error becomes `{ type, message,
 * stack, code?, cause? }` (the cause likewise, three levels deep), any other thrown value
 * `{ message }`. Nothing else of the error is kept: drivers hang the failed command on their
 * errors (ioredis: `AUTH <user> <password>`), and URLs with credentials and secret-looking
 * parameters in the message and stack are redacted ({@link redactText}), as driver errors often
 * quote the URL they were given.
 */
export function serializeError(value: unknown, depth = 0): Record<string, unknown> {
  if (!(value instanceof Error)) return { message: redactText(String(value)) };
  const out: Record<string, unknown> = {
    type: value.constructor?.name || value.name,
    message: redactText(value.message),
  };
  if (value.stack) out.stack = redactText(value.stack);
  const code = (value as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (value.cause !== undefined && depth < 3) out.cause = serializeError(value.cause, depth + 1);
  return out;
}

/** A logger that prints nothing, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Query parameters that carry credentials (ioredis reads `password` and `username`). */
const SECRET_PARAM = /pass|pwd|secret|token|key|auth|cred|sig|user/i;

/**
 * A URL safe to print: every credential form a URL can carry is replaced by `redacted` — the
 * password of the user info (`redis://user:X@host`), a lone user info (`redis://X@host`, which
 * may be a password), query parameters naming a password, user, token, key, secret or auth
 * (`?password=X`, which ioredis honours), and the fragment. Text that does not parse as a URL
 * has everything between `//` and `@` and every `name=value` value of a secret-looking name
 * replaced. Lists of URLs (`a,b`) are redacted one by one.
 */
export function redactUrl(url: string): string {
  if (url.includes(',')) return url.split(',').map(redactUrl).join(',');
  // Whatever the parse below makes of it, no `//userinfo@` survives (`http://redis://:X@h`).
  return redactUserInfo(redactParsed(url));
}

/**
 * Any text about to be printed (an error line): the user info of every URL in it, the values
 * of secret-looking query parameters and URL fragments are replaced by `redacted`.
 */
export function redactText(text: string): string {
  return redactUserInfo(text)
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s#"'`]*)#[^\s"'`]+/gi, '$1#redacted')
    .replace(
      /([?&;][^=&#\s]*(?:pass|pwd|secret|token|key|auth|cred|sig|user)[^=&#\s]*=)[^&#\s]*/gi,
      '$1redacted',
    );
}

function redactUserInfo(text: string): string {
  return text.replace(/\/\/([^/?#@\s]*)@/g, (match, info: string) =>
    info === 'redacted' || /^[^:]*:redacted$/.test(info) ? match : '//redacted@',
  );
}

function redactParsed(url: string): string {
  try {
    const u = new URL(url);
    let changed = false;
    if (u.password) u.password = 'redacted';
    else if (u.username) u.username = 'redacted';
    changed = u.password !== '' || u.username !== '';
    for (const name of [...u.searchParams.keys()]) {
      if (SECRET_PARAM.test(name)) {
        u.searchParams.set(name, 'redacted');
        changed = true;
      }
    }
    if (u.hash) {
      u.hash = 'redacted';
      changed = true;
    }
    // Unchanged text stays as written (no trailing slash added by URL).
    return changed ? u.toString() : url;
  } catch {
    return url
      .replace(/\/\/[^@/]*@/, '//redacted@')
      .replace(
        /([?&;][^=&#]*(?:pass|pwd|secret|token|key|auth|cred|sig|user)[^=&#]*=)[^&#]*/gi,
        '$1redacted',
      )
      .replace(/#.*$/, '#redacted');
  }
}
