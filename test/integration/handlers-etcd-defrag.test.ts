import { readFileSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  EtcdUnhealthyError,
  etcdDefrag,
  type EtcdDefragPayload,
  type EtcdDefragResult,
} from '../../jobs/handlers/etcd-defrag.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import type { RunContext } from '../../src/worker/handler.js';
import { startEtcdCluster, type EtcdCluster, type EtcdMember } from '../helpers/etcd.js';

function context(
  payload: EtcdDefragPayload,
  overrides: Partial<RunContext<EtcdDefragPayload>> = {},
): RunContext<EtcdDefragPayload> {
  const scheduledAt = new Date('2026-03-10T03:30:00Z');
  return {
    job: 'etcd-defrag',
    scheduledAt,
    fireId: `etcd-defrag@${scheduledAt.getTime()}`,
    fencingToken: '5',
    attempt: 1,
    payload,
    manual: false,
    logger: silentLogger(),
    signal: new AbortController().signal,
    ...overrides,
  };
}

/** How many defragmentations a member's own log reports (all its runs). */
function defragsLogged(member: EtcdMember): number {
  return readFileSync(member.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"defragmenting"')).length;
}

/** A logger that calls `onMessage` with the `msg` of every line (for "abort after step 1"). */
function spyLogger(onMessage: (msg: string) => void): Logger {
  return pino(
    { level: 'info' },
    {
      write(line: string) {
        onMessage(String((JSON.parse(line) as { msg?: unknown }).msg));
      },
    },
  );
}

describe('etcd-defrag handler: rolling defragmentation', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let payload: EtcdDefragPayload;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ size: 3 });
    client = cluster.client();
    payload = { endpoints: [...cluster.endpoints], minDbSizeBytes: 0, pauseBetweenMembers: 0 };
    // Fragment the backend: write ~4 MB, delete it and compact, so a defrag has space to win.
    const blob = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 256; i += 32) {
      await Promise.all(
        Array.from({ length: 32 }, (_, j) => client.put(`frag/${i + j}`).value(blob)),
      );
    }
    const res = await client.delete().prefix('frag/');
    await client.kv.compact({ revision: res.header.revision, physical: true });
  });

  afterAll(async () => {
    await cluster?.stopAll();
  });

  it('visits the followers one by one first and the leader last, shrinking every DB', async () => {
    onTestFailed(() => console.log(cluster.logTail()));
    const leader = await cluster.leader();
    const before = new Map(cluster.members.map((m) => [m.name, defragsLogged(m)]));

    const result = (await etcdDefrag.run(context(payload))) as EtcdDefragResult;

    expect(result.visited).toHaveLength(3);
    expect(new Set(result.visited.map((s) => s.member))).toEqual(
      new Set(cluster.members.map((m) => m.name)),
    );
    expect(result.visited.map((s) => s.leader)).toEqual([false, false, true]);
    expect(result.visited[2]?.member).toBe(leader.name);
    expect(result.visited[2]?.id).toBe(await leader.memberId());
    for (const step of result.visited) {
      expect(step.endpoint).toBe(cluster.member(step.member).endpoint);
      expect(step.after).not.toBeNull();
      expect(step.after as number).toBeLessThan(step.before);
      // Each member was defragmented exactly once, by its own endpoint.
      const member = cluster.member(step.member);
      expect(defragsLogged(member)).toBe((before.get(member.name) ?? 0) + 1);
    }
    expect(result.alarms).toEqual([]);
  });

  it('skips members below minDbSizeBytes', async () => {
    const result = (await etcdDefrag.run(
      context({ ...payload, minDbSizeBytes: 1024 ** 4 }),
    )) as EtcdDefragResult;
    expect(result.visited.map((s) => s.skipped)).toEqual(Array(3).fill('below-min-db-size'));
    expect(result.visited.every((s) => s.after === null)).toBe(true);
    expect(result.visited.map((s) => s.leader)).toEqual([false, false, true]);
  });

  it('stops between members when its signal is aborted', async () => {
    const before = new Map(cluster.members.map((m) => [m.name, defragsLogged(m)]));
    const controller = new AbortController();
    const logger = spyLogger((msg) => {
      if (msg === 'etcd member defragmented') controller.abort(new Error('timeout'));
    });
    await expect(
      etcdDefrag.run(context(payload, { signal: controller.signal, logger })),
    ).rejects.toThrow('timeout');
    const done = cluster.members.filter((m) => defragsLogged(m) > (before.get(m.name) ?? 0));
    expect(done).toHaveLength(1);
    expect(done[0]).not.toBe(await cluster.leader());
  });

  it('refuses, touching nothing, while a member is down', async () => {
    const [follower] = await cluster.followers();
    if (!follower) throw new Error('no follower');
    await follower.kill9();
    const before = new Map(cluster.members.map((m) => [m.name, defragsLogged(m)]));

    const run = etcdDefrag.run(context(payload));
    await expect(run).rejects.toBeInstanceOf(EtcdUnhealthyError);
    await expect(run).rejects.toThrow(
      new RegExp(`member ${follower.name} \\(.*\\) does not answer.*nothing was touched`),
    );
    for (const m of cluster.members) expect(defragsLogged(m)).toBe(before.get(m.name));

    // Back in the cluster: the next attempt goes through.
    await follower.restart();
    const result = (await etcdDefrag.run(context(payload, { attempt: 2 }))) as EtcdDefragResult;
    expect(result.visited.map((s) => s.leader)).toEqual([false, false, true]);
  });
});
