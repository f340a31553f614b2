import type { Logger } from '../log.js';
import type { RunOrder, SkipRecord } from '../fire.js';
import type { LeaderEvent } from './leader-events.js';
import type { Withdrawable } from './planner.js';

/** What withdrawal needs of Redis (the {@link Dispatcher}). */
export interface WithdrawTarget {
  withdraw(
    runs: { run: RunOrder; skip: SkipRecord }[],
  ): Promise<{ run: RunOrder; skip: SkipRecord }[]>;
}

/**
 * A pause seen while leading: the job's runs already decided for later instants (inside the
 * look-ahead) are withdrawn from Redis unless a worker has taken them, and recorded as skipped
 * (`paused`). Best effort, in the background: a run being published at this very moment still
 * runs.
 */
export class Withdrawal {
  constructor(
    private readonly target: WithdrawTarget,
    private readonly emit: (event: LeaderEvent) => void,
    private readonly logger: Logger,
  ) {}

  /** Withdraws `runs` of `job`; resolves when done (never rejects). */
  withdraw(job: string, runs: Withdrawable[]): Promise<void> {
    if (runs.length === 0) return Promise.resolve();
    return this.target.withdraw(runs).then(
      (withdrawn) => {
        for (const { skip } of withdrawn) {
          this.emit({
            type: 'skip',
            job,
            reason: 'paused',
            first: skip.first,
            last: skip.last,
            count: 1,
          });
        }
      },
      (err: Error) =>
        this.logger.warn(
          { job, err },
          'cannot withdraw the runs decided before the pause; they run',
        ),
    );
  }
}
