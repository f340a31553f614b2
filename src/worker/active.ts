import type { OverlapPolicy } from '../definitions/types.js';
import type { Logger } from '../log.js';
import type { RunKeys } from '../redis/keys.js';
import { RunAbortedError, type AbortCause } from './errors.js';

/** A run executing in this process. */
export interface ActiveRun {
  job: string;
  fireId: string;
  bullJobId: string | undefined;
  overlap: OverlapPolicy;
  /** The overlap lock's value while this run holds it: `<scheduledAtMs> <fireId>`. */
  lockValue: string;
  keys: RunKeys;
  controller: AbortController;
  /** Hands the run back to its queue (shutdown past the abort grace). */
  release: () => void;
  released: Promise<void>;
  logger: Logger;
  lockWarned: boolean;
}

function abortMessage(cause: AbortCause, detail?: string): string {
  switch (cause) {
    case 'replaced':
      return `run replaced${detail ? ` by ${detail}` : ''} (overlap: replace)`;
    case 'shutdown':
      return 'worker shutting down';
    case 'lock-lost':
      return 'BullMQ lock lost: the run may be handed to another worker';
    case 'timeout':
      return 'timed out';
  }
}

/** Aborts a run's signal once, with a {@link RunAbortedError} saying why. */
export function abortRun(run: ActiveRun, cause: AbortCause, detail?: string): void {
  if (run.controller.signal.aborted) return;
  const message = abortMessage(cause, detail);
  run.logger.warn({ cause }, `aborting the run: ${message}`);
  run.controller.abort(new RunAbortedError(cause, message));
}

/** The runs executing in this process, by fire id. */
export class ActiveRuns {
  private readonly runs = new Map<string, ActiveRun>();

  get(fireId: string): ActiveRun | undefined {
    return this.runs.get(fireId);
  }

  add(run: ActiveRun): void {
    this.runs.set(run.fireId, run);
  }

  /** Removes the run, unless another run of the same fire id took its place since. */
  remove(run: ActiveRun): void {
    if (this.runs.get(run.fireId) === run) this.runs.delete(run.fireId);
  }

  has(fireId: string): boolean {
    return this.runs.has(fireId);
  }

  values(): IterableIterator<ActiveRun> {
    return this.runs.values();
  }

  fireIds(): string[] {
    return [...this.runs.keys()];
  }

  /** Aborts every run (shutdown past the grace period). */
  abortAll(cause: AbortCause): void {
    for (const run of this.runs.values()) abortRun(run, cause);
  }

  /** Hands every run back to its queue. */
  releaseAll(): void {
    for (const run of this.runs.values()) run.release();
  }

  /** BullMQ could not renew these jobs' locks: abort their runs (`lock-lost`). */
  lockLost(bullJobIds: readonly string[]): void {
    for (const run of this.runs.values()) {
      if (run.bullJobId !== undefined && bullJobIds.includes(run.bullJobId)) {
        abortRun(run, 'lock-lost');
      }
    }
  }
}
