import type { Logger } from '../log.js';

/** The steps of {@link ShutdownEscalation}, as `close()` goes through them. */
export type ShutdownPhase = 'draining' | 'aborting' | 'releasing';

/**
 * Shutdown of a worker whose queues are closing (BullMQ's `close()` waits for running
 * handlers): wait up to `graceMs` for them; then abort their signals (`onAbort`) and wait
 * `abortGraceMs`; then hand their runs back (`onRelease`) and wait up to `releaseWaitMs` more.
 * Bounded: resolves after grace + abort grace + release wait at most.
 */
export class ShutdownEscalation {
  phase: ShutdownPhase = 'draining';

  constructor(
    private readonly o: {
      graceMs: number;
      abortGraceMs: number;
      /** After handing the runs back. @defaultValue 10_000 */
      releaseWaitMs?: number;
      logger: Logger;
      /** The fire ids still running, for the log lines. */
      active: () => string[];
      onAbort: () => void;
      onRelease: () => void;
    },
  ) {}

  /** Resolves once `closed` has, escalating as its deadlines pass. */
  async run(closed: Promise<void>): Promise<void> {
    let done = false;
    void closed.then(() => (done = true));
    const within = (ms: number) =>
      new Promise<boolean>((resolve) => {
        if (done) return resolve(true);
        const t = setTimeout(() => resolve(false), ms);
        void closed.then(() => {
          clearTimeout(t);
          resolve(true);
        });
      });
    if (await within(this.o.graceMs)) return;
    this.phase = 'aborting';
    this.o.logger.warn(
      { active: this.o.active() },
      'grace period over: aborting the signals of running handlers',
    );
    this.o.onAbort();
    if (await within(this.o.abortGraceMs)) return;
    this.phase = 'releasing';
    this.o.logger.warn(
      { active: this.o.active() },
      'handlers still running: handing their runs back to the queue',
    );
    this.o.onRelease();
    if (!(await within(this.o.releaseWaitMs ?? 10_000))) {
      this.o.logger.error('BullMQ did not close in time; disconnecting');
    }
  }
}
