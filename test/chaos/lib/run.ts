import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { compileSchedule, firesBetween } from '../../../src/cron/index.js';
import { redisKeys } from '../../../src/redis/keys.js';
import { baton } from '../../helpers/cli.js';
import { testNamespace } from '../../helpers/namespace.js';
import { waitFor } from '../../helpers/wait.js';
import {
  healAll,
  LedgerTail,
  planFaults,
  prng,
  RECOVERY_TIMEOUT_MS,
  runFault,
  type FaultContext,
  type FaultRecord,
  type PlannedFault,
} from './faults.js';
import {
  analyzeLedger,
  parseLedger,
  type CommitRecord,
  type HistoryRecord,
  type JobSpec,
  type LedgerInput,
  type LedgerVerdict,
  type SkipRange,
  type WorkerDecision,
  crossCheckAudit,
  executions,
  type AuditedJob,
} from './ledger.js';
import { CHAOS_SCHEDULES, ChaosStack, type UnexpectedExit } from './stack.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ChaosOptions {
  seed: number;
  faults: number;
  /** Stop injecting faults after this long (ms); the run then settles and is checked. */
  durationMs?: number;
  leaseTtl?: number;
  fsync?: 'everysec' | 'always';
  /** Where the run's folder goes. @defaultValue test-results/chaos */
  outDir?: string;
  /** A fault not followed by work within this long counts as not recovered. @defaultValue 30 s */
  recoveryTimeoutMs?: number;
  /** Progress lines (also written to the run's harness.log). */
  print?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  command: string;
  options: { faults: number; durationMs: number | null; leaseTtl: number; fsync: string };
  startedAt: string;
  endedAt: string;
  wallMs: number;
  dir: string;
  plan: PlannedFault[];
  faults: FaultRecord[];
  faultsByKind: Record<string, number>;
  recoveryByKind: Record<
    string,
    { count: number; medianMs: number | null; maxMs: number | null; notRecovered: number }
  >;
  leaderChanges: number;
  /** Replicas and workers that crashed (exited without being told to); restarted by the harness. */
  crashes: UnexpectedExit[];
  /**
   * Faults after which work did not flow again within the recovery timeout, or that broke another
   * liveness bound (a leader cut off from Redis that did not hand over).
   */
  notRecovered: string[];
  notes: string[];
  verdict: LedgerVerdict;
  /**
   * `baton audit --json` over the decided range, held to the handlers' ledger: its exit code and
   * every disagreement (also in `verdict.violations`); null when the run did not get that far.
   */
  audit: {
    exitCode: number;
    from: string;
    to: string;
    instants: number;
    disagreements: string[];
  } | null;
  /** No ledger violation and every fault recovered. */
  passed: boolean;
}

interface LogRecord {
  time: number;
  msg: string;
  [k: string]: unknown;
}

function readJsonLog(file: string): LogRecord[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // a line cut by kill -9
    }
  }
  return out;
}

function jobSpecs(): JobSpec[] {
  return CHAOS_SCHEDULES.map(({ name, schedule }) => {
    const compiled = compileSchedule(schedule, 'UTC');
    return {
      name,
      catchUp: 'all' as const,
      instants: (from: number, to: number) => firesBetween(compiled, from, to, 1_000_000).fires,
    };
  });
}

/** Reads what the run left behind: replica and worker logs, Redis records, etcd watermarks. */
async function collect(
  stack: ChaosStack,
  f: FaultContext,
  fsyncWindowMs: number,
  watermarks: Record<string, number | null>,
): Promise<{ input: LedgerInput; leaderChanges: number }> {
  const commits: CommitRecord[] = [];
  const loggedSkips: SkipRange[] = [];
  let leaderChanges = 0;
  for (const r of stack.replicas) {
    for (const rec of readJsonLog(r.logFile)) {
      if (rec.msg === 'fire committed' && rec.manual !== true) {
        commits.push({
          fireId: String(rec.fireId),
          job: String(rec.job),
          token: String(rec.token),
          replica: r.id,
          t: rec.time,
        });
      } else if (rec.msg === 'fires skipped') {
        loggedSkips.push({
          job: String(rec.job),
          reason: String(rec.reason),
          first: Date.parse(String(rec.first)),
          last: Date.parse(String(rec.last)),
          count: Number(rec.count),
          t: rec.time,
        });
      } else if (/ -> leader$/.test(rec.msg)) {
        leaderChanges++;
      }
    }
  }
  const workerDecisions: WorkerDecision[] = [];
  for (const w of stack.workers) {
    for (const rec of readJsonLog(w.logFile)) {
      const kind = rec.msg.startsWith('stale run ')
        ? 'stale'
        : rec.msg.startsWith('skipped: ')
          ? 'skip'
          : null;
      if (!kind) continue;
      workerDecisions.push({
        kind,
        fireId: String(rec.fireId),
        job: String(rec.job),
        token: String(rec.token),
        worker: w.id,
        t: rec.time,
      });
    }
  }
  const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 3 });
  const history: HistoryRecord[] = [];
  const skipRecords: SkipRange[] = [];
  // Queue prefix and namespace are the same string in the chaos stack.
  const keys = redisKeys(stack.namespace, stack.namespace);
  try {
    for (const { name } of CHAOS_SCHEDULES) {
      const records = await redis.hgetall(keys.run(name).records);
      for (const json of Object.values(records)) {
        try {
          const r = JSON.parse(json) as {
            fireId: string;
            job: string;
            token: string;
            status: string;
            reason: string | null;
            startedAt: string;
            worker: string;
          };
          history.push({ ...r, startedAt: Date.parse(r.startedAt) });
        } catch {
          // not a run record
        }
      }
      for (const json of await redis.zrange(keys.skips(name).list, '0', '-1')) {
        try {
          const s = JSON.parse(json) as SkipRange;
          skipRecords.push({
            job: s.job,
            reason: s.reason,
            first: s.first,
            last: s.last,
            count: s.count,
          });
        } catch {
          // not a skip record
        }
      }
    }
  } finally {
    redis.disconnect();
  }
  return {
    leaderChanges,
    input: {
      jobs: jobSpecs(),
      commits,
      watermarks,
      skipRecords,
      loggedSkips,
      history,
      workerDecisions,
      ledger: parseLedger(readFileSync(stack.ledgerFile, 'utf8')),
      workerStops: f.workerStops,
      redisCrashes: f.redisCrashes,
      fsyncWindowMs,
    },
  };
}

async function readWatermarks(stack: ChaosStack): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const { name } of CHAOS_SCHEDULES) {
    const v = await stack.ctx.etcd.get(stack.ctx.keys.fire(name)).string();
    out[name] = v ? (JSON.parse(v) as { at: number }).at : null;
  }
  return out;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/** Runs the chaos suite once and writes `report.json` and `summary.md` into the run's folder. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const leaseTtl = options.leaseTtl ?? 2;
  const fsync = options.fsync ?? 'everysec';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(
    options.outDir ?? path.join(ROOT, 'test-results/chaos'),
    `${stamp}-seed-${options.seed}`,
  );
  mkdirSync(dir, { recursive: true });
  const harnessLog = path.join(dir, 'harness.log');
  const log = (line: string) => {
    const l = `${new Date().toISOString()} ${line}`;
    appendFileSync(harnessLog, `${l}\n`);
    options.print?.(l);
  };
  const command = `npm run chaos -- --faults ${options.faults} --seed ${options.seed}${options.durationMs ? ` --duration ${Math.round(options.durationMs / 1000)}s` : ''}${fsync !== 'everysec' ? ` --fsync ${fsync}` : ''}`;
  log(`chaos seed ${options.seed}: ${command}`);
  const plan = planFaults(options.seed, options.faults);
  log(`plan: ${plan.map((p) => p.kind).join(', ')}`);

  const startedAt = Date.now();
  const stack = new ChaosStack({
    dir,
    namespace: testNamespace(`chaos-${options.seed}`),
    leaseTtl,
    fsync,
    log,
  });
  const f: FaultContext = {
    stack,
    tail: new LedgerTail(stack.ledgerFile),
    rnd: prng(options.seed),
    log,
    workerStops: [],
    redisCrashes: [],
    recoveryTimeoutMs: options.recoveryTimeoutMs ?? RECOVERY_TIMEOUT_MS,
  };
  const settleMs = f.recoveryTimeoutMs;
  const notes: string[] = [];
  const records: FaultRecord[] = [];
  let verdict: LedgerVerdict | undefined;
  let audit: ChaosReport['audit'] = null;
  let leaderChanges = 0;
  try {
    await stack.start();
    log(`stack up in ${Date.now() - startedAt} ms (namespace ${stack.namespace}, dir ${dir})`);
    // Work flows before the first fault.
    await waitFor(() => f.tail.firstTickAfter(Date.now() - 500) ?? undefined, {
      timeoutMs: 30_000,
      description: 'the first tick executed',
    });
    const faultsUntil = options.durationMs ? startedAt + options.durationMs : Infinity;
    for (const planned of plan) {
      if (Date.now() >= faultsUntil) {
        notes.push(`duration reached: ${records.length} of ${plan.length} planned faults injected`);
        break;
      }
      await sleep(planned.gapMs); // pacing by the seeded schedule
      records.push(await runFault(planned, { ...f, rnd: prng(planned.seed) }));
    }

    // Settle: everything healed, work flowing, the outbox drained; then stop deciding, let the
    // workers finish what was decided, and stop them.
    await healAll(f);
    const settleFrom = Date.now();
    await waitFor(() => f.tail.firstTickAfter(settleFrom) ?? undefined, {
      timeoutMs: settleMs,
      description: 'tick running after the last fault',
    }).catch(() =>
      notes.push(`tick did not run within ${settleMs / 1000} s after the last fault was healed`),
    );
    // The outbox keeps each batch a few seconds after publishing (until Redis has it on disk):
    // settled means it holds no run for an instant older than 5 s.
    const backlog = async () =>
      (await stack.outboxFireIds()).filter((id) => Number(id.split('@')[1]) < Date.now() - 5_000);
    await waitFor(async () => (await backlog()).length === 0, {
      timeoutMs: settleMs,
      intervalMs: 200,
      description: 'no backlog in the outbox',
    }).catch(async () =>
      notes.push(
        `the outbox still held runs for instants older than 5 s, ${settleMs / 1000} s after the last fault: ${(await backlog().catch(() => [])).join(', ')}`,
      ),
    );
    await Promise.all(stack.replicas.map((r) => r.stop()));
    const unpublishedAtEnd = await stack.outboxFireIds();
    if (unpublishedAtEnd.length > 0) {
      notes.push(
        `${unpublishedAtEnd.length} committed runs were still in the outbox when the replicas stopped (not counted as lost if they did not run): ${unpublishedAtEnd.join(', ')}`,
      );
    }
    const watermarks = await readWatermarks(stack);
    await waitFor(async () => (await stack.pendingRuns()) === 0, {
      timeoutMs: settleMs + 15_000,
      intervalMs: 200,
      description: 'every queued run finished',
    }).catch(async () =>
      notes.push(
        `${await stack.pendingRuns().catch(() => -1)} runs still pending ${settleMs / 1000 + 15} s after the replicas stopped`,
      ),
    );
    await Promise.all(stack.workers.map((w) => w.stop()));
    const collected = await collect(stack, f, fsync === 'everysec' ? 2_000 : 0, watermarks);
    collected.input.unpublishedAtEnd = unpublishedAtEnd;
    leaderChanges = collected.leaderChanges;
    verdict = analyzeLedger(collected.input);
    // The second ledger: `baton audit` over the decided range must agree with the handlers'.
    const decided = Object.values(watermarks).filter((w): w is number => w !== null);
    if (decided.length > 0) {
      const range = { from: startedAt, to: Math.min(...decided) };
      const r = await baton(
        [
          'audit',
          '--json',
          '--all',
          '--from',
          new Date(range.from).toISOString(),
          '--to',
          new Date(range.to).toISOString(),
        ],
        stack.controlEnv(),
      );
      const jobs = r.stdout ? (JSON.parse(r.stdout) as { jobs: AuditedJob[] }).jobs : [];
      const ignore = new Set(unpublishedAtEnd);
      const disagreements = crossCheckAudit(
        jobs,
        executions(collected.input.ledger),
        range,
        ignore,
      );
      if (r.code !== 0 && ignore.size === 0 && disagreements.length === 0)
        disagreements.push(`baton audit exited ${r.code}: ${r.stderr.trim()}`);
      audit = {
        exitCode: r.code,
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        instants: jobs.reduce((n, j) => n + j.instants.length, 0),
        disagreements,
      };
      verdict.violations.push(...disagreements);
    }
  } catch (err) {
    notes.push(`the run failed: ${(err as Error).stack ?? String(err)}`);
    log(`run failed: ${(err as Error).message}`);
  } finally {
    await stack.stop();
  }

  const faultsByKind: Record<string, number> = {};
  const recoveryByKind: ChaosReport['recoveryByKind'] = {};
  for (const r of records) {
    faultsByKind[r.kind] = (faultsByKind[r.kind] ?? 0) + 1;
  }
  for (const kind of Object.keys(faultsByKind)) {
    const rs = records.filter((r) => r.kind === kind);
    const ms = rs.map((r) => r.recoveryMs).filter((x): x is number => x !== null);
    recoveryByKind[kind] = {
      count: rs.length,
      medianMs: median(ms),
      maxMs: ms.length ? Math.max(...ms) : null,
      notRecovered: rs.length - ms.length,
    };
  }
  const emptyVerdict: LedgerVerdict = analyzeLedger({
    jobs: [],
    commits: [],
    watermarks: {},
    skipRecords: [],
    loggedSkips: [],
    history: [],
    workerDecisions: [],
    ledger: [],
    workerStops: [],
    redisCrashes: [],
    fsyncWindowMs: 0,
  });
  const finalVerdict = verdict ?? { ...emptyVerdict, violations: ['the run did not complete'] };
  const notRecovered = [
    ...records
      .filter((r) => r.recoveryMs === null)
      .map(
        (r) =>
          `fault ${r.seq} ${r.kind} on ${r.target}: tick did not run again within ${f.recoveryTimeoutMs / 1000} s of the heal`,
      ),
    ...records
      .filter((r) => r.liveness)
      .map((r) => `fault ${r.seq} ${r.kind} on ${r.target}: ${r.liveness}`),
  ];
  const report: ChaosReport = {
    seed: options.seed,
    command,
    options: { faults: options.faults, durationMs: options.durationMs ?? null, leaseTtl, fsync },
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date().toISOString(),
    wallMs: Date.now() - startedAt,
    dir,
    plan,
    faults: records,
    faultsByKind,
    recoveryByKind,
    leaderChanges,
    crashes: stack.unexpectedExits,
    notRecovered,
    notes,
    verdict: finalVerdict,
    audit,
    passed:
      verdict !== undefined && finalVerdict.violations.length === 0 && notRecovered.length === 0,
  };
  await writeFile(path.join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(path.join(dir, 'summary.md'), summaryMarkdown(report));
  log(`report: ${path.join(dir, 'report.json')}; summary: ${path.join(dir, 'summary.md')}`);
  log(
    `seed ${options.seed}: ${report.passed ? 'PASSED' : `FAILED (${finalVerdict.violations.length} violations)`}`,
  );
  return report;
}

const s = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);

/** The Markdown summary of a report. */
export function summaryMarkdown(r: ChaosReport): string {
  const v = r.verdict;
  const explained = v.duplicates.flatMap((d) => d.causes).filter((c) => c !== 'unexplained');
  const byCause = (c: string) => explained.filter((x) => x === c).length;
  const lines = [
    `# Chaos run, seed ${r.seed}: ${r.passed ? 'passed' : 'FAILED'}`,
    '',
    `\`${r.command}\` — ${r.startedAt}, ${s(r.wallMs)} wall time, lease TTL ${r.options.leaseTtl} s, Redis \`appendfsync ${r.options.fsync}\`.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| faults injected | ${r.faults.length} of ${Object.keys(r.faultsByKind).length} kinds |`,
    `| fires committed | ${v.fires.committed} (${v.fires.logged} logged by replicas) |`,
    `| executions | ${v.executions} (${v.unfinishedExecutions} cut short by a killed worker) |`,
    `| fires executed | ${v.fires.executedFires} |`,
    `| fires skipped with a record | ${v.fires.skippedRecorded} |`,
    `| duplicates (re-executions) | ${v.duplicates.reduce((a, d) => a + d.executions - 1, 0)}: ${byCause('worker-died-mid-run')} worker died mid-run, ${byCause('worker-shutdown-hand-back')} hand-back, ${byCause('redis-crash')} Redis crash, ${v.duplicates.flatMap((d) => d.causes).filter((c) => c === 'unexplained').length} unexplained |`,
    `| losses | ${v.losses.length} (${v.losses.filter((l) => l.why === 'refused-stale').length} refused as stale, ${v.losses.filter((l) => l.why === 'failed').length} failed, ${v.losses.filter((l) => l.why === 'no-trace').length} without a trace) |`,
    `| executions of uncommitted fires | ${v.phantoms.length} |`,
    `| refused runs executed anyway | ${v.refusedButExecuted.length} |`,
    `| refusals (stale) recorded | ${v.refusals} |`,
    `| longest window without a commit | ${s(v.longestCommitGapMs)} |`,
    `| leader changes | ${r.leaderChanges} |`,
    `| faults not recovered in time (or no hand-over) | ${r.notRecovered.length} |`,
    `| replica/worker crashes | ${r.crashes.length} |`,
    '',
    '## Faults and recovery',
    '',
    'Recovery: from the injection until `tick` (every second) executes an instant scheduled at least 1 s after it (so about 1 s when a fault changes nothing).',
    '',
    '| kind | count | median recovery | max recovery | not recovered |',
    '| --- | --- | --- | --- | --- |',
    ...Object.entries(r.recoveryByKind)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([k, x]) => `| ${k} | ${x.count} | ${s(x.medianMs)} | ${s(x.maxMs)} | ${x.notRecovered} |`,
      ),
    '',
    '## Jobs',
    '',
    '| job | instants | executed | skipped (recorded) | lost | in the outbox at the end | longest gap (instants) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...v.jobs.map(
      (j) =>
        `| ${j.job} | ${j.expected} | ${j.executed} | ${j.skippedRecorded} | ${j.lost} | ${j.notCounted} | ${j.longestGapInstants} |`,
    ),
    '',
    r.audit
      ? `\`baton audit\` from ${r.audit.from} to ${r.audit.to}: ${r.audit.instants} instants, exit ${r.audit.exitCode}, ${r.audit.disagreements.length} disagreements with the handlers' ledger.`
      : '`baton audit` did not run.',
    '',
  ];
  if (v.duplicates.length > 0) {
    lines.push('## Re-executions', '');
    for (const d of v.duplicates) {
      for (let i = 0; i < d.causes.length; i++)
        lines.push(`- \`${d.fireId}\` (${d.causes[i]}): ${d.detail[i]}`);
    }
    lines.push('');
  }
  if (v.violations.length > 0) {
    lines.push(`## Violations (${v.violations.length})`, '');
    for (const x of v.violations.slice(0, 200)) lines.push(`- ${x}`);
    if (v.violations.length > 200)
      lines.push(`- … ${v.violations.length - 200} more in report.json`);
    lines.push('');
  }
  if (r.notRecovered.length > 0) {
    lines.push('## Not recovered in time', '', ...r.notRecovered.map((n) => `- ${n}`), '');
  }
  if (r.crashes.length > 0) {
    lines.push('## Crashes', '');
    for (const c of r.crashes) {
      const cause = c.logTail.split('\n').find((l) => /Error|error:/.test(l) && !l.startsWith('{'));
      lines.push(
        `- ${c.process} (pid ${c.pid}) exited at ${new Date(c.t).toISOString()} (code ${c.code}, signal ${c.signal}): ${cause?.trim() ?? 'see its log'}`,
      );
    }
    lines.push('');
  }
  if (r.notes.length > 0) {
    lines.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  }
  lines.push(
    '## Fault log',
    '',
    '| # | kind | target | recovery | notes |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const x of r.faults) {
    lines.push(
      `| ${x.seq} | ${x.kind} | ${x.target} | ${s(x.recoveryMs)} | ${[...x.notes, ...(x.error ? [`error: ${x.error}`] : [])].join('; ')} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
