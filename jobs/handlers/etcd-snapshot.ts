import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Etcd3, IKeyValue, IWatchResponse } from 'etcd3';
import { z } from 'zod';
import { BatonError, defineHandler, type Logger, type RunContext } from '../../src/index.js';
import {
  InvalidPayloadError,
  durationMs,
  etcdTarget,
  etcdctlBinary,
  openEtcd,
  runEtcdctl,
} from './common.js';

/** `payload` of jobs using the `etcd-snapshot` handler. */
export interface EtcdSnapshotPayload {
  /** `full`: the whole keyspace (Maintenance.Snapshot); `delta`: the events since the last snapshot. */
  mode: 'full' | 'delta';
  /** Folder of the backups (created if missing); relative to the worker's cwd. */
  backupDir: string;
  retention?: {
    /** Full snapshots kept (the newest); older ones and the deltas they need are removed. @defaultValue 24 */
    full?: number;
    /**
     * Deltas older than this (ms or a duration such as `1d`) are removed too, except those still
     * needed to restore the newest full snapshot to the present.
     */
    deltaAge?: string | number;
  };
  /** etcd endpoints (array or comma-separated). @defaultValue `BATON_ETCD` of the worker */
  endpoints?: string | string[];
  /** etcdctl binary (3.4+). @defaultValue `BATON_ETCDCTL`, else `etcdctl` on PATH */
  etcdctl?: string;
  /** Restore each full snapshot into a temporary data dir to prove it loads. @defaultValue true */
  verify?: boolean;
  /** Parent of that temporary data dir. @defaultValue the OS temp dir */
  verifyDir?: string;
}

/** A full snapshot in the backup folder: `full-<revision>-<yyyymmddThhmmssSSSZ>.db`. */
export interface FullSnapshotFile {
  file: string;
  revision: number;
  takenAt: Date;
}

/** A delta in the backup folder: `delta-<fromRevision>-<toRevision>.jsonl`, both inclusive. */
export interface DeltaFile {
  file: string;
  fromRevision: number;
  toRevision: number;
  /** Last modification time (for `retention.deltaAge`). */
  mtimeMs: number;
}

/** One line of a delta file. Keys and values are base64; revisions are numbers, leases strings. */
export interface DeltaEvent {
  type: 'put' | 'delete';
  key: string;
  /** Absent for a delete. */
  value?: string;
  modRevision: number;
  createRevision?: number;
  version?: number;
  /** Lease id (decimal string) the key was attached to; `0` or absent for none. */
  lease?: string;
}

export interface FullSnapshotResult {
  mode: 'full';
  file: string;
  /** Revision of the keyspace in the snapshot (from `etcdctl snapshot status`). */
  revision: number;
  sizeBytes: number;
  totalKeys: number;
  /** True when `etcdctl snapshot restore` loaded it into a temporary data dir. */
  verified: boolean;
  removed: string[];
}

export interface DeltaSnapshotResult {
  mode: 'delta';
  /** Null when nothing was written (no full snapshot yet, or no change since the last one). */
  file: string | null;
  skipped?: 'no-full-snapshot' | 'no-changes';
  fromRevision: number;
  toRevision: number;
  events: number;
  removed: string[];
}

const FULL_NAME = /^full-(\d+)-(\d{8}T\d{9}Z)\.db$/;
const DELTA_NAME = /^delta-(\d+)-(\d+)\.jsonl$/;
/** Temp files older than this are leftovers of a crashed run and are removed by the GC. */
const STALE_TEMP_MS = 24 * 3_600_000;
/** etcd's default limit of operations in one transaction. */
const MAX_TXN_OPS = 128;

/** The history needed for a delta was compacted away: only a new full snapshot helps. */
export class SnapshotCompactedError extends BatonError {
  constructor(message: string, cause?: unknown) {
    super('SNAPSHOT_COMPACTED', message, { retryable: false, cause });
  }
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

function parseStamp(s: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(s);
  if (!m) return new Date(Number.NaN);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
}

function revision(text: string | number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad revision ${String(text)}`);
  return n;
}

/** The backups in `dir` (none if it does not exist), oldest first. */
export async function listBackups(
  dir: string,
): Promise<{ fulls: FullSnapshotFile[]; deltas: DeltaFile[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { fulls: [], deltas: [] };
    throw err;
  }
  const fulls: FullSnapshotFile[] = [];
  const deltas: DeltaFile[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const f = FULL_NAME.exec(name);
    if (f) {
      fulls.push({ file, revision: revision(f[1] as string), takenAt: parseStamp(f[2] as string) });
      continue;
    }
    const d = DELTA_NAME.exec(name);
    if (d) {
      const st = await stat(file).catch(() => undefined);
      if (!st) continue;
      deltas.push({
        file,
        fromRevision: revision(d[1] as string),
        toRevision: revision(d[2] as string),
        mtimeMs: st.mtimeMs,
      });
    }
  }
  fulls.sort((a, b) => a.revision - b.revision || a.takenAt.getTime() - b.takenAt.getTime());
  deltas.sort((a, b) => a.fromRevision - b.fromRevision || a.toRevision - b.toRevision);
  return { fulls, deltas };
}

/**
 * The files that restore the newest full snapshot (or `full`) as far as the deltas reach: the
 * full snapshot, then a chain of deltas each starting at or before the revision after the
 * previous one (overlaps are fine: {@link applyDeltas} skips events already applied).
 */
export async function restorePlan(
  dir: string,
  full?: FullSnapshotFile,
): Promise<{ full: FullSnapshotFile; deltas: DeltaFile[]; toRevision: number }> {
  const { fulls, deltas } = await listBackups(dir);
  const base = full ?? fulls.at(-1);
  if (!base) throw new Error(`no full snapshot in ${dir}`);
  const chain: DeltaFile[] = [];
  let rev = base.revision;
  for (;;) {
    let next: DeltaFile | undefined;
    for (const d of deltas) {
      if (d.fromRevision <= rev + 1 && d.toRevision > rev) {
        if (!next || d.toRevision > next.toRevision) next = d;
      }
    }
    if (!next) break;
    chain.push(next);
    rev = next.toRevision;
  }
  return { full: base, deltas: chain, toRevision: rev };
}

/**
 * Garbage collection: keeps the newest `full` full snapshots; removes older ones, the deltas that
 * end at or before the oldest kept full snapshot (no kept snapshot needs them), deltas older than
 * `deltaAgeMs` that end at or before the newest full snapshot (never one needed to restore the
 * newest snapshot to the present), and temp files of crashed runs. Returns the removed paths.
 */
export async function gcBackups(
  dir: string,
  retention: { full: number; deltaAgeMs?: number },
  now: Date = new Date(),
): Promise<string[]> {
  if (!Number.isInteger(retention.full) || retention.full < 1) {
    throw new Error(`retention.full must be a whole number >= 1, got ${retention.full}`);
  }
  const { fulls, deltas } = await listBackups(dir);
  const removed: string[] = [];
  const keep = fulls.slice(-retention.full);
  for (const f of fulls.slice(0, fulls.length - keep.length)) removed.push(f.file);
  const oldestKept = keep[0];
  const newest = keep.at(-1);
  if (oldestKept && newest) {
    for (const d of deltas) {
      const obsolete = d.toRevision <= oldestKept.revision;
      const expired =
        retention.deltaAgeMs !== undefined &&
        now.getTime() - d.mtimeMs > retention.deltaAgeMs &&
        d.toRevision <= newest.revision;
      if (obsolete || expired) removed.push(d.file);
    }
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
    const file = path.join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (st && now.getTime() - st.mtimeMs > STALE_TEMP_MS) removed.push(file);
  }
  for (const file of removed) await rm(file, { force: true });
  return removed;
}

/** `etcdctl snapshot status` of a snapshot file. */
export async function snapshotStatus(
  file: string,
  options: { etcdctl?: string; signal?: AbortSignal } = {},
): Promise<{ hash: number; revision: number; totalKey: number; totalSize: number }> {
  const { stdout } = await runEtcdctl(
    etcdctlBinary(options.etcdctl),
    ['snapshot', 'status', file, '--write-out', 'json'],
    options.signal,
  );
  const status = JSON.parse(stdout) as {
    hash: number;
    revision: number;
    totalKey: number;
    totalSize: number;
  };
  return { ...status, revision: revision(status.revision) };
}

/** Options of {@link restoreSnapshot}: those of `etcdctl snapshot restore`. */
export interface RestoreSnapshotOptions {
  fullFile: string;
  /** Must not exist yet (etcdctl refuses to overwrite). */
  dataDir: string;
  /** Member name of the restored node. @defaultValue 'default' */
  name?: string;
  /** Its peer URL. @defaultValue 'http://localhost:2380' */
  initialAdvertisePeerUrls?: string;
  /** @defaultValue `<name>=<initialAdvertisePeerUrls>` */
  initialCluster?: string;
  initialClusterToken?: string;
  etcdctl?: string;
  signal?: AbortSignal;
}

/**
 * Restores a full snapshot into a new data dir with `etcdctl snapshot restore` (which checks the
 * snapshot's integrity hash). Start an etcd on `dataDir` with the same name and peer URL, then
 * replay the deltas with {@link applyDeltas}. Resolves with the snapshot's revision.
 */
export async function restoreSnapshot(
  options: RestoreSnapshotOptions,
): Promise<{ revision: number }> {
  const name = options.name ?? 'default';
  const peer = options.initialAdvertisePeerUrls ?? 'http://localhost:2380';
  const args = [
    'snapshot',
    'restore',
    options.fullFile,
    '--data-dir',
    options.dataDir,
    '--name',
    name,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    options.initialCluster ?? `${name}=${peer}`,
  ];
  if (options.initialClusterToken)
    args.push('--initial-cluster-token', options.initialClusterToken);
  const binary = etcdctlBinary(options.etcdctl);
  await runEtcdctl(binary, args, options.signal);
  if (!existsSync(path.join(options.dataDir, 'member', 'snap', 'db'))) {
    throw new Error(`etcdctl snapshot restore left no member/snap/db in ${options.dataDir}`);
  }
  const status = await snapshotStatus(options.fullFile, {
    etcdctl: binary,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { revision: status.revision };
}

async function* readDelta(file: string): AsyncGenerator<DeltaEvent> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() !== '') yield JSON.parse(line) as DeltaEvent;
  }
}

/**
 * Replays delta files, oldest first, onto a restored etcd: the events of each revision in one
 * transaction. Events at or below `afterRevision` (the full snapshot's revision) or already
 * applied from an overlapping delta are skipped; a gap between files is an error.
 *
 * Keys written with a lease are ephemeral (election keys, heartbeats): their leases do not exist
 * in the restored cluster and their holders re-create them. By default (`leasedKeys: 'drop'`)
 * such a put deletes the key, the state it reaches once its lease expires, just as the leased keys
 * of the full snapshot vanish when their restored leases expire. `'keep-without-lease'` writes
 * them as plain keys instead (they then live until deleted).
 */
export async function applyDeltas(
  client: Etcd3,
  files: readonly (string | DeltaFile)[],
  options: { afterRevision: number; leasedKeys?: 'drop' | 'keep-without-lease' },
): Promise<{ events: number; revision: number }> {
  const dropLeased = (options.leasedKeys ?? 'drop') === 'drop';
  let applied = options.afterRevision;
  let count = 0;
  let batch: DeltaEvent[] = [];
  const flush = async (): Promise<void> => {
    for (let i = 0; i < batch.length; i += MAX_TXN_OPS) {
      const ops = batch.slice(i, i + MAX_TXN_OPS).map((e) =>
        e.type === 'put' && !(dropLeased && e.lease !== undefined && e.lease !== '0')
          ? {
              request_put: {
                key: Buffer.from(e.key, 'base64'),
                value: Buffer.from(e.value ?? '', 'base64'),
              },
            }
          : { request_delete_range: { key: Buffer.from(e.key, 'base64') } },
      );
      await client.kv.txn({ compare: [], success: ops, failure: [] });
    }
    count += batch.length;
    batch = [];
  };
  const sorted = files
    .map((f) => {
      const file = typeof f === 'string' ? f : f.file;
      const m = DELTA_NAME.exec(path.basename(file));
      if (!m) throw new Error(`${file} is not a delta file (delta-<from>-<to>.jsonl)`);
      return { file, from: revision(m[1] as string), to: revision(m[2] as string) };
    })
    .sort((a, b) => a.from - b.from || a.to - b.to);
  for (const d of sorted) {
    if (d.to <= applied) continue;
    if (d.from > applied + 1) {
      throw new Error(
        `gap in the deltas: revision ${applied + 1} is missing (next delta ${path.basename(d.file)})`,
      );
    }
    let batchRev = -1;
    for await (const e of readDelta(d.file)) {
      if (e.modRevision <= applied) continue;
      if (e.modRevision !== batchRev) {
        await flush();
        batchRev = e.modRevision;
      }
      batch.push(e);
    }
    await flush();
    applied = d.to;
  }
  return { events: count, revision: applied };
}

/**
 * Streams Maintenance.Snapshot of one member to `<backupDir>/full-<revision>-<time>.db` (through a
 * temp file renamed once complete and verified), with the revision read from the file itself
 * (`etcdctl snapshot status`; etcd 3.4 sends no header with the stream). With `verify`, the file
 * is restored into a temporary data dir by `etcdctl snapshot restore`, which is then removed.
 */
export async function takeFullSnapshot(options: {
  client: Etcd3;
  backupDir: string;
  etcdctl?: string;
  verify?: boolean;
  verifyDir?: string;
  signal?: AbortSignal;
  logger?: Logger;
  now?: Date;
}): Promise<Omit<FullSnapshotResult, 'removed'>> {
  const { client, backupDir, signal } = options;
  const binary = etcdctlBinary(options.etcdctl);
  await mkdir(backupDir, { recursive: true });
  const tmp = path.join(backupDir, `.full-${process.pid}-${randomBytes(4).toString('hex')}.db.tmp`);
  try {
    signal?.throwIfAborted();
    const stream = (await client.maintenance.snapshot()) as unknown as AsyncIterable<{
      blob: Buffer;
    }> & { cancel(): void };
    const onAbort = () => stream.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    const fh = await open(tmp, 'w');
    let sizeBytes = 0;
    try {
      for await (const chunk of stream) {
        await fh.write(chunk.blob);
        sizeBytes += chunk.blob.length;
      }
      signal?.throwIfAborted();
      await fh.sync();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await fh.close();
    }
    const sig = signal ? { signal } : {};
    const status = await snapshotStatus(tmp, { etcdctl: binary, ...sig });
    let verified = false;
    if (options.verify ?? true) {
      const parent = options.verifyDir ?? os.tmpdir();
      await mkdir(parent, { recursive: true });
      const dir = await mkdtemp(path.join(parent, 'baton-snapshot-verify-'));
      try {
        await restoreSnapshot({
          fullFile: tmp,
          dataDir: path.join(dir, 'data'),
          etcdctl: binary,
          ...sig,
        });
        verified = true;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const file = path.join(
      backupDir,
      `full-${status.revision}-${stamp(options.now ?? new Date())}.db`,
    );
    await rename(tmp, file);
    options.logger?.info(
      { file, revision: status.revision, sizeBytes, totalKeys: status.totalKey, verified },
      'full etcd snapshot written',
    );
    return {
      mode: 'full',
      file,
      revision: status.revision,
      sizeBytes,
      totalKeys: status.totalKey,
      verified,
    };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function currentRevision(client: Etcd3): Promise<number> {
  const res = await client.kv.range({ key: Buffer.from([0]), limit: '1', keys_only: true });
  return revision(res.header.revision);
}

/** Waits for `promise` (ignoring its outcome) at most `ms`. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

function isCompacted(err: unknown): boolean {
  return /compacted/i.test((err as Error | null)?.message ?? '');
}

function toDeltaEvent(type: string, kv: IKeyValue): DeltaEvent {
  const lower = type.toLowerCase();
  if (lower !== 'put' && lower !== 'delete') throw new Error(`unknown watch event type ${type}`);
  const e: DeltaEvent = {
    type: lower,
    key: Buffer.from(kv.key).toString('base64'),
    modRevision: revision(kv.mod_revision),
  };
  if (lower === 'put') {
    e.value = Buffer.from(kv.value).toString('base64');
    e.createRevision = revision(kv.create_revision);
    e.version = Number(kv.version);
    if (kv.lease && kv.lease !== '0') e.lease = String(kv.lease);
  }
  return e;
}

/**
 * Writes every event of the whole keyspace after the last backup's revision (the highest full
 * snapshot revision or delta end in `backupDir`) up to the current revision to
 * `<backupDir>/delta-<from>-<to>.jsonl`, read from etcd's history with a watch from `from`.
 * Nothing is written while the folder has no full snapshot or nothing changed.
 * @throws SnapshotCompactedError when that history was compacted (take a full snapshot).
 */
export async function takeDeltaSnapshot(options: {
  client: Etcd3;
  backupDir: string;
  signal?: AbortSignal;
  logger?: Logger;
}): Promise<Omit<DeltaSnapshotResult, 'removed'>> {
  const { client, backupDir, signal, logger } = options;
  const { fulls, deltas } = await listBackups(backupDir);
  const newestFull = fulls.at(-1);
  if (!newestFull) {
    logger?.warn(
      { backupDir },
      'no full snapshot yet: delta skipped (the next full one starts the chain)',
    );
    return {
      mode: 'delta',
      file: null,
      skipped: 'no-full-snapshot',
      fromRevision: 0,
      toRevision: 0,
      events: 0,
    };
  }
  const last = Math.max(newestFull.revision, ...deltas.map((d) => d.toRevision));
  const from = last + 1;
  const to = await currentRevision(client);
  if (to < from) {
    logger?.info({ revision: last }, 'no change since the last snapshot: delta skipped');
    return {
      mode: 'delta',
      file: null,
      skipped: 'no-changes',
      fromRevision: from,
      toRevision: last,
      events: 0,
    };
  }
  const compacted = (cause?: unknown) =>
    new SnapshotCompactedError(
      `etcd history from revision ${from} was compacted: the delta ${from}..${to} cannot be read; take a full snapshot (the next delta chains from it)`,
      cause,
    );
  // A read at `from` fails at once if that revision was compacted; a watch would only be cancelled.
  try {
    await client.kv.range({
      key: Buffer.from([0]),
      limit: '1',
      keys_only: true,
      revision: String(from),
    });
  } catch (err) {
    if (isCompacted(err)) throw compacted(err);
    throw err;
  }

  signal?.throwIfAborted();
  await mkdir(backupDir, { recursive: true });
  const tmp = path.join(
    backupDir,
    `.delta-${process.pid}-${randomBytes(4).toString('hex')}.jsonl.tmp`,
  );
  const fh = await open(tmp, 'w');
  let events = 0;
  try {
    const watcher = await client.watch().prefix('').startRevision(String(from)).create();
    try {
      await new Promise<void>((resolve, reject) => {
        let writing = Promise.resolve();
        const fail = (err: Error) => reject(err);
        const onAbort = () => reject(signal?.reason ?? new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
        watcher.on('error', (err: Error) =>
          fail(isCompacted(err) || /canceled/.test(err.message) ? compacted(err) : err),
        );
        // etcd3 resumes a broken watch from the response header's revision, which skips events
        // while the history is being replayed: a delta must fail instead (the next run retries).
        watcher.on('disconnected', (err: Error) =>
          fail(
            new Error(`etcd watch broke while reading the delta ${from}..${to}: ${err.message}`),
          ),
        );
        watcher.on('data', (res: IWatchResponse) => {
          let done = false;
          const lines: string[] = [];
          for (const ev of res.events) {
            const rev = revision(ev.kv.mod_revision);
            if (rev >= to) done = true;
            if (rev < from || rev > to) continue;
            lines.push(`${JSON.stringify(toDeltaEvent(ev.type, ev.kv))}\n`);
          }
          events += lines.length;
          if (lines.length > 0) {
            const text = lines.join('');
            writing = writing.then(() => fh.write(text).then(() => undefined));
          }
          if (done) {
            signal?.removeEventListener('abort', onAbort);
            writing.then(resolve, reject);
          }
        });
      });
    } finally {
      // A watch cancelled by etcd (compaction) gets no answer to a second cancel: bounded wait.
      await settleWithin(watcher.cancel(), 2_000);
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  const file = path.join(backupDir, `delta-${from}-${to}.jsonl`);
  await rename(tmp, file);
  logger?.info({ file, fromRevision: from, toRevision: to, events }, 'etcd delta written');
  return { mode: 'delta', file, fromRevision: from, toRevision: to, events };
}

const payloadSchema = z.object({
  mode: z.enum(['full', 'delta']),
  backupDir: z.string().min(1),
  retention: z
    .strictObject({
      full: z.number().int().min(1).optional(),
      deltaAge: z.union([z.string(), z.number()]).optional(),
    })
    .optional(),
  endpoints: z.union([z.string(), z.array(z.string())]).optional(),
  etcdctl: z.string().min(1).optional(),
  verify: z.boolean().optional(),
  verifyDir: z.string().min(1).optional(),
});

/** Runs one full or delta snapshot, then the garbage collection. */
export async function runEtcdSnapshot(
  ctx: RunContext<EtcdSnapshotPayload>,
): Promise<FullSnapshotResult | DeltaSnapshotResult> {
  const parsed = payloadSchema.safeParse(ctx.payload);
  if (!parsed.success) {
    throw new InvalidPayloadError(
      ctx.job,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  }
  const p = parsed.data;
  const retention = {
    full: p.retention?.full ?? 24,
    ...(p.retention?.deltaAge !== undefined
      ? { deltaAgeMs: durationMs(ctx.job, p.retention.deltaAge, 'retention.deltaAge') }
      : {}),
  };
  const backupDir = path.resolve(p.backupDir);
  const client = openEtcd(etcdTarget(p.endpoints));
  try {
    const result =
      p.mode === 'full'
        ? await takeFullSnapshot({
            client,
            backupDir,
            ...(p.etcdctl ? { etcdctl: p.etcdctl } : {}),
            ...(p.verify !== undefined ? { verify: p.verify } : {}),
            ...(p.verifyDir ? { verifyDir: path.resolve(p.verifyDir) } : {}),
            signal: ctx.signal,
            logger: ctx.logger,
          })
        : await takeDeltaSnapshot({ client, backupDir, signal: ctx.signal, logger: ctx.logger });
    const removed = await gcBackups(backupDir, retention);
    if (removed.length > 0) ctx.logger.info({ removed }, 'old backups removed');
    return { ...result, removed };
  } finally {
    client.close();
  }
}

export const etcdSnapshot = defineHandler<EtcdSnapshotPayload>('etcd-snapshot', runEtcdSnapshot);
