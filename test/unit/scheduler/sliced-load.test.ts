import { describe, expect, it } from 'vitest';
import { jobDefinition } from '../../helpers/definitions.js';
import type { JobDecision, Watermark } from '../../../src/coordination/ledger.js';
import type { JobDefinition } from '../../../src/definitions/types.js';
import { MAX_RUNS_PER_DECISION, Planner } from '../../../src/scheduler/planner.js';
import { loadInSlices } from '../../../src/scheduler/sliced-load.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const LEADER = { token: '42', id: 'r1' };

const def = jobDefinition;

/**
 * `n` jobs: a third seen for the first time, a third quiet since their watermark, a third with
 * instants to catch up (every 50th under `all` with more than one txn of them).
 */
function fleet(n: number): { defs: JobDefinition[]; marks: Map<string, Watermark> } {
  const defs: JobDefinition[] = [];
  const marks = new Map<string, Watermark>();
  for (let i = 0; i < n; i++) {
    const name = `j${i}`;
    if (i % 3 === 0) {
      defs.push(def(name));
    } else if (i % 3 === 1) {
      defs.push(def(name, { schedule: '0 0 1 1 *' }));
      marks.set(name, { at: T0 - 1000, token: '1' });
    } else if (i % 50 === 2) {
      defs.push(def(name, { catchUp: 'all', catchUpLimit: 1000 }));
      marks.set(name, { at: T0 - (MAX_RUNS_PER_DECISION + 20) * 1000, token: '1', since: 1 });
    } else {
      defs.push(def(name));
      marks.set(name, { at: T0 - 5000, token: '1' });
    }
  }
  return { defs, marks };
}

const flat = (ds: JobDecision[]) => JSON.stringify(ds);

describe('loadInSlices: a takeover a slice of jobs at a time', () => {
  it('decides exactly what one load decides, each job once, at most one slice committing', async () => {
    const { defs, marks } = fleet(5000);
    const whole = new Planner(LEADER).load(defs, marks, T0, true);

    const p = new Planner(LEADER);
    const commits: JobDecision[][] = [];
    let committing = 0;
    let overlapped = false;
    const result = await loadInSlices(
      p,
      defs,
      marks,
      T0,
      true,
      async (ds) => {
        if (committing > 0) overlapped = true;
        committing++;
        commits.push(ds);
        await new Promise((r) => setImmediate(r));
        committing--;
      },
      700,
    );

    expect(overlapped).toBe(false);
    expect(commits).toHaveLength(Math.ceil(5000 / 700));
    expect(flat(commits.flat())).toBe(flat(whole.decisions));
    // A job's decisions (overflow orders, then the watermark) never straddle two commits.
    const committedIn = new Map<string, number>();
    commits.forEach((ds, i) => {
      for (const d of ds) {
        expect(committedIn.get(d.job) ?? i).toBe(i);
        committedIn.set(d.job, i);
      }
    });
    expect(result.fresh.map((d) => d.name)).toEqual(whole.fresh.map((d) => d.name));
    expect(p.size).toBe(5000);
    expect(p.nextInstant()).toBe(T0 + 1000);
    expect(p.watermark('j2')).toBe(T0);
  });

  it('lets timers and other callbacks run between slices (lease keep-alives, the HTTP API)', async () => {
    const { defs, marks } = fleet(4000);
    let timerFired = false;
    const timer = setTimeout(() => (timerFired = true), 0);
    // One tick per event-loop turn: how many turns the takeover let through before each commit.
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const seen: number[] = [];
    let timerBeforeLastCommit = false;
    try {
      await loadInSlices(
        new Planner(LEADER),
        defs,
        marks,
        T0,
        true,
        // Resolves without giving the event loop a turn, like a commit that is already done.
        (ds) => {
          seen.push(turns);
          timerBeforeLastCommit = timerFired;
          return Promise.resolve(void ds);
        },
        500,
      );
    } finally {
      ticking = false;
      clearTimeout(timer);
    }
    expect(seen).toHaveLength(8);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!);
    expect(timerBeforeLastCommit).toBe(true);
  });

  it('stops at the first failed commit: no later slice is committed, and the error is thrown', async () => {
    const { defs, marks } = fleet(3000);
    const calls: number[] = [];
    const refused = new Error('fenced commit refused');
    const p = new Planner(LEADER);
    await expect(
      loadInSlices(
        p,
        defs,
        marks,
        T0,
        true,
        async (ds) => {
          calls.push(ds.length);
          await new Promise((r) => setImmediate(r));
          if (calls.length === 2) throw refused;
        },
        500,
      ),
    ).rejects.toBe(refused);
    expect(calls).toHaveLength(2);
  });

  it('drops, on a reload, the jobs that no slice named, once every slice is in', async () => {
    const p = new Planner(LEADER);
    p.load([def('a'), def('b'), def('c')], new Map(), T0, true);
    await loadInSlices(p, [def('c'), def('a')], new Map(), T0 + 500, false, async () => {}, 1);
    expect(p.has('a')).toBe(true);
    expect(p.has('b')).toBe(false);
    expect(p.has('c')).toBe(true);
  });
});
