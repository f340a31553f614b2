import { excerpt } from './text.js';

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

/** This replica is no longer the leader (its election key is gone or its commit was fenced off). */
export class NotLeaderError extends BatonError {
  constructor(message: string) {
    super('NOT_LEADER', message, { retryable: false });
  }
}

/** A backing service (etcd, Redis) cannot be reached. Retried with backoff. */
export class UnavailableError extends BatonError {
  constructor(service: 'etcd' | 'redis', message: string, cause?: unknown) {
    super(`${service.toUpperCase()}_UNAVAILABLE`, message, { retryable: true, cause });
  }
}

/** etcd or Redis answered but refused the credentials (wrong or missing password, user). */
export class AuthError extends BatonError {
  constructor(service: 'etcd' | 'redis', message: string, cause?: unknown) {
    super(`${service.toUpperCase()}_AUTH`, message, { retryable: false, cause });
  }
}

/** The address answered, but not as etcd or Redis (an HTTP port, another protocol). */
export class WrongServiceError extends BatonError {
  constructor(service: 'etcd' | 'redis', message: string, cause?: unknown) {
    super(`NOT_${service.toUpperCase()}`, message, { retryable: false, cause });
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
    super('UNKNOWN_JOB', `unknown job ${excerpt(name, 63)}`);
  }
}
