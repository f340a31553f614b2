/**
 * The chaos suite's verdict: what handlers actually executed (the ledger the fixture handler
 * appends to), per fire id, against what the leaders committed. Pure: no I/O, no clock, so the
 * same analysis runs on a real run's records and on synthetic input in a unit test.
 */

/** One line of the ledger (test/fixtures/handlers/ledger.mjs). */
export interface LedgerLine {
  ev: 'start' | 'end';
  /** Random id of one execution: pairs a `start` with its `end`. */
  exec: string;
  fireId: string;
  job: string;
  token: string;
  attempt: number;
  worker: string;
  pid: number;
  /** The run's scheduled instant (epoch ms). */
  scheduledAt: number;
  /** When the line was written (epoch ms). */
  t: number;
  aborted?: boolean;
}

/** One execution: a `start` line and, unless the process died, its `end` line. */
export interface Execution {
  exec: string;
  fireId: string;
  job: string;
  token: string;
  attempt: number;
  worker: string;
  pid: number;
  scheduledAt: number;
  startedAt: number;
  endedAt: number | null;
  aborted: boolean;
}

export interface JobSpec {
  name: string;
  catchUp: 'all' | 'latest' | 'none';
  /** The job's fire instants in `(fromExclusive, toInclusive]`, ascending. */
  instants: (fromExclusiveMs: number, toInclusiveMs: number) => number[];
}

/** A fire a replica logged as committed (`fire committed`). */
export interface CommitRecord {
  fireId: string;
  job: string;
  token: string;
  replica: string;
  /** Log time (epoch ms). */
  t: number;
}

/** A range of skipped instants (a leader's skip record, or one the replica logged). */
export interface SkipRange {
  job: string;
  reason: string;
  first: number;
  last: number;
  count: number;
  /** When it was logged (replica logs only). */
  t?: number;
}

/** A run record of the worker history in Redis (src/history/records.ts), reduced. */
export interface HistoryRecord {
  fireId: string;
  job: string;
  token: string;
  status: string;
  reason: string | null;
  startedAt: number;
  worker: string;
}

/** A refusal or skip a worker logged. */
export interface WorkerDecision {
  kind: 'stale' | 'skip';
  fireId: string;
  job: string;
  token: string;
  worker: string;
  t: number;
}

export interface LedgerInput {
  jobs: JobSpec[];
  commits: CommitRecord[];
  /** The final watermark of each job in etcd (`<ns>/fires/<job>`.at): every instant up to it is decided. */
  watermarks: Record<string, number | null>;
  /** Skip records in Redis (`<prefix>:baton:skips:<job>`). */
  skipRecords: SkipRange[];
  /** Skips the replicas logged (`fires skipped`). */
  loggedSkips: SkipRange[];
  history: HistoryRecord[];
  workerDecisions: WorkerDecision[];
  ledger: LedgerLine[];
  /** Worker processes the harness stopped mid-run: kill -9 (or SIGTERM, which hands runs back). */
  workerStops: { pid: number; t: number; signal: 'SIGKILL' | 'SIGTERM' }[];
  /** When Redis was killed with -9 (epoch ms). */
  redisCrashes: number[];
  /**
   * How far back before a crash Redis may have lost writes it had acknowledged: about 1-2 s with
   * `appendfsync everysec`, 0 with `always`.
   */
  fsyncWindowMs: number;
  /**
   * Fire ids still in the etcd outbox when the replicas were stopped at the end of the run: no
   * replica was left to publish them, so they are not counted as losses (the report lists them).
   */
  unpublishedAtEnd?: string[];
}

export type DuplicateCause = 'worker-died-mid-run' | 'worker-shutdown-hand-back' | 'redis-crash';

export interface Duplicate {
  fireId: string;
  job: string;
  executions: number;
  /** One cause per re-execution; `unexplained` makes it a violation. */
  causes: (DuplicateCause | 'unexplained')[];
  detail: string[];
}

export interface Loss {
  fireId: string;
  job: string;
  instant: number;
  /** `refused-stale`: a committed fire a worker refused; `failed`: it ran but failed for good; `no-trace`: nothing. */
  why: 'refused-stale' | 'failed' | 'no-trace';
  detail: string;
}

export interface JobSummary {
  job: string;
  firstInstant: number | null;
  watermark: number | null;
  expected: number;
  executed: number;
  skippedRecorded: number;
  /** Neither executed nor skipped, but still in the outbox when the run ended (see unpublishedAtEnd). */
  notCounted: number;
  lost: number;
  /** Longest run of consecutive instants neither executed nor recorded as skipped. */
  longestGapInstants: number;
  longestGapFrom: number | null;
  /** What the catch-up policy allows (`all`: 0). */
  allowedGapInstants: number;
}

export interface LedgerVerdict {
  fires: { committed: number; logged: number; executedFires: number; skippedRecorded: number };
  executions: number;
  /** Executions that never ended (their worker died), reported for the re-executions. */
  unfinishedExecutions: number;
  duplicates: Duplicate[];
  losses: Loss[];
  /** Executions of fire ids no leader committed. */
  phantoms: Execution[];
  /** Executions of a (fire id, token) a worker also refused as stale. */
  refusedButExecuted: { fireId: string; token: string }[];
  refusals: number;
  unrecordedRefusals: WorkerDecision[];
  unrecordedWorkerSkips: WorkerDecision[];
  unrecordedLeaderSkips: SkipRange[];
  jobs: JobSummary[];
  /** Longest time between two consecutive committed fires, any job (leaderless or stalled). */
  longestCommitGapMs: number;
  longestCommitGapFrom: number | null;
  /** Human-readable invariant violations; empty means the run passed. */
  violations: string[];
}

/** Pairs `start` and `end` lines into executions (a missing `end`: the process died). */
export function executions(lines: readonly LedgerLine[]): Execution[] {
  const byExec = new Map<string, Execution>();
  for (const l of lines) {
    if (l.ev !== 'start') continue;
    byExec.set(l.exec, {
      exec: l.exec,
      fireId: l.fireId,
      job: l.job,
      token: l.token,
      attempt: l.attempt,
      worker: l.worker,
      pid: l.pid,
      scheduledAt: l.scheduledAt,
      startedAt: l.t,
      endedAt: null,
      aborted: false,
    });
  }
  for (const l of lines) {
    if (l.ev !== 'end') continue;
    const e = byExec.get(l.exec);
    if (e) {
      e.endedAt = l.t;
      e.aborted = l.aborted === true;
    }
  }
  return [...byExec.values()].sort((a, b) => a.startedAt - b.startedAt);
}

/** Parses the ledger file's text; a torn last line (writer killed mid-write) is ignored. */
export function parseLedger(text: string): LedgerLine[] {
  const out: LedgerLine[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as LedgerLine);
    } catch {
      // one write(2) per line: only a process killed inside write() could leave half a line
    }
  }
  return out;
}

function instantOf(fireId: string): number | null {
  const at = fireId.slice(fireId.lastIndexOf('@') + 1);
  return /^\d+$/.test(at) ? Number(at) : null;
}

function covered(skips: readonly SkipRange[], job: string, instant: number): boolean {
  return skips.some((s) => s.job === job && s.first <= instant && instant <= s.last);
}

function explain(
  earlier: Execution[],
  next: Execution,
  input: LedgerInput,
): { cause: DuplicateCause | 'unexplained'; detail: string } {
  for (const e of earlier) {
    if (e.endedAt !== null && !e.aborted) continue;
    const stop = input.workerStops.find(
      (s) => s.pid === e.pid && s.t >= e.startedAt && s.t <= next.startedAt,
    );
    if (stop && e.endedAt === null) {
      return {
        cause: 'worker-died-mid-run',
        detail: `${e.worker} (pid ${e.pid}) was killed (${stop.signal}) during the run started at ${iso(e.startedAt)}; ${next.worker} ran it again at ${iso(next.startedAt)}`,
      };
    }
    if (e.aborted && stop) {
      return {
        cause: 'worker-shutdown-hand-back',
        detail: `${e.worker} (pid ${e.pid}) shut down (${stop.signal}) and handed the run back; ${next.worker} ran it again at ${iso(next.startedAt)}`,
      };
    }
  }
  const last = earlier[earlier.length - 1]!;
  const lastWrite = last.endedAt ?? last.startedAt;
  const crash = input.redisCrashes.find(
    (c) => c >= last.startedAt && c <= next.startedAt && c - lastWrite <= input.fsyncWindowMs,
  );
  if (crash !== undefined) {
    const why =
      crash >= lastWrite
        ? `${crash - lastWrite} ms after the first execution's last ledger write (inside the ${input.fsyncWindowMs} ms fsync window): the AOF can have lost the run's start or completion`
        : `while the first execution was still running (it ended ${lastWrite - crash} ms later): its completion could not reach Redis`;
    return {
      cause: 'redis-crash',
      detail: `Redis was killed (-9) at ${iso(crash)}, ${why}; ran again at ${iso(next.startedAt)}`,
    };
  }
  return {
    cause: 'unexplained',
    detail: `executed at ${earlier.map((e) => `${iso(e.startedAt)} by ${e.worker} (token ${e.token}, attempt ${e.attempt})`).join(', ')} and again at ${iso(next.startedAt)} by ${next.worker} (token ${next.token}, attempt ${next.attempt}), no worker death or Redis crash in between`,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Checks the ledger invariants. See docs/testing.md, "Chaos suite". */
export function analyzeLedger(input: LedgerInput): LedgerVerdict {
  const violations: string[] = [];
  const execs = executions(input.ledger);
  const execByFire = new Map<string, Execution[]>();
  for (const e of execs) {
    const list = execByFire.get(e.fireId) ?? [];
    list.push(e);
    execByFire.set(e.fireId, list);
  }
  const historyByFire = new Map<string, HistoryRecord[]>();
  for (const h of input.history) {
    const list = historyByFire.get(h.fireId) ?? [];
    list.push(h);
    historyByFire.set(h.fireId, list);
  }

  // Committed fires: what replicas logged, plus every instant up to each job's final watermark
  // (a fenced txn decided them, even if the replica died before logging).
  const committed = new Map<string, { job: string; instant: number | null }>();
  for (const c of input.commits)
    committed.set(c.fireId, { job: c.job, instant: instantOf(c.fireId) });
  const jobSummaries: JobSummary[] = [];
  let skippedRecordedTotal = 0;
  const losses: Loss[] = [];
  for (const job of input.jobs) {
    const logged = input.commits
      .filter((c) => c.job === job.name)
      .map((c) => instantOf(c.fireId))
      .filter((x): x is number => x !== null);
    const first = logged.length > 0 ? Math.min(...logged) : null;
    const watermark = input.watermarks[job.name] ?? null;
    const last = Math.max(watermark ?? -Infinity, ...logged);
    const expected = first === null ? [] : [first, ...job.instants(first, last)];
    if (job.catchUp === 'all') {
      for (const at of expected) committed.set(`${job.name}@${at}`, { job: job.name, instant: at });
    }
    let executed = 0;
    let notCounted = 0;
    let skipped = 0;
    let lost = 0;
    let streak = 0;
    let longest = 0;
    let longestFrom: number | null = null;
    let streakFrom: number | null = null;
    const endOfRun = new Set(input.unpublishedAtEnd ?? []);
    for (const at of expected) {
      const fireId = `${job.name}@${at}`;
      const ran = (execByFire.get(fireId)?.length ?? 0) > 0;
      const hist = historyByFire.get(fireId) ?? [];
      const skip =
        covered(input.skipRecords, job.name, at) || hist.some((h) => h.status === 'skipped');
      if (endOfRun.has(fireId) && !ran && !skip) {
        notCounted++;
        continue;
      }
      if (ran) executed++;
      else if (skip) skipped++;
      if (ran || skip) {
        streak = 0;
        continue;
      }
      lost++;
      if (streak === 0) streakFrom = at;
      streak++;
      if (streak > longest) {
        longest = streak;
        longestFrom = streakFrom;
      }
      const stale = hist.find((h) => h.status === 'stale');
      const failed = hist.find((h) => h.status === 'failed' || h.status === 'aborted');
      losses.push(
        stale
          ? {
              fireId,
              job: job.name,
              instant: at,
              why: 'refused-stale',
              detail: `refused by ${stale.worker} at ${iso(stale.startedAt)} (token ${stale.token}); never executed`,
            }
          : failed
            ? {
                fireId,
                job: job.name,
                instant: at,
                why: 'failed',
                detail: `${failed.status} (${failed.reason ?? 'no reason'}) on ${failed.worker}; never executed to the handler`,
              }
            : {
                fireId,
                job: job.name,
                instant: at,
                why: 'no-trace',
                detail: 'committed, never executed, no skip or refusal recorded',
              },
      );
    }
    skippedRecordedTotal += skipped;
    const allowed = job.catchUp === 'all' ? 0 : Number.POSITIVE_INFINITY;
    jobSummaries.push({
      job: job.name,
      firstInstant: first,
      watermark,
      expected: expected.length,
      executed,
      skippedRecorded: skipped,
      notCounted,
      lost,
      longestGapInstants: longest,
      longestGapFrom: longestFrom,
      allowedGapInstants: allowed,
    });
    if (longest > allowed) {
      violations.push(
        `${job.name}: ${longest} consecutive instants from ${iso(longestFrom!)} neither executed nor recorded as skipped (catchUp: ${job.catchUp} allows ${allowed})`,
      );
    }
  }
  for (const l of losses) violations.push(`lost ${l.fireId} (${l.why}): ${l.detail}`);

  // Duplicates.
  const duplicates: Duplicate[] = [];
  for (const [fireId, list] of execByFire) {
    if (list.length < 2) continue;
    const causes: Duplicate['causes'] = [];
    const detail: string[] = [];
    for (let i = 1; i < list.length; i++) {
      const { cause, detail: d } = explain(list.slice(0, i), list[i]!, input);
      causes.push(cause);
      detail.push(d);
    }
    duplicates.push({ fireId, job: list[0]!.job, executions: list.length, causes, detail });
    causes.forEach((c, i) => {
      if (c === 'unexplained') violations.push(`duplicate ${fireId}: ${detail[i]}`);
    });
  }

  // Executions of fires nobody committed.
  const phantoms = execs.filter((e) => !committed.has(e.fireId));
  for (const p of phantoms) {
    violations.push(
      `phantom ${p.fireId}: executed by ${p.worker} at ${iso(p.startedAt)} (token ${p.token}) but no leader committed it`,
    );
  }

  // Executions of a run a worker refused.
  const refused = new Set(
    input.history.filter((h) => h.status === 'stale').map((h) => `${h.fireId} ${h.token}`),
  );
  const refusedButExecuted = [
    ...new Set(execs.map((e) => `${e.fireId} ${e.token}`).filter((k) => refused.has(k))),
  ].map((k) => {
    const [fireId, token] = k.split(' ') as [string, string];
    return { fireId, token };
  });
  for (const r of refusedButExecuted) {
    violations.push(`${r.fireId} with token ${r.token} was refused as stale and also executed`);
  }

  // Every refusal and skip recorded.
  const inRedisCrashWindow = (t: number) =>
    input.redisCrashes.some((c) => c >= t && c - t <= input.fsyncWindowMs);
  const unrecordedRefusals = input.workerDecisions.filter(
    (d) =>
      d.kind === 'stale' &&
      !input.history.some(
        (h) => h.fireId === d.fireId && h.status === 'stale' && h.token === d.token,
      ),
  );
  const unrecordedWorkerSkips = input.workerDecisions.filter(
    (d) =>
      d.kind === 'skip' &&
      !input.history.some((h) => h.fireId === d.fireId && h.status === 'skipped'),
  );
  const unrecordedLeaderSkips = input.loggedSkips.filter(
    (s) =>
      !input.skipRecords.some(
        (r) => r.job === s.job && r.first === s.first && r.last === s.last && r.reason === s.reason,
      ),
  );
  for (const d of [...unrecordedRefusals, ...unrecordedWorkerSkips]) {
    if (inRedisCrashWindow(d.t)) continue;
    violations.push(
      `${d.kind === 'stale' ? 'refusal' : 'skip'} of ${d.fireId} by ${d.worker} at ${iso(d.t)} is not in the run history`,
    );
  }
  for (const s of unrecordedLeaderSkips) {
    if (s.t !== undefined && inRedisCrashWindow(s.t)) continue;
    violations.push(
      `skip of ${s.job} ${iso(s.first)}..${iso(s.last)} (${s.reason}) was logged but is not in the skip history`,
    );
  }

  // Longest time without a commit.
  const times = input.commits.map((c) => c.t).sort((a, b) => a - b);
  let longestCommitGapMs = 0;
  let longestCommitGapFrom: number | null = null;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    if (gap > longestCommitGapMs) {
      longestCommitGapMs = gap;
      longestCommitGapFrom = times[i - 1]!;
    }
  }

  return {
    fires: {
      committed: committed.size,
      logged: new Set(input.commits.map((c) => c.fireId)).size,
      executedFires: execByFire.size,
      skippedRecorded: skippedRecordedTotal,
    },
    executions: execs.length,
    unfinishedExecutions: execs.filter((e) => e.endedAt === null).length,
    duplicates,
    losses,
    phantoms,
    refusedButExecuted,
    refusals: input.history.filter((h) => h.status === 'stale').length,
    unrecordedRefusals,
    unrecordedWorkerSkips,
    unrecordedLeaderSkips,
    jobs: jobSummaries,
    longestCommitGapMs,
    longestCommitGapFrom,
    violations,
  };
}

/** What `baton audit --json` says of one job (the fields the cross-check reads). */
export interface AuditedJob {
  job: string;
  ok: boolean;
  instants: { fireId: string; at: string; outcome: string; executions: number }[];
  unaccounted: { fireId: string; status: string }[];
}

/**
 * Holds `baton audit` to the handlers' own ledger: every instant the audit accounts for must agree
 * with what handlers actually executed (`ran`: at least once; `re-executed`: more than once;
 * `skipped` and `refused`: never), no instant may be unaccounted for (`missing`, `duplicate`,
 * `pending`), and every execution of a scheduled fire in the audited range must be one the audit
 * lists as run. Fire ids in `ignore` (committed but never published when the replicas stopped)
 * are left out. Returns the disagreements, one line each.
 */
export function crossCheckAudit(
  audits: readonly AuditedJob[],
  execs: readonly Execution[],
  range: { from: number; to: number },
  ignore: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  const ran = new Map<string, number>();
  for (const e of execs) ran.set(e.fireId, (ran.get(e.fireId) ?? 0) + 1);
  const listed = new Map<string, string>();
  for (const a of audits) {
    for (const u of a.unaccounted)
      problems.push(`audit: ${a.job}: execution of ${u.fireId} (${u.status}) nothing accounts for`);
    for (const i of a.instants) {
      listed.set(i.fireId, i.outcome);
      if (ignore.has(i.fireId)) continue;
      const n = ran.get(i.fireId) ?? 0;
      const agree =
        i.outcome === 'ran'
          ? n >= 1
          : i.outcome === 're-executed'
            ? n >= 2
            : i.outcome === 'skipped' || i.outcome === 'refused'
              ? n === 0
              : false;
      if (!agree)
        problems.push(
          `audit: ${i.fireId} is ${i.outcome} (${i.executions} recorded starts), handlers executed it ${n} times`,
        );
    }
  }
  for (const e of execs) {
    if (e.scheduledAt < range.from || e.scheduledAt > range.to || ignore.has(e.fireId)) continue;
    if (!/@\d+$/.test(e.fireId)) continue; // manual runs are not instants of the schedule
    const outcome = listed.get(e.fireId);
    if (outcome !== 'ran' && outcome !== 're-executed')
      problems.push(
        `audit: ${e.fireId} executed on ${e.worker} but the audit ${outcome ? `says ${outcome}` : 'does not list it'}`,
      );
  }
  return [...new Set(problems)];
}
