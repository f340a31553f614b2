import { isBrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  isRecoverableError,
} from 'etcd3';
import { ReplyError } from 'ioredis';
import {
  AuthError,
  BatonError,
  InvalidRequestError,
  UnavailableError,
  WrongServiceError,
} from './errors.js';
import { redactUrl } from './log.js';

/**
 * What a failed call to etcd or Redis means for baton, decided from the clients' typed errors
 * and the servers' error codes (never from the wording of a message):
 *
 * - `unavailable`: the server could not be reached or could not answer (gRPC UNAVAILABLE,
 *   DEADLINE_EXCEEDED, ... as etcd3 marks them recoverable; a socket error; no Redis connection).
 *   Retried with backoff.
 * - `auth`: the server refused the credentials or the rights (gRPC UNAUTHENTICATED=16,
 *   PERMISSION_DENIED=7, etcd's "authentication failed"; Redis WRONGPASS, NOAUTH, NOPERM).
 *   Retrying cannot help until an operator fixes them.
 * - `invalid_argument`: etcd refused the request itself (gRPC INVALID_ARGUMENT=3).
 *
 * `null`: none of these (a bug, a wrong key type, ...): the error passes through unchanged.
 */
export type FailureCause = 'unavailable' | 'auth' | 'invalid_argument';

/**
 * etcd's description of `ErrGRPCUserEmpty` (a request without credentials while etcd has
 * authentication enabled), sent with code INVALID_ARGUMENT. etcd3 has no class for it; etcd's
 * own Go client recognises its errors by these exact descriptions (`rpctypes.ErrorDesc`).
 * @see https://github.com/etcd-io/etcd/blob/v3.4.0/etcdserver/api/v3rpc/rpctypes/error.go
 */
const ETCD_USER_EMPTY = 'etcdserver: user name is empty';

/** How an etcd call failed; `reason` tells authentication from permission for `auth`. */
export function etcdFailure(
  err: unknown,
): { cause: FailureCause; reason?: 'authentication' | 'permission' } | null {
  if (err instanceof EtcdPermissionDeniedError) return { cause: 'auth', reason: 'permission' };
  if (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdInvalidAuthTokenError ||
    err instanceof GRPCUnauthenticatedError ||
    (err instanceof GRPCInvalidArgumentError && err.message.endsWith(ETCD_USER_EMPTY))
  ) {
    return { cause: 'auth', reason: 'authentication' };
  }
  if (err instanceof GRPCInvalidArgumentError) return { cause: 'invalid_argument' };
  if (err instanceof Error && (isRecoverableError(err) || isBrokenCircuitError(err))) {
    return { cause: 'unavailable' };
  }
  if (err instanceof ClientClosedError) return { cause: 'unavailable' };
  return null;
}

/** Redis error codes (the first word of an error reply) that mean refused credentials or rights. */
const REDIS_AUTH_CODES: Readonly<Record<string, 'authentication' | 'permission'>> = {
  WRONGPASS: 'authentication',
  NOAUTH: 'authentication',
  NOPERM: 'permission',
};

/** Error replies of a Redis that is up but cannot serve yet (loading its data, no master). */
const REDIS_NOT_SERVING: ReadonlySet<string> = new Set(['LOADING', 'MASTERDOWN']);

/** The error code of a Redis error reply (`WRONGPASS`, `NOPERM`, `ERR`, ...), else null. */
export function redisReplyCode(err: unknown): string | null {
  if (!(err instanceof ReplyError)) return null;
  const message = (err as Error).message;
  const space = message.indexOf(' ');
  return space === -1 ? message : message.slice(0, space);
}

/**
 * Errors ioredis raises itself when it has no usable connection (its own fixed messages, or
 * a socket/TLS error carrying a Node error code).
 */
const IOREDIS_NO_CONNECTION = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
]);

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof ReplyError) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  if (IOREDIS_NO_CONNECTION.has(err.message)) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^(E[A-Z]+|ERR_TLS_.+|[A-Z_]*CERT[A-Z_]*)$/.test(code);
}

/**
 * How a Redis call failed. `connectionError` is the last error the connection itself reported
 * ({@link import('./redis/connection.js').lastConnectionError}): when ioredis refuses a command
 * because its connection is down, that error says why (a refused AUTH at the handshake is a
 * `WRONGPASS` reply there, not an outage).
 */
export function redisFailure(
  err: unknown,
  connectionError?: Error | null,
): { cause: FailureCause; reason?: 'authentication' | 'permission'; reply?: Error } | null {
  const code = redisReplyCode(err);
  if (code !== null) {
    if (REDIS_NOT_SERVING.has(code)) return { cause: 'unavailable' };
    const reason = REDIS_AUTH_CODES[code];
    return reason ? { cause: 'auth', reason, reply: err as Error } : null;
  }
  if (!isConnectionError(err)) return null;
  const connCode = redisReplyCode(connectionError);
  const reason = connCode === null ? undefined : REDIS_AUTH_CODES[connCode];
  if (reason) return { cause: 'auth', reason, reply: connectionError! };
  return { cause: 'unavailable' };
}

/** The first line of grpc's message, with the transport's own cause when it names one. */
function grpcDetail(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  // grpc's messages run on ("14 UNAVAILABLE: No connection established. Last error: …"):
  // keep the cause.
  return (
    /Last error: (?:Error: )?(.+?)(?:\. Resolution note|\n|$)/.exec(message)?.[1] ??
    message.split('\n')[0]!
  );
}

/**
 * The typed baton error for a failed etcd call (`what` says what baton was doing, e.g.
 * "read the status"), or `err` itself when it is none of {@link FailureCause}.
 */
export function etcdError(err: unknown, what: string, endpoints: readonly string[]): unknown {
  if (err instanceof BatonError) return err;
  const at = endpoints.map(redactUrl).join(',');
  if (/Protocol error/i.test((err as Error)?.message ?? '')) {
    return new WrongServiceError(
      'etcd',
      `the server at ${at} does not speak etcd's gRPC protocol (is it an HTTP or other port?)`,
      err,
    );
  }
  const failure = etcdFailure(err);
  if (!failure) return err;
  const detail = grpcDetail(err);
  switch (failure.cause) {
    case 'auth':
      return failure.reason === 'permission'
        ? new AuthError(
            'etcd',
            'permission',
            `etcd at ${at} denied permission to ${what}: ${detail} (the etcd user needs ` +
              `read/write on the namespace prefix and lease grants)`,
            err,
          )
        : new AuthError(
            'etcd',
            'authentication',
            `etcd at ${at} refused the credentials to ${what}: ${detail} (check ` +
              `BATON_ETCD_USERNAME and BATON_ETCD_PASSWORD)`,
            err,
          );
    case 'invalid_argument':
      return new InvalidRequestError('etcd', `etcd at ${at} refused to ${what}: ${detail}`, err);
    case 'unavailable':
      return new UnavailableError('etcd', `cannot reach etcd at ${at} to ${what}: ${detail}`, err);
  }
}

/** The typed baton error for a failed Redis call, or `err` itself (see {@link etcdError}). */
export function redisError(
  err: unknown,
  what: string,
  redisUrl: string,
  connectionError?: Error | null,
): unknown {
  if (err instanceof BatonError) return err;
  const at = redactUrl(redisUrl);
  const wrong = [err, connectionError].find((e) =>
    /Unknown RESP type|Protocol error/i.test((e as Error | null)?.message ?? ''),
  );
  if (wrong) {
    return new WrongServiceError(
      'redis',
      `the server at ${at} does not speak the Redis protocol (is it an HTTP or other port?)`,
      err,
    );
  }
  const failure = redisFailure(err, connectionError);
  if (!failure) return err;
  if (failure.cause === 'auth') {
    const reply = failure.reply!.message.split('\n')[0];
    return failure.reason === 'permission'
      ? new AuthError(
          'redis',
          'permission',
          `Redis at ${at} denied permission to ${what}: ${reply}`,
          err,
        )
      : /^NOAUTH/.test(reply ?? '')
        ? new AuthError(
            'redis',
            'authentication',
            `Redis at ${at} requires a password and none was given to ${what}: ${reply} (put it ` +
              `in the URL: redis://:PASSWORD@host:port)`,
            err,
          )
        : new AuthError(
            'redis',
            'authentication',
            `Redis at ${at} refused the credentials to ${what}: ${reply} (check the user and ` +
              `password in the Redis URL)`,
            err,
          );
  }
  const detail = (connectionError ?? (err as Error))?.message?.split('\n')[0] ?? String(err);
  return new UnavailableError('redis', `cannot reach Redis at ${at} to ${what}: ${detail}`, err);
}
