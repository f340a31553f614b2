import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  applyDeltas,
  etcdSnapshot,
  listBackups,
  restorePlan,
  restoreSnapshot,
  type DeltaEvent,
  type DeltaSnapshotResult,
  type EtcdSnapshotPayload,
  type FullSnapshotResult,
} from '../../jobs/handlers/etcd-snapshot.js';
import { silentLogger } from '../../src/log.js';
import type { RunContext } from '../../src/worker/handler.js';
import { startEtcdNode, startEtcdNodeFrom, type EtcdCluster } from '../helpers/etcd.js';

let fireSeq = 0;

function context(
  payload: EtcdSnapshotPayload,
  signal: AbortSignal = new AbortController().signal,
): RunContext<EtcdSnapshotPayload> {
  const scheduledAt = new Date(Date.UTC(2026, 2, 9, 13, 0, 0) + fireSeq++ * 60_000);
  return {
    job: payload.mode === 'full' ? 'etcd-full-snapshot' : 'etcd-delta-snapshot',
    scheduledAt,
    fireId: `etcd-${payload.mode}-snapshot@${scheduledAt.getTime()}`,
    fencingToken: '3',
    attempt: 1,
    payload,
    manual: false,
    logger: silentLogger(),
    signal,
  };
}

/** Every key and value of the keyspace. */
async function keyspace(client: Etcd3): Promise<Record<string, string>> {
  return client.getAll().prefix('').strings();
}

describe('etcd-snapshot handler: full + delta snapshots, GC, restore', () => {
  let source: EtcdCluster;
  let restored: EtcdCluster | undefined;
  let client: Etcd3;
  let backupDir: string;
  let scratch: string;

  const full = (): EtcdSnapshotPayload => ({
    mode: 'full',
    backupDir,
    retention: { full: 2 },
    endpoints: [...source.endpoints],
  });
  const delta = (): EtcdSnapshotPayload => ({ ...full(), mode: 'delta' });
  const names = async () => (await readdir(backupDir)).filter((n) => !n.startsWith('.')).sort();

  beforeAll(async () => {
    source = await startEtcdNode();
    client = source.client();
    scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-snapshot-test-'));
    backupDir = path.join(scratch, 'backups');
  });

  afterAll(async () => {
    await restored?.stopAll();
    await source?.stopAll();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('a delta before any full snapshot is skipped, not failed', async () => {
    const r = (await etcdSnapshot.run(context(delta()))) as DeltaSnapshotResult;
    expect(r).toMatchObject({ mode: 'delta', file: null, skipped: 'no-full-snapshot' });
  });

  it('full, writes, delta, two more fulls (GC keeps 2), writes, delta; restore reproduces the keys', async () => {
    onTestFailed(() => console.log(source.logTail()));
    for (let i = 0; i < 20; i++) await client.put(`app/a${i}`).value(`one-${i}`);

    const full1 = (await etcdSnapshot.run(context(full()))) as FullSnapshotResult;
    expect(full1).toMatchObject({ mode: 'full', verified: true, removed: [] });
    expect(full1.totalKeys).toBeGreaterThanOrEqual(20);
    expect(path.basename(full1.file)).toMatch(
      new RegExp(`^full-${full1.revision}-\\d{8}T\\d{9}Z\\.db$`),
    );
    expect(full1.revision).toBe(Number((await client.get('app/a0').exec()).header.revision));

    // Changes after the full snapshot: puts, overwrites, deletes, a txn, a prefix delete.
    await client.put('app/a1').value('two-1');
    await client.delete().key('app/a2');
    await client.put('app/b/binary').value(Buffer.from([0, 1, 2, 255]));
    await client
      .if('app/a3', 'Value', '==', 'one-3')
      .then(client.put('app/a3').value('three-3'), client.put('app/t1').value('in-txn'))
      .commit();
    await client.delete().prefix('app/a1'); // app/a1, app/a10..a19

    const delta1 = (await etcdSnapshot.run(context(delta()))) as DeltaSnapshotResult;
    expect(delta1).toMatchObject({ mode: 'delta', fromRevision: full1.revision + 1 });
    const now1 = Number((await client.get('app/a0').exec()).header.revision);
    expect(delta1.toRevision).toBe(now1);
    expect(path.basename(delta1.file ?? '')).toBe(`delta-${full1.revision + 1}-${now1}.jsonl`);
    const events = (await readFile(delta1.file ?? '', 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DeltaEvent);
    expect(events).toHaveLength(delta1.events);
    // 1 put + 1 delete + 1 put + 2 in the txn + 11 deletes
    expect(events).toHaveLength(16);
    expect(events.filter((e) => e.type === 'delete')).toHaveLength(12);
    const binary = events.find((e) => Buffer.from(e.key, 'base64').toString() === 'app/b/binary');
    expect(Buffer.from(binary?.value ?? '', 'base64')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(events.map((e) => e.modRevision)).toEqual(
      [...events.map((e) => e.modRevision)].sort((a, b) => a - b),
    );

    // Nothing changed: no empty delta file.
    const idle = (await etcdSnapshot.run(context(delta()))) as DeltaSnapshotResult;
    expect(idle).toMatchObject({ file: null, skipped: 'no-changes' });

    await client.put('app/c1').value('between-fulls');
    const full2 = (await etcdSnapshot.run(context(full()))) as FullSnapshotResult;
    expect(full2.removed).toEqual([]);
    await client.put('app/c2').value('between-fulls');
    const full3 = (await etcdSnapshot.run(context(full()))) as FullSnapshotResult;
    // Retention 2: the first full snapshot and the delta that only it needed are gone.
    expect(full3.removed.sort()).toEqual([full1.file, delta1.file].sort());
    expect(await names()).toEqual([path.basename(full2.file), path.basename(full3.file)].sort());

    await client.put('app/d1').value('after-full3');
    await client.put('app/a0').value('changed-after-full3');
    await client.delete().key('app/a4');
    // An ephemeral key (bound to a lease): not restored as a permanent key.
    const lease = client.lease(600, { autoKeepAlive: false });
    await lease.put('app/ephemeral').value('holder-1');
    const delta2 = (await etcdSnapshot.run(context(delta()))) as DeltaSnapshotResult;
    expect(delta2).toMatchObject({ fromRevision: full3.revision + 1, events: 4, removed: [] });
    expect(await names()).toHaveLength(3);
    const leased = (await readFile(delta2.file ?? '', 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DeltaEvent)
      .find((e) => Buffer.from(e.key, 'base64').toString() === 'app/ephemeral');
    expect(leased).toMatchObject({ type: 'put', lease: await lease.grant() });
    // No temp files left behind.
    expect((await readdir(backupDir)).filter((n) => n.startsWith('.'))).toEqual([]);

    // Restore: newest full snapshot into a fresh data dir, start etcd on it, replay the delta.
    const plan = await restorePlan(backupDir);
    expect(plan.full.file).toBe(full3.file);
    expect(plan.deltas.map((d) => d.file)).toEqual([delta2.file]);
    expect(plan.toRevision).toBe(delta2.toRevision);

    restored = await startEtcdNodeFrom(async (m) => {
      const r = await restoreSnapshot({
        fullFile: plan.full.file,
        dataDir: m.dataDir,
        name: m.name,
        initialAdvertisePeerUrls: m.peerUrl,
        initialCluster: m.initialCluster,
        initialClusterToken: m.clusterToken,
      });
      expect(r.revision).toBe(full3.revision);
    });
    const target = restored.client();
    // Before the delta: the state of the third full snapshot.
    const atFull3 = await keyspace(target);
    expect(atFull3['app/c2']).toBe('between-fulls');
    expect(atFull3['app/d1']).toBeUndefined();

    const applied = await applyDeltas(target, plan.deltas, { afterRevision: plan.full.revision });
    expect(applied).toEqual({ events: 4, revision: delta2.toRevision });
    const expected = await keyspace(client);
    expect(expected['app/ephemeral']).toBe('holder-1');
    delete expected['app/ephemeral'];
    expect(await keyspace(target)).toEqual(expected);
    expect(expected['app/a0']).toBe('changed-after-full3');
    expect(expected['app/a4']).toBeUndefined();
    expect(expected['app/a1']).toBeUndefined();
    expect(expected['app/a3']).toBe('three-3');
    expect(Buffer.from((await target.get('app/b/binary').buffer()) ?? [])).toEqual(
      Buffer.from([0, 1, 2, 255]),
    );
  });

  it('a delta whose history was compacted fails clearly, without retry; a full snapshot heals', async () => {
    await client.put('app/e1').value('1');
    await client.put('app/e2').value('2');
    const rev = Number((await client.get('app/e2').exec()).header.revision);
    await client.kv.compact({ revision: String(rev), physical: true });
    await expect(etcdSnapshot.run(context(delta()))).rejects.toMatchObject({
      code: 'SNAPSHOT_COMPACTED',
      retryable: false,
      message: expect.stringMatching(/compacted.*take a full snapshot/),
    });
    const healed = (await etcdSnapshot.run(context(full()))) as FullSnapshotResult;
    await client.put('app/e3').value('3');
    const next = (await etcdSnapshot.run(context(delta()))) as DeltaSnapshotResult;
    expect(next).toMatchObject({ fromRevision: healed.revision + 1, events: 1 });
    const { fulls } = await listBackups(backupDir);
    expect(fulls).toHaveLength(2);
  });

  it('an aborted full snapshot leaves no file behind', async () => {
    const controller = new AbortController();
    controller.abort(new Error('timeout'));
    const before = await readdir(backupDir);
    await expect(etcdSnapshot.run(context(full(), controller.signal))).rejects.toThrow();
    expect(await readdir(backupDir)).toEqual(before);
  });

  it('a snapshot that is not a valid etcd backend fails verification', async () => {
    const bogus = path.join(scratch, 'bogus.db');
    await writeFile(bogus, 'not a bolt db');
    await expect(
      restoreSnapshot({ fullFile: bogus, dataDir: path.join(scratch, 'bogus-restore') }),
    ).rejects.toThrow(/etcdctl snapshot restore failed/);
    expect(existsSync(path.join(scratch, 'bogus-restore', 'member', 'snap', 'db'))).toBe(false);
  });
});
