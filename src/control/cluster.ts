import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { CandidateInfo } from '../coordination/election.js';
import type { PauseRecord } from '../coordination/intents.js';
import type { Keys } from '../coordination/keys.js';
import type { MemberInfo } from '../coordination/members.js';
import { scanPrefix } from '../coordination/scan.js';
import { openWatch } from '../coordination/watch.js';
import type { Logger } from '../log.js';
import type { BatonEvent } from '../events/bus.js';

export interface ClusterWatchOptions {
  etcd: Etcd3;
  keys: Keys;
  logger: Logger;
  /** Receives `leader`, `members` and `paused` events. */
  emit: (event: BatonEvent) => void;
  /** Member changes closer together than this are reported once. @defaultValue 100 */
  membersDebounceMs?: number;
}

interface Candidate {
  id: string;
  createRevision: bigint;
}

function parse<T>(kv: IKeyValue): T | null {
  try {
    return JSON.parse(kv.value.toString()) as T;
  } catch {
    return null;
  }
}

/**
 * This process's live view of the cluster from etcd watches on `<ns>/election/`,
 * `<ns>/members/` and `<ns>/paused/`: reports a `leader` event when the lowest campaign key
 * changes, `members` when any member record is written or deleted (heartbeats included,
 * coalesced), and `paused` when a pause record is written or deleted. Each watch starts at the
 * revision its snapshot was read at, so nothing between the read and the watch is missed. A
 * failed watch (or etcd unreachable at start) is retried from a new snapshot with backoff.
 */
export class ClusterWatch {
  private readonly candidates = new Map<string, Candidate>();
  private readonly memberMap = new Map<string, MemberInfo>();
  private readonly pausedMap = new Map<string, PauseRecord>();
  private watchers: Watcher[] = [];
  private leaderNow: { leader: string | null; token: string | null } | null = null;
  private membersTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private generation = 0;
  private backoff = 200;
  private loaded = false;

  constructor(private readonly options: ClusterWatchOptions) {}

  /** Starts watching in the background. */
  start(): void {
    void this.load();
  }

  /** True once a snapshot has been read (the view is then current up to watch lag). */
  get ready(): boolean {
    return this.loaded;
  }

  /** The leader as last seen, or null before the first snapshot. */
  leader(): { leader: string | null; token: string | null } | null {
    return this.leaderNow;
  }

  members(): MemberInfo[] {
    return [...this.memberMap.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.membersTimer) clearTimeout(this.membersTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.cancelWatchers();
  }

  private async cancelWatchers(): Promise<void> {
    const ws = this.watchers;
    this.watchers = [];
    await Promise.allSettled(ws.map((w) => w.cancel()));
  }

  private async load(): Promise<void> {
    if (this.closed) return;
    const generation = ++this.generation;
    const { etcd, keys } = this.options;
    await this.cancelWatchers();
    try {
      const [election, members, paused] = await Promise.all([
        scanPrefix(etcd, keys.electionPrefix),
        scanPrefix(etcd, keys.membersPrefix),
        scanPrefix(etcd, keys.pausedPrefix),
      ]);
      if (this.closed || generation !== this.generation) return;

      this.candidates.clear();
      for (const kv of election.kvs) this.putCandidate(kv);

      this.memberMap.clear();
      for (const kv of members.kvs) {
        const m = parse<MemberInfo>(kv);
        if (m) this.memberMap.set(kv.key.toString().slice(keys.membersPrefix.length), m);
      }

      const before = new Map(this.pausedMap);
      this.pausedMap.clear();
      for (const kv of paused.kvs) {
        const p = parse<PauseRecord>(kv);
        if (p) this.pausedMap.set(kv.key.toString().slice(keys.pausedPrefix.length), p);
      }
      if (this.loaded) {
        // After a watch failure: report what changed while not watching.
        for (const [job, rec] of this.pausedMap)
          if (JSON.stringify(before.get(job)) !== JSON.stringify(rec))
            this.options.emit({ type: 'paused', job, paused: rec });
        for (const job of before.keys())
          if (!this.pausedMap.has(job)) this.options.emit({ type: 'paused', job, paused: null });
      }
      this.loaded = true;
      this.leaderChanged();
      this.membersChanged(true);

      const current = () => !this.closed && generation === this.generation;
      // One watch per prefix from the revision its snapshot was read at; handlers get the key
      // below the prefix, and only while this load is the current one.
      const watch = (
        prefix: string,
        revision: string,
        onPut: (name: string, kv: IKeyValue) => void,
        onDelete: (name: string, kv: IKeyValue) => void,
      ) =>
        openWatch(
          etcd
            .watch()
            .prefix(prefix)
            .startRevision((BigInt(revision) + 1n).toString()),
          (w) => {
            const name = (kv: IKeyValue) => kv.key.toString().slice(prefix.length);
            w.on('put', (kv) => current() && onPut(name(kv), kv));
            w.on('delete', (kv) => current() && onDelete(name(kv), kv));
            w.on('error', (err) => this.retry(generation, err));
          },
        );
      const opening = [
        watch(
          keys.electionPrefix,
          election.revision,
          (_, kv) => {
            this.putCandidate(kv);
            this.leaderChanged();
          },
          (_, kv) => {
            this.candidates.delete(kv.key.toString());
            this.leaderChanged();
          },
        ),
        watch(
          keys.membersPrefix,
          members.revision,
          (id, kv) => {
            const m = parse<MemberInfo>(kv);
            if (!m) return;
            this.memberMap.set(id, m);
            this.membersChanged(false);
          },
          (id) => {
            this.memberMap.delete(id);
            this.membersChanged(false);
          },
        ),
        watch(
          keys.pausedPrefix,
          paused.revision,
          (job, kv) => {
            const p = parse<PauseRecord>(kv);
            if (!p) return;
            this.pausedMap.set(job, p);
            this.options.emit({ type: 'paused', job, paused: p });
          },
          (job) => {
            this.pausedMap.delete(job);
            this.options.emit({ type: 'paused', job, paused: null });
          },
        ),
      ];
      // Keep every watch that opened, so that a failure of another still cancels it.
      const settled = await Promise.allSettled(opening);
      for (const r of settled) if (r.status === 'fulfilled') this.watchers.push(r.value);
      const failure = settled.find((r) => r.status === 'rejected');
      if (failure) throw failure.reason;
      if (!current()) {
        await this.cancelWatchers();
        return;
      }
      this.backoff = 200;
    } catch (err) {
      this.retry(generation, err);
    }
  }

  private retry(generation: number, err: unknown): void {
    if (this.closed || generation !== this.generation || this.retryTimer) return;
    this.options.logger.debug(
      { err, retryMs: this.backoff },
      'cluster watch failed; reading again',
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.load();
    }, this.backoff);
    this.retryTimer.unref();
    this.backoff = Math.min(this.backoff * 2, 5000);
  }

  private putCandidate(kv: IKeyValue): void {
    const info = parse<CandidateInfo>(kv);
    this.candidates.set(kv.key.toString(), {
      id: info?.id ?? kv.value.toString(),
      createRevision: BigInt(kv.create_revision),
    });
  }

  private leaderChanged(): void {
    let lowest: Candidate | null = null;
    for (const c of this.candidates.values())
      if (lowest === null || c.createRevision < lowest.createRevision) lowest = c;
    const now = {
      leader: lowest?.id ?? null,
      token: lowest ? lowest.createRevision.toString() : null,
    };
    const prev = this.leaderNow;
    if (prev && prev.leader === now.leader && prev.token === now.token) return;
    this.leaderNow = now;
    this.options.emit({ type: 'leader', ...now });
  }

  private membersChanged(now: boolean): void {
    const send = () => {
      this.membersTimer = null;
      if (!this.closed) this.options.emit({ type: 'members', members: this.members() });
    };
    if (now) {
      if (this.membersTimer) clearTimeout(this.membersTimer);
      send();
      return;
    }
    if (this.membersTimer) return;
    this.membersTimer = setTimeout(send, this.options.membersDebounceMs ?? 100);
    this.membersTimer.unref();
  }
}
