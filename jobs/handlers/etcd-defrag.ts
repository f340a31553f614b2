import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3, IMember, IStatusResponse } from 'etcd3';
import { z } from 'zod';
import { BatonError, defineHandler, type Logger, type RunContext } from '../../src/index.js';
import {
  InvalidPayloadError,
  durationMs,
  etcdTarget,
  openEtcd,
  type EtcdTarget,
} from './common.js';

/** `payload` of jobs using the `etcd-defrag` handler. */
export interface EtcdDefragPayload {
  /** Any endpoints of the cluster; the members are found with MemberList. @defaultValue `BATON_ETCD` */
  endpoints?: string | string[];
  /** A member whose DB is smaller than this is skipped (nothing to win). @defaultValue 0 */
  minDbSizeBytes?: number;
  /** Wait between two members (ms or a duration such as `30s`). @defaultValue 0 */
  pauseBetweenMembers?: string | number;
  /** How long the cluster may take to be healthy again after a member. @defaultValue '60s' */
  healthTimeout?: string | number;
  /** Deadline of one member's Defragment call. @defaultValue '10m' */
  defragTimeout?: string | number;
}

/** One member, in the order visited. */
export interface DefragStep {
  /** Member name. */
  member: string;
  /** Member id (decimal string). */
  id: string;
  endpoint: string;
  /** Whether it led the cluster when it was visited. */
  leader: boolean;
  /** DB size (bytes allocated) before and after; `after` is null for a skipped member. */
  before: number;
  after: number | null;
  skipped?: 'below-min-db-size';
}

export interface EtcdDefragResult {
  visited: DefragStep[];
  /** Alarms raised in the cluster at the end (`<memberId>:<alarm>`), e.g. a NOSPACE to disarm. */
  alarms: string[];
}

/**
 * The cluster is not fully healthy (a member does not answer, or the members do not agree on a
 * leader). Retryable: the member may be back by the next attempt.
 */
export class EtcdUnhealthyError extends BatonError {
  constructor(message: string, cause?: unknown) {
    super('ETCD_UNHEALTHY', message, { retryable: true, cause });
  }
}

interface MemberHandle {
  id: string;
  name: string;
  endpoint: string;
  client: Etcd3;
}

/**
 * Maintenance.Status of every member, through a client bound to that member's own endpoint.
 * @throws EtcdUnhealthyError naming every member that does not answer, or when they do not agree
 *   on one leader that is a member.
 */
async function clusterHealth(members: MemberHandle[]): Promise<Map<string, IStatusResponse>> {
  const answers = await Promise.all(
    members.map(async (m) => {
      try {
        return { m, status: await m.client.maintenance.status() };
      } catch (err) {
        return { m, err: err as Error };
      }
    }),
  );
  const down = answers.filter((a) => a.err !== undefined);
  if (down.length > 0) {
    throw new EtcdUnhealthyError(
      `etcd cluster is not healthy: ${down
        .map((a) => `member ${a.m.name} (${a.m.endpoint}) does not answer: ${a.err?.message ?? ''}`)
        .join('; ')}`,
      down[0]?.err,
    );
  }
  const statuses = new Map<string, IStatusResponse>();
  for (const a of answers) if (a.status) statuses.set(a.m.id, a.status);
  const leaders = new Set([...statuses.values()].map((s) => s.leader));
  const [leader] = leaders;
  if (leaders.size !== 1 || leader === undefined || leader === '0' || !statuses.has(leader)) {
    throw new EtcdUnhealthyError(
      `etcd cluster is not healthy: members do not agree on a leader (${[...statuses]
        .map(([id, s]) => `${members.find((m) => m.id === id)?.name ?? id} -> ${s.leader}`)
        .join(', ')})`,
    );
  }
  return statuses;
}

async function waitHealthy(
  members: MemberHandle[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Map<string, IStatusResponse>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await clusterHealth(members);
    } catch (err) {
      if (!(err instanceof EtcdUnhealthyError) || Date.now() >= deadline) throw err;
    }
    await sleep(250, undefined, signal ? { signal } : {});
  }
}

/** Options of {@link rollingDefrag}. */
export interface RollingDefragOptions {
  target: EtcdTarget;
  minDbSizeBytes?: number;
  pauseMs?: number;
  healthTimeoutMs?: number;
  defragTimeoutMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Rolling defragmentation: only when every member answers and they agree on a leader (otherwise
 * nothing is touched); then one member at a time, followers first and the current leader last,
 * each through a client bound to that member alone (Defragment acts on the member that receives
 * it), waiting for the whole cluster to be healthy again before the next one. The leader is
 * re-read before every step, so a leader change during the run still leaves the leader for last.
 */
export async function rollingDefrag(options: RollingDefragOptions): Promise<EtcdDefragResult> {
  const { target, signal, logger } = options;
  const minDb = options.minDbSizeBytes ?? 0;
  const healthTimeoutMs = options.healthTimeoutMs ?? 60_000;
  const defragTimeoutMs = options.defragTimeoutMs ?? 600_000;
  const bootstrap = openEtcd(target);
  const handles: MemberHandle[] = [];
  try {
    const { members } = await bootstrap.cluster.memberList({});
    const unstarted = members.filter((m: IMember) => m.clientURLs.length === 0);
    if (unstarted.length > 0) {
      throw new EtcdUnhealthyError(
        `etcd cluster is not healthy: member ${unstarted.map((m) => m.name || m.ID).join(', ')} has not started; nothing was defragmented`,
      );
    }
    for (const m of [...members].sort((a, b) => a.name.localeCompare(b.name))) {
      const endpoint = m.clientURLs[0] as string;
      handles.push({
        id: m.ID,
        name: m.name,
        endpoint,
        client: openEtcd({ endpoints: [endpoint], security: target.security }),
      });
    }

    let statuses: Map<string, IStatusResponse>;
    try {
      statuses = await clusterHealth(handles);
    } catch (err) {
      if (err instanceof EtcdUnhealthyError) {
        throw new EtcdUnhealthyError(
          `${err.message}; refusing to defragment, nothing was touched`,
          err,
        );
      }
      throw err;
    }

    const visited: DefragStep[] = [];
    const remaining = [...handles];
    while (remaining.length > 0) {
      signal?.throwIfAborted();
      const leaderId = (statuses.values().next().value as IStatusResponse).leader;
      const next = remaining.find((m) => m.id !== leaderId) ?? (remaining[0] as MemberHandle);
      remaining.splice(remaining.indexOf(next), 1);
      const before = Number(statuses.get(next.id)?.dbSize ?? 0);
      const step: DefragStep = {
        member: next.name,
        id: next.id,
        endpoint: next.endpoint,
        leader: next.id === leaderId,
        before,
        after: null,
      };
      if (before < minDb) {
        step.skipped = 'below-min-db-size';
        logger?.info(
          { ...step, minDbSizeBytes: minDb },
          'etcd member skipped: DB below the minimum',
        );
      } else {
        logger?.info(step, 'defragmenting etcd member');
        await next.client.maintenance.defragment({ deadline: Date.now() + defragTimeoutMs });
        step.after = Number((await next.client.maintenance.status()).dbSize);
        logger?.info(step, 'etcd member defragmented');
      }
      visited.push(step);
      signal?.throwIfAborted();
      try {
        // The member must be back in the cluster (and a leader agreed) before the next one.
        statuses = await waitHealthy(handles, healthTimeoutMs, signal);
        if (remaining.length > 0 && options.pauseMs) {
          await sleep(options.pauseMs, undefined, signal ? { signal } : {});
          statuses = await waitHealthy(handles, healthTimeoutMs, signal);
        }
      } catch (err) {
        if (!(err instanceof EtcdUnhealthyError)) throw err;
        throw new EtcdUnhealthyError(
          `${err.message}; stopped after ${visited.map((v) => v.member).join(', ')}, not touched: ${remaining.map((m) => m.name).join(', ')}`,
          err,
        );
      }
    }

    const { alarms } = await bootstrap.maintenance.alarm({
      action: 'Get',
      memberID: '0',
      alarm: 'None',
    });
    const raised = alarms.map((a) => `${a.memberID}:${a.alarm}`);
    if (raised.length > 0) logger?.warn({ alarms: raised }, 'etcd alarms raised after defrag');
    return { visited, alarms: raised };
  } finally {
    for (const h of handles) h.client.close();
    bootstrap.close();
  }
}

const payloadSchema = z.object({
  endpoints: z.union([z.string(), z.array(z.string())]).optional(),
  minDbSizeBytes: z.number().int().min(0).optional(),
  pauseBetweenMembers: z.union([z.string(), z.number()]).optional(),
  healthTimeout: z.union([z.string(), z.number()]).optional(),
  defragTimeout: z.union([z.string(), z.number()]).optional(),
});

/** The `etcd-defrag` handler: {@link rollingDefrag} with the job's payload. */
export async function runEtcdDefrag(ctx: RunContext<EtcdDefragPayload>): Promise<EtcdDefragResult> {
  const parsed = payloadSchema.safeParse(ctx.payload ?? {});
  if (!parsed.success) {
    throw new InvalidPayloadError(
      ctx.job,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  }
  const p = parsed.data;
  return rollingDefrag({
    target: etcdTarget(p.endpoints),
    minDbSizeBytes: p.minDbSizeBytes ?? 0,
    pauseMs: durationMs(ctx.job, p.pauseBetweenMembers ?? 0, 'pauseBetweenMembers'),
    healthTimeoutMs: durationMs(ctx.job, p.healthTimeout ?? '60s', 'healthTimeout'),
    defragTimeoutMs: durationMs(ctx.job, p.defragTimeout ?? '10m', 'defragTimeout'),
    signal: ctx.signal,
    logger: ctx.logger,
  });
}

export const etcdDefrag = defineHandler<EtcdDefragPayload>('etcd-defrag', runEtcdDefrag);
