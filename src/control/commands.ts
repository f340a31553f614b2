import { userInfo, hostname } from 'node:os';
import { Intents, type PauseRecord, type TriggerRecord } from '../coordination/intents.js';
import { UnknownJobError } from '../errors.js';
import { etcdCall, type ControlContext } from './context.js';

/** Who an operator is, for pause and trigger records. */
export function operatorName(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}

/**
 * Refuses names the cluster does not know (no leader has ever scheduled them), so a typo does not
 * create a pause record nobody reads.
 */
async function assertKnown(ctx: ControlContext, job: string): Promise<void> {
  const known = await etcdCall(ctx, 'look the job up', () =>
    ctx.etcd.get(ctx.keys.fire(job)).exists(),
  );
  if (!known) throw new UnknownJobError(job);
}

export async function pauseJob(
  ctx: ControlContext,
  job: string,
  by: string,
  reason: string | null,
): Promise<PauseRecord> {
  await assertKnown(ctx, job);
  return etcdCall(ctx, 'pause', () => new Intents(ctx.etcd, ctx.keys).pause(job, by, reason));
}

export async function resumeJob(ctx: ControlContext, job: string): Promise<PauseRecord | null> {
  return etcdCall(ctx, 'resume', () => new Intents(ctx.etcd, ctx.keys).resume(job));
}

export async function triggerJob(
  ctx: ControlContext,
  job: string,
  by: string,
  payload?: unknown,
): Promise<TriggerRecord> {
  await assertKnown(ctx, job);
  return etcdCall(ctx, 'trigger', () => new Intents(ctx.etcd, ctx.keys).trigger(job, by, payload));
}
