import { ReplyError } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../helpers/cli-in-process.js';
import { EXIT, reportError } from '../../../src/cli/exit.js';
import { parseFrom } from '../../../src/cli/next.js';
import { resolveConfig } from '../../../src/config/index.js';
import { classifyRedisError, redisCall } from '../../../src/control/context.js';
import { AuthError, UsageError, WrongServiceError } from '../../../src/errors.js';
import { redactUrl } from '../../../src/log.js';

// Issue 9, CLI and secrets: usage errors exited 1 (the README says 2), empty flags fell back to
// defaults silently, `--from` accepted +25:00, and credentials in URLs were printed.

afterEach(() => vi.restoreAllMocks());

const run = runCli;

describe('usage errors exit 2', () => {
  it.each([
    [['--bogus']],
    [['pause']],
    [['status', '--etcd']],
    [['status', '--etcd', '']],
    [['status', '--redis', ' ']],
    [['nope']],
    [[]],
  ])('baton %j', async (args) => {
    const r = await run(args);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('help and --version still exit 0', async () => {
    expect((await run(['--help'])).code).toBe(0);
    expect((await run(['--version'])).code).toBe(0);
  });
});

describe('configuration', () => {
  it('an empty flag is an error; an empty environment variable counts as unset', () => {
    expect(() => resolveConfig({ etcd: '' }, {})).toThrow(/--etcd is empty/);
    expect(resolveConfig({}, { BATON_ETCD: '' }).etcdEndpoints).toEqual(['http://127.0.0.1:2379']);
  });

  it('credentials in an etcd endpoint are refused, and not printed', () => {
    expect(() => resolveConfig({ etcd: 'http://root:S3CRET@127.0.0.1:2379' }, {})).toThrow(
      UsageError,
    );
    try {
      resolveConfig({ etcd: 'http://h1:2379,http://root:S3CRET@h2:2379' }, {});
    } catch (err) {
      expect((err as Error).message).toMatch(/BATON_ETCD_USERNAME/);
      expect((err as Error).message).not.toContain('S3CRET');
    }
  });

  it('a bad --redis URL is echoed without its credentials', () => {
    expect(() => resolveConfig({ redis: 'http://:S3CRET@h?password=S3CRET' }, {})).toThrow(
      /^--redis must be a redis:\/\/, rediss:\/\/, redis\+sentinel:\/\/ or redis\+cluster:\/\/ URL/,
    );
    try {
      resolveConfig({ redis: 'http://:S3CRET@h?password=S3CRET' }, {});
    } catch (err) {
      expect((err as Error).message).not.toContain('S3CRET');
    }
  });

  it('--timeout / BATON_TIMEOUT: seconds, default 5', () => {
    expect(resolveConfig({}, {}).timeoutMs).toBe(5000);
    expect(resolveConfig({ timeout: '2' }, {}).timeoutMs).toBe(2000);
    expect(resolveConfig({}, { BATON_TIMEOUT: '9' }).timeoutMs).toBe(9000);
    expect(() => resolveConfig({ timeout: '0' }, {})).toThrow(/--timeout must be between 1/);
  });
});

describe('redactUrl: every credential form a URL can carry', () => {
  it.each([
    ['redis://:S3CRET@h:6379', 'redis://:redacted@h:6379'],
    ['redis://user:S3CRET@h:6379', 'redis://user:redacted@h:6379'],
    ['redis://S3CRET@h:6379', 'redis://redacted@h:6379'],
    ['redis://h:6379/?password=S3CRET', 'redis://h:6379/?password=redacted'],
    ['redis://h:6379/0?db=1&username=S3CRET', 'redis://h:6379/0?db=1&username=redacted'],
    ['rediss://h:6379/?tls=1&Token=S3CRET', 'rediss://h:6379/?tls=1&Token=redacted'],
    ['http://root:S3CRET@127.0.0.1:2379', 'http://root:redacted@127.0.0.1:2379/'],
    ['http://h:8080/#token=S3CRET', 'http://h:8080/#redacted'],
    ['http://a:S3CRET@h1:2379,http://h2:2379', 'http://a:redacted@h1:2379/,http://h2:2379'],
    ['redis://[broken:S3CRET@x', 'redis://%5Bbroken:redacted@x'],
    ['http://[::1:S3CRET@x', 'http://%5B:redacted@x/'],
    ['notaurl?password=S3CRET', 'notaurl?password=redacted'],
    ['redis://h:6379/2', 'redis://h:6379/2'],
  ])('%s', (url, safe) => {
    expect(redactUrl(url)).toBe(safe);
    expect(redactUrl(url)).not.toContain('S3CRET');
  });
});

describe('errors name their cause and exit code', () => {
  const config = { redisUrl: 'redis://h:6379/?password=S3CRET' };

  it('refused credentials: exit 4; not Redis: exit 6; neither prints the password', () => {
    const auth = classifyRedisError(
      config,
      'read',
      new ReplyError('WRONGPASS invalid username-password pair or user is disabled.'),
    );
    expect(auth).toBeInstanceOf(AuthError);
    const noauth = classifyRedisError(
      config,
      'read',
      new ReplyError('NOAUTH HELLO must be called'),
    );
    expect(noauth).toBeInstanceOf(AuthError);
    const http = classifyRedisError(config, 'read', new Error('Unknown RESP type 72 "H".'));
    expect(http).toBeInstanceOf(WrongServiceError);
    let stderr = '';
    const sink = { write: (s: string) => ((stderr += s), true) } as NodeJS.WritableStream;
    expect(reportError(auth, sink)).toBe(EXIT.auth);
    expect(reportError(http, sink)).toBe(EXIT.wrongService);
    expect(stderr).not.toContain('S3CRET');
    expect(stderr.trim().split('\n')).toHaveLength(2);
  });

  it('a Redis call that never answers fails at the deadline with exit 3', async () => {
    const never = new Promise<never>(() => undefined);
    const err = await redisCall({ ...config, timeoutMs: 50 }, 'read', () => never).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe(
      'Redis at redis://h:6379/?password=redacted did not answer within 0.05s to read (--timeout / BATON_TIMEOUT)',
    );
    expect(reportError(err, { write: () => true } as unknown as NodeJS.WritableStream)).toBe(
      EXIT.unavailable,
    );
  });
});

describe('next --from', () => {
  it('refuses offsets beyond ±18:00 and instants past year 9999', () => {
    expect(() => parseFrom('2024-01-01T00:00:00+25:00', 'UTC')).toThrow(/beyond ±18:00/);
    expect(() => parseFrom('2024-01-01T00:00:00-1860', 'UTC')).toThrow(/beyond ±18:00/);
    expect(() => parseFrom('+010000-01-01T00:00:00Z', 'UTC')).toThrow(UsageError);
    expect(parseFrom('2024-01-01T00:00:00+14:00', 'UTC')).toBe(Date.UTC(2023, 11, 31, 10));
  });
});
