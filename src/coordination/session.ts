import { performance } from 'node:perf_hooks';
import type { Etcd3, Lease } from 'etcd3';
import {
  AuthError,
  NotLeaderError,
  SessionEnd,
  UnavailableError,
  type StepDownCause,
} from '../errors.js';
import { etcdFailure } from '../failures.js';
import type { Logger } from '../log.js';

/**
 * One lease of one replica: the member key and the campaign key are bound to it, so when the
 * replica dies etcd removes both after the TTL.
 *
 * etcd3 1.1.2 reports a lost lease (`lost`) only after 2×TTL without a keepalive, far too late.
 * Its `keepaliveFailed`, on the other hand, fires whenever the etcd member carrying the keepalive
 * stream goes away, although the client reconnects to another member 100 ms later and the lease
 * lives on. So the session ends at the lease's own deadline instead: a keepalive sent at T and
 * acknowledged proves the lease alive until T + TTL (monotonic clock); when that passes without
 * a newer acknowledgement, the session is over, whatever events did or did not arrive. A leader
 * thus rides through an etcd member restart, and never acts past the moment etcd may have
 * expired its key. (docs/architecture.md, "Why not step down on keepaliveFailed")
 * @see https://github.com/microsoft/etcd3/blob/master/src/lease.ts (keepalive loop)
 */
export class Session {
  readonly leaseId: string;
  /** Aborted the moment the session ends; its `reason` is a {@link SessionEnd}. */
  readonly signal: AbortSignal;
  private readonly controller: AbortController;
  private lastKeepaliveSentAt: number;
  private pendingKeepaliveSentAt: number;
  private validUntil: number;
  private deadlineTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly lease: Lease,
    leaseId: string,
    readonly ttlSeconds: number,
    grantedSentAt: number,
    private readonly logger: Logger,
  ) {
    this.leaseId = leaseId;
    this.controller = new AbortController();
    this.signal = this.controller.signal;
    this.lastKeepaliveSentAt = grantedSentAt;
    this.pendingKeepaliveSentAt = grantedSentAt;
    this.validUntil = grantedSentAt + ttlSeconds * 1000;
    lease.on('keepaliveFired', () => {
      this.pendingKeepaliveSentAt = performance.now();
    });
    lease.on('keepaliveSucceeded', () => {
      this.lastKeepaliveSentAt = this.pendingKeepaliveSentAt;
      this.validUntil = this.lastKeepaliveSentAt + ttlSeconds * 1000;
      this.armDeadline();
    });
    lease.on('keepaliveFailed', (err) => {
      this.logger.warn(
        {
          leaseId: this.leaseId,
          err: describe(err),
          validForMs: Math.round(this.validUntil - performance.now()),
        },
        'lease keepalive failed; retrying until the lease deadline',
      );
    });
    lease.on('lost', (err) => this.end('lease_expired', `lease lost: ${describe(err)}`));
    this.armDeadline();
  }

  /** Ends the session when the lease's proven lifetime runs out without a newer keepalive. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.ended) return;
    this.deadlineTimer = setTimeout(
      () => {
        if (!this.isValid()) {
          this.end('lease_expired', 'no keepalive acknowledged within the lease TTL');
        } else this.armDeadline();
      },
      Math.max(0, this.validUntil - performance.now()),
    );
    this.deadlineTimer.unref();
  }

  /**
   * Grants a lease and starts keeping it alive. Throws {@link AuthError} when etcd refuses the
   * credentials, else {@link UnavailableError} when etcd is out of reach.
   */
  static async open(etcd: Etcd3, ttlSeconds: number, logger: Logger): Promise<Session> {
    const sentAt = performance.now();
    const lease = etcd.lease(ttlSeconds, { autoKeepAlive: true });
    // Without a listener, a failed initial grant is an unhandled 'lost' event.
    const onLost = () => undefined;
    lease.on('lost', onLost);
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (err) {
      lease.release();
      const failure = etcdFailure(err);
      if (failure?.cause === 'auth') {
        throw new AuthError(
          'etcd',
          failure.reason ?? 'authentication',
          `etcd refused to grant a lease: ${describe(err)}`,
          err,
        );
      }
      throw new UnavailableError('etcd', `cannot get an etcd lease: ${describe(err)}`, err);
    }
    lease.off('lost', onLost);
    return new Session(lease, leaseId, ttlSeconds, sentAt, logger);
  }

  get ended(): boolean {
    return this.signal.aborted;
  }

  /** Why the session ended (null while it lasts). */
  get ending(): SessionEnd | null {
    return this.ended ? SessionEnd.of(this.signal.reason) : null;
  }

  /**
   * True while the lease is certainly still alive from etcd's point of view: a keepalive sent at
   * time T and acknowledged extends it to at least T + TTL. Uses the monotonic clock, which keeps
   * running while the process is stopped (SIGSTOP, GC pause), so a replica that wakes after its
   * TTL knows it may no longer act before any keepalive event tells it.
   */
  isValid(): boolean {
    return !this.ended && performance.now() < this.validUntil;
  }

  /** Throws {@link NotLeaderError} unless {@link isValid}. */
  assertValid(): void {
    if (this.ended) {
      throw new NotLeaderError(`session ended: ${String(this.signal.reason)}`, this.ending!);
    }
    if (!this.isValid()) {
      const err = new NotLeaderError(
        'lease may have expired (no keepalive acknowledged within the TTL)',
        'lease_expired',
      );
      this.end(err.ending);
      throw err;
    }
  }

  /**
   * Ends the session (once) for a typed cause: aborts {@link signal} with a {@link SessionEnd};
   * the lease is revoked by {@link close}.
   */
  end(ending: SessionEnd): void;
  end(cause: StepDownCause, message: string): void;
  end(causeOrEnding: StepDownCause | SessionEnd, message?: string): void {
    if (this.ended) return;
    const ending =
      causeOrEnding instanceof SessionEnd
        ? causeOrEnding
        : new SessionEnd(causeOrEnding, message ?? causeOrEnding);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.logger.warn(
      { leaseId: this.leaseId, reason: ending.message, cause: ending.cause },
      'etcd session ended',
    );
    this.controller.abort(ending);
  }

  /**
   * Ends the session and revokes the lease so etcd deletes the member and campaign keys at once
   * (a graceful handover takes one watch event instead of a TTL). Best effort: if etcd is out of
   * reach the lease simply expires.
   */
  async close(ending: SessionEnd = new SessionEnd('shutdown', 'closed')): Promise<void> {
    this.end(ending);
    try {
      await this.lease.revoke();
    } catch (err) {
      this.logger.debug({ err }, 'lease revoke failed; it will expire by TTL');
    }
  }

  /** Stops keepalives without revoking, for tests that simulate a crash. */
  release(): void {
    this.end('shutdown', 'released');
    this.lease.release();
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
