import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerEvents } from '../../../src/api/sse.js';
import type { ClusterWatch } from '../../../src/control/cluster.js';
import { EventBus } from '../../../src/events/bus.js';
import { silentLogger } from '../../../src/log.js';
import { redisKeys } from '../../../src/redis/keys.js';

const cluster = {
  ready: true,
  leader: () => ({ leader: 'r1', token: '7' }),
  members: () => [],
} as unknown as ClusterWatch;

async function serve(bus: EventBus, queueLimit: number) {
  const app = Fastify();
  registerEvents(app, { bus, cluster, queueLimit, heartbeatMs: 60_000 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as AddressInfo).port };
}

describe('GET /api/v1/events (SSE)', () => {
  it('frames: retry, the current leader and members, then each event named by its type', async () => {
    const bus = new EventBus({
      subscriber: null,
      keys: redisKeys('p', 'ns'),
      logger: silentLogger(),
    });
    const { app, port } = await serve(bus, 100);
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/events`);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const readUntil = async (s: string) => {
      while (!text.includes(s)) text += (await reader.read()).value ?? '';
    };
    await readUntil('event: members');
    bus.emit({ type: 'paused', job: 'j', paused: null });
    await readUntil('event: paused');
    expect(text).toBe(
      'retry: 2000\n\n' +
        'event: leader\ndata: {"leader":"r1","token":"7"}\n\n' +
        'event: members\ndata: {"members":[]}\n\n' +
        'event: paused\ndata: {"job":"j","paused":null}\n\n',
    );
    await reader.cancel();
    await app.close(); // ends open streams: close() does not wait for them
    bus.close();
  });

  it('HEAD answers at once with the stream headers and no body (it never answered before)', async () => {
    const bus = new EventBus({
      subscriber: null,
      keys: { events: 'p:baton:baton:events' },
      logger: silentLogger(),
    });
    const { app, port } = await serve(bus, 100);
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe('');
    await app.close();
    bus.close();
  });

  it('a client that does not read gets the newest events and a `dropped` count', async () => {
    const bus = new EventBus({
      subscriber: null,
      keys: redisKeys('p', 'ns'),
      logger: silentLogger(),
    });
    const { app, port } = await serve(bus, 50);
    const res = await new Promise<http.IncomingMessage>((resolve) =>
      http.get(`http://127.0.0.1:${port}/api/v1/events`, resolve),
    );
    res.pause();
    res.setEncoding('utf8');
    const pad = 'x'.repeat(1000);
    let emitted = 0;
    for (let round = 0; round < 150; round++) {
      for (let i = 0; i < 100; i++)
        bus.emit({
          type: 'paused',
          job: `j${emitted++}`,
          paused: { by: pad, reason: null, at: '' },
        });
      await sleep(1);
    }
    expect(bus.subscriberCount).toBe(1);
    let text = '';
    res.on('data', (chunk: string) => (text += chunk));
    res.resume();
    const last = `"job":"j${emitted - 1}"`;
    while (!text.includes(last)) await sleep(5);
    const dropped = [...text.matchAll(/event: dropped\ndata: \{"count":(\d+)\}/g)].map((m) =>
      Number(m[1]),
    );
    const delivered = (text.match(/event: paused/g) ?? []).length;
    expect(dropped.length).toBeGreaterThan(0);
    // Every event was either delivered or counted as dropped, never both, never lost silently.
    expect(delivered + dropped.reduce((a, b) => a + b, 0)).toBe(emitted);
    res.destroy();
    await app.close();
    bus.close();
  });
});
