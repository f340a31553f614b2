import { defineHandler } from '../../src/index.js';

/** The demo job: reports when it ran against when it was scheduled. */
export const heartbeat = defineHandler('heartbeat', async (ctx) => {
  const lagMs = Date.now() - ctx.scheduledAt.getTime();
  ctx.logger.info({ lagMs }, 'heartbeat');
  return { scheduledAt: ctx.scheduledAt.toISOString(), lagMs, fencingToken: ctx.fencingToken };
});
