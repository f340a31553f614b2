/**
 * Alert deliveries in Redis: one hash per delivery (an event to one webhook), a sorted set of the
 * pending ones, and the dead-man check's cursor per job. Every write is a Lua script fenced like
 * the workers' start of a run: it is refused when a leader with a newer fencing token is in the
 * fence (`RedisKeys.fence`), so a deposed leader can neither raise, claim nor settle a delivery
 * once its successor has recorded its takeover.
 */
import type { Redis } from 'ioredis';
import { padDecimal } from '../dispatch/producer.js';
import type { RedisKeys } from '../redis/keys.js';
import type { AlertKind, AlertPayload } from './events.js';

/** How long a delivery record is kept (any state): events are raised again at most a day later. */
export const DELIVERY_TTL_MS = 7 * 86_400_000;

// The fence's rule (see BEGIN in worker/scripts.ts): members are '<padded token>/<revision>', so
// '(' .. token .. '0' starts the range of the newer tokens.
const FENCED = `
local function newerLeader(token)
  return #redis.call('ZRANGEBYLEX', KEYS[1], '(' .. token .. '0', '+', 'LIMIT', 0, 1) > 0
end
`;

/**
 * Creates deliveries that do not exist yet (pending, due now) and, optionally, moves a dead-man
 * cursor from the value it was read at.
 * KEYS: fence, pending, cursor (or pending when unused), delivery hashes...
 * ARGV: padded token, now, ttlMs, expected cursor ('' = no cursor, '-' = absent), new cursor,
 *       then per delivery: id, event JSON, job, kind, target id
 * Returns the number created, -1 (a newer leader) or -2 (the cursor moved: another leader checked).
 */
const RAISE = `${FENCED}
if newerLeader(ARGV[1]) then return -1 end
if ARGV[4] ~= '' then
  local cur = redis.call('GET', KEYS[3])
  if (ARGV[4] == '-' and cur) or (ARGV[4] ~= '-' and cur ~= ARGV[4]) then return -2 end
  redis.call('SET', KEYS[3], ARGV[5])
end
local created = 0
for i = 4, #KEYS do
  local b = 5 + (i - 4) * 5
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('HSET', KEYS[i], 'id', ARGV[b + 1], 'state', 'pending', 'event', ARGV[b + 2],
      'job', ARGV[b + 3], 'kind', ARGV[b + 4], 'target', ARGV[b + 5], 'attempts', 0,
      'createdAt', ARGV[2])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[b + 1])
    created = created + 1
  end
end
return created
`;

/**
 * Claims a due pending delivery for one attempt: counts the attempt, notes the token, and pushes
 * its next try to the end of the claim (so nobody else tries it meanwhile).
 * KEYS: fence, pending, delivery. ARGV: padded token, now, claim end, id.
 * Returns {'claimed', attempts, event, job, kind, target} or {state}: 'stale' (a newer leader),
 * 'gone' (expired), 'busy' (not due: claimed by someone else), 'delivered', 'failed'.
 */
const CLAIM = `${FENCED}
if newerLeader(ARGV[1]) then return {'stale'} end
local state = redis.call('HGET', KEYS[3], 'state')
if not state then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {'gone'}
end
if state ~= 'pending' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {state}
end
local due = redis.call('ZSCORE', KEYS[2], ARGV[4])
if not due or tonumber(due) > tonumber(ARGV[2]) then return {'busy'} end
local attempts = redis.call('HINCRBY', KEYS[3], 'attempts', 1)
redis.call('HSET', KEYS[3], 'token', ARGV[1], 'claimedAt', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
local f = redis.call('HMGET', KEYS[3], 'event', 'job', 'kind', 'target')
return {'claimed', tostring(attempts), f[1], f[2], f[3], f[4]}
`;

/**
 * Settles an attempt: `delivered`, `failed` (given up) or `retry` at a later time. Only the
 * claim's own leader may, and only while no newer leader is in the fence.
 * KEYS: fence, pending, delivery. ARGV: padded token, outcome, next try, error, now, id.
 * Returns 'ok', 'stale', 'taken' (another leader claimed it since) or the state it already had.
 */
const SETTLE = `${FENCED}
if newerLeader(ARGV[1]) then return 'stale' end
local f = redis.call('HMGET', KEYS[3], 'state', 'token')
if not f[1] then return 'gone' end
if f[1] ~= 'pending' then return f[1] end
if f[2] ~= ARGV[1] then return 'taken' end
if ARGV[2] == 'delivered' then
  redis.call('HSET', KEYS[3], 'state', 'delivered', 'settledAt', ARGV[5])
  redis.call('ZREM', KEYS[2], ARGV[6])
elseif ARGV[2] == 'failed' then
  redis.call('HSET', KEYS[3], 'state', 'failed', 'settledAt', ARGV[5], 'error', ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[6])
else
  redis.call('HSET', KEYS[3], 'error', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[6])
end
return 'ok'
`;

/** One delivery to create: an event for one webhook. */
export interface NewDelivery {
  payload: AlertPayload;
  /** `targetId()` of the webhook. */
  target: string;
}

/** A claimed delivery, ready to be sent. */
export interface ClaimedDelivery {
  id: string;
  attempts: number;
  payload: AlertPayload;
  job: string;
  kind: AlertKind;
  target: string;
}

export type ClaimResult =
  { claimed: ClaimedDelivery } | { refused: 'stale' | 'gone' | 'busy' | 'delivered' | 'failed' };

/** A delivery's id: `<eventId>/<targetId>`. */
export function deliveryId(eventId: string, target: string): string {
  return `${eventId}/${target}`;
}

type Scripts = Record<string, (...args: unknown[]) => Promise<unknown>>;

/** The Redis side of alerts for one leader (its fencing token). */
export class AlertStore {
  private readonly token: string;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    token: string,
  ) {
    this.token = padDecimal(token);
    redis.defineCommand('batonAlertRaise', { lua: RAISE });
    redis.defineCommand('batonAlertClaim', { numberOfKeys: 3, lua: CLAIM });
    redis.defineCommand('batonAlertSettle', { numberOfKeys: 3, lua: SETTLE });
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  /**
   * Creates the deliveries that do not exist yet. With `cursor`, only if the job's dead-man cursor
   * still holds `expected` (null: absent), and moves it to `next` in the same script. Returns how
   * many were created, or `stale` / `moved`.
   */
  async raise(
    deliveries: readonly NewDelivery[],
    now: number,
    cursor?: { job: string; expected: number | null; next: number },
  ): Promise<number | 'stale' | 'moved'> {
    const { keys } = this;
    const keyList = [
      keys.fence,
      keys.alertsPending,
      cursor ? keys.alertsMissedCursor(cursor.job) : keys.alertsPending,
    ];
    const args: (string | number)[] = [
      this.token,
      now,
      DELIVERY_TTL_MS,
      cursor ? (cursor.expected === null ? '-' : String(cursor.expected)) : '',
      cursor ? String(cursor.next) : '',
    ];
    for (const d of deliveries) {
      const id = deliveryId(d.payload.id, d.target);
      keyList.push(keys.alert(id));
      args.push(id, JSON.stringify(d.payload), d.payload.job, d.payload.event, d.target);
    }
    const n = Number(await this.scripts.batonAlertRaise!(keyList.length, ...keyList, ...args));
    return n === -1 ? 'stale' : n === -2 ? 'moved' : n;
  }

  /** The dead-man cursor of `job` (epoch ms), or null when the check never looked at it. */
  async missedCursor(job: string): Promise<number | null> {
    const v = await this.redis.get(this.keys.alertsMissedCursor(job));
    return v === null ? null : Number(v);
  }

  /** Ids of pending deliveries due by `now`, oldest first. */
  async due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(
      this.keys.alertsPending,
      '-inf',
      now,
      'LIMIT',
      '0',
      String(limit),
    );
  }

  /** When the next pending delivery is due (epoch ms), or null when none is pending. */
  async nextDue(): Promise<number | null> {
    const first = await this.redis.zrange(this.keys.alertsPending, '0', '0', 'WITHSCORES');
    return first.length < 2 ? null : Number(first[1]);
  }

  /** Claims delivery `id` for one attempt, until `claimUntil` (epoch ms). */
  async claim(id: string, now: number, claimUntil: number): Promise<ClaimResult> {
    const r = (await this.scripts.batonAlertClaim!(
      this.keys.fence,
      this.keys.alertsPending,
      this.keys.alert(id),
      this.token,
      now,
      claimUntil,
      id,
    )) as string[];
    if (r[0] !== 'claimed') return { refused: r[0] as 'stale' };
    return {
      claimed: {
        id,
        attempts: Number(r[1]),
        payload: JSON.parse(r[2]!) as AlertPayload,
        job: r[3]!,
        kind: r[4] as AlertKind,
        target: r[5]!,
      },
    };
  }

  /** Settles a claimed attempt. Returns 'ok' or why it was refused. */
  async settle(
    id: string,
    outcome: 'delivered' | 'failed' | 'retry',
    now: number,
    options: { nextAt?: number; error?: string } = {},
  ): Promise<string> {
    return String(
      await this.scripts.batonAlertSettle!(
        this.keys.fence,
        this.keys.alertsPending,
        this.keys.alert(id),
        this.token,
        outcome,
        options.nextAt ?? now,
        options.error ?? '',
        now,
        id,
      ),
    );
  }
}
