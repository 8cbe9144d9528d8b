// A gateway restarted on the same storage: what expired while it was down is settled before it
// serves anything (a hold does not outlive its TTL across a restart).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/kernel/config/load.ts';
import { startSurety } from '../../src/start.ts';
import { verifyLedger } from '../../src/billing/verify.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';

const start = (dir: string) => startSurety(loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: 'false', dataDir: dir }), { handleSignals: false });

test('a hold that expired while the gateway was down is voided before the restarted gateway serves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'surety-restart-'));
  try {
    let s = await start(dir);
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const r = await fetch(s.url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...headers }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return (await r.json()) as any;
    };
    const a = await call('POST', '/admin/v1/accounts', { name: 'holder' });
    await call('POST', `/admin/v1/accounts/${a.id}/topups`, { amount: '5.00', method: 'other', reference: 'r' }, { 'idempotency-key': 'fund' });
    const hold = await call('POST', `/admin/v1/accounts/${a.id}/holds`, { amount: '1.00', ttl_seconds: 1 }, { 'idempotency-key': 'h' });
    assert.equal(hold.status, 'open');
    await s.stop();
    // Down past the hold's expiry.
    while (Date.now() <= Date.parse(hold.expires_at)) await new Promise((r) => setTimeout(r, 50));
    s = await start(dir);
    try {
      const row = await s.rt.db.get<{ status: string }>('SELECT status FROM holds WHERE id = ?', [hold.id]);
      assert.equal(row?.status, 'expired');
      const b = await call('GET', `/admin/v1/accounts/${a.id}/balance`);
      assert.equal(b.held, '0.00');
      assert.equal(b.available, '5.00');
      const report = await verifyLedger(s.rt.db);
      assert.ok(report.ok, JSON.stringify(report.problems));
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
