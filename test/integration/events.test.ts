import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import { EventBatcher, EventBus, type BatonEvent } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log.js';
import { redisKeys } from '../../src/redis/keys.js';
import { testNamespace } from '../helpers/namespace.js';
import { waitFor } from '../helpers/wait.js';

const url = inject('redisUrl');
const publisher = new Redis(url, { maxRetriesPerRequest: 1 });
afterAll(() => publisher.disconnect());

it('a burst of events published in one turn arrives whole and in order, in a few messages', async () => {
  const prefix = testNamespace('events');
  const subscriber = new Redis(url, { maxRetriesPerRequest: 1 });
  const keys = redisKeys(prefix, prefix);
  const bus = new EventBus({ subscriber, keys, logger: silentLogger() });
  const messages: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => messages.push(message));
  const heard: BatonEvent[] = [];
  bus.listen((e) => heard.push(e));
  bus.start();
  try {
    await once(subscriber, 'ready');
    await waitFor(async () => (await publisher.pubsub('NUMSUB', keys.events))[1] === 1, {
      description: 'the subscription',
    });
    if (publisher.status !== 'ready') await once(publisher, 'ready');
    const batcher = new EventBatcher(publisher, keys);
    const sent: BatonEvent[] = [];
    for (let i = 0; i < 1200; i++) {
      const e: BatonEvent = {
        type: 'fire',
        job: `j${i}`,
        fireId: `j${i}@1700000000000`,
        scheduledAt: '2023-11-14T22:13:20.000Z',
        token: '42',
        manual: false,
      };
      sent.push(e);
      batcher.publish(e);
    }
    await waitFor(() => heard.length >= 1200, { description: '1200 events' });
    expect(heard).toEqual(sent);
    expect(messages).toHaveLength(3); // 500 + 500 + 200

    // A lone event travels as itself.
    batcher.publish(sent[0]!);
    await waitFor(() => heard.length === 1201, { description: 'one more event' });
    expect(JSON.parse(messages[3]!)).toEqual(sent[0]);
  } finally {
    bus.close();
  }
});
