import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BearerAuth } from '../../../src/api/auth.js';
import { registerRoutes } from '../../../src/api/routes.js';
import { createHttpApp } from '../../../src/api/server.js';
import type { ControlContext } from '../../../src/control/context.js';
import { silentLogger } from '../../../src/log.js';
import type { Replica } from '../../../src/scheduler/replica.js';

// `POST /api/v1/backfills/:id/cancel` refuses what it cannot act on before touching etcd: the
// context here has no etcd at all, so any request that got past validation would answer 500.

const TOKEN = 'cancel-unit-token-0123456789';
let app: FastifyInstance;

beforeAll(async () => {
  app = createHttpApp(silentLogger());
  registerRoutes(app, {
    replica: {} as Replica,
    ctx: {} as ControlContext,
    redis: {} as Redis,
    auth: new BearerAuth(TOKEN),
  });
  await app.ready();
});
afterAll(() => app.close());

async function cancel(id: string, init: { token?: string; body?: string } = {}) {
  const res = await app.inject({
    method: 'POST',
    url: `/api/v1/backfills/${id}/cancel`,
    headers: {
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { payload: init.body }),
  });
  return {
    status: res.statusCode,
    error: (res.json() as { error: { code: string; message: string } }).error,
  };
}

describe('POST /api/v1/backfills/:id/cancel: validation', () => {
  it('needs the token: 401 without it, 403 with a wrong one', async () => {
    expect(await cancel('miy3k2x0a-1f2e3d4c')).toMatchObject({
      status: 401,
      error: { code: 'UNAUTHORIZED' },
    });
    expect(await cancel('miy3k2x0a-1f2e3d4c', { token: 'wrong' })).toMatchObject({
      status: 403,
      error: { code: 'FORBIDDEN' },
    });
  });

  it.each([['not-an-id'], ['UPPER-1f2e'], ['miy3k2x0a'], [`${'a'.repeat(20)}-1f2e3d4c`]])(
    'a malformed id %s: 400 naming the rule',
    async (id) => {
      const r = await cancel(id, { token: TOKEN });
      expect(r).toMatchObject({ status: 400, error: { code: 'BAD_REQUEST' } });
      expect(r.error.message).toBe(
        'params.id: backfill id: ids look like miy3k2x0a-1f2e3d4c (baton backfills lists them)',
      );
    },
  );

  it('a body with any key: 400 (the route takes none)', async () => {
    const r = await cancel('miy3k2x0a-1f2e3d4c', { token: TOKEN, body: '{"reason":"oops"}' });
    expect(r).toMatchObject({ status: 400, error: { code: 'BAD_REQUEST' } });
    expect(r.error.message).toMatch(/^body: .*reason/);
  });
});
