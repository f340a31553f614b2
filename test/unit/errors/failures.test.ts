import { Writable } from 'node:stream';
import {
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  castGrpcError,
} from 'etcd3';
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { EXIT, reportError } from '../../../src/cli/exit.js';
import {
  AuthError,
  InvalidRequestError,
  NotLeaderError,
  PrefixTakenError,
  SessionEnd,
  UnavailableError,
} from '../../../src/errors.js';
import { etcdError, etcdFailure, redisError, redisFailure } from '../../../src/failures.js';

/** A gRPC error as grpc-js rejects a call (code + message), cast the way etcd3 casts it. */
function grpc(code: number, message: string): Error {
  return castGrpcError(Object.assign(new Error(message), { code }));
}

const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);

describe('etcd failures, from etcd3 error classes and gRPC codes', () => {
  it('tells auth, invalid argument and unavailable apart', () => {
    const cases: [Error, string | null, string?][] = [
      [
        grpc(
          3,
          '3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password',
        ),
        'auth',
        'authentication',
      ],
      [grpc(7, '7 PERMISSION_DENIED: etcdserver: permission denied'), 'auth', 'permission'],
      [grpc(16, '16 UNAUTHENTICATED: bad token'), 'auth', 'authentication'],
      [grpc(3, '3 INVALID_ARGUMENT: etcdserver: user name is empty'), 'auth', 'authentication'],
      [grpc(3, '3 INVALID_ARGUMENT: etcdserver: request is too large'), 'invalid_argument'],
      [grpc(14, '14 UNAVAILABLE: No connection established'), 'unavailable'],
      [grpc(4, '4 DEADLINE_EXCEEDED: Deadline exceeded'), 'unavailable'],
      [new Error('a bug'), null],
    ];
    for (const [err, cause, reason] of cases) {
      const f = etcdFailure(err);
      expect(f?.cause ?? null, err.message).toBe(cause);
      if (reason) expect(f?.reason, err.message).toBe(reason);
    }
    expect(etcdFailure(new EtcdAuthenticationFailedError('x'))?.cause).toBe('auth');
    expect(etcdFailure(new EtcdInvalidAuthTokenError('x'))?.cause).toBe('auth');
    expect(etcdFailure(new EtcdPermissionDeniedError('x'))?.reason).toBe('permission');
    expect(etcdFailure(new GRPCUnauthenticatedError('x'))?.cause).toBe('auth');
    expect(etcdFailure(new GRPCInvalidArgumentError('x'))?.cause).toBe('invalid_argument');
    expect(etcdFailure(new GRPCUnavailableError('x'))?.cause).toBe('unavailable');
    expect(etcdFailure(new GRPCDeadlineExceededError('x'))?.cause).toBe('unavailable');
  });

  it('the message does not decide: an auth-sounding message in an unavailable error is unavailable', () => {
    const err = new GRPCUnavailableError(
      '14 UNAVAILABLE: permission denied, authentication failed',
    );
    expect(etcdFailure(err)?.cause).toBe('unavailable');
    expect(etcdFailure(new Error('etcdserver: permission denied'))).toBeNull();
  });

  it('turns them into typed errors with one line each', () => {
    const auth = etcdError(
      grpc(3, '3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password'),
      'read the status',
      ['http://127.0.0.1:2379'],
    );
    expect(auth).toBeInstanceOf(AuthError);
    expect((auth as AuthError).code).toBe('ETCD_AUTHENTICATION_DENIED');
    expect((auth as AuthError).retryable).toBe(false);
    expect((auth as Error).message).toBe(
      'etcd at http://127.0.0.1:2379 refused the credentials to read the status: 3 ' +
        'INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password ' +
        '(check BATON_ETCD_USERNAME and BATON_ETCD_PASSWORD)',
    );
    const perm = etcdError(grpc(7, '7 PERMISSION_DENIED: etcdserver: permission denied'), 'pause', [
      'http://e:2379',
    ]);
    expect((perm as AuthError).code).toBe('ETCD_PERMISSION_DENIED');
    const invalid = etcdError(grpc(3, '3 INVALID_ARGUMENT: etcdserver: too many operations'), 'x', [
      'http://e:2379',
    ]);
    expect(invalid).toBeInstanceOf(InvalidRequestError);
    const down = etcdError(
      grpc(14, '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED'),
      'read the status',
      ['http://e:2379'],
    );
    expect(down).toBeInstanceOf(UnavailableError);
    expect((down as Error).message).toBe(
      'cannot reach etcd at http://e:2379 to read the status: connect ECONNREFUSED',
    );
    const bug = new TypeError('x is undefined');
    expect(etcdError(bug, 'x', [])).toBe(bug);
  });
});

describe('Redis failures, from error replies and the connection', () => {
  it('WRONGPASS, NOAUTH and NOPERM replies are auth; other replies pass through', () => {
    expect(redisFailure(reply('WRONGPASS invalid username-password pair'))).toMatchObject({
      cause: 'auth',
      reason: 'authentication',
    });
    expect(redisFailure(reply('NOAUTH Authentication required.'))?.reason).toBe('authentication');
    expect(
      redisFailure(reply("NOPERM this user has no permissions to run the 'set' command")),
    ).toMatchObject({ cause: 'auth', reason: 'permission' });
    expect(redisFailure(reply('WRONGTYPE Operation against a key'))).toBeNull();
    expect(redisFailure(reply('LOADING Redis is loading the dataset in memory'))?.cause).toBe(
      'unavailable',
    );
    // Only the reply's code counts, not words elsewhere in a message.
    expect(redisFailure(reply('ERR NOPERM WRONGPASS'))).toBeNull();
  });

  it('a command refused for lack of a connection takes the cause of the connection error', () => {
    const noStream = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    expect(redisFailure(noStream)?.cause).toBe('unavailable');
    expect(redisFailure(noStream, reply('WRONGPASS invalid username-password pair'))).toMatchObject(
      { cause: 'auth', reason: 'authentication' },
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(redisFailure(refused)?.cause).toBe('unavailable');
    expect(redisFailure(new Error('Connection is closed.'))?.cause).toBe('unavailable');
    expect(redisFailure(new TypeError('a bug'))).toBeNull();
  });

  it('typed errors never show the password of the URL', () => {
    const url = 'redis://baton:s3cret@127.0.0.1:6379';
    const auth = redisError(
      new Error('Connection is closed.'),
      'read the history',
      url,
      reply('WRONGPASS invalid username-password pair or user is disabled.'),
    );
    expect(auth).toBeInstanceOf(AuthError);
    expect((auth as AuthError).code).toBe('REDIS_AUTHENTICATION_DENIED');
    expect((auth as Error).message).not.toContain('s3cret');
    expect((auth as Error).message).toContain('WRONGPASS');
    const down = redisError(new Error('Connection is closed.'), 'read', url);
    expect(down).toBeInstanceOf(UnavailableError);
    expect((down as Error).message).not.toContain('s3cret');
  });
});

describe('exit codes', () => {
  const exitOf = (err: unknown) => {
    const out: string[] = [];
    const stderr = new Writable({
      write(chunk, _enc, cb) {
        out.push(String(chunk));
        cb();
      },
    });
    return { code: reportError(err, stderr), lines: out.join('').trimEnd().split('\n') };
  };

  it('auth 4, prefix taken 5, unavailable 3, each in one line', () => {
    const auth = exitOf(new AuthError('etcd', 'authentication', 'etcd refused the credentials'));
    expect(auth).toEqual({ code: EXIT.auth, lines: ['baton: etcd refused the credentials'] });
    expect(EXIT.auth).toBe(4);
    const taken = exitOf(new PrefixTakenError('bull', 'baton', 'other', 'redis://r:6379/'));
    expect(taken.code).toBe(5);
    expect(taken.lines).toEqual([
      'baton: queue prefix "bull" on redis://r:6379/ belongs to namespace "baton", not "other": ' +
        'give each namespace its own --queue-prefix (BATON_QUEUE_PREFIX)',
    ]);
    expect(exitOf(new UnavailableError('redis', 'cannot reach Redis')).code).toBe(3);
    expect(exitOf(new InvalidRequestError('etcd', 'etcd refused')).code).toBe(EXIT.failure);
  });
});

describe('step-down causes are typed values', () => {
  it('a NotLeaderError carries the cause it was thrown with, not one read from its words', () => {
    const fenced = new NotLeaderError('lease may have expired', 'fence_refused');
    expect(fenced.ending).toEqual(new SessionEnd('fence_refused', 'lease may have expired'));
    const carried = new NotLeaderError('session ended', new SessionEnd('auth', 'etcd refused'));
    expect(carried.ending.cause).toBe('auth');
    expect(new NotLeaderError('own election key was deleted').ending.cause).toBe('etcd_error');
  });

  it('SessionEnd.of keeps a typed reason and types anything else with the fallback', () => {
    const end = new SessionEnd('redis_unreachable', 'cannot reach Redis');
    expect(SessionEnd.of(end)).toBe(end);
    expect(String(end)).toBe('cannot reach Redis');
    expect(SessionEnd.of('no keepalive acknowledged within the lease TTL').cause).toBe(
      'etcd_error',
    );
    expect(SessionEnd.of('x', 'shutdown')).toEqual(new SessionEnd('shutdown', 'x'));
  });
});
