import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpError, installErrorHandling } from '../../../src/api/errors.js';
import { validate } from '../../../src/api/routes.js';
import { UnavailableError, UnknownJobError } from '../../../src/errors.js';

function app() {
  const a = Fastify({ logger: false, bodyLimit: 100 });
  installErrorHandling(a);
  a.get('/boom', async () => {
    throw new Error('secret detail');
  });
  a.get('/unknown', async () => {
    throw new UnknownJobError('x');
  });
  a.get('/etcd', async () => {
    throw new UnavailableError('etcd', 'cannot reach etcd at http://e:2379 to read: refused');
  });
  a.get('/teapot', async () => {
    throw new HttpError(418, 'TEAPOT', 'short and stout');
  });
  a.post('/echo', async (req) =>
    validate(z.strictObject({ n: z.number().max(3) }), req.body ?? {}, 'body'),
  );
  return a;
}

describe('API error answers', () => {
  it('every error is JSON { error: { code, message } }, 500 without details', async () => {
    const a = app();
    const cases: [string, string, string | undefined, number, string][] = [
      ['GET', '/boom', undefined, 500, 'INTERNAL'],
      ['GET', '/unknown', undefined, 404, 'UNKNOWN_JOB'],
      ['GET', '/etcd', undefined, 503, 'ETCD_UNAVAILABLE'],
      ['GET', '/teapot', undefined, 418, 'TEAPOT'],
      ['GET', '/nowhere', undefined, 404, 'NOT_FOUND'],
      ['POST', '/echo', '{"n": 5}', 400, 'BAD_REQUEST'],
      ['POST', '/echo', '{"n": 1, "m": 2}', 400, 'BAD_REQUEST'],
      ['POST', '/echo', '{oops', 400, 'BAD_REQUEST'],
      ['POST', '/echo', JSON.stringify({ n: 'x'.repeat(200) }), 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [method, url, payload, status, code] of cases) {
      const res = await a.inject({
        method: method as 'GET' | 'POST',
        url,
        ...(payload === undefined
          ? {}
          : { payload, headers: { 'content-type': 'application/json' } }),
      });
      expect(res.statusCode, `${method} ${url} ${payload}`).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = res.json<{ error: { code: string; message: string } }>();
      expect(body).toEqual({ error: { code, message: expect.any(String) } });
      expect(res.body).not.toMatch(/secret detail|\n\s+at /);
    }
    const xml = await a.inject({
      method: 'POST',
      url: '/echo',
      payload: '<n/>',
      headers: { 'content-type': 'application/xml' },
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const bad = await a.inject({
      method: 'POST',
      url: '/echo',
      payload: '{"n": 5}',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.json<{ error: { message: string } }>().error.message).toMatch(/^body\.n: /);
    await a.close();
  });
});
