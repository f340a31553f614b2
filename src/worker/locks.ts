import { abortRun, type ActiveRuns } from './active.js';
import type { RunScripts } from './scripts.js';

/**
 * Keeps the overlap locks (`forbid`, `replace`) of the runs in this process: renews each every
 * third of the lock duration while it is still the run's. A lock found taken means this worker
 * was silent longer than the lock duration: a `replace` run is aborted (a newer run took over), a
 * `forbid` run logs a warning once.
 */
export class LockRenewer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly scripts: RunScripts,
    private readonly active: ActiveRuns,
    private readonly lockMs: number,
  ) {}

  start(): void {
    const every = Math.max(50, Math.floor(this.lockMs / 3));
    this.timer = setInterval(() => void this.renew(), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One renewal round (exposed for tests). */
  async renew(): Promise<void> {
    for (const run of this.active.values()) {
      if (run.overlap === 'allow') continue;
      try {
        const ours = await this.scripts.renew(run.keys.active, run.lockValue, this.lockMs);
        if (ours || !this.active.has(run.fireId)) continue;
        if (run.overlap === 'replace') {
          abortRun(run, 'replaced', 'a newer run (the overlap lock was taken)');
        } else if (!run.lockWarned) {
          run.lockWarned = true;
          run.logger.warn(
            'overlap lock lost (this worker was silent longer than the lock duration): another run of the job may start',
          );
        }
      } catch (err) {
        run.logger.warn({ err }, 'cannot renew the overlap lock');
      }
    }
  }
}
