// Security promises (docs/reliability.md): keys stored only as hashes and upstream keys only
// encrypted (the database file itself is searched), never shown back; guessing keys is throttled
// per address on both planes; every operator route refuses customer keys; HTML pages carry the
// security headers. Tenant isolation over every /account/v1 route is test/integration/isolation.test.ts.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { buildApp } from '../../src/http/app.ts';
import { HTML_SECURITY_HEADERS } from '../../src/http/security-headers.ts';
import { AUTH_THROTTLE } from '../../src/accounts/key-auth.ts';
import { loadConfig } from '../../src/kernel/config/load.ts';
import { createRuntime } from '../../src/runtime.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { SqliteDb } from '../../src/storage/sqlite/db.ts';
import { ADMIN_KEY, startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-very-secret-0123456789abcdefXYZ';

describe('secrets at rest and in answers (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
    await g.admin('POST', '/admin/v1/channels', { name: 'secret-channel', provider: 'openai', base_url: g.s.sim!.url, keys: [UPSTREAM_KEY], models: ['gpt-4o-mini'], priority: 100 });
  });
  after(() => g?.close());

  test('neither a customer key nor an upstream key is in the database files; neither comes back in answers or exports', async () => {
    const r = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(r.status, 200);
    await r.text();
    await g.settle();
    // Checkpoint the WAL so that the search covers what was written.
    await g.s.rt.db.run('PRAGMA wal_checkpoint(TRUNCATE)').catch(() => {});
    const dir = g.s.rt.config.dataDir;
    for (const f of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, f));
      assert.equal(bytes.indexOf(c.key), -1, `customer key in ${f}`);
      assert.equal(bytes.indexOf(UPSTREAM_KEY), -1, `upstream key in ${f}`);
    }
    const answers = [
      await g.adminRaw('GET', '/admin/v1/channels'),
      await g.adminRaw('GET', '/admin/v1/logs?format=csv'),
      await g.adminRaw('GET', '/admin/v1/logs?format=ndjson'),
      await g.adminRaw('GET', `/admin/v1/accounts/${c.accountId}/keys`),
      await g.adminRaw('GET', '/admin/v1/audit'),
      await g.adminRaw('PATCH', '/admin/v1/channels/secret-channel', { base_url: 'not a url' }),
    ];
    for (const a of answers) {
      assert.ok(!a.text.includes(UPSTREAM_KEY), `upstream key in an answer: ${a.text.slice(0, 200)}`);
      assert.ok(!a.text.includes(c.key), 'customer key in an answer');
    }
  });

  test('every operator route refuses a customer key (403 FORBIDDEN) and changes nothing', async () => {
    const specs = g.s.app.routes.specs.filter((s) => s.url.startsWith('/admin/'));
    assert.ok(specs.length > 30);
    const before = await g.balance(c.accountId);
    for (const s of specs) {
      const path = s.url.replace(/:([A-Za-z_]+)/g, () => c.accountId);
      const r = await fetch(g.url + path, { method: s.method, headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json', 'idempotency-key': 'k' }, ...(s.method === 'GET' || s.method === 'DELETE' ? {} : { body: JSON.stringify({ amount: '100.00', method: 'other', reference: 'x', name: 'x' }) }) });
      const body = (await r.json()) as any;
      assert.equal(r.status, 403, `${s.method} ${s.url}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, 'FORBIDDEN');
    }
    assert.deepEqual(await g.balance(c.accountId), before);
  });
});

describe('failed authentication is throttled per address (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const chat = (key: string) => fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });

  test(`after ${AUTH_THROTTLE.maxFailures} unknown keys an address is refused with 429 and retry-after, on both planes, valid keys too`, async () => {
    for (let i = 0; i < AUTH_THROTTLE.maxFailures; i++) {
      const r = await chat(`sk-sur-guess${i}-${'x'.repeat(30)}`);
      assert.equal(r.status, 401, `guess ${i}`);
      await r.arrayBuffer();
    }
    const guess = await chat(`sk-sur-guess-last-${'y'.repeat(30)}`);
    assert.equal(guess.status, 429);
    assert.ok(Number(guess.headers.get('retry-after')) >= 1);
    assert.equal(((await guess.json()) as any).error.code, 'RATE_LIMITED');
    // A key this gateway has not seen yet is refused from this address too: no oracle for guesses.
    const fresh = await g.admin('POST', `/admin/v1/accounts/${c.accountId}/keys`, { name: 'fresh' });
    const r = await chat(fresh.key);
    assert.equal(r.status, 429);
    await r.arrayBuffer();
    const cp = await fetch(`${g.url}/account/v1/balance`, { headers: { authorization: `Bearer sk-sur-guess-cp-${'z'.repeat(30)}` } });
    assert.equal(cp.status, 429);
    assert.ok(cp.headers.get('retry-after'));
    const op = await fetch(`${g.url}/admin/v1/accounts`, { headers: { authorization: 'Bearer sa-wrong-operator-key-0123456789' } });
    assert.equal(op.status, 429);
    // The operator key itself is compared by hash in constant time and is never throttled away.
    assert.equal((await fetch(`${g.url}/admin/v1/accounts`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status, 200);
    await g.settle();
    const rows = await g.logsOfKey(c.keyId);
    assert.equal(rows.filter((x: any) => x.amount !== '0.00').length, 0, 'nothing charged');
  });
});

describe('the HTML pages a gateway serves (sqlite)', () => {
  let g: TestGateway;
  before(async () => {
    g = await startTestGateway();
  });
  after(() => g?.close());

  test('the status page and the console carry every security header (a page\'s own stricter policy is kept)', async () => {
    let pages = 0;
    for (const path of ['/status', '/status/history', '/console/', '/console/login']) {
      const r = await fetch(g.url + path);
      await r.arrayBuffer();
      if (!String(r.headers.get('content-type')).startsWith('text/html')) continue;
      pages++;
      for (const name of Object.keys(HTML_SECURITY_HEADERS)) assert.ok(r.headers.get(name), `${path}: ${name}`);
      assert.match(String(r.headers.get('content-security-policy')), /frame-ancestors 'none'|default-src/);
    }
    assert.ok(pages >= 1, 'at least one HTML page');
  });
});

test('every HTML page carries the security headers; JSON answers carry nosniff', async () => {
  const db = new SqliteDb(':memory:');
  await migrate(db);
  const rt = await createRuntime(loadConfig({}), { db, log: pino({ level: 'silent' }) });
  try {
    const { app } = await buildApp(rt, {
      adminKeyHash: '0'.repeat(64),
      plugins: [async (a) => void a.get('/status-page-example', async (_req, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><title>x</title>'))],
    });
    const page = await app.inject({ method: 'GET', url: '/status-page-example' });
    assert.equal(page.statusCode, 200);
    for (const [name, value] of Object.entries(HTML_SECURITY_HEADERS)) assert.equal(page.headers[name], value, name);
    const json = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(json.headers['x-content-type-options'], 'nosniff');
    assert.equal(json.headers['content-security-policy'], undefined);
    await app.close();
  } finally {
    await rt.close();
  }
});
