import type { Redis } from 'ioredis';
import type { OverlapPolicy } from '../definitions/types.js';
import type { RunKeys } from '../redis-keys.js';

// Shared Lua: trims a job's history by age (score < cutoff) and count, at most 1000 at a time.
const TRIM = `
local function trim(idx, recs, cutoff, count)
  local old = redis.call('ZRANGEBYSCORE', idx, '-inf', '(' .. cutoff, 'LIMIT', 0, 1000)
  if #old > 0 then
    redis.call('HDEL', recs, unpack(old))
    redis.call('ZREM', idx, unpack(old))
  end
  local n = redis.call('ZCARD', idx)
  if n > count then
    local extra = redis.call('ZRANGE', idx, 0, math.min(n - count, 1000) - 1)
    redis.call('HDEL', recs, unpack(extra))
    redis.call('ZREM', idx, unpack(extra))
  end
end
`;

/**
 * Start of a run, atomically: fencing check, overlap lock, history record, counters.
 *
 * KEYS: token, counts, active, history, records, skipcount
 * ARGV: token, fireId, overlap, lockTtlMs, scheduledAtMs, member, previousMember, recordJson,
 *       nowMs, nowIso, cutoffMs, retentionCount
 * Returns {'stale', highest} | {'skip', reason, activeFireId} | {'run', fireIdToAbort or ''}.
 */
const BEGIN = `${TRIM}
local token, fireId, mode = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[9])
local function lower(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function finish(status, reason, err)
  local rec = cjson.decode(ARGV[8])
  rec.status = status
  rec.reason = reason
  rec.error = err
  rec.endedAt = ARGV[10]
  rec.durationMs = 0
  redis.call('ZADD', KEYS[4], now, ARGV[6])
  redis.call('HSET', KEYS[5], ARGV[6], cjson.encode(rec))
  redis.call('HINCRBY', KEYS[2], status, 1)
  trim(KEYS[4], KEYS[5], ARGV[11], tonumber(ARGV[12]))
end

-- The previous start of this run never recorded an end: its worker died (BullMQ found the job
-- stalled and handed it out again).
if ARGV[7] ~= '' then
  local prev = redis.call('HGET', KEYS[5], ARGV[7])
  if prev then
    local p = cjson.decode(prev)
    if p.status == 'running' then
      p.status = 'failed'
      p.reason = 'interrupted'
      p.error = 'the worker stopped during the run (BullMQ found it stalled and started it again)'
      p.endedAt = ARGV[10]
      p.durationMs = cjson.null
      p.willRetry = true
      redis.call('HSET', KEYS[5], ARGV[7], cjson.encode(p))
      redis.call('HINCRBY', KEYS[2], 'interrupted', 1)
    end
  end
end

local highest = redis.call('GET', KEYS[1])
if highest and lower(token, highest) then
  finish('stale', 'stale-token', 'fencing token ' .. token .. ' is lower than ' .. highest ..
    ', already seen for this job: the run was enqueued by a deposed leader')
  return {'stale', highest}
end
if not highest or lower(highest, token) then redis.call('SET', KEYS[1], token) end

local abort = ''
if mode ~= 'allow' then
  local mine = ARGV[5] .. ' ' .. fireId
  local holder = redis.call('GET', KEYS[3])
  if holder and holder ~= mine then
    local sp = string.find(holder, ' ', 1, true)
    local hAt = tonumber(string.sub(holder, 1, sp - 1))
    local hId = string.sub(holder, sp + 1)
    local at = tonumber(ARGV[5])
    if mode == 'forbid' or hAt > at or (hAt == at and hId > fireId) then
      local reason = 'overlap'
      local err = 'run ' .. hId .. ' of this job is still active (overlap: forbid)'
      if mode ~= 'forbid' then
        reason = 'superseded'
        err = 'newer run ' .. hId .. ' replaced this one (overlap: replace)'
      end
      finish('skipped', reason, err)
      redis.call('HINCRBY', KEYS[6], reason, 1)
      redis.call('HINCRBY', KEYS[6], 'total', 1)
      return {'skip', reason, hId}
    end
    abort = hId
  end
  redis.call('SET', KEYS[3], mine, 'PX', ARGV[4])
end

redis.call('ZADD', KEYS[4], now, ARGV[6])
redis.call('HSET', KEYS[5], ARGV[6], ARGV[8])
trim(KEYS[4], KEYS[5], ARGV[11], tonumber(ARGV[12]))
return {'run', abort}
`;

/**
 * End of a run: final history record, counters, overlap lock released or kept (for a retry).
 *
 * KEYS: active, history, records, counts
 * ARGV: member, recordJson, startedAtMs, lockAction ('release' | 'keep' | 'none'), lockValue,
 *       keepMs, cutoffMs, retentionCount, counter fields...
 */
const END = `${TRIM}
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
local action = ARGV[4]
if action ~= 'none' and redis.call('GET', KEYS[1]) == ARGV[5] then
  if action == 'release' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
  end
end
for i = 9, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], 1) end
trim(KEYS[2], KEYS[3], ARGV[7], tonumber(ARGV[8]))
return 1
`;

/** KEYS: active; ARGV: lockValue, ttlMs. 1 when the lock is still ours (and extended). */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

export type BeginResult =
  | { kind: 'run'; abort: string | null }
  | { kind: 'stale'; highest: string }
  | { kind: 'skip'; reason: 'overlap' | 'superseded'; active: string };

export interface BeginArgs {
  keys: RunKeys;
  job: string;
  token: string;
  fireId: string;
  overlap: OverlapPolicy;
  lockTtlMs: number;
  scheduledAtMs: number;
  member: string;
  previousMember: string | null;
  recordJson: string;
  nowMs: number;
  retention: { ageMs: number; count: number };
}

export interface EndArgs {
  keys: RunKeys;
  member: string;
  recordJson: string;
  startedAtMs: number;
  lockAction: 'release' | 'keep' | 'none';
  lockValue: string;
  keepMs: number;
  nowMs: number;
  retention: { ageMs: number; count: number };
  counters: string[];
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/** The worker's Lua scripts, defined on one connection (EVALSHA with EVAL fallback). */
export class RunScripts {
  constructor(private readonly redis: Redis) {
    redis.defineCommand('batonRunBegin', { numberOfKeys: 6, lua: BEGIN });
    redis.defineCommand('batonRunEnd', { numberOfKeys: 4, lua: END });
    redis.defineCommand('batonRunRenew', { numberOfKeys: 1, lua: RENEW });
  }

  private fn(name: string): ScriptFn {
    const f = (this.redis as unknown as Record<string, ScriptFn>)[name];
    if (!f) throw new Error(`script ${name} is not defined`);
    return f.bind(this.redis);
  }

  async begin(a: BeginArgs): Promise<BeginResult> {
    const res = (await this.fn('batonRunBegin')(
      a.keys.token,
      a.keys.counts,
      a.keys.active,
      a.keys.history,
      a.keys.records,
      a.keys.skipCounts,
      a.token,
      a.fireId,
      a.overlap,
      a.lockTtlMs,
      a.scheduledAtMs,
      a.member,
      a.previousMember ?? '',
      a.recordJson,
      a.nowMs,
      new Date(a.nowMs).toISOString(),
      a.nowMs - a.retention.ageMs,
      Math.max(1, a.retention.count),
    )) as string[];
    const [kind, x, y] = res;
    if (kind === 'stale') return { kind, highest: x ?? '' };
    if (kind === 'skip') {
      return { kind, reason: x === 'superseded' ? 'superseded' : 'overlap', active: y ?? '' };
    }
    return { kind: 'run', abort: x ? x : null };
  }

  async end(a: EndArgs): Promise<void> {
    await this.fn('batonRunEnd')(
      a.keys.active,
      a.keys.history,
      a.keys.records,
      a.keys.counts,
      a.member,
      a.recordJson,
      a.startedAtMs,
      a.lockAction,
      a.lockValue,
      Math.max(1, Math.round(a.keepMs)),
      a.nowMs - a.retention.ageMs,
      Math.max(1, a.retention.count),
      ...a.counters,
    );
  }

  /** Extends the overlap lock while it is ours; false when another run holds it (or none). */
  async renew(activeKey: string, lockValue: string, ttlMs: number): Promise<boolean> {
    return (await this.fn('batonRunRenew')(activeKey, lockValue, ttlMs)) === 1;
  }
}
