import type { Redis } from 'ioredis';
import type { OverlapPolicy } from '../definitions/types.js';
import { FENCE_DIGITS, padDecimal } from '../dispatch/producer.js';
import type { RunKeys } from '../redis/keys.js';

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
 * Start of a run, atomically: fencing check, duplicate check, overlap lock, history record,
 * counters.
 *
 * KEYS: fence, counts, active, history, records, skipcount, started
 * ARGV: padded token, fireId, overlap, lockTtlMs, scheduledAtMs, member, previousMember,
 *       recordJson, nowMs, nowIso, cutoffMs, retentionCount, padded revision ('' if none),
 *       copy (identifies this BullMQ copy of the fire: its creation timestamp), startedTtlMs
 * Returns {'stale', newerToken, takeoverRevision} | {'skip', reason, activeFireId}
 *       | {'run', fireIdToAbort or ''}.
 */
const BEGIN = `${TRIM}
local token, fireId, mode = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[9])
local function unpad(v)
  local s = string.gsub(v, '^0+', '')
  if s == '' then return '0' end
  return s
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

-- The fence: a leader with a newer token took over at etcd revision B; its predecessors were all
-- deposed before B, so none of them can have committed anything at a revision after B. A run
-- that claims so was not committed by a valid leader. Every other run was, and runs, whatever
-- order runs start in (retries, re-runs and hand-backs included). Members are
-- '<padded token>/<padded revision>', so the lexicographic range is the newer tokens.
local revision = ARGV[13]
if revision ~= '' then
  local newer = redis.call('ZRANGEBYLEX', KEYS[1], '(' .. token .. '0', '+')
  for _, m in ipairs(newer) do
    local b = string.sub(m, ${FENCE_DIGITS} + 2)
    if b < revision then
      local newerToken = unpad(string.sub(m, 1, ${FENCE_DIGITS}))
      finish('stale', 'stale-token', 'fencing token ' .. unpad(token) .. ' claims a commit at etcd revision ' ..
        unpad(revision) .. ', after the leader with token ' .. newerToken .. ' took over at revision ' ..
        unpad(b) .. ': no valid leader committed this run')
      return {'stale', newerToken, unpad(b)}
    end
  end
end

-- A second copy of a fire that already started (its BullMQ job was added again after the first
-- was removed, e.g. a partitioned publisher's write arriving late): the fire ran, so this is
-- recorded and skipped. Retries, re-runs and hand-backs are starts of the same copy.
local startedCopy = redis.call('GET', KEYS[7])
if startedCopy and startedCopy ~= ARGV[14] then
  finish('skipped', 'duplicate', 'fire ' .. fireId .. ' already started (from an earlier copy of this run)')
  redis.call('HINCRBY', KEYS[6], 'duplicate', 1)
  redis.call('HINCRBY', KEYS[6], 'total', 1)
  return {'skip', 'duplicate', fireId}
end

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

redis.call('SET', KEYS[7], ARGV[14], 'PX', ARGV[15])
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

/**
 * The ends of several runs in one call (the runs of one turn of the event loop), each as END
 * does it. KEYS: 4 per run as END's; ARGV: 9 per run as END's ARGV 1-8, then its counter fields
 * joined with ','.
 */
const END_MANY = `${TRIM}
for r = 0, #KEYS / 4 - 1 do
  local k, a = r * 4, r * 9
  redis.call('ZADD', KEYS[k + 2], ARGV[a + 3], ARGV[a + 1])
  redis.call('HSET', KEYS[k + 3], ARGV[a + 1], ARGV[a + 2])
  local action = ARGV[a + 4]
  if action ~= 'none' and redis.call('GET', KEYS[k + 1]) == ARGV[a + 5] then
    if action == 'release' then
      redis.call('DEL', KEYS[k + 1])
    else
      redis.call('PEXPIRE', KEYS[k + 1], ARGV[a + 6])
    end
  end
  for field in string.gmatch(ARGV[a + 9], '[^,]+') do redis.call('HINCRBY', KEYS[k + 4], field, 1) end
  trim(KEYS[k + 2], KEYS[k + 3], ARGV[a + 7], tonumber(ARGV[a + 8]))
end
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
  /** Refused: the leader with `newerToken` took over at etcd revision `takeoverRevision`. */
  | { kind: 'stale'; newerToken: string; takeoverRevision: string }
  | { kind: 'skip'; reason: 'overlap' | 'superseded' | 'duplicate'; active: string };

export interface BeginArgs {
  keys: RunKeys;
  /** The namespace's fence (`RedisKeys.fence`). */
  fenceKey: string;
  /** This fire's started marker (`RedisKeys.started(fireId)`). */
  startedKey: string;
  job: string;
  token: string;
  /** The etcd revision that committed the run, or null (runs of baton before 0.2). */
  revision: string | null;
  /**
   * Identifies this BullMQ copy of the fire (its creation timestamp): retries, re-runs after a
   * crash, hand-backs and `job.retry()` keep it; a copy added again after removal does not.
   */
  copy: string;
  /** How long the fire id stays marked as started (its dedupe window). */
  startedTtlMs: number;
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

function endArgv(a: EndArgs): (string | number)[] {
  return [
    a.member,
    a.recordJson,
    a.startedAtMs,
    a.lockAction,
    a.lockValue,
    Math.max(1, Math.round(a.keepMs)),
    a.nowMs - a.retention.ageMs,
    Math.max(1, a.retention.count),
  ];
}

/** The worker's Lua scripts, defined on one connection (EVALSHA with EVAL fallback). */
export class RunScripts {
  private pendingEnds: { args: EndArgs; resolve: () => void; reject: (err: unknown) => void }[] =
    [];

  constructor(private readonly redis: Redis) {
    redis.defineCommand('batonRunBegin', { numberOfKeys: 7, lua: BEGIN });
    redis.defineCommand('batonRunEnd', { numberOfKeys: 4, lua: END });
    redis.defineCommand('batonRunEndMany', { lua: END_MANY });
    redis.defineCommand('batonRunRenew', { numberOfKeys: 1, lua: RENEW });
  }

  private fn(name: string): ScriptFn {
    const f = (this.redis as unknown as Record<string, ScriptFn>)[name];
    if (!f) throw new Error(`script ${name} is not defined`);
    return f.bind(this.redis);
  }

  async begin(a: BeginArgs): Promise<BeginResult> {
    const res = (await this.fn('batonRunBegin')(
      a.fenceKey,
      a.keys.counts,
      a.keys.active,
      a.keys.history,
      a.keys.records,
      a.keys.skipCounts,
      a.startedKey,
      padDecimal(a.token),
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
      a.revision === null ? '' : padDecimal(a.revision),
      a.copy,
      Math.max(1, Math.round(a.startedTtlMs)),
    )) as string[];
    const [kind, x, y] = res;
    if (kind === 'stale') return { kind, newerToken: x ?? '', takeoverRevision: y ?? '' };
    if (kind === 'skip') {
      const reason = x === 'superseded' || x === 'duplicate' ? x : 'overlap';
      return { kind, reason, active: y ?? '' };
    }
    return { kind: 'run', abort: x ? x : null };
  }

  /**
   * Records the end of a run. The ends of the runs of one turn of the event loop go to Redis as
   * one script call (each resolves once that call is done), so a busy worker pays one round
   * trip for many ends.
   */
  end(a: EndArgs): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pendingEnds.push({ args: a, resolve, reject });
      if (this.pendingEnds.length === 1) setImmediate(() => this.flushEnds());
    });
  }

  private flushEnds(): void {
    const batch = this.pendingEnds;
    this.pendingEnds = [];
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => batch.forEach((e) => e.resolve()),
        (err: unknown) => batch.forEach((e) => e.reject(err)),
      );
    if (batch.length === 1) {
      const a = batch[0]!.args;
      void settle(
        this.fn('batonRunEnd')(
          a.keys.active,
          a.keys.history,
          a.keys.records,
          a.keys.counts,
          ...endArgv(a),
          ...a.counters,
        ),
      );
      return;
    }
    const keys: string[] = [];
    const argv: (string | number)[] = [];
    for (const { args: a } of batch) {
      keys.push(a.keys.active, a.keys.history, a.keys.records, a.keys.counts);
      argv.push(...endArgv(a), a.counters.join(','));
    }
    void settle(this.fn('batonRunEndMany')(keys.length, ...keys, ...argv));
  }

  /** Extends the overlap lock while it is ours; false when another run holds it (or none). */
  async renew(activeKey: string, lockValue: string, ttlMs: number): Promise<boolean> {
    return (await this.fn('batonRunRenew')(activeKey, lockValue, ttlMs)) === 1;
  }
}
