import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../helpers/wait.js';
import type { LedgerLine } from './ledger.js';
import { readFrom, type ChaosReplica, type ChaosStack } from './stack.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same fault schedule. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FAULT_KINDS = [
  'leader-kill9',
  'leader-sigstop',
  'replica-sigterm',
  'etcd-member-kill',
  'etcd-quorum-loss',
  'redis-kill9',
  'leader-etcd-partition',
  'leader-redis-partition',
  'worker-kill9-midrun',
  'worker-outage-failover',
  'broken-job-file',
  'clock-offset',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  seq: number;
  kind: FaultKind;
  /** Seed of this fault's own choices (targets, hold times). */
  seed: number;
  /** Pause before injecting it, after the previous fault recovered (ms). */
  gapMs: number;
}

/**
 * The seeded schedule: every kind once in a shuffled order (as far as `count` reaches), then
 * kinds drawn at random. Depends on the seed and count only, never on timing.
 */
export function planFaults(seed: number, count: number): PlannedFault[] {
  const rnd = prng(seed);
  const kinds: FaultKind[] = [...FAULT_KINDS];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const out: PlannedFault[] = [];
  for (let i = 0; i < count; i++) {
    const kind =
      i < kinds.length ? kinds[i]! : FAULT_KINDS[Math.floor(rnd() * FAULT_KINDS.length)]!;
    out.push({
      seq: i + 1,
      kind,
      seed: Math.floor(rnd() * 2 ** 31),
      gapMs: 500 + Math.floor(rnd() * 1500),
    });
  }
  return out;
}

/** What happened to one fault, for the report. */
export interface FaultRecord {
  seq: number;
  kind: FaultKind;
  target: string;
  injectedAt: number;
  healedAt: number | null;
  /** First execution of a `tick` instant scheduled ≥ 1 s after the injection (work flows again). */
  recoveredAt: number | null;
  recoveryMs: number | null;
  notes: string[];
  error?: string;
  /** A liveness bound this fault broke (besides recovery), e.g. no hand-over when cut off from Redis. */
  liveness?: string;
}

/** Incrementally reads the ledger while the run goes on. */
export class LedgerTail {
  #offset = 0;
  /** Newest `tick` instant whose execution started, and when it started. */
  readonly starts: { scheduledAt: number; t: number; job: string }[] = [];
  /** Executions started and not ended, by exec id. */
  readonly open = new Map<string, LedgerLine>();

  constructor(private readonly file: string) {}

  poll(): void {
    const { text, offset } = readFrom(this.file, this.#offset);
    this.#offset = offset;
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let l: LedgerLine;
      try {
        l = JSON.parse(raw) as LedgerLine;
      } catch {
        continue;
      }
      if (l.ev === 'start') {
        this.open.set(l.exec, l);
        this.starts.push({ scheduledAt: l.scheduledAt, t: l.t, job: l.job });
      } else {
        this.open.delete(l.exec);
      }
    }
  }

  /** When `tick` first started executing an instant scheduled at or after `after`. */
  firstTickAfter(after: number): number | null {
    this.poll();
    let best: number | null = null;
    for (const s of this.starts) {
      if (s.job === 'tick' && s.scheduledAt >= after && (best === null || s.t < best)) best = s.t;
    }
    return best;
  }
}

export interface FaultContext {
  stack: ChaosStack;
  tail: LedgerTail;
  rnd: () => number;
  log: (line: string) => void;
  /** Worker stops by the harness (for explaining re-executions). */
  workerStops: { pid: number; t: number; signal: 'SIGKILL' | 'SIGTERM' }[];
  redisCrashes: number[];
  /** See {@link RECOVERY_TIMEOUT_MS}. */
  recoveryTimeoutMs: number;
}

const between = (rnd: () => number, lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo));
const pick = <T>(rnd: () => number, list: readonly T[]): T =>
  list[Math.floor(rnd() * list.length)]!;

type Inject = (f: FaultContext, rec: FaultRecord) => Promise<void>;

async function restartReplica(r: ChaosReplica): Promise<void> {
  if (r.running) await r.stop();
  r.start();
}

async function workerKill(f: FaultContext, pidFilter?: number): Promise<void> {
  for (const w of f.stack.workers) {
    if (!w.running || (pidFilter !== undefined && w.pid !== pidFilter)) continue;
    const pid = w.pid!;
    await w.kill9();
    f.workerStops.push({ pid, t: Date.now(), signal: 'SIGKILL' });
  }
}

/** How each kind of fault is injected and healed. `rec.healedAt` is set when it is over. */
const INJECT: Record<FaultKind, Inject> = {
  async 'leader-kill9'(f, rec) {
    const l = await f.stack.leader();
    rec.target = l.id;
    rec.injectedAt = Date.now();
    await l.kill9();
    await sleep(between(f.rnd, 500, 2000));
    l.start();
    rec.healedAt = Date.now();
  },

  async 'leader-sigstop'(f, rec) {
    const l = await f.stack.leader();
    rec.target = l.id;
    rec.injectedAt = Date.now();
    l.sigstop();
    try {
      const next = await f.stack.leader(20_000, l);
      rec.notes.push(`${next.id} led ${Date.now() - rec.injectedAt} ms after the SIGSTOP`);
    } catch {
      rec.notes.push('no other replica led within 20 s of the SIGSTOP');
    }
    await sleep(between(f.rnd, 0, 1500));
    l.sigcont();
    rec.healedAt = Date.now();
  },

  async 'replica-sigterm'(f, rec) {
    const l = await f.stack.leader();
    const target =
      f.rnd() < 0.7
        ? l
        : pick(
            f.rnd,
            f.stack.replicas.filter((r) => r !== l),
          );
    rec.target = `${target.id}${target === l ? ' (leader)' : ''}`;
    rec.injectedAt = Date.now();
    await restartReplica(target);
    rec.healedAt = Date.now();
  },

  async 'etcd-member-kill'(f, rec) {
    const m = pick(f.rnd, f.stack.cluster.members);
    let role = 'follower';
    try {
      role = (await f.stack.cluster.leader(5_000)) === m ? 'leader' : 'follower';
    } catch {
      // no agreed leader right now
    }
    rec.target = `etcd ${m.name} (${role})`;
    rec.injectedAt = Date.now();
    await m.kill9();
    await sleep(between(f.rnd, 1000, 3000));
    await m.restart();
    rec.healedAt = Date.now();
  },

  async 'etcd-quorum-loss'(f, rec) {
    const members = [...f.stack.cluster.members];
    const keep = Math.floor(f.rnd() * members.length);
    const down = members.filter((_, i) => i !== keep);
    rec.target = `etcd ${down.map((m) => m.name).join('+')}`;
    rec.injectedAt = Date.now();
    await Promise.all(down.map((m) => m.kill9()));
    await sleep(between(f.rnd, 2000, 5000));
    await Promise.all(down.map((m) => m.restart()));
    rec.healedAt = Date.now();
  },

  async 'redis-kill9'(f, rec) {
    rec.target = 'redis';
    rec.injectedAt = Date.now();
    await f.stack.redis.kill9();
    f.redisCrashes.push(Date.now());
    await sleep(between(f.rnd, 500, 2500));
    await f.stack.redis.restart();
    rec.healedAt = Date.now();
  },

  async 'leader-etcd-partition'(f, rec) {
    const l = await f.stack.leader();
    rec.target = l.id;
    rec.injectedAt = Date.now();
    l.cutEtcd();
    try {
      const next = await f.stack.leader(20_000, l);
      rec.notes.push(`${next.id} led ${Date.now() - rec.injectedAt} ms after the partition`);
    } catch {
      rec.notes.push('no other replica led within 20 s of the partition');
    }
    await sleep(between(f.rnd, 0, 2000));
    l.restoreEtcd();
    rec.healedAt = Date.now();
  },

  async 'leader-redis-partition'(f, rec) {
    const l = await f.stack.leader();
    rec.target = l.id;
    rec.injectedAt = Date.now();
    l.redisProxy.cut('blackhole');
    const ttlMs = f.stack.options.leaseTtl * 1000;
    // Long enough for a fail-over bounded by 2 x TTL (issue 8, section 3) to happen.
    await sleep(between(f.rnd, 3 * ttlMs, 4 * ttlMs));
    const now = await f.stack.leaderNow();
    if (now === l.id) {
      rec.liveness = `the replica cut off from Redis still led after ${Date.now() - rec.injectedAt} ms (more than 2 x TTL) while the others reach Redis`;
      rec.notes.push(rec.liveness);
    } else {
      rec.notes.push(`leadership moved to ${now ?? 'nobody'} during the cut`);
    }
    l.restoreRedis();
    rec.healedAt = Date.now();
  },

  async 'worker-kill9-midrun'(f, rec) {
    const running = new Set(f.stack.workers.filter((w) => w.running).map((w) => w.pid!));
    // Await a worker in the middle of a run (the `slow` job runs 3 s of every 4).
    const victim = await waitFor(
      () => {
        f.tail.poll();
        for (const l of f.tail.open.values()) if (running.has(l.pid)) return l;
        return undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50, description: 'a worker in the middle of a run' },
    );
    const w = f.stack.workers.find((x) => x.pid === victim.pid)!;
    rec.target = `${w.id} running ${victim.fireId}`;
    rec.injectedAt = Date.now();
    await workerKill(f, victim.pid);
    await sleep(between(f.rnd, 500, 2000));
    await w.start();
    rec.healedAt = Date.now();
  },

  async 'worker-outage-failover'(f, rec) {
    rec.injectedAt = Date.now();
    await workerKill(f);
    await sleep(between(f.rnd, 1000, 3000));
    const l = await f.stack.leader();
    rec.target = `both workers, then leader ${l.id}`;
    await l.kill9();
    const next = await f.stack.leader(20_000, l);
    rec.notes.push(`${next.id} led ${Date.now() - rec.injectedAt} ms after the workers died`);
    l.start();
    await sleep(between(f.rnd, 0, 1000));
    await Promise.all(f.stack.workers.map((w) => w.start()));
    rec.healedAt = Date.now();
  },

  async 'broken-job-file'(f, rec) {
    const file = path.join(f.stack.jobsDir, pick(f.rnd, ['tock.yaml', 'tick.yaml']));
    const good = await readFile(file, 'utf8');
    rec.target = path.basename(file);
    rec.injectedAt = Date.now();
    await writeFile(file, `${good.split('\n')[0]}\nschedule: [unclosed\ncatchUp: sometimes\n`);
    await sleep(between(f.rnd, 2000, 4000));
    await writeFile(file, good);
    rec.healedAt = Date.now();
  },

  async 'clock-offset'(f, rec) {
    const offset = f.rnd() < 0.5 ? 1000 : -1000;
    const l = await f.stack.leader();
    const x = pick(
      f.rnd,
      f.stack.replicas.filter((r) => r !== l),
    );
    rec.target = `${x.id} at ${offset > 0 ? '+' : ''}${offset} ms`;
    rec.injectedAt = Date.now();
    x.clockOffsetMs = offset;
    await restartReplica(x);
    // Hand leadership to it: restart whoever leads until it does (it campaigns last).
    for (let i = 0; i < 3; i++) {
      const cur = await f.stack.leader();
      if (cur === x) break;
      await restartReplica(cur);
    }
    const cur = await f.stack.leader();
    rec.notes.push(cur === x ? `${x.id} led with its clock off` : `${x.id} did not get to lead`);
    await sleep(between(f.rnd, 3000, 5000));
    x.clockOffsetMs = 0;
    await restartReplica(x);
    rec.healedAt = Date.now();
  },
};

/** How long a fault may take to recover before the run records it as not recovered. */
export const RECOVERY_TIMEOUT_MS = 30_000;

/** Injects one planned fault, heals it, and waits until work flows again. */
export async function runFault(planned: PlannedFault, f: FaultContext): Promise<FaultRecord> {
  const rec: FaultRecord = {
    seq: planned.seq,
    kind: planned.kind,
    target: '',
    injectedAt: Date.now(),
    healedAt: null,
    recoveredAt: null,
    recoveryMs: null,
    notes: [],
  };
  try {
    await INJECT[planned.kind](f, rec);
  } catch (err) {
    rec.error = (err as Error).message;
    f.log(`fault ${planned.seq} ${planned.kind}: ${rec.error}`);
  }
  // Whatever happened, heal everything before the next fault.
  await healAll(f);
  rec.healedAt ??= Date.now();
  try {
    const healed = Math.max(rec.healedAt, rec.injectedAt + 1_000);
    await waitFor(() => f.tail.firstTickAfter(healed) ?? undefined, {
      timeoutMs: f.recoveryTimeoutMs,
      intervalMs: 100,
      description: 'tick running again after the fault',
    });
    // An instant at least 1 s after the injection: the leader decides (and publishes) 250 ms
    // ahead, so earlier instants may already be in Redis before the fault.
    rec.recoveredAt = f.tail.firstTickAfter(rec.injectedAt + 1_000);
    rec.recoveryMs = rec.recoveredAt === null ? null : rec.recoveredAt - rec.injectedAt;
  } catch {
    rec.notes.push(`tick did not run again within ${f.recoveryTimeoutMs} ms of the heal`);
  }
  f.log(
    `fault ${rec.seq} ${rec.kind} on ${rec.target}: recovered in ${rec.recoveryMs ?? '—'} ms${rec.notes.length ? `; ${rec.notes.join('; ')}` : ''}`,
  );
  return rec;
}

/** Every process running, every proxy open, every clock true. */
export async function healAll(f: FaultContext): Promise<void> {
  const s = f.stack;
  for (const r of s.replicas) {
    r.sigcont();
    r.restoreEtcd();
    r.restoreRedis();
  }
  await Promise.all(s.cluster.members.filter((m) => !m.running).map((m) => m.restart()));
  if (!s.redis.running) await s.redis.restart();
  for (const r of s.replicas) {
    if (r.clockOffsetMs !== 0) {
      r.clockOffsetMs = 0;
      await restartReplica(r);
    } else if (!r.running) r.start();
  }
  await Promise.all(s.workers.filter((w) => !w.running).map((w) => w.start()));
}
