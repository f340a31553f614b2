import type { Redis } from 'ioredis';
import type { MemberInfo } from '../coordination/members.js';
import type { PauseRecord } from '../coordination/intents.js';
import type { Logger } from '../log.js';
import type { RedisKeys } from '../redis/keys.js';

/**
 * The live events of a cluster, as the API's server-sent events stream shows them. `fire` and
 * `skip` come from the leader process, `run` from worker processes: they travel on the Redis
 * pub/sub channel {@link eventsChannel}. `leader`, `members` and `paused` are derived by every
 * API process from its own etcd watches (see cluster.ts). So every replica's stream shows every
 * event, whoever produced it.
 */
export type BatonEvent =
  | { type: 'leader'; leader: string | null; token: string | null }
  | { type: 'members'; members: MemberInfo[] }
  | {
      type: 'fire';
      job: string;
      fireId: string;
      /** The scheduled instant (ISO, UTC); for a manual run, when it was decided. */
      scheduledAt: string;
      token: string;
      manual: boolean;
    }
  | {
      type: 'skip';
      job: string;
      reason: string;
      /** First and last skipped instant (ISO) and how many instants the range holds. */
      first: string;
      last: string;
      count: number;
    }
  | {
      type: 'run';
      job: string;
      fireId: string;
      status: string;
      attempt: number;
      durationMs: number;
      error: string | null;
      worker: string;
      reason: string | null;
      willRetry: boolean;
    }
  | { type: 'paused'; job: string; paused: PauseRecord | null };

export type BatonEventType = BatonEvent['type'];

/**
 * Publishes an event, or an array of them as one message, to every API process of the cluster.
 * Best effort (pub/sub is at most once): a connection that is not ready drops the event instead
 * of queueing it, and errors are swallowed; history and metrics are the durable record.
 */
export function publishEvent(
  redis: Redis,
  keys: Pick<RedisKeys, 'events'>,
  event: BatonEvent | BatonEvent[],
): void {
  if (redis.status !== 'ready') return;
  redis.publish(keys.events, JSON.stringify(event)).catch(() => undefined);
}

/** Events per pub/sub message from an {@link EventBatcher}, so that one message stays small. */
const EVENTS_PER_MESSAGE = 500;

/**
 * Publishes the events a leader produces in bursts (10,000 fires of one instant) as one pub/sub
 * message per turn of the event loop, a JSON array, instead of one message per event: a burst
 * then costs a few dozen Redis commands, not thousands. Same delivery as {@link publishEvent}.
 */
export class EventBatcher {
  private pending: BatonEvent[] = [];
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Pick<RedisKeys, 'events'>,
  ) {}

  publish(event: BatonEvent): void {
    this.pending.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const events = this.pending;
    this.pending = [];
    for (let i = 0; i < events.length; i += EVENTS_PER_MESSAGE) {
      const chunk = events.slice(i, i + EVENTS_PER_MESSAGE);
      publishEvent(this.redis, this.keys, chunk.length === 1 ? chunk[0]! : chunk);
    }
  }
}

const TYPES: ReadonlySet<string> = new Set<BatonEventType>([
  'leader',
  'members',
  'fire',
  'skip',
  'run',
  'paused',
]);

function isEvent(e: unknown): e is BatonEvent {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { type?: unknown }).type === 'string' &&
    TYPES.has((e as { type: string }).type)
  );
}

/** The events of one pub/sub message: one event, or an array of them ({@link EventBatcher}). */
export function parseEvents(text: string): BatonEvent[] {
  try {
    const parsed = JSON.parse(text) as unknown;
    return (Array.isArray(parsed) ? parsed : [parsed]).filter(isEvent);
  } catch {
    return [];
  }
}

/** Default bound of a subscriber's queue: past it the oldest events are dropped. */
export const DEFAULT_QUEUE_LIMIT = 1000;

/**
 * One consumer of the bus (an SSE client). Events queue here until {@link take} drains them;
 * a slow consumer never holds the others up: past `limit` queued events the oldest are dropped
 * and counted in {@link dropped}.
 */
export class EventSubscription {
  private queue: BatonEvent[] = [];
  private head = 0;
  /** Events dropped since the last {@link take} because the queue was full. */
  dropped = 0;
  private notify: (() => void) | null = null;

  constructor(
    private readonly limit: number,
    private readonly detach: (s: EventSubscription) => void,
  ) {}

  /** @internal called by the bus. */
  push(event: BatonEvent): void {
    this.queue.push(event);
    if (this.queue.length - this.head > this.limit) {
      this.head++;
      this.dropped++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.notify?.();
  }

  /** Number of events waiting. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** Removes and returns every waiting event, with how many were dropped before them. */
  take(): { events: BatonEvent[]; dropped: number } {
    const events = this.queue.slice(this.head);
    const dropped = this.dropped;
    this.queue = [];
    this.head = 0;
    this.dropped = 0;
    return { events, dropped };
  }

  /** Calls `fn` whenever an event arrives (one listener; null to remove). */
  onEvent(fn: (() => void) | null): void {
    this.notify = fn;
  }

  close(): void {
    this.notify = null;
    this.queue = [];
    this.head = 0;
    this.detach(this);
  }
}

export interface EventBusOptions {
  /**
   * A connection dedicated to subscribing (it enters subscriber mode). The bus owns it and
   * disconnects it on {@link EventBus.close}. Null: local events only.
   */
  subscriber: Redis | null;
  /** The key layout: the bus listens on its `events` channel (`<prefix>:baton:<ns>:events`). */
  keys: Pick<RedisKeys, 'events'>;
  logger: Logger;
}

/**
 * The event bus of one process: events published on Redis by any leader or worker, plus events
 * emitted locally (from this process's etcd watches), fanned out to subscribers. One Redis
 * subscriber connection per process, however many clients.
 */
export class EventBus {
  private readonly subscriptions = new Set<EventSubscription>();
  private readonly listeners = new Set<(event: BatonEvent) => void>();
  private readonly channel: string;
  private closed = false;

  constructor(private readonly options: EventBusOptions) {
    this.channel = options.keys.events;
  }

  /** Subscribes to the Redis channel (in the background: a Redis outage does not block). */
  start(): void {
    const sub = this.options.subscriber;
    if (!sub) return;
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      for (const event of parseEvents(message)) this.emit(event);
    });
    // ioredis subscribes again by itself after a reconnect.
    sub.subscribe(this.channel).catch((err: Error) => {
      if (!this.closed) this.options.logger.warn({ err }, 'cannot subscribe to the events channel');
    });
  }

  /** Hands an event to every subscriber of this process. */
  emit(event: BatonEvent): void {
    if (this.closed) return;
    for (const s of this.subscriptions) s.push(event);
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.options.logger.warn({ err }, 'event listener failed');
      }
    }
  }

  /** A queued subscription (for a consumer that may be slow, such as an SSE client). */
  subscribe(limit = DEFAULT_QUEUE_LIMIT): EventSubscription {
    const s = new EventSubscription(limit, (x) => this.subscriptions.delete(x));
    this.subscriptions.add(s);
    return s;
  }

  /** A synchronous listener (for in-process consumers such as metrics). Returns the remover. */
  listen(fn: (event: BatonEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.subscriptions]) s.close();
    this.listeners.clear();
    this.options.subscriber?.disconnect();
  }
}
