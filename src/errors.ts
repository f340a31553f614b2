/**
 * One base error with a stable machine-readable `code` and a `retryable` flag. The CLI maps
 * these to one line and an exit code; nothing prints a stack to the user.
 */
export class BatonError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: { retryable?: boolean; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** One problem found in a definitions file, located at `file:line:col`. */
export interface DefinitionProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** Formats a problem the way `baton validate` prints it: `file:line:col: message`. */
export function formatProblem(p: DefinitionProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** The definitions folder holds one or more invalid files; every problem is listed. */
export class InvalidDefinitionError extends BatonError {
  readonly problems: readonly DefinitionProblem[];

  constructor(problems: readonly DefinitionProblem[]) {
    super(
      'INVALID_DEFINITION',
      problems.length === 1
        ? formatProblem(problems[0]!)
        : `${problems.length} problems in job definitions:\n${problems.map(formatProblem).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** A run or a commit carried a fencing token older than one already seen. Never retried. */
export class StaleTokenError extends BatonError {
  constructor(message: string) {
    super('STALE_TOKEN', message, { retryable: false });
  }
}

/**
 * Why a replica stopped leading (or its etcd session ended), as carried from where it happened
 * to the metric `baton_step_downs_total{cause}`:
 * - `shutdown`: SIGTERM/SIGINT;
 * - `lease_expired`: no keepalive acknowledged within the TTL, or etcd3 reported the lease lost;
 * - `key_deleted`: its own election key was deleted;
 * - `fence_refused`: a fenced commit was refused;
 * - `watch_failed`: a watch it leads by failed;
 * - `auth`: etcd refused its credentials or rights;
 * - `redis_unreachable`: it stepped down because it cannot reach Redis;
 * - `etcd_error`: anything else from etcd.
 */
export type StepDownCause =
  | 'shutdown'
  | 'lease_expired'
  | 'key_deleted'
  | 'fence_refused'
  | 'watch_failed'
  | 'auth'
  | 'redis_unreachable'
  | 'etcd_error';

/** Why an etcd session or a leadership ended: a typed cause, and words for the log. */
export class SessionEnd {
  constructor(
    readonly cause: StepDownCause,
    readonly message: string,
  ) {}

  toString(): string {
    return this.message;
  }

  /** `reason` as a {@link SessionEnd}: itself, or words with the `fallback` cause. */
  static of(reason: unknown, fallback: StepDownCause = 'etcd_error'): SessionEnd {
    return reason instanceof SessionEnd ? reason : new SessionEnd(fallback, String(reason));
  }
}

/**
 * This replica is no longer the leader (its election key is gone or its commit was fenced off).
 * `ending` says why, typed.
 */
export class NotLeaderError extends BatonError {
  readonly ending: SessionEnd;

  constructor(message: string, cause: StepDownCause | SessionEnd = 'etcd_error') {
    super('NOT_LEADER', message, { retryable: false });
    this.ending = cause instanceof SessionEnd ? cause : new SessionEnd(cause, message);
  }
}

/** A backing service (etcd, Redis) cannot be reached. Retried with backoff. */
export class UnavailableError extends BatonError {
  constructor(service: 'etcd' | 'redis', message: string, cause?: unknown) {
    super(`${service.toUpperCase()}_UNAVAILABLE`, message, { retryable: true, cause });
  }
}

/**
 * etcd or Redis refused baton's credentials (`authentication`: wrong or missing user/password,
 * etcd `UNAUTHENTICATED`, Redis `WRONGPASS`/`NOAUTH`) or its rights (`permission`: etcd
 * `PERMISSION_DENIED`, Redis `NOPERM`). Not retried as an outage: the operator must fix the
 * credentials or the grants. The message says which, and never contains a secret.
 */
export class AuthError extends BatonError {
  readonly service: 'etcd' | 'redis';
  readonly reason: 'authentication' | 'permission';

  constructor(
    service: 'etcd' | 'redis',
    reason: 'authentication' | 'permission',
    message: string,
    cause?: unknown,
  ) {
    super(
      `${service.toUpperCase()}_${reason === 'authentication' ? 'AUTHENTICATION' : 'PERMISSION'}_DENIED`,
      message,
      { retryable: false, cause },
    );
    this.service = service;
    this.reason = reason;
  }
}

/** etcd refused a request as malformed (gRPC `INVALID_ARGUMENT`): a bug or a limit, not an outage. */
export class InvalidRequestError extends BatonError {
  constructor(service: 'etcd' | 'redis', message: string, cause?: unknown) {
    super(`${service.toUpperCase()}_INVALID_ARGUMENT`, message, { retryable: false, cause });
  }
}

/**
 * The BullMQ queue prefix belongs to another baton namespace (`<prefix>:baton:namespace` in
 * Redis): two installations would share queues. Each namespace needs its own `--queue-prefix`.
 */
export class PrefixTakenError extends BatonError {
  constructor(
    readonly prefix: string,
    readonly owner: string,
    readonly namespace: string,
    where: string,
  ) {
    super(
      'QUEUE_PREFIX_TAKEN',
      `queue prefix "${prefix}" on ${where} belongs to namespace "${owner}", not "${namespace}": ` +
        `give each namespace its own --queue-prefix (BATON_QUEUE_PREFIX)`,
      { retryable: false },
    );
  }
}

/** Wrong usage or input from an operator (unknown job, bad flag value). */
export class UsageError extends BatonError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** A job name does not exist in the loaded definitions. */
export class UnknownJobError extends BatonError {
  constructor(name: string) {
    super('UNKNOWN_JOB', `unknown job "${name}"`);
  }
}
