import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ClusterWatch } from '../control/cluster.js';
import type { BatonEvent, EventBus } from '../events/bus.js';
import { COMMON_HEADERS } from './errors.js';

export interface EventsRouteOptions {
  bus: EventBus;
  cluster: ClusterWatch;
  /** Comment line sent this often so proxies keep the stream open. @defaultValue 15_000 */
  heartbeatMs?: number;
  /** Events queued per client before the oldest are dropped. @defaultValue 1000 */
  queueLimit?: number;
}

/** One SSE frame: the event name is the type, the data its fields as JSON (one line). */
function frame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function eventFrame(event: BatonEvent): string {
  const { type, ...data } = event;
  return frame(type, data);
}

/**
 * `GET /api/v1/events`: server-sent events. On connect: `retry: 2000`, then the current `leader`
 * and `members`; then every event of the bus as it happens. A client that reads slower than
 * events arrive gets the newest ones: its queue is bounded and the oldest are dropped, reported
 * as one `dropped` event `{ count }` (refetch the state then).
 */
export function registerEvents(app: FastifyInstance, options: EventsRouteOptions): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const open = new Set<ServerResponse>();

  app.addHook('preClose', async () => {
    for (const res of open) res.end();
    open.clear();
  });

  const headers = {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
    ...COMMON_HEADERS,
  };

  app.get('/api/v1/events', (request, reply) => {
    // HEAD: the headers of the stream and no body (the stream would never end).
    if (request.method === 'HEAD') {
      void reply.code(200).headers(headers).send();
      return;
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...headers, Connection: 'keep-alive' });
    open.add(res);
    const sub = options.bus.subscribe(options.queueLimit ?? 1000);
    let closed = false;
    let waitingDrain = false;
    let scheduled = false;

    const write = (chunk: string): void => {
      if (closed || chunk === '') return;
      if (!res.write(chunk)) {
        waitingDrain = true;
        res.once('drain', () => {
          waitingDrain = false;
          flush();
        });
      }
    };
    const flush = (): void => {
      scheduled = false;
      if (closed || waitingDrain) return;
      const { events, dropped } = sub.take();
      let chunk = dropped > 0 ? frame('dropped', { count: dropped }) : '';
      for (const e of events) chunk += eventFrame(e);
      write(chunk);
    };
    sub.onEvent(() => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(flush);
    });

    let initial = 'retry: 2000\n\n';
    const leader = options.cluster.leader();
    if (leader) initial += frame('leader', leader);
    if (options.cluster.ready) initial += frame('members', { members: options.cluster.members() });
    write(initial);

    const heartbeat = setInterval(() => {
      if (!waitingDrain) write(': ping\n\n');
    }, heartbeatMs);
    heartbeat.unref();

    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      sub.close();
      open.delete(res);
    };
    request.raw.on('close', cleanup);
    res.on('close', cleanup);
    res.on('error', cleanup);
  });
}
