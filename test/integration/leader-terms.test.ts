import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  LEADER_TERMS_KEPT,
  readLeaderTerms,
  recordTakeover,
} from '../../src/history/leader-terms.js';
import { redisKeys } from '../../src/redis/keys.js';
import { cleanRedisPrefix, testNamespace } from '../helpers/namespace.js';

// The record of who led when (`<prefix>:baton:<ns>:leaders`), against the shared Redis.

const prefix = testNamespace('leaders');
const keys = redisKeys(prefix, 'ns');
let redis: Redis;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { lazyConnect: false });
});

afterAll(async () => {
  await cleanRedisPrefix(redis, `${prefix}:`);
  redis.disconnect();
});

const T0 = Date.parse('2026-12-01T10:00:00Z');

describe('leader terms', () => {
  it('orders terms by fencing token, each ending where the next starts, the newest open', async () => {
    await redis.del(keys.leaders);
    // b's clock is 2 s behind: it took over after a, yet its `at` is earlier. Token 10 < 9 as
    // text, so the order must be numeric.
    await recordTakeover(redis, keys, { token: '9', replica: 'a', at: T0 });
    await recordTakeover(redis, keys, { token: '10', replica: 'b', at: T0 + 60_000 - 2_000 });
    await recordTakeover(redis, keys, { token: '12', replica: 'a', at: T0 + 120_000 });
    const terms = await readLeaderTerms(redis, keys, 0);
    expect(terms).toEqual([
      {
        token: '9',
        replica: 'a',
        start: '2026-12-01T10:00:00.000Z',
        end: '2026-12-01T10:00:58.000Z',
      },
      {
        token: '10',
        replica: 'b',
        start: '2026-12-01T10:00:58.000Z',
        end: '2026-12-01T10:02:00.000Z',
      },
      { token: '12', replica: 'a', start: '2026-12-01T10:02:00.000Z', end: null },
    ]);
    // `since`: the terms that were current at or after it (the one running then included).
    const later = await readLeaderTerms(redis, keys, T0 + 90_000);
    expect(later.map((t) => t.token)).toEqual(['10', '12']);
  });

  it(`keeps the newest ${LEADER_TERMS_KEPT} takeovers`, async () => {
    await redis.del(keys.leaders);
    for (let i = 1; i <= LEADER_TERMS_KEPT + 20; i++) {
      await recordTakeover(redis, keys, { token: String(i), replica: 'r', at: T0 + i * 1000 });
    }
    expect(await redis.zcard(keys.leaders)).toBe(LEADER_TERMS_KEPT);
    const terms = await readLeaderTerms(redis, keys, 0);
    expect(terms[0]!.token).toBe('21');
    expect(terms.at(-1)!.token).toBe(String(LEADER_TERMS_KEPT + 20));
  });

  it('ignores records baton did not write', async () => {
    await redis.del(keys.leaders);
    await redis.zadd(keys.leaders, T0, 'not json', T0 + 1, JSON.stringify({ token: 'x' }));
    await recordTakeover(redis, keys, { token: '3', replica: 'c', at: T0 + 5 });
    expect((await readLeaderTerms(redis, keys, 0)).map((t) => t.replica)).toEqual(['c']);
  });
});
