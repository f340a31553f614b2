import {
  AuthError,
  BatonError,
  InvalidDefinitionError,
  PrefixTakenError,
  UsageError,
  WrongServiceError,
} from '../errors.js';
import { redactText } from '../log.js';
import { capText } from '../text.js';

/** Exit codes of the `baton` binary (documented in the README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** The command ran and its answer is "no": invalid definitions, a refused operation. */
  failure: 1,
  /** Wrong flags or arguments, unknown job. */
  usage: 2,
  /** etcd or Redis could not be reached, or did not answer within the deadline (--timeout). */
  unavailable: 3,
  /** etcd or Redis refused the credentials (authentication) or the rights (permission). */
  auth: 4,
  /** The queue prefix belongs to another namespace (`<prefix>:baton:namespace` in Redis). */
  prefixTaken: 5,
  /** The address answered, but is not etcd or Redis (e.g. an HTTP port). */
  wrongService: 6,
  /** A bug: an error baton did not expect. */
  internal: 70,
} as const;

/** Thrown by commands to end with a given exit code after printing their own output. */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/** Turns any error into one line on stderr and an exit code. No stack unless BATON_DEBUG is set. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof ExitError) return err.exitCode;
  if (process.env.BATON_DEBUG) stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  if (err instanceof InvalidDefinitionError) {
    stderr.write(`${err.message}\n`);
    return EXIT.failure;
  }
  const line = (message: string): void => {
    // Whatever a message quotes (an argument, a cause from a client library), no URL credential
    // is printed.
    stderr.write(`baton: ${capText(redactText(message.split('\n')[0] ?? ''), 1000)}\n`);
  };
  if (err instanceof UsageError || (err instanceof BatonError && err.code === 'UNKNOWN_JOB')) {
    line(err.message);
    return EXIT.usage;
  }
  if (err instanceof AuthError) {
    line(err.message);
    return EXIT.auth;
  }
  if (err instanceof PrefixTakenError) {
    line(err.message);
    return EXIT.prefixTaken;
  }
  if (err instanceof WrongServiceError) {
    line(err.message);
    return EXIT.wrongService;
  }
  if (err instanceof BatonError) {
    line(err.message);
    return err.retryable ? EXIT.unavailable : EXIT.failure;
  }
  const code = (err as { code?: string } | null)?.code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    // commander printed its message already. Help and --version end with 0; every other
    // commander error (unknown option, missing argument or value) is a usage error: 2.
    const exitCode = (err as { exitCode?: number }).exitCode;
    return exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  line(
    `internal error: ${(err as Error)?.message ?? String(err)} (set BATON_DEBUG=1 for the stack)`,
  );
  return EXIT.internal;
}
