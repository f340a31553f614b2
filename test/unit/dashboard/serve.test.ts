import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, dashboardDir, registerDashboard } from '../../../src/dashboard/serve.js';

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function server(): Promise<FastifyInstance> {
  app = Fastify();
  registerDashboard(app);
  await app.ready();
  return app;
}

describe('dashboard static files', () => {
  it('finds the page next to the module (tsx) as in the package (dist)', () => {
    expect(dashboardDir()).toMatch(/src[\\/]dashboard[\\/]public$/);
  });

  it('serves index.html with a strict CSP and versioned asset links', async () => {
    const res = await (await server()).inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toMatch(/src="\/assets\/app\.js\?v=[0-9a-f]{16}"/);
    expect(res.body).toMatch(/href="\/assets\/style\.css\?v=[0-9a-f]{16}"/);
    // No inline script or style: the CSP would block it.
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.body).not.toMatch(/<style|style="/);
  });

  it('serves assets with their content type; the hashed URL is cached for a year', async () => {
    const s = await server();
    const index = (await s.inject({ method: 'GET', url: '/' })).body;
    const js = /"(\/assets\/app\.js\?v=[0-9a-f]+)"/.exec(index)![1]!;
    const versioned = await s.inject({ method: 'GET', url: js });
    expect(versioned.statusCode).toBe(200);
    expect(versioned.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(versioned.headers['cache-control']).toBe('public, max-age=31536000, immutable');

    const plain = await s.inject({ method: 'GET', url: '/assets/style.css' });
    expect(plain.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('no-cache');
    const again = await s.inject({
      method: 'GET',
      url: '/assets/style.css',
      headers: { 'if-none-match': String(plain.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');

    const icon = await s.inject({ method: 'GET', url: '/assets/favicon.svg' });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
  });

  it('answers 404 for anything that is not one of its files (no path reaches the disk)', async () => {
    const s = await server();
    for (const url of [
      '/assets/..%2F..%2Fserve.ts',
      '/assets/..%2Findex.html',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
      '/assets/../../package.json',
      '/assets/nope.js',
      '/assets/',
    ]) {
      const res = await s.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).not.toContain('registerDashboard');
    }
  });
});
