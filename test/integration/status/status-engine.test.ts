// The status that sets itself, end to end: real requests through the gateway to the simulator,
// real storage (SQLite, and PostgreSQL when configured). Client faults leave a component alone;
// upstream failures take it down only after the hysteresis; it recovers only after a quiet spell;
// overrides and the stored history; latency against the component's own baseline.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '../../helpers/engines.ts';
import { startTestGateway, type Customer, type TestGateway } from '../../helpers/gateway.ts';
import { StatusMonitor } from '../../../src/status/monitor.ts';
import { NO_INCIDENTS } from '../../../src/status/notices.ts';

const MIN = 60_000;

for (const engine of engines()) {
  describe(`status engine on live traffic (${engine})`, () => {
    let t: TestGateway;
    let c: Customer;
    const chat = (content = 'hello', key = c.key, model = 'gpt-4o-mini') =>
      fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) }).then(async (r) => (await r.arrayBuffer(), r.status));
    const many = async (n: number, f: () => Promise<number>) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await f());
      await t.settle();
      return out;
    };
    const component = async (id: string) => t.admin('GET', `/admin/v1/status/components/${id}`);
    const evaluate = (at = Date.now()) => t.s.status.monitor.evaluate(at);
    const faults = (list: unknown[]) => fetch(`${t.s.sim!.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults: list }) });

    before(async () => {
      t = await startTestGateway({ engine });
      c = await t.customer('50.00');
    });
    after(async () => t?.close());

    test('the default page maps the demo models to their families', async () => {
      const list = (await t.admin('GET', '/admin/v1/status/components')).data as Array<{ id: string; status: string; platform: boolean }>;
      assert.deepEqual(list.map((x) => x.id), ['api', 'console', 'openai-gpt', 'anthropic-claude', 'google-gemini', 'nano-banana', 'gpt-image']);
      assert.ok(list.every((x) => x.status === 'operational'));
    });

    test('good traffic is counted; client faults are excluded', async () => {
      assert.deepEqual(new Set(await many(12, () => chat())), new Set([200]));
      // Client faults: a wrong key, an invalid body. 12 of them would be 50 % errors if counted.
      const bad = await many(6, () => chat('x', 'sk-sur-not-a-key'));
      const invalid = await many(6, () =>
        fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: 'nope' }) }).then((r) => r.status),
      );
      assert.ok([...bad, ...invalid].every((s) => s >= 400 && s < 500));
      await evaluate();
      await evaluate();
      const gpt = await component('openai-gpt');
      assert.equal(gpt.status, 'operational');
      const rows = await t.s.rt.db.all<{ requests: bigint; errors: bigint }>("SELECT requests, errors FROM status_samples WHERE component_id = 'openai-gpt'");
      const total = rows.reduce((a, r) => a + Number(r.requests), 0);
      assert.equal(total, 12, 'only the 12 good requests count; the 12 client faults do not');
      assert.equal(rows.reduce((a, r) => a + Number(r.errors), 0), 0);
      // The platform component counts the same traffic.
      assert.equal((await component('api')).status, 'operational');
    });

    test('an upstream outage takes the component down after two evaluations, the others stay up', async () => {
      assert.equal((await faults([{ model: 'gpt-4o-mini', error_rate: 1, status: 503 }])).status, 200);
      const codes = await many(20, () => chat());
      assert.ok(codes.every((s) => s >= 500), `all failed: ${codes.join(',')}`);
      await evaluate();
      assert.equal((await component('openai-gpt')).status, 'operational', 'one evaluation is a blip, not an outage');
      await evaluate();
      const gpt = await component('openai-gpt');
      assert.equal(gpt.status, 'major_outage');
      assert.equal((await component('anthropic-claude')).status, 'operational');
      // Upstream failures are not the platform's: the API component stays operational.
      assert.equal((await component('api')).status, 'operational');
      const changes = (await t.admin('GET', '/admin/v1/status/changes?component=openai-gpt')).data;
      assert.equal(changes[0].status, 'major_outage');
      assert.equal(changes[0].source, 'auto');
      assert.match(changes[0].reason, /error rate \d+\.\d % of \d+ requests/);
      await faults([]);
    });

    test('it recovers only after four quiet evaluations', async () => {
      // Ten minutes later the windows hold no traffic: nothing known to be wrong.
      const later = Date.now() + 11 * MIN;
      for (let i = 0; i < 3; i++) await evaluate(later + i * 30_000);
      assert.equal((await component('openai-gpt')).status, 'major_outage');
      await evaluate(later + 3 * 30_000);
      assert.equal((await component('openai-gpt')).status, 'operational');
      const iv = (await t.admin('GET', `/admin/v1/status/intervals?from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(later + 5 * MIN).toISOString()}&component=openai-gpt`)).data;
      assert.deepEqual(iv.map((i: { status: string }) => i.status), ['operational', 'major_outage', 'operational']);
    });

    test('an operator override wins until cleared, and is audited', async () => {
      const o = await t.admin('PUT', '/admin/v1/status/components/anthropic-claude/override', { status: 'degraded_performance', note: 'elevated latency upstream' });
      assert.equal(o.status, 'degraded_performance');
      assert.equal(o.override.status, 'degraded_performance');
      const changes = (await t.admin('GET', '/admin/v1/status/changes?component=anthropic-claude')).data;
      assert.equal(changes[0].source, 'override');
      assert.match(changes[0].reason, /elevated latency upstream/);
      const cleared = await t.admin('DELETE', '/admin/v1/status/components/anthropic-claude/override');
      assert.equal(cleared.status, 'operational');
      assert.equal(cleared.override, null);
      const r = await t.adminRaw('PUT', '/admin/v1/status/components/anthropic-claude/override', { status: 'down' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'VALIDATION');
      assert.equal(r.body.error.field, 'status');
      const past = await t.adminRaw('PUT', '/admin/v1/status/components/anthropic-claude/override', { status: 'major_outage', until: '2020-01-01T00:00:00Z' });
      assert.equal(past.status, 400);
      assert.equal((await t.adminRaw('PUT', '/admin/v1/status/components/nope/override', { status: 'major_outage' })).body.error.code, 'STATUS_COMPONENT_NOT_FOUND');
    });

    test('latency against the component\'s own baseline degrades it', async () => {
      // A fast baseline for gemini: three past hours of 20 ms requests.
      const hour = Math.floor(Date.now() / MIN) - 6 * 60;
      for (let h = 0; h < 3; h++) await t.s.rt.db.run("INSERT INTO status_samples (component_id, minute, requests, errors, latency_ms, latency_n) VALUES ('google-gemini', ?, 100, 0, 2000, 100)", [hour + h * 60]);
      const gem = (content: string) =>
        fetch(`${t.url}/v1beta/models/gemini-2.5-flash:generateContent`, { method: 'POST', headers: { 'x-goog-api-key': c.key, 'content-type': 'application/json' }, body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: content }] }] }) }).then(async (r) => (await r.arrayBuffer(), r.status));
      const t0 = Date.now();
      const codes = await many(10, () => gem('slow [[sim:latency=150]]'));
      assert.ok(codes.every((s) => s === 200));
      const at = Date.now();
      assert.ok(at - t0 >= 1500, 'the requests were slow');
      // The gateway's monitor keeps baselines for 10 minutes: a fresh monitor on the same storage reads the new history.
      const fresh = new StatusMonitor(t.s.rt, NO_INCIDENTS);
      await fresh.evaluate(at);
      await fresh.evaluate(at);
      const g = await component('google-gemini');
      assert.equal(g.status, 'degraded_performance');
      const changes = (await t.admin('GET', '/admin/v1/status/changes?component=google-gemini')).data;
      assert.match(changes[0].reason, /mean latency \d+ ms is [\d.]+× the usual 20 ms/);
    });
  });
}
