import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../../src/api/server.js';
import { silentLogger } from '../../../src/log.js';

// Issue 9: answers the framework or Node's HTTP parser gave before any route ran were not in the
// one error shape, echoed the whole URL, and lacked nosniff; text/plain got 400, not 415.

let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  app = createHttpApp(silentLogger());
  app.get('/api/v1/jobs/:name', async (request) => ({
    name: (request.params as { name: string }).name,
  }));
  app.post('/api/v1/jobs/:name/pause', async (request) => ({ body: request.body ?? null }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  port = Number(new URL(url).port);
});
afterAll(() => app.close());

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends bytes as they are (no client normalises them) and reads the answer until close. */
function raw(request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

const get = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`;
const post = (path: string, type: string | null, body: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${type === null ? '' : `Content-Type: ${type}\r\n`}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

function expectErrorShape(a: RawAnswer, status: number, code: string): string {
  expect(a.status).toBe(status);
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  expect(a.headers['x-content-type-options']).toBe('nosniff');
  const body = JSON.parse(a.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  return body.error.message;
}

describe('one error shape for framework and parser errors', () => {
  it('bad percent-encoding in the path', async () => {
    const m = expectErrorShape(await raw(get('/api/v1/jobs/%E0%A4%A')), 400, 'BAD_REQUEST');
    expect(m).not.toContain('%E0');
  });

  it('a parameter too long: 414, and the URL is not echoed', async () => {
    const secret = 's3cr3t-in-query';
    const m = expectErrorShape(
      await raw(get(`/api/v1/jobs/${'a'.repeat(5000)}?token=${secret}`)),
      414,
      'URI_TOO_LONG',
    );
    expect(m).not.toContain('aaaaaaaaaa');
    expect(m).not.toContain(secret);
  });

  it('an unknown method and a malformed request line: 400 from the HTTP parser', async () => {
    for (const request of ['BREW /api/v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n', 'GARBAGE\r\n\r\n']) {
      expectErrorShape(await raw(request), 400, 'BAD_REQUEST');
    }
  });

  it('headers over 16 KB: 431', async () => {
    expectErrorShape(
      await raw(get('/api/v1/jobs/a', `X-Big: ${'a'.repeat(20_000)}\r\n`)),
      431,
      'HEADERS_TOO_LARGE',
    );
  });

  it('a method the route does not have, and no route: 404 with at most 100 characters of path', async () => {
    const m = expectErrorShape(
      await raw(`DELETE /api/v1/${'x'.repeat(3000)}?secret=1 HTTP/1.1\r\nHost: x\r\n\r\n`),
      404,
      'NOT_FOUND',
    );
    expect(m.length).toBeLessThan(140);
    expect(m).not.toContain('secret');
  });

  it('text/plain and other types: 415 as documented; JSON still read', async () => {
    for (const type of ['text/plain', 'application/xml', 'text/plain; charset=utf-8']) {
      expectErrorShape(
        await raw(post('/api/v1/jobs/a/pause', type, 'hi')),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
    const ok = await raw(post('/api/v1/jobs/a/pause', 'application/json', '{"reason":"x"}'));
    expect(ok.status).toBe(200);
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(ok.body)).toEqual({ body: { reason: 'x' } });
  });

  it('successful answers carry nosniff too', async () => {
    const ok = await raw(get('/api/v1/jobs/a'));
    expect(ok.status).toBe(200);
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
  });
});
