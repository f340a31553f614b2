/**
 * Look-ahead without a burst: a pause takes effect within a second at most, and a run is never
 * decided more than this early because the previous tick was slow.
 */
export const MAX_LOOKAHEAD_MS = 1000;
/**
 * Look-ahead for a burst (many jobs due at one instant): the schedule is known, so the burst is
 * planned as far ahead as deciding, committing and publishing it should take, up to this bound.
 */
export const MAX_BURST_LOOKAHEAD_MS = 10_000;
/**
 * Cost of one job in a burst before any was measured: 10,000 jobs took ~1.3 s to decide, commit
 * and publish on the idle 2-core benchmark machine, ~3 s under load (bench/results/); a first
 * burst planned too early costs nothing, one planned too late runs late.
 */
export const PRIOR_MS_PER_JOB = 0.3;
/** A tick needs this many jobs to measure the cost per job from (round trips dominate below). */
export const MEASURE_MIN_JOBS = 1000;
/** Headroom over what a burst should take: the machine may be busier than when it was measured. */
const MARGIN = 1.5;

/**
 * The adaptive look-ahead: the configured one, stretched for a burst by how long the jobs due at
 * the next instant should take at the measured cost per job (up to
 * {@link MAX_BURST_LOOKAHEAD_MS}), and by how long the last tick took (up to
 * {@link MAX_LOOKAHEAD_MS}). Pure: the caller passes monotonic times.
 */
export class AdaptiveLookahead {
  /** When the measured tick started (monotonic ms) and its jobs; null when none is measured. */
  private tick: { startedAt: number; jobs: number } | null = null;
  private lastTickMs = 0;
  private msPerJob = PRIOR_MS_PER_JOB;

  constructor(readonly configuredMs: number) {}

  /** The look-ahead to decide with now, `dueNext` jobs being due at the next instant. */
  effective(dueNext: number): number {
    if (this.configuredMs === 0) return 0;
    const steady = Math.min(MAX_LOOKAHEAD_MS, Math.ceil(MARGIN * this.lastTickMs));
    const burst = Math.min(MAX_BURST_LOOKAHEAD_MS, Math.ceil(MARGIN * dueNext * this.msPerJob));
    return Math.max(this.configuredMs, steady, burst);
  }

  /** A tick of `jobs` jobs started deciding at `at` (monotonic ms). */
  started(jobs: number, at: number): void {
    this.tick = { startedAt: at, jobs };
  }

  /**
   * Everything decided so far is in Redis at `at`: measures the tick, if one was being measured.
   * Returns true when it was (the loop may be asleep on a look-ahead computed without it).
   */
  published(at: number): boolean {
    if (this.tick === null) return false;
    this.lastTickMs = at - this.tick.startedAt;
    if (this.tick.jobs >= MEASURE_MIN_JOBS) this.msPerJob = this.lastTickMs / this.tick.jobs;
    this.tick = null;
    return true;
  }

  /** The last measured cost per job of a burst (ms), or the prior. */
  get costPerJobMs(): number {
    return this.msPerJob;
  }
}
