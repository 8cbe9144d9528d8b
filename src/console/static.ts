import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errorBody } from '../kernel/errors.ts';

// Serves the built console (console/dist, committed: see README "Web console") at /console from
// the gateway's own process and port. Files are read at start; each is compressed (brotli, gzip) on
// its first request, off the event loop (zlib's thread pool), once per process whatever the number
// of apps built in it (keyed by content): brotli at quality 11 costs ~0.4 s of CPU for the bundle,
// which a start should not pay for pages nobody has asked for yet.
// Hashed assets (/console/assets/*) are cached for a year as immutable — a new build has new names;
// index.html is revalidated every time (ETag), so a new version is picked up on the next load.
// Every other path under /console is the single-page app's own route: index.html.

export const CONSOLE_DIST = join(import.meta.dirname, '..', '..', 'console', 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

/** The console's page policy: its own scripts and styles only, no framing. */
export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface Asset {
  body: Buffer;
  /** Worth compressing (text, over 512 bytes). */
  compressible: boolean;
  type: string;
  etag: string;
  immutable: boolean;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

export function loadAssets(dir = CONSOLE_DIST): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(join(dir, 'index.html'))) return assets;
  for (const file of walk(dir)) {
    const rel = relative(dir, file).split(sep).join('/');
    if (rel.startsWith('.')) continue;
    const body = readFileSync(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const compressible = /text|javascript|json|svg/.test(type) && body.length > 512;
    assets.set(rel, {
      body, type, compressible,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: rel.startsWith('assets/'),
    });
  }
  return assets;
}

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
/** Compressed forms by content (the ETag), for the life of the process. */
const compressed = new Map<string, Promise<{ br: Buffer; gzip: Buffer }>>();

/** An asset's brotli and gzip forms: compressed on first use, then kept. */
function compressedOf(a: Asset): Promise<{ br: Buffer; gzip: Buffer }> {
  let p = compressed.get(a.etag);
  if (!p) {
    p = Promise.all([brotliAsync(a.body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }), gzipAsync(a.body, { level: 9 })]).then(([br, gz]) => ({ br, gzip: gz }));
    compressed.set(a.etag, p);
    p.catch(() => compressed.delete(a.etag));
  }
  return p;
}

async function send(req: FastifyRequest, reply: FastifyReply, a: Asset): Promise<FastifyReply> {
  reply.header('content-type', a.type).header('etag', a.etag).header('x-content-type-options', 'nosniff').header('vary', 'accept-encoding');
  reply.header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (a.type.startsWith('text/html')) reply.header('content-security-policy', CONSOLE_CSP).header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  const accept = String(req.headers['accept-encoding'] ?? '');
  const br = /\bbr\b/.test(accept);
  if (a.compressible && (br || /\bgzip\b/.test(accept))) {
    const c = await compressedOf(a);
    return br ? reply.header('content-encoding', 'br').send(c.br) : reply.header('content-encoding', 'gzip').send(c.gzip);
  }
  return reply.send(a.body);
}

export function registerConsoleStatic(app: FastifyInstance, assets = loadAssets()): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0]!.replace(/^\/console\/?/, '');
    if (path.startsWith('api/')) return reply.code(404).send(errorBody(new AppError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}.`)));
    const index = assets.get('index.html');
    if (!index) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run console:build` (console/dist is missing).');
    }
    const asset = assets.get(decodeURIComponent(path));
    if (asset) return send(req, reply, asset);
    if (path.startsWith('assets/')) return reply.code(404).send(errorBody(new AppError('NOT_FOUND', 'No such console asset.')));
    return send(req, reply, index);
  };
  app.get('/console', handler);
  app.get('/console/*', handler);
}
