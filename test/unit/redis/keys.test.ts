import { describe, expect, it } from 'vitest';
import { redisKeys, type RedisKeys } from '../../../src/redis/keys.js';

/** Every key and channel baton owns for one job and fire id. */
function owned(k: RedisKeys, job: string, fireId: string): string[] {
  return [
    k.owner,
    k.events,
    k.abort,
    k.fence,
    k.leaders,
    k.started(fireId),
    ...Object.values(k.run(job)),
    ...Object.values(k.skips(job)),
    k.fired(fireId),
    k.lastForbidRun(job),
  ];
}

/** The part of a key Redis Cluster hashes: the first `{...}` with something inside, else all. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('the Redis key layout', () => {
  it('scopes every key of baton by namespace, under the queue prefix', () => {
    const k = redisKeys('bull', 'prod');
    expect(k.run('tick')).toEqual({
      counts: 'bull:baton:prod:counts:tick',
      active: 'bull:baton:prod:active:tick',
      history: 'bull:baton:prod:history:tick',
      records: 'bull:baton:prod:history:tick:records',
      skipCounts: 'bull:baton:prod:skipcount:tick',
    });
    expect(k.skips('tick')).toEqual({
      list: 'bull:baton:prod:skips:tick',
      counts: 'bull:baton:prod:skipcount:tick',
    });
    expect(k.fired('tick@1000')).toBe('bull:baton:prod:fired:tick@1000');
    expect(k.lastForbidRun('tick')).toBe('bull:baton:prod:lastrun:tick');
    expect(k.events).toBe('bull:baton:prod:events');
    expect(k.abort).toBe('bull:baton:prod:abort');
    expect(k.fence).toBe('bull:baton:prod:fence');
    expect(k.leaders).toBe('bull:baton:prod:leaders');
    expect(k.started('tick@1000')).toBe('bull:baton:prod:started:tick@1000');
    // Shared by prefix: the claim, and BullMQ's own keys.
    expect(k.owner).toBe('bull:baton:namespace');
    expect(k.queueJob('baton', 'tick@1000')).toBe('bull:baton:tick@1000');
    expect(k.queueJobPrefix('baton')).toBe('bull:baton:');
  });

  it('two namespaces on one prefix share no key but the claim', () => {
    const a = owned(redisKeys('bull', 'a'), 'tick', 'tick@1000');
    const b = new Set(owned(redisKeys('bull', 'b'), 'tick', 'tick@1000'));
    expect(a.filter((key) => b.has(key))).toEqual(['bull:baton:namespace']);
    // Nor can a namespace named like a key kind run into another namespace's keys.
    const kinds = owned(redisKeys('bull', 'token'), 'x', 'x@1');
    expect(kinds.filter((key) => new Set(a).has(key))).toEqual(['bull:baton:namespace']);
  });

  it('with a hash-tag prefix every key of a namespace hashes to one Redis Cluster slot', () => {
    const k = redisKeys('{baton}', 'prod');
    const keys = [...owned(k, 'tick', 'tick@1000'), k.queueJob('baton', 'tick@1000')];
    expect(new Set(keys.map(hashTag))).toEqual(new Set(['baton']));
  });
});
