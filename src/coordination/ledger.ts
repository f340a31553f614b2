import type { Etcd3, IRequestOp } from 'etcd3';
import { NotLeaderError } from '../errors.js';
import { orderId, type Order } from '../fire.js';
import type { Keys } from './keys.js';
import { scanPages, scanPrefix } from './scan.js';

/**
 * etcd rejects a txn with more than `--max-txn-ops` (default 128) operations. The fence
 * comparison does not count; a decision's ops are never split across txns.
 */
export const MAX_TXN_OPS = 120;
/**
 * Bytes of orders in one outbox key: etcd refuses requests over `--max-request-bytes`
 * (default 1.5 MiB).
 */
const MAX_BATCH_BYTES = 1024 * 1024;
/**
 * Fenced txns in flight at once. etcd folds concurrent txns into one raft entry and one fsync,
 * so concurrency is what makes a burst cheap.
 */
const TXN_CONCURRENCY = 16;

/** The last decided instant of a job: every instant up to it has been fired or skipped. */
export interface Watermark {
  /** Epoch ms. */
  at: number;
  /** Token of the leader that decided it. */
  token: string;
  /**
   * When a leader first saw the job (epoch ms): no instant before it was ever due. Absent for jobs
   * first seen by baton before 0.2.
   */
  since?: number;
}

/** A committed order waiting in the outbox. */
export interface OutboxEntry {
  /** {@link orderId}: the BullMQ id of a run, a unique id of a skip record. */
  id: string;
  order: Order;
  /** The outbox key (`<ns>/outbox/<batch>`) that holds it with the other orders of its txn. */
  batch: string;
  /** The etcd revision of the fenced txn that committed it (the outbox key's mod revision). */
  revision: string;
}

/** The outbox as read at one revision. */
export interface OutboxRead {
  entries: OutboxEntry[];
  /** The revision of the read: later than every commit of every earlier leader. */
  revision: string;
}

interface Chunk {
  ops: IRequestOp[];
  orders: Order[];
  bytes: number;
  guards: { key: string; value: string }[];
}

/** One job's share of a commit: its new watermark and the orders it produces. */
export interface JobDecision {
  job: string;
  /** New watermark, or null to leave it unchanged (manual runs). */
  watermark: number | null;
  /** Carried in the watermark: when a leader first saw the job (null: unknown). */
  since?: number | null;
  orders: Order[];
  /** Keys consumed by this decision (operator triggers), deleted in the same txn. */
  consume?: string[];
  /** Records written in the same txn (a backfill's progress: its cursor moves with its orders). */
  put?: { key: string; value: string }[];
  /**
   * Keys that must still hold exactly these values for the txn to commit (a backfill's record as
   * the leader last saw it, so an operator's cancel in between refuses the slice). When one does
   * not, {@link GuardRefusedError} is thrown and nothing of the txn is committed; the other
   * decisions of the same txn fail with it, so a caller that guards passes its decision alone.
   */
  unchanged?: { key: string; value: string }[];
}

/** A fenced commit refused because a key of {@link JobDecision.unchanged} changed (the leader still leads). */
export class GuardRefusedError extends Error {
  constructor(readonly keys: string[]) {
    super(`commit refused: ${keys.join(', ')} changed since read`);
    this.name = 'GuardRefusedError';
  }
}

/** Who may commit: the leader's election key must still have this create revision. */
export interface Fence {
  key: string;
  token: string;
}

/**
 * The fenced fire ledger in etcd: per-job watermarks (`<ns>/fires/<job>`) and the outbox of
 * decisions not yet acknowledged by Redis. Each txn writes its orders as one outbox key,
 * `<ns>/outbox/<token>-<seq>` holding a JSON array, so a burst costs one op per job (its
 * watermark) plus one per txn, and one delete per txn to acknowledge.
 */
export class Ledger {
  private seq = 0;

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
  ) {}

  /**
   * Every job's watermark, read a page at a time at one revision ({@link scanPages}): only the
   * parsed watermarks are kept, never the raw key-values of all pages at once (100,000 of them
   * held ~60 MB more at takeover).
   */
  async readWatermarks(): Promise<Map<string, Watermark>> {
    const out = new Map<string, Watermark>();
    const prefix = this.keys.firesPrefix.length;
    for await (const page of scanPages(this.etcd, this.keys.firesPrefix)) {
      for (const kv of page.kvs) {
        try {
          const w = JSON.parse(kv.value.toString()) as Watermark;
          if (typeof w.at === 'number') out.set(kv.key.toString().slice(prefix), w);
        } catch {
          // An unreadable watermark is treated as absent: the job starts fresh.
        }
      }
    }
    return out;
  }

  async readOutbox(): Promise<OutboxRead> {
    const res = await scanPrefix(this.etcd, this.keys.outboxPrefix);
    const out: OutboxEntry[] = [];
    for (const kv of res.kvs) {
      const batch = kv.key.toString().slice(this.keys.outboxPrefix.length);
      let orders: Order[];
      try {
        orders = JSON.parse(kv.value.toString()) as Order[];
      } catch {
        // Never written by baton in this form; leave it for an operator rather than guess.
        continue;
      }
      const revision = kv.mod_revision;
      for (const order of orders) out.push({ id: orderId(order), order, batch, revision });
    }
    return { entries: out, revision: res.revision };
  }

  /**
   * Commits decisions in txns guarded by `Create(fence.key) == fence.token`, each txn at most
   * {@link MAX_TXN_OPS} operations and a decision's ops always together, up to
   * {@link TXN_CONCURRENCY} txns in flight; `committed` gets each txn's orders as soon as it
   * commits, so publishing overlaps the rest of a burst. Decisions without a watermark (a job's
   * overflow orders, manual runs) commit first, those that move a watermark after them: a
   * watermark never passes an instant whose order is not in the outbox. Throws
   * {@link NotLeaderError} when a guard fails (the caller must stop deciding at once); txns
   * committed before that stay committed, and their orders are in the outbox, which makes that safe.
   */
  async commit(
    fence: Fence,
    decisions: JobDecision[],
    committed: (entries: OutboxEntry[]) => void,
  ): Promise<void> {
    for (const phase of [
      decisions.filter((d) => d.watermark === null),
      decisions.filter((d) => d.watermark !== null),
    ]) {
      await this.runChunks(fence, this.chunk(fence, phase), committed);
    }
  }

  private chunk(fence: Fence, decisions: JobDecision[]): Chunk[] {
    const chunks: Chunk[] = [];
    let current: Chunk = { ops: [], orders: [], bytes: 0, guards: [] };
    for (const d of decisions) {
      // Raw request ops: etcd3's builders cost a promise per op, which dominated a 10,000-job burst.
      const ops: IRequestOp[] = [];
      if (d.watermark !== null) {
        const w: Watermark = { at: d.watermark, token: fence.token };
        if (d.since !== undefined && d.since !== null) w.since = d.since;
        ops.push(put(this.keys.fire(d.job), JSON.stringify(w)));
      }
      for (const k of d.consume ?? []) ops.push({ request_delete_range: { key: Buffer.from(k) } });
      for (const p of d.put ?? []) ops.push(put(p.key, p.value));
      const bytes = d.orders.reduce((n, o) => n + JSON.stringify(o).length, 0);
      // +1: the chunk's own outbox key.
      if (ops.length + 1 > MAX_TXN_OPS || bytes > MAX_BATCH_BYTES) {
        throw new Error(
          `internal: one decision of ${d.job} does not fit one txn; callers must split it`,
        );
      }
      if (
        current.ops.length + ops.length + 1 > MAX_TXN_OPS ||
        current.bytes + bytes > MAX_BATCH_BYTES
      ) {
        chunks.push(current);
        current = { ops: [], orders: [], bytes: 0, guards: [] };
      }
      current.ops.push(...ops);
      current.orders.push(...d.orders);
      current.bytes += bytes;
      current.guards.push(...(d.unchanged ?? []));
    }
    if (current.ops.length > 0 || current.orders.length > 0) chunks.push(current);
    return chunks;
  }

  private async runChunks(
    fence: Fence,
    chunks: Chunk[],
    committed: (entries: OutboxEntry[]) => void,
  ): Promise<void> {
    let next = 0;
    let failure: unknown = null;
    const worker = async () => {
      while (failure === null && next < chunks.length) {
        const chunk = chunks[next++]!;
        const batch = `${fence.token}-${String(++this.seq).padStart(10, '0')}`;
        const ops = [...chunk.ops];
        if (chunk.orders.length > 0) {
          ops.push(put(this.keys.outbox(batch), JSON.stringify(chunk.orders)));
        }
        try {
          let txn = this.etcd.if(fence.key, 'Create', '==', fence.token);
          for (const g of chunk.guards) txn = txn.and(g.key, 'Value', '==', g.value);
          const res = await txn.then(...ops).commit();
          if (!res.succeeded && chunk.guards.length > 0) {
            // Which compare failed: a create revision never comes back, so a fence key that
            // holds the token now held it at the txn too, and a guard was what changed.
            const now = await this.etcd.get(fence.key).exec();
            if (String(now.kvs[0]?.create_revision) === fence.token) {
              throw new GuardRefusedError(chunk.guards.map((g) => g.key));
            }
          }
          if (!res.succeeded) {
            throw new NotLeaderError(
              `fenced commit refused: ${fence.key} no longer has create revision ${fence.token}`,
              'fence_refused',
            );
          }
          if (chunk.orders.length > 0) {
            const revision = res.header.revision;
            committed(
              chunk.orders.map((order) => ({ id: orderId(order), order, batch, revision })),
            );
          }
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(TXN_CONCURRENCY, chunks.length) }, worker));
    if (failure !== null) throw failure;
  }

  /** Deletes outbox batches once Redis has all their orders. Not fenced: only published batches go. */
  async acknowledge(batches: string[]): Promise<void> {
    const groups: string[][] = [];
    for (let i = 0; i < batches.length; i += MAX_TXN_OPS)
      groups.push(batches.slice(i, i + MAX_TXN_OPS));
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const ops = groups[next++]!.map((b): IRequestOp => ({
          request_delete_range: { key: Buffer.from(this.keys.outbox(b)) },
        }));
        // etcd3's builder needs a comparison; this one always holds (version of any key >= 0).
        await this.etcd
          .if(this.keys.root, 'Version', '>', -1)
          .then(...ops)
          .commit();
      }
    };
    await Promise.all(Array.from({ length: Math.min(TXN_CONCURRENCY, groups.length) }, worker));
  }
}

function put(key: string, value: string): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } };
}
