import { describe, expect, it } from 'vitest';
import { runOrder, type RunJob } from '../../../src/fire.js';

// The one builder of run orders, shared by the planner (scheduled fires, triggers) and the
// backfill runner.

const job: RunJob = {
  name: 'report',
  queue: 'reports',
  overlap: 'forbid',
  retries: { attempts: 3, backoff: 'exponential', delayMs: 500 },
  retention: { ageMs: 1500, count: 20 },
};
const base = {
  at: Date.UTC(2026, 0, 1),
  fireId: 'report@1767225600000',
  payload: { a: 1 },
  availableAt: Date.UTC(2026, 0, 1) + 250,
  fencingToken: '42',
  leader: 'r1',
};

describe('runOrder', () => {
  it('takes retries and retention from the job; forbidOverlap for a scheduled fire of a forbid job', () => {
    expect(runOrder(job, { ...base, manual: false })).toEqual({
      kind: 'run',
      queue: 'reports',
      data: {
        job: 'report',
        scheduledAt: '2026-01-01T00:00:00.000Z',
        fireId: 'report@1767225600000',
        fencingToken: '42',
        leader: 'r1',
        payload: { a: 1 },
        manual: false,
      },
      availableAt: base.availableAt,
      attempts: 3,
      backoff: { type: 'exponential', delay: 500 },
      keep: { ageSeconds: 2, count: 20 },
      forbidOverlap: true,
    });
  });

  it('an operator run (trigger, backfill) is never skipped as overlapping; a backfill names its request', () => {
    const order = runOrder(job, {
      ...base,
      manual: true,
      fireId: 'report@backfill-1767225600000',
      backfill: 'miy3k2x0a-1f2e3d4c',
    });
    expect(order.forbidOverlap).toBe(false);
    expect(order.data).toMatchObject({ manual: true, backfill: 'miy3k2x0a-1f2e3d4c' });
    expect('backfill' in runOrder(job, { ...base, manual: true }).data).toBe(false);
  });
});
