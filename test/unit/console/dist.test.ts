// console/dist is committed (README "Web console"): it must be built from the sources as they are,
// stay within the first-load budget, and be served with the right caching and headers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { test } from 'node:test';
import Fastify from 'fastify';
import { sourceHash } from '../../../console/source-hash.ts';
import { CONSOLE_CSP, CONSOLE_DIST, loadAssets, registerConsoleStatic } from '../../../src/console/static.ts';

const FIRST_LOAD_BUDGET = 250 * 1024;

test('console/dist is built from the current sources (else: npm run console:build, and commit console/dist)', () => {
  assert.equal(readFileSync(join(CONSOLE_DIST, '.source-hash'), 'utf8').trim(), sourceHash());
});

test('the first load (JS and CSS that index.html references, gzip) is within 250 KB', () => {
  const html = readFileSync(join(CONSOLE_DIST, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="\/console\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  assert.ok(refs.some((r) => r.endsWith('.js')) && refs.some((r) => r.endsWith('.css')), `index.html references ${refs.join(', ')}`);
  const size = refs.reduce((n, r) => n + gzipSync(readFileSync(join(CONSOLE_DIST, r)), { level: 9 }).length, 0);
  assert.ok(size <= FIRST_LOAD_BUDGET, `first load is ${size} bytes compressed`);
});

test('/console serves the app: index.html revalidated with a CSP, hashed assets immutable and compressed, app paths to index.html', async () => {
  const app = Fastify();
  const assets = loadAssets();
  registerConsoleStatic(app, assets);
  const js = [...assets.keys()].find((k) => k.endsWith('.js'))!;
  try {
    const index = await app.inject({ url: '/console' });
    assert.equal(index.statusCode, 200);
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.equal(index.headers['content-security-policy'], CONSOLE_CSP);
    assert.match(index.body, /<div id="app">/);
    const again = await app.inject({ url: '/console/', headers: { 'if-none-match': String(index.headers.etag) } });
    assert.equal(again.statusCode, 304);
    const page = await app.inject({ url: '/console/op/accounts/acct_1?x=1' });
    assert.equal(page.body, index.body);
    const asset = await app.inject({ url: `/console/${js}`, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(asset.headers['content-encoding'], 'br');
    assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8');
    // Compressed on the first request (then kept): the bytes are the file's.
    const file = readFileSync(join(CONSOLE_DIST, js));
    assert.deepEqual(brotliDecompressSync(asset.rawPayload), file);
    const gz = await app.inject({ url: `/console/${js}`, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gz.rawPayload), file);
    const plain = await app.inject({ url: `/console/${js}` });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(plain.rawPayload, file);
    const missing = await app.inject({ url: '/console/assets/nope.js' });
    assert.equal(missing.statusCode, 404);
    const api = await app.inject({ url: '/console/api/nope' });
    assert.equal(api.statusCode, 404);
    assert.equal(JSON.parse(api.body).error.code, 'ROUTE_NOT_FOUND');
  } finally {
    await app.close();
  }
});

test('without a build, /console says how to build it instead of failing', async () => {
  const app = Fastify();
  registerConsoleStatic(app, new Map());
  try {
    const r = await app.inject({ url: '/console/overview' });
    assert.equal(r.statusCode, 503);
    assert.match(r.body, /npm run console:build/);
  } finally {
    await app.close();
  }
});
