import { describe, expect, it } from 'vitest';
import {
  analyzeLedger,
  crossCheckAudit,
  executions,
  parseLedger,
  type AuditedJob,
  type LedgerInput,
  type LedgerLine,
} from '../../chaos/lib/ledger.js';

// Synthetic runs of an every-second job `tick` (catchUp: all), instants T+1 s ... T+5 s, to show
// that the chaos suite's ledger check fails when it should: it is the suite's only judge.
const T = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (i: number) => T + i * 1000;

function exec(
  i: number,
  o: Partial<LedgerLine> & { start: number; end?: number | null } = { start: at(i) + 10 },
): LedgerLine[] {
  const base = {
    exec: `e${i}-${o.start}`,
    fireId: `tick@${at(i)}`,
    job: 'tick',
    token: o.token ?? '7',
    attempt: 1,
    worker: o.worker ?? 'w1',
    pid: o.pid ?? 100,
    scheduledAt: at(i),
  };
  const lines: LedgerLine[] = [{ ev: 'start', ...base, t: o.start }];
  if (o.end !== null) lines.push({ ev: 'end', ...base, t: o.end ?? o.start + 50, aborted: false });
  return lines;
}

function input(ledger: LedgerLine[], over: Partial<LedgerInput> = {}): LedgerInput {
  return {
    jobs: [
      {
        name: 'tick',
        catchUp: 'all',
        instants: (from, to) => {
          const out: number[] = [];
          for (let t = Math.floor(from / 1000) * 1000 + 1000; t <= to; t += 1000) out.push(t);
          return out;
        },
      },
    ],
    commits: [1, 2, 3, 4, 5].map((i) => ({
      fireId: `tick@${at(i)}`,
      job: 'tick',
      token: '7',
      replica: 'r1',
      t: at(i) - 250,
    })),
    watermarks: { tick: at(5) },
    skipRecords: [],
    loggedSkips: [],
    history: [],
    workerDecisions: [],
    ledger,
    workerStops: [],
    redisCrashes: [],
    fsyncWindowMs: 2000,
    ...over,
  };
}

const clean = () => [1, 2, 3, 4, 5].flatMap((i) => exec(i));

describe('chaos ledger analysis', () => {
  it('passes a run where every committed fire executed once', () => {
    const v = analyzeLedger(input(clean()));
    expect(v.violations).toEqual([]);
    expect(v.executions).toBe(5);
    expect(v.fires.committed).toBe(5);
    expect(v.jobs[0]).toMatchObject({ expected: 5, executed: 5, lost: 0, longestGapInstants: 0 });
  });

  it('catches a planted duplicate with no worker death or Redis crash to explain it', () => {
    const v = analyzeLedger(
      input([...clean(), ...exec(3, { start: at(3) + 900, worker: 'w2', pid: 200 })]),
    );
    expect(v.duplicates).toHaveLength(1);
    expect(v.duplicates[0]).toMatchObject({
      fireId: `tick@${at(3)}`,
      executions: 2,
      causes: ['unexplained'],
    });
    expect(v.violations).toHaveLength(1);
    expect(v.violations[0]).toMatch(/^duplicate tick@/);
  });

  it('explains a re-execution after the worker was killed mid-run, and one after a Redis crash', () => {
    const killed = [
      ...exec(2, { start: at(2) + 10, end: null, pid: 100 }),
      ...exec(2, { start: at(2) + 8000, worker: 'w2', pid: 200 }),
    ];
    const crashed = [
      ...exec(4, { start: at(4) + 10 }),
      ...exec(4, { start: at(4) + 3000, pid: 300 }),
    ];
    const ledger = [...exec(1), ...killed, ...exec(3), ...crashed, ...exec(5)];
    const v = analyzeLedger(
      input(ledger, {
        workerStops: [{ pid: 100, t: at(2) + 500, signal: 'SIGKILL' }],
        redisCrashes: [at(4) + 1000],
      }),
    );
    expect(v.violations).toEqual([]);
    expect(v.duplicates.map((d) => d.causes[0])).toEqual(['worker-died-mid-run', 'redis-crash']);
    // The same Redis crash 5 s after the first execution is outside the fsync window.
    const late = analyzeLedger(
      input(ledger, {
        workerStops: [{ pid: 100, t: at(2) + 500, signal: 'SIGKILL' }],
        redisCrashes: [at(4) + 2900],
        fsyncWindowMs: 1000,
      }),
    );
    expect(late.violations).toHaveLength(1);
  });

  it('catches a planted loss, a committed fire refused as stale, and the gap they leave', () => {
    const ledger = clean().filter(
      (l) => l.fireId !== `tick@${at(3)}` && l.fireId !== `tick@${at(4)}`,
    );
    const v = analyzeLedger(
      input(ledger, {
        history: [
          {
            fireId: `tick@${at(4)}`,
            job: 'tick',
            token: '7',
            status: 'stale',
            reason: 'stale-token',
            startedAt: at(4) + 5,
            worker: 'w1',
          },
        ],
      }),
    );
    expect(v.losses.map((l) => [l.fireId, l.why])).toEqual([
      [`tick@${at(3)}`, 'no-trace'],
      [`tick@${at(4)}`, 'refused-stale'],
    ]);
    expect(v.jobs[0]!.longestGapInstants).toBe(2);
    expect(v.violations.some((x) => /2 consecutive instants/.test(x))).toBe(true);
  });

  it('counts an instant up to the final watermark as committed even if no replica logged it', () => {
    const v = analyzeLedger(input(clean(), { watermarks: { tick: at(6) } }));
    expect(v.losses.map((l) => l.fireId)).toEqual([`tick@${at(6)}`]);
    // Unless it was still in the outbox when the run ended: no replica was left to publish it.
    const end = analyzeLedger(
      input(clean(), { watermarks: { tick: at(6) }, unpublishedAtEnd: [`tick@${at(6)}`] }),
    );
    expect(end.violations).toEqual([]);
    expect(end.jobs[0]!.notCounted).toBe(1);
  });

  it('accepts a recorded skip, and flags a skip the leader logged but Redis does not hold', () => {
    const ledger = clean().filter((l) => l.fireId !== `tick@${at(3)}`);
    const skip = { job: 'tick', reason: 'overlap', first: at(3), last: at(3), count: 1 };
    expect(analyzeLedger(input(ledger, { skipRecords: [skip] })).violations).toEqual([]);
    const v = analyzeLedger(input(clean(), { loggedSkips: [{ ...skip, t: at(3) }] }));
    expect(v.violations).toEqual([expect.stringMatching(/not in the skip history/)]);
  });

  it('catches an execution nobody committed and a refused run that executed anyway', () => {
    const phantom = exec(9, { start: at(9) + 10, token: '5' });
    const refused = {
      fireId: `tick@${at(2)}`,
      job: 'tick',
      token: '7',
      status: 'stale',
      reason: 'stale-token',
      startedAt: at(2),
      worker: 'w2',
    };
    const v = analyzeLedger(input([...clean(), ...phantom], { history: [refused] }));
    expect(v.phantoms.map((p) => p.fireId)).toEqual([`tick@${at(9)}`]);
    expect(v.refusedButExecuted).toEqual([{ fireId: `tick@${at(2)}`, token: '7' }]);
    expect(v.violations).toHaveLength(2);
  });

  it('flags a refusal a worker logged that the run history lacks', () => {
    const v = analyzeLedger(
      input(clean(), {
        workerDecisions: [
          {
            kind: 'stale',
            fireId: `tick@${at(2)}`,
            job: 'tick',
            token: '6',
            worker: 'w1',
            t: at(2),
          },
        ],
      }),
    );
    expect(v.violations).toEqual([
      expect.stringMatching(/refusal of tick@.* is not in the run history/),
    ]);
  });

  it('reads the ledger file and ignores a torn last line', () => {
    const text =
      clean()
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n{"ev":"sta';
    expect(parseLedger(text)).toHaveLength(10);
  });
});

describe('the audit cross-check', () => {
  const range = { from: at(0), to: at(5) };
  const audited = (
    outcomes: [number, string, number][],
    unaccounted: AuditedJob['unaccounted'] = [],
  ): AuditedJob[] => [
    {
      job: 'tick',
      ok: true,
      unaccounted,
      instants: outcomes.map(([i, outcome, n]) => ({
        fireId: `tick@${at(i)}`,
        at: new Date(at(i)).toISOString(),
        outcome,
        executions: n,
      })),
    },
  ];
  const execs = executions([...exec(1), ...exec(2), ...exec(2, { start: at(2) + 900 })]);

  it('agrees when the audit says what the handlers did', () => {
    const a = audited([
      [1, 'ran', 1],
      [2, 're-executed', 2],
      [3, 'skipped', 0],
    ]);
    expect(crossCheckAudit(a, execs, range)).toEqual([]);
  });

  it('fails on every kind of disagreement', () => {
    const a = audited(
      [
        [1, 'skipped', 0], // it ran
        [2, 'ran', 1], // fine: ran at least once
        [3, 'ran', 1], // it never ran
        [4, 'missing', 0],
      ],
      [{ fireId: 'tick@1', status: 'completed' }],
    );
    const extra = executions([...exec(1), ...exec(2), ...exec(5)]); // 5 is not listed
    const problems = crossCheckAudit(a, extra, range);
    expect(problems.some((p) => p.includes(`tick@${at(1)} is skipped`))).toBe(true);
    expect(problems.some((p) => p.includes(`tick@${at(3)} is ran`))).toBe(true);
    expect(problems.some((p) => p.includes(`tick@${at(4)} is missing`))).toBe(true);
    expect(problems.some((p) => p.includes(`tick@${at(5)} executed`))).toBe(true);
    expect(problems.some((p) => p.includes('nothing accounts for'))).toBe(true);
    expect(problems.some((p) => p.includes(`tick@${at(2)}`))).toBe(false);
  });

  it('leaves out fires still in the outbox when the replicas stopped', () => {
    const a = audited([[4, 'missing', 0]]);
    expect(crossCheckAudit(a, [], range, new Set([`tick@${at(4)}`]))).toEqual([]);
  });
});
