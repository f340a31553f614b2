import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, dashboardDir, registerDashboard } from '../../../src/dashboard/serve.js';

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function server(dir?: string): Promise<FastifyInstance> {
  app = Fastify();
  registerDashboard(app, dir);
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

  it('gives module imports their hash, so a module and everything it imports change URL together', async () => {
    const s = await server();
    const get = async (url: string) => (await s.inject({ method: 'GET', url })).body;
    const index = await get('/');
    const app = /"(\/assets\/app\.js\?v=[0-9a-f]+)"/.exec(index)![1]!;
    const body = await get(app);
    const imports = [...body.matchAll(/from '\.\/([\w.-]+\.js)\?v=([0-9a-f]{16})'/g)];
    expect(imports.length).toBeGreaterThan(5);
    expect(body).not.toMatch(/^(?:import|export)\b[^'"]*?'\.\/[\w.-]+\.js'/m); // none without a hash
    for (const [, file, hash] of imports) {
      const res = await s.inject({ method: 'GET', url: `/assets/${file}?v=${hash}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['cache-control'], file).toBe('public, max-age=31536000, immutable');
    }
    // uPlot, served from node_modules under the same CSP, its license header kept.
    const uplot = /from '\.\/uplot\.esm\.js\?v=([0-9a-f]{16})'/.exec(await get('/assets/chart.js'));
    expect(uplot).not.toBeNull();
    const lib = await s.inject({ method: 'GET', url: `/assets/uplot.esm.js?v=${uplot![1]}` });
    expect(lib.statusCode).toBe(200);
    expect(lib.body).toContain('MIT Licensed');
    expect(index).toMatch(/href="\/assets\/uplot\.min\.css\?v=[0-9a-f]{16}"/);
    // The type declarations are for the type check only.
    expect((await s.inject({ method: 'GET', url: '/assets/types.d.ts' })).statusCode).toBe(404);
  });

  it('changes the hash of a module when only a module it imports changed', async () => {
    const dir = path.join(tmpdir(), `baton-dash-${process.pid}-${Date.now()}`);
    await mkdir(path.join(dir, 'assets'), { recursive: true });
    await writeFile(
      path.join(dir, 'index.html'),
      '<script type="module" src="/assets/a.js"></script>',
    );
    await writeFile(path.join(dir, 'assets', 'a.js'), "import { b } from './b.js';\nb();\n");
    const hashOfA = async () => {
      const s = await server(dir);
      const h = /a\.js\?v=([0-9a-f]+)/.exec((await s.inject({ method: 'GET', url: '/' })).body)![1];
      await s.close();
      return h;
    };
    await writeFile(path.join(dir, 'assets', 'b.js'), 'export const b = () => 1;\n');
    const first = await hashOfA();
    await writeFile(path.join(dir, 'assets', 'b.js'), 'export const b = () => 2;\n');
    expect(await hashOfA()).not.toBe(first);
  });

  it('refuses, at start-up, modules that import each other in a cycle or import a missing file', async () => {
    const dir = path.join(tmpdir(), `baton-dash-cycle-${process.pid}-${Date.now()}`);
    await mkdir(path.join(dir, 'assets'), { recursive: true });
    await writeFile(path.join(dir, 'index.html'), '');
    await writeFile(path.join(dir, 'assets', 'a.js'), "import './b.js';\n");
    await writeFile(path.join(dir, 'assets', 'b.js'), "export { x } from './a.js';\n");
    expect(() => registerDashboard(Fastify(), dir)).toThrow(
      /cycle: .*a\.js -> b\.js -> a\.js|cycle: .*b\.js -> a\.js -> b\.js/,
    );
    await writeFile(path.join(dir, 'assets', 'b.js'), "export { x } from './c.js';\n");
    expect(() => registerDashboard(Fastify(), dir)).toThrow(
      /imports \.\/c\.js, which is not an asset/,
    );
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
