import { describe, expect, it } from 'vitest';
import { EventBus, parseEvents, type BatonEvent } from '../../../src/events/bus.js';
import { scheduleText } from '../../../src/control/jobs.js';
import { silentLogger } from '../../../src/log.js';
import { redisKeys } from '../../../src/redis/keys.js';

const paused = (job: string): BatonEvent => ({ type: 'paused', job, paused: null });

describe('EventBus (local events)', () => {
  it('fans every event out to every subscriber and listener, in order', () => {
    const bus = new EventBus({
      subscriber: null,
      keys: redisKeys('p', 'ns'),
      logger: silentLogger(),
    });
    const one = bus.subscribe();
    const two = bus.subscribe();
    const heard: string[] = [];
    bus.listen((e) => heard.push(e.type === 'paused' ? e.job : e.type));
    bus.emit(paused('a'));
    bus.emit(paused('b'));
    for (const s of [one, two]) {
      const { events, dropped } = s.take();
      expect(events.map((e) => (e as { job: string }).job)).toEqual(['a', 'b']);
      expect(dropped).toBe(0);
      expect(s.take().events).toEqual([]);
    }
    expect(heard).toEqual(['a', 'b']);
    bus.close();
  });

  it('a slow subscriber keeps the newest events: the oldest are dropped past its bound', () => {
    const bus = new EventBus({
      subscriber: null,
      keys: redisKeys('p', 'ns'),
      logger: silentLogger(),
    });
    const slow = bus.subscribe(3);
    const fast = bus.subscribe(100);
    let notified = 0;
    slow.onEvent(() => notified++);
    for (let i = 0; i < 10; i++) bus.emit(paused(`j${i}`));
    expect(slow.size).toBe(3);
    const { events, dropped } = slow.take();
    expect(events.map((e) => (e as { job: string }).job)).toEqual(['j7', 'j8', 'j9']);
    expect(dropped).toBe(7);
    expect(fast.take().events).toHaveLength(10);
    expect(notified).toBe(10);
    bus.close();
  });

  it('a closed subscription gets nothing more and leaves the bus', () => {
    const bus = new EventBus({
      subscriber: null,
      keys: redisKeys('p', 'ns'),
      logger: silentLogger(),
    });
    const s = bus.subscribe();
    expect(bus.subscriberCount).toBe(1);
    s.close();
    expect(bus.subscriberCount).toBe(0);
    bus.emit(paused('a'));
    expect(s.take().events).toEqual([]);
    bus.close();
  });

  it('the Redis channel is <prefix>:baton:<namespace>:events', () => {
    expect(redisKeys('bull', 'baton').events).toBe('bull:baton:baton:events');
  });
});

describe('parseEvents', () => {
  it('reads one event or an array of them, and drops anything that is not an event', () => {
    expect(parseEvents(JSON.stringify(paused('a')))).toEqual([paused('a')]);
    expect(
      parseEvents(JSON.stringify([paused('a'), { type: 'nope' }, 7, null, paused('b')])),
    ).toEqual([paused('a'), paused('b')]);
    expect(parseEvents('{not json')).toEqual([]);
    expect(parseEvents('"fire"')).toEqual([]);
  });
});

describe('scheduleText', () => {
  it('describes cron expressions and macros in words, and falls back to the expression', () => {
    expect(scheduleText('0 9 * * 1-5')).toBe('At 09:00 AM, Monday through Friday');
    expect(scheduleText('*/5 * * * *')).toBe('Every 5 minutes');
    expect(scheduleText('* * * * * *')).toBe('Every second');
    expect(scheduleText('@daily')).toBe('At 12:00 AM');
    expect(scheduleText('not a cron')).toBe('not a cron');
  });
});
