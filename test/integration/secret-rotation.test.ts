// `surety secret-key rotate`: every stored upstream key re-encrypted under a new SURETY_SECRET_KEY;
// the gateway then starts with the new key (and serves through the channel), refuses the old one,
// and a second rotation changes nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/kernel/config/load.ts';
import { startSurety } from '../../src/start.ts';
import { startSimulator } from '../../src/sim/server.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
const OLD = 'old-secret-key-0123456789abcdef0123456789';
const NEW = 'new-secret-key-abcdef0123456789abcdef0123';
const UPSTREAM = 'sk-upstream-rotate-me-0123456789abcdef';

const start = (dir: string, secretKey: string) => startSurety(loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: 'false', dataDir: dir, secretKey }), { handleSignals: false });
const rotate = (dir: string) =>
  JSON.parse(execFileSync(NODE, [join(ROOT, 'bin/surety.js'), 'secret-key', 'rotate', '--json'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', SURETY_DATA_DIR: dir, SURETY_SECRET_KEY: OLD, SURETY_NEW_SECRET_KEY: NEW }, encoding: 'utf8' }));

test('secret-key rotate: re-encrypted under the new key, served with it, the old key refused, a rerun changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'surety-rotate-'));
  const sim = await startSimulator({ port: 0, quiet: true });
  let s: Awaited<ReturnType<typeof start>> | null = null;
  try {
    s = await start(dir, OLD);
    const h = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const m = await fetch(`${s.url}/admin/v1/models/gpt-4o-mini`, { method: 'PUT', headers: h, body: JSON.stringify({ provider: 'openai', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' } }) });
    assert.ok(m.status < 300);
    const ch = await fetch(`${s.url}/admin/v1/channels`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'rotated', provider: 'openai', base_url: sim.url, keys: [UPSTREAM, 'env:NOT_A_SECRET'], models: ['gpt-4o-mini'] }) });
    assert.equal(ch.status, 201);
    const before = (await s.rt.db.get<{ keys: string }>("SELECT keys FROM channels WHERE name = 'rotated'"))!.keys;
    await s.stop();
    s = null;

    const out = rotate(dir);
    assert.ok(out.channels >= 1 && out.keys >= 1);
    const x = await start(dir, NEW);
    s = x;
    const after = (await x.rt.db.get<{ keys: string }>("SELECT keys FROM channels WHERE name = 'rotated'"))!.keys;
    assert.notEqual(after, before);
    assert.match(after, new RegExp(`enc:v1:${out.key_id}:`));
    assert.ok(after.includes('env:NOT_A_SECRET'), 'env: references kept as written');
    assert.ok(!after.includes(UPSTREAM));
    // Served through the rotated channel: the simulator saw the upstream key.
    const k = await (await fetch(`${x.url}/admin/v1/accounts`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'r' }) })).json() as any;
    await fetch(`${x.url}/admin/v1/accounts/${k.id}/topups`, { method: 'POST', headers: { ...h, 'idempotency-key': 'r' }, body: JSON.stringify({ amount: '1.00', method: 'other', reference: 'r' }) });
    const key = await (await fetch(`${x.url}/admin/v1/accounts/${k.id}/keys`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'r' }) })).json() as any;
    const r = await fetch(`${x.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rotated' }] }) });
    assert.equal(r.status, 200);
    assert.ok(sim.requests().some((q) => q.key === UPSTREAM), 'the upstream got the original key');
    await x.stop();
    s = null;

    await assert.rejects(start(dir, OLD), /cannot be decrypted/);
    const again = rotate(dir);
    assert.equal(again.keys, 0, 'a second rotation changes nothing');
    assert.ok(!readFileSync(join(dir, 'surety.db')).includes(UPSTREAM));
  } finally {
    await s?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
