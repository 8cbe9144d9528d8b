// Upstream keys at rest, on a started Surety (startSurety, what `npm start` runs): never in the
// database file in plaintext, used upstream as given; without SURETY_SECRET_KEY a key is generated
// into the data directory and reused at the next start; a start with another key is refused
// before anything is written. On PostgreSQL: instances sharing SURETY_SECRET_KEY see a channel
// deleted through one of them at once; an instance with another key does not start.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/kernel/config/load.ts';
import type { ConfigKey } from '../../src/kernel/config/schema.ts';
import { startSimulator, type Simulator } from '../../src/sim/server.ts';
import { startSurety, type Started } from '../../src/start.ts';
import { PG_URL, openTestDb, type TestDb } from '../helpers/engines.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';

const UPSTREAM_KEY = 'sk-at-rest-never-plain-7f3a9c2e1b';

async function call(base: string, method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...(path.endsWith('/topups') ? { 'idempotency-key': `t-${Math.random()}` } : {}) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, text };
}

const boot = (more: Partial<Record<ConfigKey, unknown>>, env: NodeJS.ProcessEnv = {}) =>
  startSurety(loadConfig(env, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: 'false', ...more }), { handleSignals: false, simPort: 0 });

describe('upstream keys at rest (SQLite)', () => {
  let sim: Simulator;
  let dir: string;
  let dataDir: string;

  before(async () => {
    sim = await startSimulator({ host: '127.0.0.1', port: 0, quiet: true });
    dir = mkdtempSync(join(tmpdir(), 'surety-keys-'));
    dataDir = join(dir, 'data');
  });
  after(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('stored encrypted with a generated key, used upstream as given; another key stops the start; the right one serves', async () => {
    let s: Started = await boot({ dataDir });
    let customerKey = '';
    try {
      assert.ok(existsSync(join(dataDir, 'secret.key')), 'a key was generated into the data directory');
      await call(s.url, 'PUT', '/admin/v1/models/rest-chat', { provider: 'openai', price: { input_per_mtok: '1', output_per_mtok: '1' } });
      const ch = await call(s.url, 'POST', '/admin/v1/channels', { name: 'at-rest', provider: 'openai', base_url: sim.url, keys: [UPSTREAM_KEY], models: ['rest-chat'] });
      assert.equal(ch.status, 201, ch.text);
      assert.deepEqual(ch.body.keys, [`…${UPSTREAM_KEY.slice(-4)}`]);
      const a = (await call(s.url, 'POST', '/admin/v1/accounts', { name: 'rest' })).body;
      await call(s.url, 'POST', `/admin/v1/accounts/${a.id}/topups`, { amount: '1.00', method: 'other', reference: 'r' });
      customerKey = (await call(s.url, 'POST', `/admin/v1/accounts/${a.id}/keys`, { name: 'k' })).body.key;
    } finally {
      await s.stop();
    }
    // Every byte storage holds (database, WAL): the key is not there.
    for (const f of readdirSync(dataDir)) {
      assert.ok(!readFileSync(join(dataDir, f)).includes(UPSTREAM_KEY), `${f} does not hold the upstream key`);
    }

    const dbBytes = () => readdirSync(dataDir).filter((f) => f.startsWith('surety.db')).map((f) => readFileSync(join(dataDir, f)).toString('base64')).join();
    const before = dbBytes();
    await assert.rejects(boot({ dataDir }, { SURETY_SECRET_KEY: 'some-other-secret-key-0123456789abcdef' }), (e: unknown) =>
      e instanceof ConfigError && /cannot be decrypted/.test(e.message) && /channel at-rest/.test(e.message) && !e.message.includes(UPSTREAM_KEY));
    assert.equal(dbBytes(), before, 'the refused start wrote nothing');

    s = await boot({ dataDir });
    try {
      const listed = (await call(s.url, 'GET', '/admin/v1/channels')).body.data[0];
      assert.deepEqual([listed.name, listed.usable], ['at-rest', true]);
      const r = await call(s.url, 'POST', '/v1/chat/completions', { model: 'rest-chat', messages: [{ role: 'user', content: 'hi' }] }, customerKey);
      assert.equal(r.status, 200, r.text);
      assert.equal(sim.requests().at(-1)!.key, UPSTREAM_KEY, 'the upstream got the key as given');
    } finally {
      await s.stop();
    }
  });
});

describe('upstream keys and deletions across instances on one PostgreSQL', { skip: PG_URL ? false : 'needs SURETY_TEST_DATABASE_URL' }, () => {
  const SHARED = 'shared-secret-key-of-the-cluster-0123456789';
  let tdb: TestDb;
  let sim: Simulator;
  let a: Started;
  let b: Started;
  let dirs: string[] = [];
  const instance = (secretKey: string) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'surety-keys-pg-'));
    dirs.push(dataDir);
    return boot({ databaseUrl: tdb.url!, dataDir, secretKey });
  };

  before(async () => {
    tdb = await openTestDb('postgres');
    await tdb.db.close();
    sim = await startSimulator({ host: '127.0.0.1', port: 0, quiet: true });
    a = await instance(SHARED);
    b = await instance(SHARED);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await sim?.close();
    await tdb?.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  test('a channel created on one instance serves on the other; deleted on one, the other drops it at once', async () => {
    await call(a.url, 'PUT', '/admin/v1/models/shared-chat', { provider: 'openai', price: { input_per_mtok: '1' } });
    const ch = (await call(a.url, 'POST', '/admin/v1/channels', { name: 'shared', provider: 'openai', base_url: sim.url, keys: [UPSTREAM_KEY], models: ['shared-chat'] })).body;
    const servedOnB = async () => (await call(b.url, 'GET', '/admin/v1/models')).body.data.find((m: { id: string }) => m.id === 'shared-chat')?.channels ?? [];
    const until = async (what: string, cond: () => Promise<boolean>) => {
      const t0 = Date.now();
      while (!(await cond())) {
        if (Date.now() - t0 > 2000) assert.fail(`${what}: not within 2 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until('B serves the channel', async () => (await servedOnB()).includes('shared'));
    assert.equal((await call(b.url, 'GET', '/admin/v1/channels')).body.data[0].usable, true, 'B decrypts the key with the shared secret');
    assert.equal((await call(a.url, 'DELETE', `/admin/v1/channels/${ch.id}`)).status, 200);
    await until('B drops the deleted channel', async () => (await servedOnB()).length === 0);
    assert.equal((await call(a.url, 'DELETE', '/admin/v1/models/shared-chat')).status, 200);
    await until('B forgets the deleted model', async () => (await call(b.url, 'GET', '/admin/v1/models')).body.data.every((m: { id: string }) => m.id !== 'shared-chat'));
  });

  test('an instance with another SURETY_SECRET_KEY does not start', async () => {
    await call(a.url, 'POST', '/admin/v1/channels', { name: 'guarded', provider: 'openai', base_url: sim.url, keys: [UPSTREAM_KEY], models: ['x'] });
    await assert.rejects(instance('a-different-secret-key-9876543210-abcdef'), (e: unknown) => e instanceof ConfigError && /channel guarded/.test(e.message));
  });
});
