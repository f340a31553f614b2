import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import type { OutboxEntry } from '../../../src/coordination/ledger.js';
import type { Durability } from '../../../src/dispatch/producer.js';
import { NotLeaderError } from '../../../src/errors.js';
import type { RunOrder } from '../../../src/fire.js';
import type { LeaderEvent } from '../../../src/scheduler/leader-events.js';
import {
  AdaptiveLookahead,
  MAX_BURST_LOOKAHEAD_MS,
  MAX_LOOKAHEAD_MS,
  PRIOR_MS_PER_JOB,
} from '../../../src/scheduler/lookahead.js';
import { OutboxTracker } from '../../../src/scheduler/outbox-tracker.js';
import { PROMOTE_PER_INSTANT, Promoter } from '../../../src/scheduler/promoter.js';
import { Publisher, type PublishTarget } from '../../../src/scheduler/publisher.js';
import { Backoff, PUBLISH_RETRY, SESSION_RETRY } from '../../../src/retry.js';

const silent = pino({ level: 'silent' });

function entry(id: string, batch: string, availableAt = 0, queue = 'baton'): OutboxEntry {
  const order: RunOrder = {
    kind: 'run',
    queue,
    data: {
      job: id.split('@')[0]!,
      scheduledAt: new Date(availableAt).toISOString(),
      fireId: id,
      fencingToken: '7',
      leader: 'r1',
      payload: {},
      manual: false,
    },
    availableAt,
    attempts: 1,
    backoff: { type: 'fixed', delay: 1000 },
    keep: { ageSeconds: 60, count: 10 },
  };
  return { id, order, batch, revision: '5' };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('retry helper (cockatiel)', () => {
  it('doubles from the initial delay to the cap, and starts over after reset', () => {
    const b = new Backoff(SESSION_RETRY);
    expect(Array.from({ length: 8 }, () => b.next())).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
    b.reset();
    expect(b.next()).toBe(100);
    const p = new Backoff(PUBLISH_RETRY);
    expect(Array.from({ length: 7 }, () => p.next())).toEqual([50, 100, 200, 400, 800, 1600, 2000]);
  });
});

describe('AdaptiveLookahead', () => {
  it('the configured look-ahead for light load; 0 stays 0', () => {
    expect(new AdaptiveLookahead(250).effective(20)).toBe(250);
    expect(new AdaptiveLookahead(0).effective(100_000)).toBe(0);
  });

  it('a burst is planned as far ahead as it should take (1.5 x the cost per job), bounded', () => {
    const l = new AdaptiveLookahead(250);
    expect(l.effective(10_000)).toBe(Math.ceil(1.5 * 10_000 * PRIOR_MS_PER_JOB));
    expect(l.effective(10_000_000)).toBe(MAX_BURST_LOOKAHEAD_MS);
    // Measured: 5,000 jobs took 2 s to be in Redis, so 10,000 need ~4 s, planned 6 s ahead.
    l.started(5000, 1000);
    expect(l.published(3000)).toBe(true);
    expect(l.costPerJobMs).toBe(0.4);
    expect(l.effective(10_000)).toBe(6000);
    // Nothing measured twice.
    expect(l.published(4000)).toBe(false);
  });

  it('a slow small tick stretches the next look-ahead, up to a second', () => {
    const l = new AdaptiveLookahead(250);
    l.started(10, 0);
    l.published(400);
    expect(l.costPerJobMs).toBe(PRIOR_MS_PER_JOB); // too few jobs to measure a cost per job
    expect(l.effective(10)).toBe(600);
    l.started(10, 0);
    l.published(5000);
    expect(l.effective(10)).toBe(MAX_LOOKAHEAD_MS);
  });
});

describe('OutboxTracker', () => {
  it('a batch is acknowledged only when all its orders are published and its durability window passed', () => {
    const t = new OutboxTracker();
    t.durableMs = 3000;
    t.add([entry('a@1', 'b1'), entry('b@1', 'b1'), entry('c@1', 'b2')]);
    expect(t.pending).toBe(3);
    const first = t.take(2);
    t.published(first, 'run-1', 1000);
    // b1 is complete, b2 not yet.
    expect(t.settleDue(3999)).toBe(false);
    expect(t.nextSettleIn(1000)).toBe(3000);
    expect(t.settleDue(4000)).toBe(true);
    expect(t.settle(4000, 'run-1')).toEqual({ acknowledge: ['b1'], republish: [] });
    expect(t.takeAcknowledgements()).toEqual(['b1']);
    t.published(t.take(10), 'run-1', 5000);
    expect(t.settle(8000, 'run-1').acknowledge).toEqual(['b2']);
  });

  it('a Redis restart inside the window (new run id): the batch is published again, not acknowledged', () => {
    const t = new OutboxTracker();
    t.durableMs = 3000;
    const e = [entry('a@1', 'b1'), entry('b@1', 'b1')];
    t.add(e);
    t.published(t.take(10), 'run-1', 0);
    const s = t.settle(3000, 'run-2');
    expect(s.acknowledge).toEqual([]);
    expect(s.republish.map((x) => x.id)).toEqual(['a@1', 'b@1']);
    expect(t.pending).toBe(2);
  });

  it('a batch published in parts across a restart counts as restarted', () => {
    const t = new OutboxTracker();
    t.durableMs = 0;
    t.add([entry('a@1', 'b1'), entry('b@1', 'b1')]);
    t.published(t.take(1), 'run-1', 0);
    t.published(t.take(1), 'run-2', 1);
    expect(t.settle(1, 'run-2').republish).toHaveLength(2);
  });

  it('failed publishes and acknowledgements go back in front', () => {
    const t = new OutboxTracker();
    t.add([entry('a@1', 'b1'), entry('b@1', 'b2')]);
    const taken = t.take(1);
    t.untake(taken);
    expect(t.take(10).map((e) => e.id)).toEqual(['a@1', 'b@1']);
    t.unacknowledged(['b9']);
    expect(t.takeAcknowledgements()).toEqual(['b9']);
  });
});

class FakeTarget implements PublishTarget {
  published: string[] = [];
  failures = 0;
  runId = 'run-1';
  takeovers: string[] = [];
  constructor(
    private readonly durable: Durability = { appendonly: true, appendfsync: 'always', hz: 100 },
  ) {}
  publish(entries: OutboxEntry[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('ECONNREFUSED'));
    }
    this.published.push(...entries.map((e) => e.id));
    return Promise.resolve();
  }
  serverRunId(): Promise<string> {
    return Promise.resolve(this.runId);
  }
  durability(): Promise<Durability> {
    return Promise.resolve(this.durable);
  }
  recordTakeover(token: string, revision: string): Promise<void> {
    this.takeovers.push(`${token}/${revision}`);
    return Promise.resolve();
  }
}

function publisher(target: FakeTarget, over: { assertValid?: () => void } = {}) {
  const abort = new AbortController();
  const events: LeaderEvent[] = [];
  const acked: string[] = [];
  const drained = vi.fn();
  const p = new Publisher({
    target,
    acknowledge: (b) => {
      acked.push(...b);
      return Promise.resolve();
    },
    assertValid: over.assertValid ?? (() => undefined),
    signal: abort.signal,
    token: '7',
    takeoverRevision: '99',
    logger: silent,
    emit: (e) => events.push(e),
    now: () => 1000,
    monotonic: () => Date.now(),
    clockOffsetMs: 0,
    onDrained: drained,
  });
  const done = p.start();
  return { p, abort, events, acked, drained, done };
}

const until = (check: () => boolean) =>
  vi.waitFor(() => expect(check()).toBe(true), { timeout: 5000, interval: 5 });

describe('Publisher (fake Redis and etcd)', () => {
  it('records the takeover before the first publish, publishes in order, acknowledges at once under appendfsync always', async () => {
    const target = new FakeTarget();
    const { p, abort, acked, drained, events, done } = publisher(target);
    p.enqueue([entry('a@1', 'b1'), entry('b@1', 'b1'), entry('c@1', 'b2')]);
    await until(() => acked.length === 2);
    expect(target.takeovers).toEqual(['7/99']);
    expect(target.published).toEqual(['a@1', 'b@1', 'c@1']);
    expect(acked).toEqual(['b1', 'b2']);
    expect(drained).toHaveBeenCalled();
    expect(events.find((e) => e.type === 'published')).toMatchObject({ count: 3 });
    abort.abort();
    await done;
  });

  it('Redis failing: retries with backoff, reports not ready once and ready again, loses nothing', async () => {
    const target = new FakeTarget();
    target.failures = 3;
    const { p, abort, acked, events, done } = publisher(target);
    p.enqueue([entry('a@1', 'b1')]);
    await until(() => acked.length === 1);
    expect(target.published).toEqual(['a@1']);
    expect(events.filter((e) => e.type === 'redis')).toEqual([
      { type: 'redis', ready: false, error: 'ECONNREFUSED' },
      { type: 'redis', ready: true },
    ]);
    abort.abort();
    await done;
  });

  it('a leader whose lease may be gone publishes nothing and stops', async () => {
    const target = new FakeTarget();
    const { p, done, acked } = publisher(target, {
      assertValid: () => {
        throw new NotLeaderError('lease deadline passed', 'lease_expired');
      },
    });
    p.enqueue([entry('a@1', 'b1')]);
    await done;
    expect(target.published).toEqual([]);
    expect(acked).toEqual([]);
  });

  it('under everysec a batch waits 3 s before it leaves the outbox; a restarted Redis gets it again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const target = new FakeTarget({ appendonly: true, appendfsync: 'everysec', hz: 10 });
    const { p, abort, acked, events, done } = publisher(target);
    p.enqueue([entry('a@1', 'b1')]);
    await vi.advanceTimersByTimeAsync(10);
    expect(target.published).toEqual(['a@1']);
    await vi.advanceTimersByTimeAsync(2900);
    expect(acked).toEqual([]);
    target.runId = 'run-2';
    await vi.advanceTimersByTimeAsync(200);
    expect(events.some((e) => e.type === 'redis-restarted')).toBe(true);
    expect(target.published).toEqual(['a@1', 'a@1']);
    await vi.advanceTimersByTimeAsync(3100);
    expect(acked).toEqual(['b1']);
    abort.abort();
    await vi.advanceTimersByTimeAsync(10);
    await done;
  });
});

describe('Promoter', () => {
  it('promotes each run at its instant plus jitter, never before, one group per instant and queue', async () => {
    vi.useFakeTimers({ now: 0 });
    const calls: { at: number; queue: string; ids: string[] }[] = [];
    const target = {
      promote: (queue: string, ids: string[]) => {
        calls.push({ at: Date.now(), queue, ids });
        return Promise.resolve(ids.length);
      },
    };
    const pr = new Promoter(target, () => Date.now(), silent);
    pr.add([
      entry('a@1000', 'b', 1000),
      entry('b@1000', 'b', 1000),
      entry('c@1000', 'b', 1000, 'other'),
      entry('d@1000', 'b', 1437),
    ]);
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([
      { at: 1000, queue: 'baton', ids: ['a@1000', 'b@1000'] },
      { at: 1000, queue: 'other', ids: ['c@1000'] },
    ]);
    await vi.advanceTimersByTimeAsync(437);
    expect(calls.at(-1)).toEqual({ at: 1437, queue: 'baton', ids: ['d@1000'] });
    expect(pr.waiting).toBe(0);
  });

  it('a burst promotes a bounded number per instant (a woken worker promotes the rest); stop() cancels', async () => {
    vi.useFakeTimers({ now: 0 });
    const calls: string[][] = [];
    const pr = new Promoter(
      { promote: (_q: string, ids: string[]) => (calls.push(ids), Promise.resolve(ids.length)) },
      () => Date.now(),
      silent,
    );
    pr.add(Array.from({ length: 1000 }, (_, i) => entry(`j${i}@500`, 'b', 500)));
    pr.add([entry('late@0', 'b', 100)]);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toEqual([['late@0']]);
    await vi.advanceTimersByTimeAsync(400);
    expect(calls[1]).toHaveLength(PROMOTE_PER_INSTANT);
    pr.add([entry('x@900', 'b', 900)]);
    pr.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toHaveLength(2);
  });
});
