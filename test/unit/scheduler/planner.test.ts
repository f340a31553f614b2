import { describe, expect, it } from 'vitest';
import { jobDefinition } from '../../helpers/definitions.js';
import type { Watermark, JobDecision } from '../../../src/coordination/ledger.js';
import type { JobDefinition } from '../../../src/definitions/types.js';
import type { Order, RunOrder, SkipRecord } from '../../../src/fire.js';
import { jitterMs } from '../../../src/cron/index.js';
import { BURST_MIN_JOBS, MAX_RUNS_PER_DECISION, Planner } from '../../../src/scheduler/planner.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const LEADER = { token: '42', id: 'r1' };

/** The fixture job, carrying its own name as payload (so orders say whose they are). */
const def = (name: string, over: Partial<JobDefinition> = {}): JobDefinition =>
  jobDefinition(name, { payload: { p: name }, ...over });

const wm = (at: number): Watermark => ({ at, token: '1', since: at - 60_000 });
const orders = (ds: JobDecision[]): Order[] => ds.flatMap((d) => d.orders);
const runs = (ds: JobDecision[]) =>
  orders(ds)
    .filter((o): o is RunOrder => o.kind === 'run')
    .map((o) => o.data.fireId);
const skips = (ds: JobDecision[]) =>
  orders(ds)
    .filter((o): o is SkipRecord => o.kind === 'skip')
    .map((s) => ({ reason: s.reason, first: s.first, last: s.last, count: s.count }));

/** Takeover of `defs` at `now` with the given watermarks, then returns the planner. */
function takeover(defs: JobDefinition[], marks: Record<string, number>, now: number) {
  const p = new Planner(LEADER);
  const result = p.load(
    defs,
    new Map(Object.entries(marks).map(([k, v]) => [k, wm(v)])),
    now,
    true,
  );
  return { p, result };
}

describe('Planner: takeover (catch-up policies from the watermark)', () => {
  it('a job without a watermark starts now: its first watermark is committed, nothing runs', () => {
    const { p, result } = takeover([def('a')], {}, T0 + 300);
    expect(result.decisions).toEqual([
      { job: 'a', watermark: T0 + 300, since: T0 + 300, orders: [] },
    ]);
    expect(result.fresh.map((d) => d.name)).toEqual(['a']);
    expect(p.nextInstant()).toBe(T0 + 1000);
  });

  it('catchUp none / latest / all over 10 missed seconds', () => {
    const now = T0 + 10_500;
    const none = takeover([def('a', { catchUp: 'none' })], { a: T0 }, now).result.decisions;
    expect(runs(none)).toEqual([]);
    expect(skips(none)).toEqual([
      { reason: 'catch-up-none', first: T0 + 1000, last: T0 + 10_000, count: 10 },
    ]);
    const latest = takeover([def('a')], { a: T0 }, now).result.decisions;
    expect(runs(latest)).toEqual([`a@${T0 + 10_000}`]);
    expect(skips(latest)).toEqual([
      { reason: 'catch-up-latest', first: T0 + 1000, last: T0 + 9000, count: 9 },
    ]);
    const all = takeover([def('a', { catchUp: 'all', catchUpLimit: 3 })], { a: T0 }, now).result
      .decisions;
    expect(runs(all)).toEqual([T0 + 8000, T0 + 9000, T0 + 10_000].map((t) => `a@${t}`));
    expect(skips(all)).toEqual([
      { reason: 'beyond-limit', first: T0 + 1000, last: T0 + 7000, count: 7 },
    ]);
    // The watermark moves to now, with the last decision of the job.
    expect(all.at(-1)).toMatchObject({ job: 'a', watermark: now });
  });

  it('exactly one missed instant under catchUp none is skipped, not run', () => {
    const d = takeover([def('a', { catchUp: 'none' })], { a: T0 }, T0 + 1500).result.decisions;
    expect(runs(d)).toEqual([]);
    expect(skips(d)).toEqual([
      { reason: 'catch-up-none', first: T0 + 1000, last: T0 + 1000, count: 1 },
    ]);
  });

  it('startingDeadline skips what is too late, whatever the policy', () => {
    const d = takeover(
      [def('a', { catchUp: 'all', startingDeadlineMs: 2500 })],
      { a: T0 },
      T0 + 10_000,
    ).result.decisions;
    expect(runs(d)).toEqual([T0 + 8000, T0 + 9000, T0 + 10_000].map((t) => `a@${t}`));
    expect(skips(d)[0]).toMatchObject({
      reason: 'past-deadline',
      first: T0 + 1000,
      last: T0 + 7000,
    });
  });

  it('a quiet job (nothing due since its watermark) writes nothing', () => {
    const { result } = takeover([def('a', { schedule: '0 0 1 1 *' })], { a: T0 }, T0 + 5000);
    expect(result.decisions).toEqual([]);
  });

  it('a paused job: every missed instant is recorded as skipped (paused)', () => {
    const p = new Planner(LEADER);
    p.setPaused('a', true);
    const { decisions } = p.load([def('a')], new Map([['a', wm(T0)]]), T0 + 3000, true);
    expect(runs(decisions)).toEqual([]);
    expect(skips(decisions)).toEqual([
      { reason: 'paused', first: T0 + 1000, last: T0 + 3000, count: 3 },
    ]);
  });

  it('more missed runs than fit one txn: split into decisions, the watermark with the last', () => {
    const n = MAX_RUNS_PER_DECISION * 2 + 5;
    const { result } = takeover(
      [def('a', { catchUp: 'all', catchUpLimit: 1000 })],
      { a: T0 },
      T0 + n * 1000,
    );
    expect(result.decisions.map((d) => d.orders.length)).toEqual([
      MAX_RUNS_PER_DECISION,
      MAX_RUNS_PER_DECISION,
      5,
    ]);
    expect(result.decisions.map((d) => d.watermark)).toEqual([null, null, T0 + n * 1000]);
  });

  it('a schedule that does not compile is reported, the other jobs go on', () => {
    const { p, result } = takeover([def('bad', { schedule: 'not cron' }), def('a')], {}, T0);
    expect(result.problems.map((x) => x.job)).toEqual(['bad']);
    expect(p.has('a')).toBe(true);
    expect(p.has('bad')).toBe(false);
  });
});

describe('Planner: the loop (look-ahead, bursts, jitter, pauses)', () => {
  it('decides each instant once, look-ahead before it, with watermark = horizon', () => {
    const { p } = takeover([def('a')], { a: T0 }, T0 + 100);
    expect(p.nextInstant()).toBe(T0 + 1000);
    // Woken 250 ms before the instant.
    const t1 = p.tick(T0 + 750, T0 + 1000);
    expect(runs(t1.decisions)).toEqual([`a@${T0 + 1000}`]);
    expect(t1.decisions[0]).toMatchObject({ watermark: T0 + 1000 });
    // Nothing more is due up to the same horizon.
    expect(p.tick(T0 + 800, T0 + 1050).decisions).toEqual([]);
    expect(p.nextInstant()).toBe(T0 + 2000);
  });

  it('a run is available at its instant plus its deterministic jitter', () => {
    const { p } = takeover([def('a', { jitterMs: 5000 })], { a: T0 }, T0);
    const [o] = orders(p.tick(T0 + 750, T0 + 1000).decisions) as RunOrder[];
    expect(o!.availableAt).toBe(T0 + 1000 + jitterMs('a', T0 + 1000, 5000));
    expect(o!.data).toMatchObject({
      fencingToken: '42',
      leader: 'r1',
      manual: false,
      scheduledAt: new Date(T0 + 1000).toISOString(),
    });
  });

  it('a long look-ahead (a burst ahead) plans every instant up to the horizon: none is skipped as beyond-limit', () => {
    const { p } = takeover([def('a', { catchUp: 'all', catchUpLimit: 1 })], { a: T0 }, T0);
    const t = p.tick(T0 + 500, T0 + 4000);
    expect(runs(t.decisions)).toEqual([1000, 2000, 3000, 4000].map((s) => `a@${T0 + s}`));
    expect(skips(t.decisions)).toEqual([]);
  });

  it('a late loop (the process was paused) catches the missed instants up under all with its limit', () => {
    const { p } = takeover([def('a', { catchUp: 'latest', catchUpLimit: 2 })], { a: T0 }, T0);
    const t = p.tick(T0 + 5500, T0 + 5750);
    expect(runs(t.decisions)).toEqual([`a@${T0 + 4000}`, `a@${T0 + 5000}`]);
    expect(skips(t.decisions)).toEqual([
      { reason: 'beyond-limit', first: T0 + 1000, last: T0 + 3000, count: 3 },
    ]);
  });

  it('a burst: every job due at one instant is decided in one tick, and dueCount says how many', () => {
    const defs = Array.from({ length: 1000 }, (_, i) =>
      def(`j${i}`, { schedule: '*/10 * * * * *' }),
    );
    const { p } = takeover(defs, {}, T0 + 1);
    expect(p.nextInstant()).toBe(T0 + 10_000);
    expect(p.dueCount(T0 + 10_000)).toBe(1000);
    const t = p.tick(T0 + 9000, T0 + 10_000);
    expect(t.jobs).toBe(1000);
    expect(runs(t.decisions)).toHaveLength(1000);
    expect(p.nextInstant()).toBe(T0 + 20_000);
  });

  it('a burst further ahead is decided early on its own: jobs due before it are left to their time', () => {
    const burst = Array.from({ length: BURST_MIN_JOBS }, (_, i) =>
      def(`b${i}`, { schedule: '0 * * * * *' }),
    );
    const { p } = takeover([...burst, def('every')], {}, T0 + 1);
    const minute = Date.parse('2026-03-01T12:01:00.000Z');
    expect(p.nextInstant()).toBe(T0 + 1000);
    expect(p.nextBurst(T0 + 1000)).toBe(minute);
    expect(p.dueCount(minute)).toBe(BURST_MIN_JOBS);
    const t = p.tickBurst(T0 + 55_000, minute);
    expect(t.jobs).toBe(BURST_MIN_JOBS);
    expect(runs(t.decisions)).toHaveLength(BURST_MIN_JOBS);
    expect(runs(t.decisions)[0]).toBe(`b0@${minute}`);
    expect(p.watermark('b0')).toBe(minute);
    // The every-second job was not decided ahead: it still has its own instants.
    expect(p.watermark('every')).toBe(T0 + 1);
    expect(p.nextInstant()).toBe(T0 + 1000);
    expect(p.nextBurst(T0 + 1000)).toBe(minute + 60_000);
    // Ticks up to the burst's instant do not decide it again.
    const upTo = p.tick(minute - 250, minute);
    expect(runs(upTo.decisions).filter((id) => id.startsWith('b'))).toEqual([]);
    expect(upTo.jobs).toBe(1);
  });

  it('a paused job records skips instead of runs; withdrawable lists its runs decided ahead', () => {
    const { p } = takeover([def('a')], { a: T0 }, T0);
    p.tick(T0 + 500, T0 + 3000);
    // Paused at T0 + 1200: the runs decided for 2000 and 3000 can be withdrawn.
    p.setPaused('a', true);
    const w = p.withdrawable('a', T0 + 1200);
    expect(w.map((x) => x.run.data.fireId)).toEqual([`a@${T0 + 2000}`, `a@${T0 + 3000}`]);
    expect(w.map((x) => x.skip.reason)).toEqual(['paused', 'paused']);
    const t = p.tick(T0 + 3500, T0 + 5000);
    expect(runs(t.decisions)).toEqual([]);
    expect(skips(t.decisions)).toEqual([
      { reason: 'paused', first: T0 + 4000, last: T0 + 5000, count: 2 },
    ]);
    p.setPaused('a', false);
    expect(runs(p.tick(T0 + 5500, T0 + 6000).decisions)).toEqual([`a@${T0 + 6000}`]);
  });

  it('DST: a daily 02:30 job in New York fires at the transition on the spring-forward day and once on the fall-back day', () => {
    const ny = def('d', { schedule: '30 2 * * *', timezone: 'America/New_York', catchUp: 'all' });
    // 2024-03-10: 02:30 does not exist; ISC cron fires at the transition (03:00 EDT = 07:00Z).
    const spring = Date.parse('2024-03-10T06:00:00Z');
    const { p } = takeover([ny], { d: spring }, spring);
    expect(p.nextInstant()).toBe(Date.parse('2024-03-10T07:00:00Z'));
    // 2024-11-03: 02:30 exists once (01:00-02:00 repeats, not 02:30).
    const fall = Date.parse('2024-11-03T00:00:00Z');
    const q = takeover([ny], { d: fall }, fall).p;
    const t = q.tick(Date.parse('2024-11-04T00:00:00Z'), Date.parse('2024-11-04T00:00:00Z'));
    expect(runs(t.decisions)).toEqual([`d@${Date.parse('2024-11-03T07:30:00Z')}`]);
  });

  it('a wildcard-hour job on the fall-back day fires in both repeated hours', () => {
    const ny = def('h', { schedule: '0 * * * *', timezone: 'America/New_York', catchUp: 'all' });
    const from = Date.parse('2024-11-03T04:30:00Z'); // 00:30 EDT
    const { p } = takeover([ny], { h: from }, from);
    const t = p.tick(Date.parse('2024-11-03T07:30:00Z'), Date.parse('2024-11-03T07:30:00Z'));
    // 01:00 EDT (05:00Z), 01:00 EST (06:00Z), 02:00 EST (07:00Z).
    expect(runs(t.decisions)).toEqual(
      ['05', '06', '07'].map((h) => `h@${Date.parse(`2024-11-03T${h}:00:00Z`)}`),
    );
  });
});

describe('Planner: reload and triggers', () => {
  it('a reload keeps the watermarks of known jobs; a changed schedule continues after it', () => {
    const { p } = takeover([def('a')], { a: T0 }, T0);
    p.tick(T0 + 750, T0 + 1000);
    expect(p.needsWatermarks([def('a')], false)).toBe(false);
    const r = p.load([def('a', { schedule: '*/5 * * * * *' })], new Map(), T0 + 1200, false);
    expect(r.decisions).toEqual([]);
    expect(p.watermark('a')).toBe(T0 + 1000);
    expect(p.nextInstant()).toBe(T0 + 5000);
  });

  it('a job removed from the definitions is forgotten; a new one starts now', () => {
    const { p } = takeover([def('a')], { a: T0 }, T0);
    expect(p.needsWatermarks([def('b')], false)).toBe(true);
    const r = p.load([def('b')], new Map(), T0 + 400, false);
    expect(p.has('a')).toBe(false);
    expect(r.decisions).toEqual([{ job: 'b', watermark: T0 + 400, since: T0 + 400, orders: [] }]);
  });

  it('a trigger runs once now with its payload; one for an unknown job is a skip record', () => {
    const { p } = takeover([def('a')], { a: T0 }, T0);
    const key = (id: string) => `ns/triggers/${id}`;
    const t = p.triggers(
      [
        { id: 't1', job: 'a', by: 'me', at: '', payload: { x: 1 } },
        { id: 't2', job: 'nope', by: 'me', at: '' },
      ],
      T0 + 123,
      key,
    );
    expect(t.rejected.map((r) => r.id)).toEqual(['t2']);
    const [run, skip] = t.decisions;
    expect(run).toMatchObject({ job: 'a', watermark: null, consume: ['ns/triggers/t1'] });
    expect(run!.orders[0]).toMatchObject({
      kind: 'run',
      availableAt: T0 + 123,
      data: { fireId: 'a@manual-t1', manual: true, payload: { x: 1 } },
    });
    expect(skip!.orders[0]).toMatchObject({ kind: 'skip', reason: 'unknown-job', job: 'nope' });
  });
});
