// SLA contracts end to end, on every engine: real traffic through a real gateway to the simulator
// (good requests, platform faults, moderation refusals, client errors), the rollups the writer keeps
// checked against a rebuild from the log, then the operator and customer APIs: a contract, its
// report as JSON, the intervals as CSV with a manifest whose hash matches, the printable page, a
// customer recomputing the availability from their own log export, closing (again: a no-op),
// claims, and clear errors for bad input.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

const MIN = 60_000;

for (const engine of engines()) {
  describe(`SLA contracts over real traffic (${engine})`, () => {
    let g: TestGateway;
    let c: Customer;
    let from: number;
    let contractId: string;

    const chat = (model: string, content: string) =>
      fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) });
    const as = (key: string | null) => async (method: string, path: string, body?: unknown) => {
      const r = await fetch(g.url + path, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const text = await r.text();
      let json: any = null;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON (CSV, HTML)
      }
      return { status: r.status, text, body: json, headers: r.headers };
    };
    const admin = (m: string, p: string, b?: unknown) => g.adminRaw(m, p, b);

    before(async () => {
      g = await startTestGateway({ engine });
      const sim = g.s.sim!.url;
      await g.admin('PUT', '/admin/v1/models/broken-mini', { provider: 'openai', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' } });
      await g.admin('POST', '/admin/v1/channels', { name: 'misconfigured', provider: 'openai', base_url: sim, keys: ['bad-key-0123456789abcdef'], models: ['broken-mini'] });
      c = await g.customer('50.00');
      from = Math.floor(Date.now() / MIN) * MIN;
      const sends = [
        ...Array.from({ length: 12 }, (_, i) => chat('gpt-4o-mini', `hello ${i}`)),
        ...Array.from({ length: 3 }, () => chat('broken-mini', 'hi')), // platform_error
        chat('gpt-4o-mini', '[[sim:moderation]] refused'), // upstream_moderation
        chat('no-such-model', 'hi'), // client_error
      ];
      for (const r of await Promise.all(sends)) await r.arrayBuffer();
      await g.settle();
      const created = await g.admin('POST', '/admin/v1/contracts', {
        account_id: c.accountId,
        name: 'Enterprise Gold',
        terms: { term: { start: new Date(from - 86_400_000).toISOString() }, target_percent: '99.9', coverage: { models: ['gpt-4o-mini', 'broken-mini'] }, credit_tiers: [{ below_percent: '99.9', credit_percent: '10' }] },
      });
      contractId = created.id;
    });
    after(async () => g?.close());

    test('the writer keeps per-minute rollups equal to a rebuild from the log', async () => {
      const q = 'SELECT minute, key_id, model, endpoint, outcome, requests, amount FROM request_rollups WHERE account_id = ? ORDER BY minute, model, outcome';
      const kept = await g.s.rt.db.all(q, [c.accountId]);
      assert.equal(kept.reduce((s, r) => s + Number(r.requests), 0), 17);
      const { rebuildRollups } = await import('../../src/requests/rollups.ts');
      await rebuildRollups(g.s.rt.db, from - MIN, Date.now() + MIN);
      assert.deepEqual(await g.s.rt.db.all(q, [c.accountId]), kept);
    });

    test('a report over a window: JSON figures, the CSV intervals and their manifest, the printable page', async () => {
      const w = `from=${new Date(from).toISOString()}&to=${new Date(from + 60 * MIN).toISOString()}`;
      const r = await admin('GET', `/admin/v1/contracts/${contractId}/report?${w}`);
      assert.equal(r.status, 200, r.text);
      const rep = r.body;
      assert.equal(rep.counts.by_outcome.ok, 12);
      assert.equal(rep.counts.by_outcome.platform_error, 3);
      assert.equal(rep.counts.failed, 3);
      assert.equal(rep.counts.by_exclusion.moderation, 1);
      // The unknown model is outside the coverage (models): not counted at all.
      assert.equal(rep.counts.by_outcome.client_error, undefined);
      // The window reaches into the future: it is measured up to now.
      const intervals = Math.ceil((Date.parse(rep.window.to) - from) / (5 * MIN));
      assert.ok(Date.parse(rep.window.to) <= Date.now() + MIN);
      assert.equal(rep.segments[0].intervals, intervals);
      const balance = await g.balance(c.accountId);
      assert.equal(rep.credit.base, (50 - Number(balance.paid)).toFixed(rep.credit.base.split('.')[1].length));
      // CSV: one row per 5-minute interval; its manifest is recomputed from the same query.
      const csv = await admin('GET', `/admin/v1/contracts/${contractId}/report?${w}&format=csv`);
      assert.equal(csv.status, 200);
      const lines = csv.text.trim().split('\n');
      assert.equal(lines.length, intervals + 1);
      assert.match(lines[0]!, /^contract_id,account_id,version,metric,interval_start/);
      const m = (await admin('GET', `/admin/v1/contracts/${contractId}/report/manifest?${w}&format=csv`)).body;
      assert.equal(m.dataset, 'sla-intervals');
      assert.equal(m.rows, intervals);
      assert.equal(m.files[0].sha256, createHash('sha256').update(csv.text).digest('hex'));
      assert.equal(m.totals.covered_spend, rep.credit.base);
      const html = await admin('GET', `/admin/v1/contracts/${contractId}/report?${w}&format=html`);
      assert.match(String(html.headers.get('content-type')), /text\/html/);
      assert.match(html.text, /<svg[^>]*Daily availability/);
      assert.ok(html.text.includes(`${rep.availability} %`));
    });

    test('the customer recomputes the availability from their own log export', async () => {
      const w = `from=${new Date(from).toISOString()}&to=${new Date(from + 60 * MIN).toISOString()}`;
      const rep = (await as(c.key)('GET', `/account/v1/sla/${contractId}/report?${w}`)).body;
      const nd = await as(c.key)('GET', `/account/v1/logs?${w}&format=ndjson`);
      const rows = nd.text.trim().split('\n').map((l) => JSON.parse(l));
      const buckets = new Map<number, { good: number; failed: number }>();
      for (const row of rows) {
        if (!['gpt-4o-mini', 'broken-mini'].includes(row.model)) continue;
        const table = rep.segments[0].outcome_table[row.outcome];
        if (table !== 'good' && table !== 'failed') continue;
        const k = Math.floor((Date.parse(row.started_at) - from) / (5 * MIN));
        const b = buckets.get(k) ?? { good: 0, failed: 0 };
        b[table === 'good' ? 'good' : 'failed']++;
        buckets.set(k, b);
      }
      const errSum = [...buckets.values()].reduce((s, b) => s + b.failed / (b.good + b.failed), 0);
      assert.equal(rep.availability_exact, (100 * (1 - errSum / rep.segments[0].intervals)).toFixed(6));
      // The account view: terms, month-to-date, past reports.
      const mine = (await as(c.key)('GET', '/account/v1/sla')).body;
      assert.equal(mine.data.length, 1);
      assert.equal(mine.data[0].contract.id, contractId);
      assert.equal(mine.data[0].month_to_date.status, 'open');
      assert.equal(mine.data[0].month_to_date.counts.failed, 3);
      // Month to date: measured up to now, not over the minutes still to come.
      assert.ok(Date.parse(mine.data[0].month_to_date.window.to) <= Date.now() + MIN);
      assert.ok(mine.data[0].month_to_date.segments[0].intervals < 8928 / 28 * 31);
      // Another customer sees neither the contract nor its report.
      const other = await g.customer('1.00');
      assert.equal((await as(other.key)('GET', `/account/v1/sla/${contractId}/report`)).status, 404);
      assert.deepEqual((await as(other.key)('GET', '/account/v1/sla')).body.data, []);
    });

    test('closing a past period, twice; claims and their deadline through the customer API', async () => {
      const old = await g.admin('POST', '/admin/v1/contracts', {
        account_id: c.accountId,
        name: 'Old terms',
        terms: { term: { start: '2025-12-01T00:00:00Z' }, target_percent: '99.5', claims: { required: true, deadline_days: 30 } },
      });
      const first = await admin('POST', `/admin/v1/contracts/${old.id}/close`, { period: '2026-01' });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual([first.body.created, first.body.credit, first.body.availability], [true, '0.00', '100.0000']);
      assert.match(first.body.note, /no claim/);
      const again = await admin('POST', `/admin/v1/contracts/${old.id}/close`, { period: '2026-01' });
      assert.deepEqual([again.body.created, again.body.closed_at], [false, first.body.closed_at]);
      assert.equal((await admin('GET', `/admin/v1/contracts/${old.id}/periods`)).body.data.length, 1);
      const late = await as(c.key)('POST', '/account/v1/sla/claims', { contract_id: old.id, period: '2026-01', evidence: 'outage on 5 January' });
      assert.equal(late.status, 409);
      assert.equal(late.body.error.code, 'SLA_CLAIM_LATE');
      assert.match(late.body.error.message, /2026-03-03T00:00:00.000Z/);
      const auto = await as(c.key)('POST', '/account/v1/sla/claims', { contract_id: contractId, period: '2026-01' });
      assert.equal(auto.body.error.code, 'SLA_CLAIM_NOT_NEEDED');
      const notOver = await admin('POST', `/admin/v1/contracts/${contractId}/close`, { period: '2099-01' });
      assert.equal(notOver.body.error.code, 'SLA_PERIOD_NOT_OVER');
    });

    test('bad input gets a clear error, never a 500', async () => {
      const bad = async (m: string, p: string, body: unknown, status: number, codeName: string, field?: string) => {
        const r = await admin(m, p, body);
        assert.equal(r.status, status, `${m} ${p}: ${r.text}`);
        assert.equal(r.body.error.code, codeName);
        if (field) assert.equal(r.body.error.field, field);
      };
      await bad('POST', '/admin/v1/contracts', { account_id: c.accountId, name: 'x', terms: { term: { start: '2026-01-01T00:00:00Z' }, target_percent: '101' } }, 400, 'VALIDATION', 'terms.target_percent');
      await bad('POST', '/admin/v1/contracts', { account_id: c.accountId, name: 'x\u0000y', terms: {} }, 400, 'VALIDATION');
      await bad('POST', '/admin/v1/contracts', { account_id: 'acct_nope', name: 'x', terms: { term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99' } }, 404, 'NOT_FOUND');
      await bad('GET', `/admin/v1/contracts/${contractId}/report?period=2026-13`, undefined, 400, 'VALIDATION', 'period');
      await bad('GET', `/admin/v1/contracts/${contractId}/report?period=2026-01&from=2026-01-01T00:00:00Z`, undefined, 400, 'VALIDATION', 'period');
      await bad('GET', `/admin/v1/contracts/${contractId}/report?format=pdf`, undefined, 400, 'VALIDATION', 'format');
      await bad('GET', '/admin/v1/contracts/sla_nope', undefined, 404, 'NOT_FOUND');
      await bad('POST', `/admin/v1/contracts/${contractId}/amendments`, { effective_from: 'soon', reason: 'x', terms: {} }, 400, 'VALIDATION', 'effective_from');
      await bad('POST', `/admin/v1/contracts/${contractId}/periods/2026-01/corrections`, { amount: '1.00', reason: 'x' }, 400, 'IDEMPOTENCY_KEY_REQUIRED');
      const customerOnAdmin = await as(c.key)('GET', '/admin/v1/contracts');
      assert.equal(customerOnAdmin.status, 403);
    });
  });
}
