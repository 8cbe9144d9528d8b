// Server-side sorting over real HTTP, on SQLite and (when SURETY_TEST_DATABASE_URL is set)
// PostgreSQL: several list routes sorted both ways and walked page by page with next_cursor give
// exactly the order a byte-wise reference sort gives, with no row lost or repeated; filters keep
// applying; an unknown column is 400 VALIDATION naming `sort`; a cursor of another sort is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';

const bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Every row of a sorted list, following next_cursor with pages of `limit`; asserts pages are full until the last. */
async function walk(get: (path: string) => Promise<any>, path: string, limit: number): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.data);
    if (!page.next_cursor) return out;
    assert.equal(page.data.length, limit, 'a page with a next cursor is full');
    cursor = page.next_cursor;
  }
  throw new Error('too many pages');
}

for (const engine of engines()) {
  describe(`server-side sorting (${engine})`, () => {
    let g: TestGateway;
    let c: Customer;
    const names = ['beta', 'Alpha', 'alpha', 'Ärger', 'beta', 'zeta', 'Beta'];
    const amounts = ['7.00', '1.50', '12.25', '1.50', '300.00', '0.01'];
    before(async () => {
      g = await startTestGateway({ engine, demo: false });
      for (const name of names) await g.admin('POST', '/admin/v1/accounts', { name });
      c = await g.customer('0');
      for (const [i, amount] of amounts.entries()) {
        const r = await g.adminRaw('POST', `/admin/v1/accounts/${c.accountId}/topups`, { amount, method: 'card' }, { 'idempotency-key': `sort-topup-${i}` });
        assert.equal(r.status, 201, r.text);
      }
    });
    after(async () => g?.close());

    test('accounts by name, both ways, two to a page: byte-wise order, ties by id, every account once', async () => {
      const all = (await g.admin('GET', '/admin/v1/accounts?limit=1000')).data as any[];
      const expected = [...all].sort((a, b) => bytes(a.name, b.name) || bytes(a.id, b.id)).map((a) => a.id);
      const up = await walk((p) => g.admin('GET', p), '/admin/v1/accounts?sort=name', 2);
      assert.deepEqual(up.map((a) => a.id), expected);
      const down = await walk((p) => g.admin('GET', p), '/admin/v1/accounts?sort=-name', 2);
      assert.deepEqual(down.map((a) => a.id), [...expected].reverse());
      assert.equal(new Set(up.map((a) => a.name)).has('Ärger'), true);
      assert.ok(up.findIndex((a) => a.name === 'Alpha') < up.findIndex((a) => a.name === 'alpha'), 'upper case sorts before lower case (byte-wise)');
    });

    test("an account's top-ups by amount both ways, for the operator and the customer, across pages", async () => {
      const nanos = (s: string) => BigInt(s.replace('.', '').padEnd(1, '0')) * (s.includes('.') ? 10n ** BigInt(9 - s.split('.')[1]!.length) : 10n ** 9n);
      const up = await walk((p) => g.admin('GET', p), `/admin/v1/accounts/${c.accountId}/topups?sort=amount`, 4);
      assert.equal(up.length, amounts.length);
      const values = up.map((t) => nanos(t.amount));
      assert.deepEqual(values, [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'ascending by amount');
      const ties = up.filter((t) => t.amount === '1.50').map((t) => t.id);
      assert.deepEqual(ties, [...ties].sort(bytes), 'equal amounts in id order');
      const own = async (p: string) => {
        const r = await fetch(g.url + p, { headers: { authorization: `Bearer ${c.key}` } });
        assert.equal(r.status, 200);
        return r.json();
      };
      const down = await walk(own, '/account/v1/topups?sort=-amount', 4);
      assert.deepEqual(down.map((t) => t.id), up.map((t) => t.id).reverse());
      assert.equal(down[0].amount, '300.00');
    });

    test('the audit log (integer ids) by action, and the statement by amount, paged', async () => {
      const all = (await g.admin('GET', '/admin/v1/audit?limit=1000')).data as any[];
      const expected = [...all].sort((a, b) => bytes(a.action, b.action) || a.id - b.id).map((a) => a.id);
      assert.deepEqual((await walk((p) => g.admin('GET', p), '/admin/v1/audit?sort=action', 3)).map((a) => a.id), expected);
      const ledger = await walk((p) => g.admin('GET', p), `/admin/v1/accounts/${c.accountId}/ledger?sort=-amount`, 2);
      assert.equal(ledger.length, amounts.length);
      assert.deepEqual(ledger.map((e) => e.amount), ['300.00', '12.25', '7.00', '1.50', '1.50', '0.01']);
    });

    test('the request log by amount with a filter: the filter holds on every page', async () => {
      const t0 = Date.UTC(2026, 10, 1);
      const rows = [5n, 1n, 9n, 5n, 0n, 7n, 5n, 3n].map((amount, i) => fakeRow({ account_id: c.accountId, key_id: c.keyId, amount, started_at: t0 + i * 1000, model: i % 2 ? 'gpt-4o-mini' : 'claude-sonnet-4-5' }));
      await insertRows(g.s.rt.db, rows);
      const up = await walk((p) => g.admin('GET', p), `/admin/v1/logs?account_id=${c.accountId}&model=gpt-4o-mini&sort=amount`, 3);
      const want = rows.filter((r) => r.model === 'gpt-4o-mini').sort((a, b) => (a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : bytes(a.id, b.id)));
      assert.deepEqual(up.map((r) => r.id), want.map((r) => r.id));
      const down = await walk((p) => g.admin('GET', p), `/admin/v1/logs?account_id=${c.accountId}&sort=-started_at`, 5);
      assert.deepEqual(down.map((r) => r.id), [...rows].reverse().map((r) => r.id));
    });

    test('an unknown column is 400 VALIDATION naming sort on every kind of list; a cursor of another sort is refused', async () => {
      const every = [
        '/admin/v1/accounts', '/admin/v1/logs', '/admin/v1/findings', '/admin/v1/incidents', '/admin/v1/refunds', '/admin/v1/channels', '/admin/v1/models', '/admin/v1/audit',
        '/admin/v1/disputes', '/admin/v1/transfer-notices', '/admin/v1/redemption-batches', '/admin/v1/contracts', '/admin/v1/operators', '/admin/v1/status/components',
        ...['members', 'keys', 'topups', 'credits', 'ledger'].map((x) => `/admin/v1/accounts/${c.accountId}/${x}`),
      ];
      for (const path of every) {
        const r = await g.adminRaw('GET', `${path}?sort=-password_hash`);
        assert.equal(r.status, 400, `${path}: ${r.text}`);
        assert.equal(r.body.error.code, 'VALIDATION');
        assert.equal(r.body.error.field, 'sort');
        assert.match(r.body.error.message, /unknown column "password_hash"/);
      }
      const first = await g.admin('GET', '/admin/v1/accounts?sort=name&limit=2');
      const r = await g.adminRaw('GET', `/admin/v1/accounts?sort=-created_at&limit=2&cursor=${first.next_cursor}`);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.field, 'cursor');
    });

    test('channels sort in memory with the same convention', async () => {
      for (const [name, priority] of [['b-chan', 1], ['a-chan', 5], ['c-chan', 3]] as const) {
        await g.admin('POST', '/admin/v1/channels', { name, provider: 'openai', base_url: 'http://127.0.0.1:9', keys: ['sk-test-0000'], models: ['gpt-4o-mini'], priority });
      }
      assert.deepEqual((await g.admin('GET', '/admin/v1/channels?sort=name')).data.map((x: any) => x.name), ['a-chan', 'b-chan', 'c-chan']);
      assert.deepEqual((await g.admin('GET', '/admin/v1/channels?sort=-priority')).data.map((x: any) => x.priority), [5, 3, 1]);
    });
  });
}
