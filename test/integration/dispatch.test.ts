import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import type { OutboxEntry } from '../../src/coordination/ledger.js';
import { Dispatcher } from '../../src/dispatch/producer.js';
import { jitterMs } from '../../src/cron/index.js';
import type { RunOrder, SkipRecord } from '../../src/fire.js';
import { redisKeys } from '../../src/redis/keys.js';
import { testNamespace } from '../helpers/namespace.js';

const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

function run(prefix: string, at: number, keep = { ageSeconds: 3600, count: 1 }): OutboxEntry {
  const order: RunOrder = {
    kind: 'run',
    queue: 'baton',
    data: {
      job: 'tick',
      scheduledAt: new Date(at).toISOString(),
      fireId: `tick@${at}`,
      fencingToken: '7',
      leader: 'r1',
      payload: { prefix },
      manual: false,
    },
    availableAt: at,
    attempts: 1,
    backoff: { type: 'fixed', delay: 1000 },
    keep,
  };
  return { id: order.data.fireId, order, batch: 'b1', revision: '1' };
}

it('publishing an outbox entry again adds nothing, even after retention removed the finished job', async () => {
  const prefix = testNamespace('dispatch');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  const q = new Queue('baton', { connection: redis, prefix });
  try {
    const e = run(prefix, 1_700_000_000_000);
    await d.publish([e]);
    await d.publish([e]);
    expect(await q.getJobCountByTypes('waiting', 'delayed')).toBe(1);
    // Retention (count 1 per queue) or an operator removes the job; the id must stay taken.
    await (await q.getJob(e.id))!.remove();
    expect(await q.getJob(e.id)).toBeUndefined();
    await d.publish([e]);
    expect(await q.getJobCountByTypes('waiting', 'delayed', 'completed')).toBe(0);
    // A different instant is of course added.
    await d.publish([run(prefix, 1_700_000_001_000)]);
    expect(await q.getJobCountByTypes('waiting', 'delayed')).toBe(1);
  } finally {
    await q.close();
    await d.close();
  }
});

it('a publisher that died between claiming and adding does not lose the run', async () => {
  const prefix = testNamespace('claim');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  const q = new Queue('baton', { connection: redis, prefix });
  try {
    const e = run(prefix, 1_700_000_002_000);
    await redis.set(redisKeys(prefix, prefix).fired(e.id), 'pending', 'PX', 60_000);
    await d.publish([e]);
    expect((await q.getJob(e.id))?.data).toEqual({ ...(e.order as RunOrder).data, revision: '1' });
    expect(await redis.get(redisKeys(prefix, prefix).fired(e.id))).toBe('done');
  } finally {
    await q.close();
    await d.close();
  }
});

it('overlap: forbid skips a scheduled fire (recorded) while the previous run is pending, not after it finished', async () => {
  const prefix = testNamespace('forbid');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  const q = new Queue('baton', { connection: redis, prefix });
  const forbid = (at: number) => {
    const e = run(prefix, at);
    (e.order as RunOrder).forbidOverlap = true;
    (e.order as RunOrder).availableAt = 0;
    return e;
  };
  const workerRedis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  const worker = new Worker('baton', async () => undefined, {
    connection: workerRedis,
    prefix,
    autorun: false,
  });
  try {
    const first = forbid(1_700_000_010_000);
    await d.publish([first]);
    // The first run is still waiting: the next fire is skipped and recorded.
    await d.publish([forbid(1_700_000_011_000)]);
    expect(await q.getJob('tick@1700000011000')).toBeUndefined();
    const k = redisKeys(prefix, prefix).skips('tick');
    expect(await redis.hget(k.counts, 'overlap')).toBe('1');
    const [skip] = (await redis.zrange(k.list, '0', '-1')).map(
      (j) => JSON.parse(j) as { reason: string; first: number },
    );
    expect(skip).toMatchObject({ reason: 'overlap', first: 1_700_000_011_000 });
    // Publishing the skipped fire again neither adds it nor counts it twice.
    await d.publish([forbid(1_700_000_011_000)]);
    expect(await redis.hget(k.counts, 'overlap')).toBe('1');
    // Once the first run has finished, the next fire is added.
    const done = new Promise<void>((resolve) => worker.once('completed', () => resolve()));
    void worker.run();
    await done;
    await d.publish([forbid(1_700_000_012_000)]);
    expect(await q.getJob('tick@1700000012000')).toBeDefined();
  } finally {
    await worker.close();
    workerRedis.disconnect();
    await q.close();
    await d.close();
  }
});

it('skip records are stored and counted once, however often they are published', async () => {
  const prefix = testNamespace('skips');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  try {
    const record: SkipRecord = {
      kind: 'skip',
      job: 'tick',
      reason: 'paused',
      first: 1000,
      last: 5000,
      count: 5,
      decidedAt: 6000,
      fencingToken: '7',
      leader: 'r1',
    };
    const entry: OutboxEntry = {
      id: 'tick@skip-paused-1000-5000',
      order: record,
      batch: 'b1',
      revision: '1',
    };
    await d.publish([entry]);
    await d.publish([JSON.parse(JSON.stringify(entry)) as OutboxEntry]);
    const k = redisKeys(prefix, prefix).skips('tick');
    expect(await redis.zcard(k.list)).toBe(1);
    expect(await redis.hgetall(k.counts)).toEqual({ paused: '5', total: '5' });
  } finally {
    await d.close();
  }
});

it('a run is due in Redis exactly at its instant, however long the publish took to get there', async () => {
  const prefix = testNamespace('due');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  const q = new Queue('baton', { connection: redis, prefix });
  try {
    const at = Math.ceil(Date.now() / 1000) * 1000 + 30_000;
    await d.publish([run(prefix, at)]);
    const job = (await q.getJob(`tick@${at}`))!;
    // BullMQ makes a delayed job due at timestamp + delay (its score in the delayed set).
    expect(job.timestamp + job.delay).toBe(at);
    // A schedule clock one minute ahead (BATON_CLOCK_OFFSET_MS): due a minute earlier in real time.
    const at2 = Math.ceil((Date.now() + 60_000) / 1000) * 1000 + 30_000;
    await d.publish([run(prefix, at2)], 60_000);
    const job2 = (await q.getJob(`tick@${at2}`))!;
    expect(job2.timestamp + job2.delay).toBe(at2 - 60_000);
  } finally {
    await q.close();
    await d.close();
  }
});

it("a burst of 10,000 runs with jitter: every run's score in BullMQ's delayed set is its instant plus its jitter", async () => {
  const prefix = testNamespace('due-burst');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  const q = new Queue('baton', { connection: redis, prefix });
  try {
    const instant = Math.ceil(Date.now() / 1000) * 1000 + 60_000;
    const entries: OutboxEntry[] = [];
    for (let i = 0; i < 10_000; i++) {
      const e = run(prefix, instant);
      const order = e.order as RunOrder;
      order.data = { ...order.data, job: `j${i}`, fireId: `j${i}@${instant}` };
      order.availableAt = instant + jitterMs(order.data.job, instant, 5000);
      entries.push({ ...e, id: order.data.fireId });
    }
    // As the leader's publisher does: slices of 1,000 in flight together.
    const slices: Promise<void>[] = [];
    for (let i = 0; i < entries.length; i += 1000)
      slices.push(d.publish(entries.slice(i, i + 1000)));
    await Promise.all(slices);
    // BullMQ's delayed score is (due ms) * 4096 + a counter below 4096.
    const scored = await redis.zrange(`${prefix}:baton:delayed`, '0', '-1', 'WITHSCORES');
    const due = new Map<string, number>();
    for (let i = 0; i < scored.length; i += 2)
      due.set(scored[i]!, Math.floor(Number(scored[i + 1]) / 4096));
    expect(due.size).toBe(10_000);
    const wrong = entries
      .map((e) => ({ id: e.id, want: (e.order as RunOrder).availableAt, got: due.get(e.id) }))
      .filter((x) => x.want !== x.got);
    expect(wrong.slice(0, 5)).toEqual([]);
  } finally {
    await q.close();
    await d.close();
  }
});

it("reads Redis's persistence and timer settings (what the leader's durability window and hz warning use)", async () => {
  const d = new Dispatcher(redis, redisKeys(testNamespace('durability'), 'baton'));
  try {
    // The shared test Redis: AOF with appendfsync always, Redis's default hz.
    expect(await d.durability()).toEqual({ appendonly: true, appendfsync: 'always', hz: 10 });
  } finally {
    await d.close();
  }
});

it('promote: a delayed run becomes waiting at once; one no longer delayed is left as it is', async () => {
  const prefix = testNamespace('promote');
  const d = new Dispatcher(redis, redisKeys(prefix, prefix));
  const q = new Queue('baton', { connection: redis, prefix });
  try {
    const at = Math.ceil(Date.now() / 1000) * 1000 + 60_000;
    await d.publish([run(prefix, at)]);
    expect(await q.getJobState(`tick@${at}`)).toBe('delayed');
    expect(await d.promote('baton', [`tick@${at}`, 'tick@0'])).toBe(1);
    expect(await q.getJobState(`tick@${at}`)).toBe('waiting');
    // Promoting again (the leader and Redis's own promotion may both try) changes nothing.
    expect(await d.promote('baton', [`tick@${at}`])).toBe(0);
    expect(await q.getJobCountByTypes('waiting', 'delayed')).toBe(1);
  } finally {
    await q.close();
    await d.close();
  }
});
