import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The dashboard's static files. They ship as they are (no build step) in the package folder:
 * next to this module when it runs from source (tsx), and at `<package>/src/dashboard/public`
 * when it runs from `dist/src/dashboard/serve.js` (package.json "files" lists that folder).
 */
export function dashboardDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'public'),
    path.resolve(here, '../../../src/dashboard/public'),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
  if (!found) throw new Error(`dashboard files not found (looked in ${candidates.join(', ')})`);
  return found;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Scripts and styles only from this origin (no inline code), data only from the API of this
 * origin, no framing, no forms posting anywhere, no plugins.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
  /** Short content hash: the ETag, and the `?v=` that makes a URL cacheable for a year. */
  hash: string;
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, hash: createHash('sha256').update(body).digest('hex').slice(0, 16) };
}

/**
 * Files served from installed packages as dashboard assets, under the same CSP (no CDN): uPlot
 * (MIT; its license header stays in the file), the charting library of the job details.
 */
const VENDORED: Record<string, string> = {
  'uplot.esm.js': 'uplot/dist/uPlot.esm.js',
  'uplot.min.css': 'uplot/dist/uPlot.min.css',
};

/**
 * A static `import … from './<file>.js'`, `import './<file>.js'` or `export … from './<file>.js'`
 * between assets: a statement at the start of a line (so JSDoc `@import` comments, which name
 * type declarations, are left alone).
 */
const MODULE_IMPORT = /^((?:import|export)\b[^'"]*?)(['"])\.\/([\w.-]+\.js)\2/gm;

/**
 * Gives every module import between assets its target's `?v=<hash>`, dependencies first, so a
 * module's hash covers everything it loads: a cached module never runs with a newer (or older)
 * import, and every importer names the same URL, so the browser evaluates each module once.
 * An import of a file that is not an asset, or a cycle, fails here (at start-up) rather than in
 * a browser.
 */
function hashModules(raw: Map<string, { body: Buffer; type: string }>): Map<string, Asset> {
  const done = new Map<string, Asset>();
  const visit = (name: string, chain: string[]): Asset => {
    const known = done.get(name);
    if (known) return known;
    if (chain.includes(name)) {
      throw new Error(
        `dashboard modules import each other in a cycle: ${[...chain, name].join(' -> ')}`,
      );
    }
    const file = raw.get(name)!;
    let body = file.body;
    if (name.endsWith('.js')) {
      const text = body
        .toString('utf8')
        .replace(MODULE_IMPORT, (_whole, statement: string, quote: string, target: string) => {
          if (!raw.has(target)) {
            throw new Error(`dashboard module ${name} imports ./${target}, which is not an asset`);
          }
          const dep = visit(target, [...chain, name]);
          return `${statement}${quote}./${target}?v=${dep.hash}${quote}`;
        });
      body = Buffer.from(text);
    }
    const result = asset(body, file.type);
    done.set(name, result);
    return result;
  };
  for (const name of raw.keys()) visit(name, []);
  return done;
}

/**
 * Reads the dashboard once: the files under `assets/` (flat, known extensions only) and the
 * vendored ones, and index.html, whose `/assets/<file>` references get `?v=<hash>` so a new
 * version is never mixed with a cached old one.
 */
function loadDashboard(dir: string): { index: Asset; assets: Map<string, Asset> } {
  const raw = new Map<string, { body: Buffer; type: string }>();
  for (const entry of readdirSync(path.join(dir, 'assets'), { withFileTypes: true })) {
    const type = CONTENT_TYPES[path.extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    raw.set(entry.name, { body: readFileSync(path.join(dir, 'assets', entry.name)), type });
  }
  const require = createRequire(import.meta.url);
  for (const [name, specifier] of Object.entries(VENDORED)) {
    raw.set(name, {
      body: readFileSync(require.resolve(specifier)),
      type: CONTENT_TYPES[path.extname(name)]!,
    });
  }
  const assets = hashModules(raw);
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8').replace(
    /"\/assets\/([\w.-]+)"/g,
    (whole, name: string) => {
      const a = assets.get(name);
      return a ? `"/assets/${name}?v=${a.hash}"` : whole;
    },
  );
  return { index: asset(Buffer.from(html), CONTENT_TYPES['.html']!), assets };
}

function send(req: FastifyRequest, reply: FastifyReply, file: Asset, cacheControl: string) {
  const etag = `"${file.hash}"`;
  reply
    .header('Content-Security-Policy', DASHBOARD_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer')
    .header('X-Frame-Options', 'DENY')
    .header('Cache-Control', cacheControl)
    .header('ETag', etag);
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

/**
 * Serves the dashboard: `GET /` (index.html) and `GET /assets/<file>`. Files are read into memory
 * once, and a request can only name a file of that list, so no path reaches the file system.
 */
export function registerDashboard(app: FastifyInstance, dir: string = dashboardDir()): void {
  const { index, assets } = loadDashboard(dir);
  app.get('/', (req, reply) => send(req, reply, index, 'no-cache'));
  app.get<{ Params: { file: string }; Querystring: { v?: string } }>(
    '/assets/:file',
    (req, reply) => {
      const file = assets.get(req.params.file);
      if (!file) {
        return reply
          .code(404)
          .send({ error: { code: 'NOT_FOUND', message: `no dashboard asset ${req.params.file}` } });
      }
      // A URL carrying the file's own hash never changes meaning; any other is revalidated.
      const cache = req.query.v === file.hash ? 'public, max-age=31536000, immutable' : 'no-cache';
      return send(req, reply, file, cache);
    },
  );
}
