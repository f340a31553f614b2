import {
  AuthError,
  BatonError,
  InvalidDefinitionError,
  PrefixTakenError,
  UsageError,
} from '../errors.js';

/** Exit codes of the `baton` binary (documented in the README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** The command ran and its answer is "no": invalid definitions, a refused operation. */
  failure: 1,
  /** Wrong flags or arguments, unknown job. */
  usage: 2,
  /** etcd or Redis could not be reached. */
  unavailable: 3,
  /** etcd or Redis refused the credentials (authentication) or the rights (permission). */
  auth: 4,
  /** The queue prefix belongs to another namespace (`<prefix>:baton:namespace` in Redis). */
  prefixTaken: 5,
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
  if (err instanceof UsageError || (err instanceof BatonError && err.code === 'UNKNOWN_JOB')) {
    stderr.write(`baton: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof AuthError) {
    stderr.write(`baton: ${err.message}\n`);
    return EXIT.auth;
  }
  if (err instanceof PrefixTakenError) {
    stderr.write(`baton: ${err.message}\n`);
    return EXIT.prefixTaken;
  }
  if (err instanceof BatonError) {
    stderr.write(`baton: ${err.message}\n`);
    return err.retryable ? EXIT.unavailable : EXIT.failure;
  }
  const code = (err as { code?: string } | null)?.code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    return (err as { exitCode?: number }).exitCode ?? EXIT.usage;
  }
  stderr.write(
    `baton: internal error: ${(err as Error)?.message ?? String(err)} (set BATON_DEBUG=1 for the stack)\n`,
  );
  return EXIT.internal;
}
