// Synthetic probes through the real gateway: billed to the internal probe account (never a
// customer), capped per component per day, counted in the component's samples, and a failing
// upstream seen by probes alone takes the component down.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Prober, PROBE_ACCOUNT_NAME } from '../../../src/status/probes.ts';
import { engines } from '../../helpers/engines.ts';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

for (const engine of engines()) {
  describe(`synthetic probes (${engine})`, () => {
    let t: TestGateway;
    let prober: Prober;
    const samples = async (id: string) => {
      const r = await t.s.rt.db.get<{ p: bigint | null; f: bigint | null }>('SELECT CAST(SUM(probes) AS BIGINT) AS p, CAST(SUM(probe_failures) AS BIGINT) AS f FROM status_samples WHERE component_id = ?', [id]);
      return { probes: Number(r?.p ?? 0), failures: Number(r?.f ?? 0) };
    };

    before(async () => {
      t = await startTestGateway({ engine });
      prober = new Prober(t.s.rt, t.url, { firstAfterMs: 0 });
    });
    after(async () => {
      await prober?.close();
      await t?.close();
    });

    test('one tick probes every component: model probes through the gateway, billed to the internal account', async () => {
      const ran = await prober.tick();
      assert.equal(ran, 7, 'API and console over HTTP, five model families through the gateway');
      await t.settle();
      const acct = await t.s.rt.db.get<{ id: string; kind: string }>('SELECT id, kind FROM accounts WHERE name = ?', [PROBE_ACCOUNT_NAME]);
      assert.ok(acct);
      const rows = await t.s.rt.db.all<{ account_id: string; model: string; outcome: string; amount: bigint }>('SELECT account_id, model, outcome, amount FROM request_log ORDER BY model');
      assert.deepEqual(rows.map((r) => r.model), ['claude-sonnet-5-5', 'gemini-2.5-flash', 'gpt-4o-mini', 'gpt-image-1', 'nano-banana-pro']);
      assert.ok(rows.every((r) => r.account_id === acct.id && r.outcome === 'ok' && r.amount > 0n), 'every probe billed to the probe account');
      for (const id of ['api', 'console', 'openai-gpt', 'anthropic-claude', 'google-gemini', 'nano-banana', 'gpt-image']) assert.deepEqual(await samples(id), { probes: 1, failures: 0 }, id);
      assert.deepEqual((await t.verify()).problems ?? [], []);
    });

    test('the daily cap stops a component\'s probes once spent', async () => {
      // GPT-Image's probe costs $0.011 (low quality); a probe runs only if it fits under the cap
      // (spent + the last probe's cost): with $0.03, one more today ($0.022), not two ($0.033).
      await t.admin('PUT', '/admin/v1/status/components/gpt-image', { name: 'GPT-Image', group: 'upstreams', models: ['gpt-image-*'], probe: { kind: 'model', every_seconds: 60, max_usd_per_day: '0.03' } });
      const count = async () => Number((await t.s.rt.db.get<{ n: bigint }>("SELECT COUNT(*) AS n FROM request_log WHERE model = 'gpt-image-1'"))!.n);
      // A minute apart: only GPT-Image (every 60 s) is due; the others probe every 5 minutes.
      const base = Date.now();
      for (let i = 1; i <= 3; i++) {
        await prober.tick(base + i * 61_000);
        await t.settle();
      }
      assert.equal(await count(), 2, 'the first probe, one more within $0.03, then none');
    });

    test('an upstream that fails probes alone takes its component down', async () => {
      await fetch(`${t.s.sim!.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults: [{ model: 'claude-sonnet-5-5', error_rate: 1, status: 500 }] }) });
      const base = Date.now();
      for (let i = 1; i <= 3; i++) await prober.tick(base + i * 400_000);
      await t.settle();
      assert.deepEqual(await samples('anthropic-claude'), { probes: 4, failures: 3 });
      await t.s.status.monitor.evaluate();
      await t.s.status.monitor.evaluate();
      const c = await t.admin('GET', '/admin/v1/status/components/anthropic-claude');
      assert.equal(c.status, 'partial_outage', '3 of 4 probes failed');
      const why = (await t.admin('GET', '/admin/v1/status/changes?component=anthropic-claude')).data[0].reason;
      assert.match(why, /3 of 4 synthetic probes failed/);
    });
  });
}
