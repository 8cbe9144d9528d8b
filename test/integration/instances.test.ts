// Several gateway instances on one PostgreSQL: a change made through one instance (a revoked key, a
// new price) reaches the others at once through change notices (NOTIFY/LISTEN), not when their
// caches happen to expire (keys: 5 s) or never (the catalog has no expiry).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/kernel/config/load.ts';
import { startSurety, type Started } from '../../src/start.ts';
import { PG_URL, openTestDb, type TestDb } from '../helpers/engines.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';

describe('two instances on one PostgreSQL', { skip: PG_URL ? false : 'needs SURETY_TEST_DATABASE_URL' }, () => {
  let tdb: TestDb;
  let a: Started;
  let b: Started;
  const start = (demo: boolean) =>
    startSurety(loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: String(demo), databaseUrl: tdb.url! }), { handleSignals: false, simPort: 0 });
  const call = async (base: string, method: string, path: string, body?: unknown, key = ADMIN_KEY, idem?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idem) headers['idempotency-key'] = idem;
    const r = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: r.status, body: (await r.json()) as any };
  };
  const chat = (base: string, key: string) => call(base, 'POST', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, key);
  const until = async (what: string, cond: () => Promise<boolean>, ms: number) => {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return Date.now() - t0;
  };

  before(async () => {
    tdb = await openTestDb('postgres');
    await tdb.db.close();
    a = await start(true); // the demo catalog and its simulator
    b = await start(false);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await tdb?.dispose();
  });

  test('a key revoked through one instance is refused by the other at once', async () => {
    const acct = (await call(a.url, 'POST', '/admin/v1/accounts', { name: 'shared' })).body;
    await call(a.url, 'POST', `/admin/v1/accounts/${acct.id}/topups`, { amount: '1.00', method: 'other', reference: 'x' }, ADMIN_KEY, 'i1');
    const key = (await call(a.url, 'POST', `/admin/v1/accounts/${acct.id}/keys`, { name: 'k' })).body;
    assert.equal((await chat(b.url, key.key)).status, 200, 'instance B knows the key (and caches it)');
    await call(a.url, 'DELETE', `/admin/v1/accounts/${acct.id}/keys/${key.id}`);
    // Waited for up to the key cache's lifetime: only the relay makes it well under that.
    const ms = await until('B refuses the revoked key', async () => (await chat(b.url, key.key)).status === 401, 6000);
    assert.ok(ms < 2000, `took ${ms} ms; the key cache alone would take up to 5000 ms`);
    assert.equal((await chat(b.url, key.key)).body.error.code, 'KEY_REVOKED');
  });

  test('two instances on one database without REDIS_URL: warned about in /readyz (and in the log)', async () => {
    const warnings = async (url: string) => {
      const r = await fetch(`${url}/readyz`);
      assert.equal(r.status, 200, 'a warning, not unreadiness');
      return ((await r.json()) as { warnings?: string[] }).warnings ?? [];
    };
    // The second knows at its start; the first at its next heartbeat (every 2 s).
    const [w] = await warnings(b.url);
    assert.match(String(w), /2 gateway instances run on this database and 2 of them without REDIS_URL/);
    await until('the first instance warns too', async () => (await warnings(a.url)).length === 1, 3000);
  });

  test('a price changed through one instance prices the next request on the other', async () => {
    const acct = (await call(a.url, 'POST', '/admin/v1/accounts', { name: 'pricing' })).body;
    await call(a.url, 'POST', `/admin/v1/accounts/${acct.id}/topups`, { amount: '1.00', method: 'other', reference: 'x' }, ADMIN_KEY, 'i2');
    const key = (await call(a.url, 'POST', `/admin/v1/accounts/${acct.id}/keys`, { name: 'k' })).body;
    const before = (await call(a.url, 'GET', '/admin/v1/models')).body.data.find((m: { id: string }) => m.id === 'gpt-4o-mini');
    await call(a.url, 'PUT', '/admin/v1/models/gpt-4o-mini', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '10', output_per_mtok: '20' } });
    // B never reloads its catalog on its own: only the notice can bring the new version.
    await until('B serves the new price version', async () => {
      const r = await chat(b.url, key.key);
      await b.gateway.gateway.writer.flush();
      const rows = (await call(b.url, 'GET', `/admin/v1/logs?key_id=${key.id}&limit=1`)).body.data;
      return rows[0]?.price_version === before.price_version + 1 && r.status === 200;
    }, 2000);
  });
});
