// The control plane through HTTP (app.inject(), never listening) on every engine: admin routes,
// customer routes, errors, audit, key lifecycle and enterprise roles.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sha256Hex } from '../../src/kernel/ids.ts';
import type { Db } from '../../src/storage/port.ts';
import { engines } from '../helpers/engines.ts';
import { ADMIN_KEY, createTestApp, idem, type Res, type TestApp } from '../helpers/runtime.ts';

const DECIMAL = /^-?\d+\.\d{2,9}$/;
const TABLES = ['accounts', 'api_keys', 'members', 'topups', 'refunds', 'ledger_tx', 'ledger_entries', 'books', 'holds', 'idempotency', 'audit_log', 'redemption_batches', 'redemption_codes'];

async function counts(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = Number((await db.get<{ n: bigint }>(`SELECT COUNT(*) AS n FROM ${t}`))!.n);
  return out;
}

function expectError(r: Res, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.text}`);
  assert.equal(r.body?.error?.code, code, r.text);
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(r.body.error.message.length > 0);
  if (field !== undefined) {
    assert.equal(r.body.error.field, field, r.text);
    assert.ok(r.body.error.message.includes(field), `message names the field: ${r.body.error.message}`);
  }
}

/** Full paths and methods of the routes Fastify registered, from its route tree. */
function registeredRoutes(tree: string): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const full = (depth > 0 ? stack[depth - 1]! : '') + m[2]!;
    stack[depth] = full;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) out.push({ method, url: full });
  }
  return out;
}

for (const engine of engines()) {
  describe(`control plane (${engine})`, () => {
    let t: TestApp;
    let db: Db;

    before(async () => {
      t = await createTestApp(engine, { refundWindowDays: 30, refundFeePctCard: 3, refundFeePctBankTransfer: 0 });
      db = t.rt.db;
    });
    after(async () => {
      await t?.close();
    });

    const newAccount = async (body: Record<string, unknown> = {}) => (await t.admin('POST', '/admin/v1/accounts', { name: `acct ${idem()}`, ...body })).id as string;
    const newKey = async (acct: string, body: Record<string, unknown> = {}) => {
      const k = await t.admin('POST', `/admin/v1/accounts/${acct}/keys`, { name: `key ${idem()}`, ...body });
      return { id: k.id as string, secret: k.key as string, view: k };
    };
    const topup = async (acct: string, body: Record<string, unknown> = {}) =>
      t.admin('POST', `/admin/v1/accounts/${acct}/topups`, { amount: '100.00', method: 'bank_transfer', reference: 'BT-1', ...body }, idem());
    const snapshot = async (acct: string) => ({
      balance: await t.admin('GET', `/admin/v1/accounts/${acct}/balance`),
      ledger: await t.admin('GET', `/admin/v1/accounts/${acct}/ledger`),
      topups: await t.admin('GET', `/admin/v1/accounts/${acct}/topups`),
      audit: await t.admin('GET', `/admin/v1/audit?account_id=${acct}`),
      counts: await counts(db),
    });

    test('accounts: create, get, list, update', async () => {
      const r = await t.req('POST', '/admin/v1/accounts', { body: { name: 'Acme Corp', kind: 'enterprise', email: 'ops@acme.test', credit_line: '25.50', group: 'vip' } });
      assert.equal(r.status, 201, r.text);
      assert.match(r.body.id, /^acct_/);
      assert.equal(r.body.kind, 'enterprise');
      assert.equal(r.body.credit_line, '25.50');
      assert.equal(r.body.group, 'vip');
      assert.equal(r.body.status, 'active');
      const id = r.body.id;
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${id}`)).name, 'Acme Corp');
      const list = await t.admin('GET', '/admin/v1/accounts?limit=1000');
      assert.ok(list.data.some((a: { id: string }) => a.id === id));
      const upd = await t.admin('PATCH', `/admin/v1/accounts/${id}`, { name: 'Acme Inc', spend_order: 'paid_first' });
      assert.equal(upd.name, 'Acme Inc');
      assert.equal(upd.spend_order, 'paid_first');
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${id}`)).name, 'Acme Inc');
      expectError(await t.req('GET', '/admin/v1/accounts/acct_doesnotexist'), 404, 'NOT_FOUND');
      expectError(await t.req('PATCH', '/admin/v1/accounts/acct_doesnotexist', { body: { name: 'x' } }), 404, 'NOT_FOUND');
    });

    test('keys: the secret is returned once and stored only as a hash', async () => {
      const acct = await newAccount();
      const r = await t.req('POST', `/admin/v1/accounts/${acct}/keys`, {
        body: { name: 'ci', models: ['gpt-4o-mini'], rpm: 60, limits: { day: '5.00', month: '100', total: null }, expires_at: '2099-01-01T00:00:00Z' },
      });
      assert.equal(r.status, 201, r.text);
      const secret: string = r.body.key;
      assert.match(secret, /^sk-sur-[A-Za-z0-9]{40}$/);
      assert.equal(r.body.prefix, secret.slice(0, 11));
      assert.deepEqual(r.body.limits, { day: '5.00', month: '100.00', total: null });
      assert.equal(r.body.rpm, 60);
      assert.equal(r.body.expires_at, '2099-01-01T00:00:00.000Z');

      const listed = await t.req('GET', `/admin/v1/accounts/${acct}/keys`);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.data.length, 1);
      assert.equal(listed.body.data[0].id, r.body.id);
      assert.ok(!listed.text.includes(secret), 'the listed key never shows the secret');
      assert.ok(!('key' in listed.body.data[0]) && !('hash' in listed.body.data[0]));
      const own = await t.req('GET', '/account/v1/keys', { key: secret });
      assert.equal(own.status, 200);
      assert.ok(!own.text.includes(secret));
      const me = await t.req('GET', '/account/v1/me', { key: secret });
      assert.equal(me.body.key.id, r.body.id);
      assert.ok(!me.text.includes(secret));

      const row = await db.get('SELECT * FROM api_keys WHERE id = ?', [r.body.id]);
      assert.equal(row!.hash, sha256Hex(secret));
      for (const v of Object.values(row!)) assert.ok(!String(v).includes(secret.slice(11)), 'no column holds the secret');
      // Each key is a distinct secret.
      const second = await newKey(acct);
      assert.notEqual(second.secret, secret);
      assert.equal((await t.req('GET', '/account/v1/balance', { key: secret })).status, 200);
      expectError(await t.req('GET', '/account/v1/balance', { key: secret + 'x' }), 401, 'KEY_INVALID');
      expectError(await t.req('GET', '/account/v1/balance', { key: null }), 401, 'AUTH_REQUIRED');
      expectError(await t.req('POST', '/admin/v1/accounts/acct_doesnotexist/keys', { body: { name: 'x' } }), 404, 'NOT_FOUND');
    });

    test('top-ups: Idempotency-Key required, replayed, conflicting; balance and ledger in decimal strings', async () => {
      const acct = await newAccount();
      const body = { amount: '100.00', method: 'bank_transfer', reference: 'BT-2026-001', contract_number: 'CN-7' };
      const noKey = await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { body });
      expectError(noKey, 400, 'IDEMPOTENCY_KEY_REQUIRED');
      const first = await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { body, idem: 'pay-1' });
      assert.equal(first.status, 201, first.text);
      assert.equal(first.body.amount, '100.00');
      assert.equal(first.body.method, 'bank_transfer');
      assert.equal(first.body.reference, 'BT-2026-001');
      assert.equal(first.body.contract_number, 'CN-7');
      assert.equal(first.headers['idempotent-replayed'], undefined);
      const replay = await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { body, idem: 'pay-1' });
      assert.equal(replay.status, 201);
      assert.equal(replay.body.id, first.body.id);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { body: { ...body, amount: '100.01' }, idem: 'pay-1' }), 409, 'IDEMPOTENCY_CONFLICT');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { body, idem: 'x'.repeat(201) }), 400, 'VALIDATION', 'Idempotency-Key');
      await t.admin('POST', `/admin/v1/accounts/${acct}/topups`, { amount: '50', method: 'card', bonus: '5.000000001' }, 'pay-2');

      const bal = await t.admin('GET', `/admin/v1/accounts/${acct}/balance`);
      assert.deepEqual(bal, {
        account_id: acct,
        currency: 'USD',
        paid: '150.00',
        granted: '5.000000001',
        total: '155.000000001',
        held: '0.00',
        credit_line: '0.00',
        available: '155.000000001',
        balance_expires_at: null,
      });
      for (const k of ['paid', 'granted', 'total', 'held', 'credit_line', 'available'] as const) assert.match(bal[k], DECIMAL);

      const ledger = await t.admin('GET', `/admin/v1/accounts/${acct}/ledger`);
      assert.equal(ledger.data.length, 2);
      assert.deepEqual(
        ledger.data.map((e: Record<string, unknown>) => [e.kind, e.amount, e.paid, e.granted]),
        [
          ['topup', '55.000000001', '50.00', '5.000000001'],
          ['topup', '100.00', '100.00', '0.00'],
        ],
      );
      assert.equal(ledger.data[1].ref_id, first.body.id);
      const page1 = await t.admin('GET', `/admin/v1/accounts/${acct}/ledger?limit=1`);
      assert.equal(page1.data.length, 1);
      assert.equal(page1.next_before, page1.data[0].tx_id);
      const page2 = await t.admin('GET', `/admin/v1/accounts/${acct}/ledger?limit=1&before=${page1.next_before}`);
      assert.equal(page2.data[0].tx_id, ledger.data[1].tx_id);
      const topups = await t.admin('GET', `/admin/v1/accounts/${acct}/topups`);
      assert.equal(topups.data.length, 2);

      // The customer sees the same numbers.
      const key = await newKey(acct);
      const cb = await t.req('GET', '/account/v1/balance', { key: key.secret });
      assert.deepEqual(cb.body, bal);
      const cl = await t.req('GET', '/account/v1/ledger', { key: key.secret });
      assert.deepEqual(cl.body.data, ledger.data);
      const ct = await t.req('GET', '/account/v1/topups', { key: key.secret });
      assert.deepEqual(ct.body.data.map((x: { id: string }) => x.id), topups.data.map((x: { id: string }) => x.id));
      expectError(await t.req('POST', '/admin/v1/accounts/acct_doesnotexist/topups', { body, idem: idem() }), 404, 'NOT_FOUND');
    });

    test('bad input gets 400 naming the field and changes nothing', async () => {
      const acct = await newAccount({ kind: 'enterprise' });
      await topup(acct);
      const before = await snapshot(acct);
      const url = `/admin/v1/accounts/${acct}/topups`;
      const base = { amount: '1.00', method: 'card' };

      const bad = await t.req('POST', url, { raw: '{"amount": "1.00",', idem: idem() });
      expectError(bad, 400, 'INVALID_JSON');
      expectError(await t.req('POST', url, { raw: 'amount=1', idem: idem(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await t.req('POST', url, { body: [], idem: idem() }), 400, 'VALIDATION', 'body');
      expectError(await t.req('POST', url, { body: { ...base, foo: 1 }, idem: idem() }), 400, 'VALIDATION', 'foo');
      expectError(await t.req('POST', url, { body: { ...base, amount: 100 }, idem: idem() }), 400, 'VALIDATION', 'amount');
      for (const amount of ['1e3', '-5', '0.0000000001', 'abc', '', '0', '0.00', ' 1.00', '1,000.00', '+1', '.5', '1000000000.01', '9223372036.854775808', '007']) {
        const r = await t.req('POST', url, { body: { ...base, amount }, idem: idem() });
        expectError(r, 400, 'VALIDATION', 'amount');
      }
      expectError(await t.req('POST', url, { body: { ...base, method: 'cash' }, idem: idem() }), 400, 'VALIDATION', 'method');
      expectError(await t.req('POST', url, { body: { amount: '1.00', method: 'bank_transfer' }, idem: idem() }), 400, 'VALIDATION', 'reference');
      expectError(await t.req('POST', url, { body: { ...base, bonus: '-1' }, idem: idem() }), 400, 'VALIDATION', 'bonus');
      expectError(await t.req('POST', url, { body: { ...base, invoiced: 'yes' }, idem: idem() }), 400, 'VALIDATION', 'invoiced');
      expectError(await t.req('POST', url, { body: { method: 'card' }, idem: idem() }), 400, 'VALIDATION', 'amount');
      // Refund, hold, key, member, account, batch inputs.
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/refunds`, { body: { topup_id: 'x', amount: 'abc' }, idem: idem() }), 400, 'VALIDATION', 'amount');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/refunds`, { body: { amount: '1.00' }, idem: idem() }), 400, 'VALIDATION', 'topup_id');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '1e3' }, idem: idem() }), 400, 'VALIDATION', 'amount');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '1.00', ttl_seconds: 0 }, idem: idem() }), 400, 'VALIDATION', 'ttl_seconds');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'k', limits: { weekly: '1.00' } } }), 400, 'VALIDATION', 'limits.weekly');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'k', limits: { day: '-1' } } }), 400, 'VALIDATION', 'limits.day');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'k', ips: ['300.1.1.1'] } }), 400, 'VALIDATION', 'ips.0');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'k', expires_at: 'tomorrow' } }), 400, 'VALIDATION', 'expires_at');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'k', rpm: 1.5 } }), 400, 'VALIDATION', 'rpm');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: '' } }), 400, 'VALIDATION', 'name');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: {} }), 400, 'VALIDATION', 'name');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/members`, { body: { email: 'not-an-email', role: 'member' } }), 400, 'VALIDATION', 'email');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/members`, { body: { email: 'a@b.test', role: 'god' } }), 400, 'VALIDATION', 'role');
      expectError(await t.req('PATCH', `/admin/v1/accounts/${acct}`, { body: { credit_line: '1e3' } }), 400, 'VALIDATION', 'credit_line');
      expectError(await t.req('PATCH', `/admin/v1/accounts/${acct}`, { body: { status: 'deleted' } }), 400, 'VALIDATION', 'status');
      expectError(await t.req('PATCH', `/admin/v1/accounts/${acct}`, { body: { name: 7 } }), 400, 'VALIDATION', 'name');
      expectError(await t.req('POST', '/admin/v1/accounts', { body: { name: 'x', kind: 'corp' } }), 400, 'VALIDATION', 'kind');
      expectError(await t.req('POST', '/admin/v1/accounts', { body: { name: 'x', extra: true } }), 400, 'VALIDATION', 'extra');
      expectError(await t.req('POST', '/admin/v1/accounts', { body: { name: 'x', group: 'Bad Group' } }), 400, 'VALIDATION', 'group');
      expectError(await t.req('POST', '/admin/v1/redemption-batches', { body: { count: 0, amount: '1.00' } }), 400, 'VALIDATION', 'count');
      expectError(await t.req('POST', '/admin/v1/redemption-batches', { body: { count: 1, amount: '-5' } }), 400, 'VALIDATION', 'amount');
      expectError(await t.req('POST', '/admin/v1/redemption-batches', { body: { count: '3', amount: '1.00' } }), 400, 'VALIDATION', 'count');
      expectError(await t.req('GET', `/admin/v1/accounts/${acct}/ledger?limit=abc`), 400, 'VALIDATION', 'limit');
      expectError(await t.req('GET', `/admin/v1/accounts/${acct}/ledger?limit=0`), 400, 'VALIDATION', 'limit');
      expectError(await t.req('GET', '/admin/v1/refunds?status=maybe'), 400, 'VALIDATION', 'status');
      expectError(await t.req('GET', '/admin/v1/audit?before=abc'), 400, 'VALIDATION', 'before');
      expectError(await t.req('GET', '/admin/v1/audit?before=1e999'), 400, 'VALIDATION', 'before');
      expectError(await t.req('GET', '/admin/v1/nothing-here'), 404, 'ROUTE_NOT_FOUND');

      assert.deepEqual(await snapshot(acct), before, 'nothing changed');
      // A key used by a rejected request is not burnt.
      const okRes = await t.req('POST', url, { body: base, idem: 'after-errors' });
      assert.equal(okRes.status, 201);
      const r2 = await t.req('POST', url, { body: { ...base, amount: 'abc' }, idem: 'after-errors' });
      expectError(r2, 400, 'VALIDATION', 'amount');
    });

    test('operator authentication: a wrong or missing key gets 401, a customer key 403, and nothing happens', async () => {
      const acct = await newAccount();
      const key = await newKey(acct);
      const gone = await newKey(acct);
      await t.admin('DELETE', `/admin/v1/accounts/${acct}/keys/${gone.id}`);
      const before = await counts(db);
      expectError(await t.req('POST', '/admin/v1/accounts', { key: 'sa-wrong-key-000000000000000000', body: { name: 'x' } }), 401, 'KEY_INVALID');
      expectError(await t.req('POST', '/admin/v1/accounts', { key: null, body: { name: 'x' } }), 401, 'AUTH_REQUIRED');
      // A valid customer key is the wrong kind of key (403); a revoked or unknown one is no key at all (401).
      const wrongKind = await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { key: key.secret, body: { amount: '1.00', method: 'card' }, idem: idem() });
      expectError(wrongKind, 403, 'FORBIDDEN');
      assert.match(wrongKind.body.error.message, /for the operator/);
      expectError(await t.req('GET', '/admin/v1/accounts', { key: key.secret }), 403, 'FORBIDDEN');
      expectError(await t.req('GET', '/admin/v1/accounts', { key: `${key.secret}x` }), 401, 'KEY_INVALID');
      expectError(await t.req('GET', '/admin/v1/accounts', { key: gone.secret }), 401, 'KEY_INVALID');
      expectError(await t.req('GET', `/admin/v1/accounts/${acct}/balance`, { key: ADMIN_KEY.slice(0, -1) }), 401, 'KEY_INVALID');
      expectError(await t.req('GET', '/admin/v1/accounts', { key: null, headers: { authorization: `Basic ${ADMIN_KEY}` } }), 401, 'AUTH_REQUIRED');
      // The operator key is not a customer key.
      expectError(await t.req('GET', '/account/v1/balance', { key: ADMIN_KEY }), 401, 'KEY_INVALID');
      assert.deepEqual(await counts(db), before);
      // x-api-key works as well as a bearer token.
      const r = await t.req('GET', '/admin/v1/accounts?limit=1', { key: null, headers: { 'x-api-key': ADMIN_KEY } });
      assert.equal(r.status, 200);
    });

    test('every operator action writes one audit row: actor, action, target, before/after', async () => {
      const ent = await newAccount({ kind: 'enterprise' });
      const audit = async () => (await t.admin('GET', '/admin/v1/audit?limit=1')).data[0];
      const steps: Array<{ action: string; targetType: string; fn: () => Promise<any>; target: (out: any) => string }> = [];
      let keyId = '';
      let memberId = '';
      let topupId = '';
      let holdId = '';
      let refundId = '';
      let refund2 = '';
      let code = '';
      const add = (action: string, targetType: string, fn: () => Promise<any>, target: (out: any) => string) => steps.push({ action, targetType, fn, target });
      add('account.create', 'account', () => t.admin('POST', '/admin/v1/accounts', { name: 'Audited' }), (o) => o.id);
      add('account.update', 'account', () => t.admin('PATCH', `/admin/v1/accounts/${ent}`, { name: 'Renamed', credit_line: '1.00' }), () => ent);
      add('member.add', 'member', async () => {
        const m = await t.admin('POST', `/admin/v1/accounts/${ent}/members`, { email: 'Dev@Acme.test', role: 'member' });
        memberId = m.id;
        return m;
      }, (o) => o.id);
      add('member.update', 'member', () => t.admin('PATCH', `/admin/v1/accounts/${ent}/members/${memberId}`, { role: 'viewer' }), () => memberId);
      add('key.create', 'key', async () => {
        const k = await t.admin('POST', `/admin/v1/accounts/${ent}/keys`, { name: 'audited key' });
        keyId = k.id;
        return k;
      }, (o) => o.id);
      add('key.update', 'key', () => t.admin('PATCH', `/admin/v1/accounts/${ent}/keys/${keyId}`, { rpm: 10 }), () => keyId);
      add('key.revoke', 'key', () => t.admin('DELETE', `/admin/v1/accounts/${ent}/keys/${keyId}`), () => keyId);
      add('member.remove', 'member', () => t.admin('DELETE', `/admin/v1/accounts/${ent}/members/${memberId}`), () => memberId);
      add('topup.record', 'topup', async () => {
        const tp = await t.admin('POST', `/admin/v1/accounts/${ent}/topups`, { amount: '60.00', method: 'card', bonus: '6.00' }, idem());
        topupId = tp.id;
        return tp;
      }, (o) => o.id);
      add('redemption_batch.create', 'redemption_batch', async () => {
        const b = await t.admin('POST', '/admin/v1/redemption-batches', { count: 1, amount: '1.00' });
        code = b.codes[0];
        return b;
      }, (o) => o.id);
      add('redemption_code.redeem', 'redemption_code', () => t.admin('POST', `/admin/v1/accounts/${ent}/redeem`, { code }), () => '');
      add('hold.create', 'hold', async () => {
        const h = await t.admin('POST', `/admin/v1/accounts/${ent}/holds`, { amount: '2.00' }, idem());
        holdId = h.id;
        return h;
      }, (o) => o.id);
      add('hold.post', 'hold', () => t.admin('POST', `/admin/v1/holds/${holdId}/post`, { amount: '1.50' }, idem()), () => holdId);
      add('hold.create', 'hold', async () => {
        const h = await t.admin('POST', `/admin/v1/accounts/${ent}/holds`, { amount: '2.00' }, idem());
        holdId = h.id;
        return h;
      }, (o) => o.id);
      add('hold.void', 'hold', () => t.admin('POST', `/admin/v1/holds/${holdId}/void`), () => holdId);
      add('refund.request', 'refund', async () => {
        const r = await t.admin('POST', `/admin/v1/accounts/${ent}/refunds`, { topup_id: topupId, amount: '10.00' }, idem());
        refundId = r.id;
        return r;
      }, (o) => o.id);
      add('refund.approve', 'refund', () => t.admin('POST', `/admin/v1/refunds/${refundId}/approve`, { note: 'ok' }), () => refundId);
      add('refund.request', 'refund', async () => {
        const r = await t.admin('POST', `/admin/v1/accounts/${ent}/refunds`, { topup_id: topupId, amount: '5.00' }, idem());
        refund2 = r.id;
        return r;
      }, (o) => o.id);
      add('refund.reject', 'refund', () => t.admin('POST', `/admin/v1/refunds/${refund2}/reject`, { note: 'no' }), () => refund2);

      for (const { action, targetType, fn, target } of steps) {
        const n = (await counts(db)).audit_log;
        const out = await fn();
        assert.equal((await counts(db)).audit_log, n + 1, `${action} writes exactly one audit row`);
        const row = await audit();
        assert.equal(row.action, action);
        assert.equal(row.actor, 'operator:admin');
        assert.equal(row.actor_type, 'operator');
        assert.equal(row.target_type, targetType);
        const want = target(out);
        if (want) assert.equal(row.target_id, want);
        assert.ok(row.after !== null, `${action} records the state after`);
      }
      // Updates carry both sides.
      const upd = (await t.admin('GET', `/admin/v1/audit?target_id=${ent}&action=account.update`)).data[0];
      assert.match(upd.before.name, /^acct /);
      assert.equal(upd.after.name, 'Renamed');
      assert.equal(upd.before.credit_line, '0');
      assert.equal(upd.after.credit_line, '1000000000');
      assert.equal(upd.account_id, ent);
      const rev = (await t.admin('GET', `/admin/v1/audit?target_id=${keyId}&action=key.revoke`)).data[0];
      assert.equal(rev.before.status, 'active');
      assert.equal(rev.after.status, 'revoked');
      const appr = (await t.admin('GET', `/admin/v1/audit?target_id=${refundId}&action=refund.approve`)).data[0];
      assert.equal(appr.before.status, 'pending');
      assert.equal(appr.after.status, 'approved');
      assert.equal(appr.after.fee, '300000000');
      const create = (await t.admin('GET', '/admin/v1/audit?action=account.create&limit=1000')).data;
      assert.ok(create.every((r: { before: unknown }) => r.before === null));
      // Reads write nothing.
      const n = (await counts(db)).audit_log;
      await t.admin('GET', `/admin/v1/accounts/${ent}/balance`);
      await t.admin('GET', `/admin/v1/accounts/${ent}/keys`);
      await t.admin('GET', '/admin/v1/refunds');
      assert.equal((await counts(db)).audit_log, n);
    });

    test('secrets never reach the audit log', async () => {
      const acct = await newAccount();
      const key = await newKey(acct);
      const batch = await t.admin('POST', '/admin/v1/redemption-batches', { count: 2, amount: '1.00' });
      const all = JSON.stringify(await db.all('SELECT before_json, after_json FROM audit_log'));
      assert.ok(!all.includes(key.secret.slice(11)));
      for (const c of batch.codes as string[]) assert.ok(!all.includes(c.slice(3)), 'redemption codes are not audited in clear');
    });

    test('refunds: request (customer and operator), list, approve, approve again, reject', async () => {
      const acct = await newAccount();
      const owner = await newKey(acct);
      const top = await topup(acct, { amount: '80.00', method: 'card', reference: 'ch_9' });
      expectError(await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: top.id } }), 400, 'IDEMPOTENCY_KEY_REQUIRED');
      const r = await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: top.id, amount: '30.00', reason: 'unused' }, idem: 'rf-1' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.status, 'pending');
      assert.equal(r.body.amount, '30.00');
      const again = await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: top.id, amount: '30.00', reason: 'unused' }, idem: 'rf-1' });
      assert.equal(again.body.id, r.body.id);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      expectError(await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: top.id, amount: '31.00' }, idem: 'rf-1' }), 409, 'IDEMPOTENCY_CONFLICT');
      expectError(await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: top.id, amount: '50.01' }, idem: idem() }), 409, 'REFUND_NOT_ALLOWED');

      const pending = await t.admin('GET', `/admin/v1/refunds?status=pending&account_id=${acct}`);
      assert.deepEqual(pending.data.map((x: { id: string }) => x.id), [r.body.id]);
      // Pending: nothing is decided yet, so no fee or payout; the estimates say what approval would do now.
      const est = (x: Record<string, unknown>) => [x.fee, x.bonus_clawback, x.payout, x.fee_estimate, x.bonus_clawback_estimate, x.payout_estimate];
      assert.deepEqual(est(r.body), [null, null, null, '0.90', '0.00', '29.10']);
      assert.deepEqual(est(pending.data[0]), [null, null, null, '0.90', '0.00', '29.10']);
      assert.deepEqual(est((await t.req('GET', `/account/v1/refunds/${r.body.id}`, { key: owner.secret })).body), [null, null, null, '0.90', '0.00', '29.10']);
      const ledgerBefore = await t.admin('GET', `/admin/v1/accounts/${acct}/ledger`);
      const ap = await t.admin('POST', `/admin/v1/refunds/${r.body.id}/approve`, { note: 'ok' });
      assert.equal(ap.status, 'approved');
      assert.deepEqual(est(ap), ['0.90', '0.00', '29.10', null, null, null]);
      const ap2 = await t.admin('POST', `/admin/v1/refunds/${r.body.id}/approve`, {});
      assert.equal(ap2.tx_id, ap.tx_id);
      const ledgerAfter = await t.admin('GET', `/admin/v1/accounts/${acct}/ledger`);
      assert.equal(ledgerAfter.data.length, ledgerBefore.data.length + 1);
      assert.deepEqual([ledgerAfter.data[0].kind, ledgerAfter.data[0].amount], ['refund', '-30.00']);
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${acct}/balance`)).paid, '50.00');
      const tops = await t.admin('GET', `/admin/v1/accounts/${acct}/topups`);
      assert.equal(tops.data[0].refunded, '30.00');

      const op2 = await t.admin('POST', `/admin/v1/accounts/${acct}/refunds`, { topup_id: top.id, amount: '5.00' }, idem());
      const rj = await t.admin('POST', `/admin/v1/refunds/${op2.id}/reject`, { note: 'duplicate' });
      assert.equal(rj.status, 'rejected');
      assert.equal(rj.decision_note, 'duplicate');
      assert.deepEqual(est(rj), [null, null, null, null, null, null]);
      expectError(await t.req('POST', `/admin/v1/refunds/${op2.id}/approve`, { body: {} }), 409, 'CONFLICT');
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${acct}/balance`)).paid, '50.00');
      expectError(await t.req('POST', '/admin/v1/refunds/rfd_nope/approve', { body: {} }), 404, 'NOT_FOUND');

      const mine = await t.req('GET', '/account/v1/refunds', { key: owner.secret });
      assert.deepEqual(mine.body.data.map((x: { id: string }) => x.id).sort(), [r.body.id, op2.id].sort());
      const one = await t.req('GET', `/account/v1/refunds/${r.body.id}`, { key: owner.secret });
      assert.equal(one.body.status, 'approved');
      assert.equal((await t.admin('GET', `/admin/v1/refunds/${op2.id}`)).status, 'rejected');

      // With a bonus: the estimate takes back its share, from granted as far as it goes, the rest off the payout.
      const bonused = await newAccount();
      const bt = await topup(bonused, { amount: '100.00', method: 'card', reference: 'ch_10', bonus: '20.00' });
      const half = await t.admin('POST', `/admin/v1/accounts/${bonused}/refunds`, { topup_id: bt.id, amount: '50.00' }, idem());
      assert.deepEqual(est(half), [null, null, null, '1.50', '10.00', '48.50']);
      const h = await t.admin('POST', `/admin/v1/accounts/${bonused}/holds`, { amount: '16.00' }, idem());
      await t.admin('POST', `/admin/v1/holds/${h.id}/post`, { amount: '16.00' }, idem());
      const later = await t.admin('GET', `/admin/v1/refunds/${half.id}`);
      assert.deepEqual(est(later), [null, null, null, '1.50', '10.00', '42.50'], '4.00 of granted left: 6.00 of the bonus comes off the payout');
      assert.deepEqual(est(await t.admin('POST', `/admin/v1/refunds/${half.id}/approve`, {})), ['1.50', '10.00', '42.50', null, null, null]);

      const invoiced = await topup(acct, { amount: '10.00', invoiced: true });
      expectError(await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: invoiced.id }, idem: idem() }), 409, 'REFUND_NOT_ALLOWED');
      t.clock.advanceDays(31);
      expectError(await t.req('POST', '/account/v1/refunds', { key: owner.secret, body: { topup_id: top.id }, idem: idem() }), 409, 'REFUND_WINDOW_CLOSED');
    });

    test('redemption batches: codes shown once, hints only afterwards, each redeems once', async () => {
      const acct = await newAccount();
      const key = await newKey(acct);
      const b = await t.req('POST', '/admin/v1/redemption-batches', { body: { count: 3, amount: '5.00', note: 'promo' } });
      assert.equal(b.status, 201, b.text);
      assert.equal(b.body.codes.length, 3);
      for (const c of b.body.codes) assert.match(c, /^SR-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
      const codes = await t.req('GET', `/admin/v1/redemption-batches/${b.body.id}/codes`);
      assert.equal(codes.body.data.length, 3);
      for (const c of b.body.codes) assert.ok(!codes.text.includes(c.slice(3)), 'listing shows hints only');
      const red = await t.req('POST', '/account/v1/redeem', { key: key.secret, body: { code: b.body.codes[0] } });
      assert.equal(red.status, 201, red.text);
      assert.equal(red.body.method, 'redemption_code');
      assert.equal(red.body.amount, '5.00');
      assert.equal(red.body.refundable, false);
      expectError(await t.req('POST', '/account/v1/redeem', { key: key.secret, body: { code: b.body.codes[0] } }), 409, 'REDEMPTION_CODE_USED');
      expectError(await t.req('POST', '/account/v1/redeem', { key: key.secret, body: { code: 'SR-2222-2222-2222-2222' } }), 404, 'REDEMPTION_CODE_INVALID');
      expectError(await t.req('POST', '/account/v1/redeem', { key: key.secret, body: { code: 5 } }), 400, 'VALIDATION', 'code');
      const viaAdmin = await t.admin('POST', `/admin/v1/accounts/${acct}/redeem`, { code: b.body.codes[1] });
      assert.equal(viaAdmin.amount, '5.00');
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${acct}/balance`)).paid, '10.00');
      const after = await t.admin('GET', `/admin/v1/redemption-batches/${b.body.id}/codes`);
      assert.equal(after.data.filter((c: { redeemed_by: string | null }) => c.redeemed_by === acct).length, 2);
      expectError(await t.req('GET', '/admin/v1/redemption-batches/rcb_nope/codes'), 404, 'NOT_FOUND');
      // Batches are listed newest first, with how many of their codes were redeemed, and paged.
      const second = await t.admin('POST', '/admin/v1/redemption-batches', { count: 2, amount: '2.00', bucket: 'granted', note: 'second' });
      const listed = await t.admin('GET', '/admin/v1/redemption-batches?limit=2');
      assert.deepEqual(listed.data.map((x: { id: string; count: number; redeemed: number }) => [x.id, x.count, x.redeemed]), [[second.id, 2, 0], [b.body.id, 3, 2]]);
      assert.deepEqual([listed.data[1].amount, listed.data[1].note, listed.data[0].bucket], ['5.00', 'promo', 'granted']);
      assert.equal(listed.next_before, b.body.id);
      const older = await t.admin('GET', `/admin/v1/redemption-batches?before=${b.body.id}&limit=1000`);
      assert.ok(older.data.every((x: { id: string }) => x.id < b.body.id));
      assert.ok(!JSON.stringify(listed).includes(b.body.codes[2].slice(3)), 'no code in the listing');
      expectError(await t.req('GET', '/admin/v1/redemption-batches?limit=0'), 400, 'VALIDATION', 'limit');
      const exp = await t.admin('POST', '/admin/v1/redemption-batches', { count: 1, amount: '1.00', expires_at: new Date(t.clock.now() + 60_000).toISOString() });
      t.clock.advance(120_000);
      expectError(await t.req('POST', '/account/v1/redeem', { key: key.secret, body: { code: exp.codes[0] } }), 410, 'REDEMPTION_CODE_EXPIRED');
    });

    test('credits: goodwill over the admin API (idempotent, memo required); the customer sees its credits', async () => {
      const acct = await newAccount();
      const key = await newKey(acct);
      const url = `/admin/v1/accounts/${acct}/credits`;
      const body = { amount: '5.00', memo: 'sorry for the outage', ref_type: 'ticket', ref_id: 'T-1' };
      expectError(await t.req('POST', url, { body }), 400, 'IDEMPOTENCY_KEY_REQUIRED');
      const before = await counts(db);
      expectError(await t.req('POST', url, { body: { amount: '5.00' }, idem: idem() }), 400, 'VALIDATION', 'memo');
      expectError(await t.req('POST', url, { body: { ...body, kind: 'sla' }, idem: idem() }), 400, 'VALIDATION', 'kind');
      expectError(await t.req('POST', url, { body: { amount: '5.00', memo: 'x', ref_type: 'ticket' }, idem: idem() }), 400, 'VALIDATION', 'ref_id');
      expectError(await t.req('POST', '/admin/v1/accounts/acct_none/credits', { body, idem: idem() }), 404, 'NOT_FOUND');
      assert.deepEqual(await counts(db), before, 'refused calls change nothing');
      const r = await t.req('POST', url, { body, idem: 'gw-1' });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual([r.body.kind, r.body.amount, r.body.memo, r.body.ref_type, r.body.ref_id], ['goodwill', '5.00', 'sorry for the outage', 'ticket', 'T-1']);
      const again = await t.req('POST', url, { body, idem: 'gw-1' });
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body.id, r.body.id);
      expectError(await t.req('POST', url, { body: { ...body, amount: '6.00' }, idem: 'gw-1' }), 409, 'IDEMPOTENCY_CONFLICT');
      const bal = await t.admin('GET', `/admin/v1/accounts/${acct}/balance`);
      assert.deepEqual([bal.granted, bal.paid], ['5.00', '0.00']);
      const ledger = await t.admin('GET', `/admin/v1/accounts/${acct}/ledger`);
      assert.deepEqual(ledger.data.map((e: { kind: string; granted: string; ref_id: string }) => [e.kind, e.granted, e.ref_id]), [['credit', '5.00', r.body.id]]);
      const mine = await t.req('GET', '/account/v1/credits', { key: key.secret });
      assert.deepEqual(mine.body.data.map((c: { id: string }) => c.id), [r.body.id]);
      assert.deepEqual((await t.admin('GET', `${url}?limit=1`)).next_before, r.body.id);
    });

    test('redemption guessing is throttled per account and per client address', async () => {
      const { body: batch } = await t.req('POST', '/admin/v1/redemption-batches', { body: { count: 4, amount: '1.00' } });
      const [codeA, codeB, codeC, codeD] = batch.codes as string[];
      const [a, b, c, d] = [await newAccount(), await newAccount(), await newAccount(), await newAccount()];
      const [ka, kb, kc, kd] = [await newKey(a), await newKey(b), await newKey(c), await newKey(d)];
      const redeem = (k: { secret: string }, code: string, ip: string) => t.req('POST', '/account/v1/redeem', { key: k.secret, body: { code }, ip });
      const guess = (i: number) => `SR-2222-2222-2222-${String(i).padStart(4, '2').replace(/[01]/g, '3')}`;
      // Ten failures from one account (spread over addresses) use up the account's attempts.
      for (let i = 0; i < 10; i++) expectError(await redeem(ka, guess(i), `198.51.100.${i}`), 404, 'REDEMPTION_CODE_INVALID');
      const limited = await redeem(ka, codeA!, '198.51.100.99');
      expectError(limited, 429, 'RATE_LIMITED');
      assert.equal(limited.headers['retry-after'], '600');
      assert.equal(limited.body.error.retry_after, 600);
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${a}/balance`)).paid, '0.00', 'a real code is refused too while throttled');
      // Ten failures from one address (spread over accounts) use up the address's attempts, for every account.
      for (let i = 0; i < 10; i++) expectError(await redeem(i % 2 ? kb : kc, guess(20 + i), '203.0.113.7'), 404, 'REDEMPTION_CODE_INVALID');
      expectError(await redeem(kd, codeD!, '203.0.113.7'), 429, 'RATE_LIMITED');
      // The same accounts from another address are fine (each has 5 failures).
      assert.equal((await redeem(kb, codeB!, '203.0.113.8')).status, 201);
      // A success resets nothing: nine failures and a real code from one account, then one failure of
      // another account from the same address, and the address has used up its attempts.
      const [e, f] = [await newAccount(), await newAccount()];
      const [ke, kf] = [await newKey(e), await newKey(f)];
      for (let i = 0; i < 9; i++) expectError(await redeem(ke, guess(40 + i), '192.0.2.1'), 404, 'REDEMPTION_CODE_INVALID');
      assert.equal((await redeem(ke, codeC!, '192.0.2.1')).status, 201);
      expectError(await redeem(kf, codeC!, '192.0.2.1'), 409, 'REDEMPTION_CODE_USED');
      expectError(await redeem(kf, codeD!, '192.0.2.1'), 429, 'RATE_LIMITED');
      // After the window, attempts are allowed again.
      t.clock.advance(10 * 60_000 + 1);
      assert.equal((await redeem(ka, codeA!, '198.51.100.99')).status, 201);
      assert.equal((await redeem(kd, codeD!, '203.0.113.7')).status, 201);
      assert.deepEqual(
        await Promise.all([a, b, c, d, e, f].map(async (x) => (await t.admin('GET', `/admin/v1/accounts/${x}/balance`)).paid)),
        ['1.00', '1.00', '0.00', '1.00', '1.00', '0.00'],
      );
    });

    test('members (operator): add, list, change role, remove; individual accounts have none', async () => {
      const ent = await newAccount({ kind: 'enterprise' });
      const m = await t.req('POST', `/admin/v1/accounts/${ent}/members`, { body: { email: 'Boss@Acme.test', name: 'Boss', role: 'owner' } });
      assert.equal(m.status, 201, m.text);
      assert.equal(m.body.email, 'boss@acme.test');
      const dev = await t.admin('POST', `/admin/v1/accounts/${ent}/members`, { email: 'dev@acme.test', role: 'member' });
      expectError(await t.req('POST', `/admin/v1/accounts/${ent}/members`, { body: { email: 'DEV@acme.test', role: 'viewer' } }), 409, 'CONFLICT');
      const list = await t.admin('GET', `/admin/v1/accounts/${ent}/members`);
      assert.deepEqual(list.data.map((x: { email: string }) => x.email), ['boss@acme.test', 'dev@acme.test']);
      assert.equal((await t.admin('PATCH', `/admin/v1/accounts/${ent}/members/${dev.id}`, { role: 'admin' })).role, 'admin');
      expectError(await t.req('PATCH', `/admin/v1/accounts/${ent}/members/${m.body.id}`, { body: { role: 'admin' } }), 409, 'CONFLICT');
      expectError(await t.req('DELETE', `/admin/v1/accounts/${ent}/members/${m.body.id}`), 409, 'CONFLICT');
      const devKey = await newKey(ent, { member_id: dev.id });
      assert.equal(devKey.view.role, 'admin');
      assert.equal((await t.req('GET', '/account/v1/balance', { key: devKey.secret })).status, 200);
      const devKey2 = await newKey(ent, { member_id: dev.id });
      const revokedAlready = await newKey(ent, { member_id: dev.id });
      await t.admin('DELETE', `/admin/v1/accounts/${ent}/keys/${revokedAlready.id}`);
      await t.admin('DELETE', `/admin/v1/accounts/${ent}/members/${dev.id}`);
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${ent}/members`)).data.length, 1);
      expectError(await t.req('GET', '/account/v1/balance', { key: devKey.secret }), 401, 'KEY_REVOKED');
      // Revoked as any key is: one key.revoke audit entry per key, by the actor who removed the member.
      for (const k of [devKey, devKey2, revokedAlready]) {
        const entries = await t.admin('GET', `/admin/v1/audit?target_id=${k.id}&action=key.revoke`);
        assert.equal(entries.data.length, 1, k.id);
        assert.equal(entries.data[0].after.status, 'revoked');
        assert.equal(entries.data[0].actor_type, 'operator');
      }
      const keys = (await t.admin('GET', `/admin/v1/accounts/${ent}/keys`)).data.filter((k: { member_id: string }) => k.member_id === dev.id);
      assert.deepEqual(keys.map((k: { status: string }) => k.status), ['revoked', 'revoked', 'revoked']);
      const removal = await t.admin('GET', `/admin/v1/audit?target_id=${dev.id}&action=member.remove`);
      assert.deepEqual(removal.data[0].after.keys_revoked.sort(), [devKey.id, devKey2.id].sort());
      expectError(await t.req('PATCH', `/admin/v1/accounts/${ent}/members/mem_nope`, { body: { role: 'admin' } }), 404, 'NOT_FOUND');
      const ind = await newAccount();
      expectError(await t.req('POST', `/admin/v1/accounts/${ind}/members`, { body: { email: 'x@y.test', role: 'member' } }), 409, 'CONFLICT');
      expectError(await t.req('POST', `/admin/v1/accounts/${ind}/keys`, { body: { name: 'k', member_id: m.body.id } }), 400, 'VALIDATION', 'member_id');
    });

    test('holds over the admin API', async () => {
      const acct = await newAccount();
      await topup(acct, { amount: '10.00' });
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '1.00' } }), 400, 'IDEMPOTENCY_KEY_REQUIRED');
      // A hold is attributed to a key of its own account only.
      const other = await newAccount();
      const othersKey = await newKey(other);
      const before = await counts(db);
      const foreign = await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '1.00', key_id: othersKey.id }, idem: idem() });
      expectError(foreign, 404, 'NOT_FOUND');
      assert.equal(foreign.body.error.resource, 'key');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '1.00', key_id: 'key_nope' }, idem: idem() }), 404, 'NOT_FOUND');
      assert.deepEqual(await counts(db), before);
      const ownKey = await newKey(acct);
      const attributed = await t.admin('POST', `/admin/v1/accounts/${acct}/holds`, { amount: '1.00', key_id: ownKey.id }, idem());
      assert.equal(attributed.key_id, ownKey.id);
      await t.admin('POST', `/admin/v1/holds/${attributed.id}/void`);
      const h = await t.admin('POST', `/admin/v1/accounts/${acct}/holds`, { amount: '4.00', reference: 'req-1' }, idem());
      assert.equal(h.status, 'open');
      assert.equal((await t.admin('GET', `/admin/v1/accounts/${acct}/balance`)).available, '6.00');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '6.01' }, idem: idem() }), 402, 'INSUFFICIENT_BALANCE');
      expectError(await t.req('POST', `/admin/v1/holds/${h.id}/post`, { body: { amount: '4.01' }, idem: idem() }), 409, 'HOLD_EXCEEDED');
      const p = await t.admin('POST', `/admin/v1/holds/${h.id}/post`, { amount: '2.50' }, idem());
      assert.equal(p.status, 'posted');
      assert.equal(p.posted, '2.50');
      expectError(await t.req('POST', `/admin/v1/holds/${h.id}/void`), 409, 'HOLD_NOT_OPEN');
      assert.equal((await t.admin('GET', `/admin/v1/holds/${h.id}`)).status, 'posted');
      const bal = await t.admin('GET', `/admin/v1/accounts/${acct}/balance`);
      assert.equal(bal.paid, '7.50');
      assert.equal(bal.held, '0.00');
      const v = await t.admin('GET', '/admin/v1/ledger/verify');
      assert.equal(v.ok, true, JSON.stringify(v.problems));
      await db.run('UPDATE accounts SET held = held + 1 WHERE id = ?', [acct]);
      const bad = await t.req('GET', '/admin/v1/ledger/verify');
      assert.equal(bad.status, 409);
      assert.equal(bad.body.ok, false);
      assert.deepEqual(bad.body.problems.map((x: { check: string; subject: string }) => [x.check, x.subject]), [['held_matches_open_holds', acct]]);
      await db.run('UPDATE accounts SET held = held - 1 WHERE id = ?', [acct]);
    });

    test('key revocation is immediate (and seen from another instance within the cache TTL)', async () => {
      const acct = await newAccount();
      const k = await newKey(acct);
      const other = await newKey(acct);
      assert.equal((await t.req('GET', '/account/v1/balance', { key: k.secret })).status, 200, 'key cached');
      const rv = await t.admin('DELETE', `/admin/v1/accounts/${acct}/keys/${k.id}`);
      assert.equal(rv.status, 'revoked');
      expectError(await t.req('GET', '/account/v1/balance', { key: k.secret }), 401, 'KEY_REVOKED');
      expectError(await t.req('GET', '/account/v1/keys', { key: k.secret }), 401, 'KEY_REVOKED');
      assert.equal((await t.admin('DELETE', `/admin/v1/accounts/${acct}/keys/${k.id}`)).status, 'revoked', 'revoking twice is harmless');
      // A key revoking another key of the same account.
      const third = await newKey(acct);
      assert.equal((await t.req('GET', '/account/v1/balance', { key: third.secret })).status, 200);
      const del = await t.req('DELETE', `/account/v1/keys/${third.id}`, { key: other.secret });
      assert.equal(del.status, 200, del.text);
      expectError(await t.req('GET', '/account/v1/balance', { key: third.secret }), 401, 'KEY_REVOKED');
      // Revoked by another gateway instance (straight in the shared database): seen after the cache TTL.
      assert.equal((await t.req('GET', '/account/v1/balance', { key: other.secret })).status, 200);
      await db.run("UPDATE api_keys SET status = 'revoked', revoked_at = ? WHERE id = ?", [t.clock.now(), other.id]);
      t.clock.advance(5_001);
      expectError(await t.req('GET', '/account/v1/balance', { key: other.secret }), 401, 'KEY_REVOKED');
      expectError(await t.req('DELETE', `/admin/v1/accounts/${acct}/keys/key_nope`), 404, 'NOT_FOUND');
    });

    test('expired keys get KEY_EXPIRED; a suspended account gets ACCOUNT_SUSPENDED at once', async () => {
      const acct = await newAccount();
      const soon = await newKey(acct, { expires_at: new Date(t.clock.now() + 3_600_000).toISOString() });
      const past = await newKey(acct, { expires_at: new Date(t.clock.now() + 1000).toISOString() });
      t.clock.advance(1000);
      assert.equal((await t.req('GET', '/account/v1/balance', { key: soon.secret })).status, 200);
      expectError(await t.req('GET', '/account/v1/balance', { key: past.secret }), 401, 'KEY_EXPIRED');
      // An expiry in the past is a mistake, not a key born expired: 400 naming the field, nothing written.
      const before = await counts(db);
      const ago = new Date(t.clock.now() - 1).toISOString();
      const now = new Date(t.clock.now()).toISOString();
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'x', expires_at: ago } }), 400, 'VALIDATION', 'expires_at');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/keys`, { body: { name: 'x', expires_at: now } }), 400, 'VALIDATION', 'expires_at');
      expectError(await t.req('PATCH', `/admin/v1/accounts/${acct}/keys/${soon.id}`, { body: { expires_at: ago } }), 400, 'VALIDATION', 'expires_at');
      expectError(await t.req('POST', '/account/v1/keys', { key: soon.secret, body: { name: 'x', expires_at: ago } }), 400, 'VALIDATION', 'expires_at');
      expectError(await t.req('POST', '/admin/v1/redemption-batches', { body: { count: 1, amount: '1.00', expires_at: ago } }), 400, 'VALIDATION', 'expires_at');
      assert.deepEqual(await counts(db), before);
      t.clock.advance(3_600_001);
      expectError(await t.req('GET', '/account/v1/balance', { key: soon.secret }), 401, 'KEY_EXPIRED');
      // Extending the expiry takes effect at once.
      await t.admin('PATCH', `/admin/v1/accounts/${acct}/keys/${soon.id}`, { expires_at: new Date(t.clock.now() + 3_600_000).toISOString() });
      assert.equal((await t.req('GET', '/account/v1/balance', { key: soon.secret })).status, 200);

      await t.admin('PATCH', `/admin/v1/accounts/${acct}`, { status: 'suspended' });
      expectError(await t.req('GET', '/account/v1/balance', { key: soon.secret }), 403, 'ACCOUNT_SUSPENDED');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/holds`, { body: { amount: '1.00' }, idem: idem() }), 403, 'ACCOUNT_SUSPENDED');
      await t.admin('PATCH', `/admin/v1/accounts/${acct}`, { status: 'active' });
      assert.equal((await t.req('GET', '/account/v1/balance', { key: soon.secret })).status, 200);
      await t.admin('PATCH', `/admin/v1/accounts/${acct}`, { status: 'closed' });
      expectError(await t.req('GET', '/account/v1/balance', { key: soon.secret }), 403, 'ACCOUNT_SUSPENDED');
      expectError(await t.req('POST', `/admin/v1/accounts/${acct}/topups`, { body: { amount: '1.00', method: 'card' }, idem: idem() }), 409, 'CONFLICT');
    });

    test('enterprise roles: viewer reads only, member sees own keys, admin manages, only owners grant owner', async () => {
      const ent = await newAccount({ kind: 'enterprise' });
      await topup(ent, { amount: '50.00', method: 'card' });
      const mem = async (email: string, role: string) => (await t.admin('POST', `/admin/v1/accounts/${ent}/members`, { email, role })).id as string;
      const ownerId = await mem('owner@e.test', 'owner');
      const adminId = await mem('admin@e.test', 'admin');
      const memberId = await mem('member@e.test', 'member');
      const viewerId = await mem('viewer@e.test', 'viewer');
      const owner = await newKey(ent, { member_id: ownerId });
      const admin = await newKey(ent, { member_id: adminId });
      const member = await newKey(ent, { member_id: memberId });
      const viewer = await newKey(ent, { member_id: viewerId });
      const topups = await t.admin('GET', `/admin/v1/accounts/${ent}/topups`);
      const topupId = topups.data[0].id;
      const before = await counts(db);

      // viewer: reads yes, writes no.
      assert.equal((await t.req('GET', '/account/v1/balance', { key: viewer.secret })).status, 200);
      assert.equal((await t.req('GET', '/account/v1/ledger', { key: viewer.secret })).status, 200);
      expectError(await t.req('POST', '/account/v1/keys', { key: viewer.secret, body: { name: 'v' } }), 403, 'FORBIDDEN');
      expectError(await t.req('POST', '/account/v1/refunds', { key: viewer.secret, body: { topup_id: topupId }, idem: idem() }), 403, 'FORBIDDEN');
      expectError(await t.req('POST', '/account/v1/members', { key: viewer.secret, body: { email: 'x@e.test', role: 'viewer' } }), 403, 'FORBIDDEN');
      expectError(await t.req('DELETE', `/account/v1/keys/${member.id}`, { key: viewer.secret }), 403, 'FORBIDDEN');
      expectError(await t.req('POST', '/account/v1/redeem', { key: viewer.secret, body: { code: 'SR-2222-2222-2222-2222' } }), 403, 'FORBIDDEN');
      // member: own keys only, no refunds, no members, cannot touch others' keys.
      const mk = await t.req('GET', '/account/v1/keys', { key: member.secret });
      assert.deepEqual(mk.body.data.map((k: { id: string }) => k.id), [member.id]);
      expectError(await t.req('POST', '/account/v1/refunds', { key: member.secret, body: { topup_id: topupId }, idem: idem() }), 403, 'FORBIDDEN');
      expectError(await t.req('POST', '/account/v1/members', { key: member.secret, body: { email: 'x@e.test', role: 'viewer' } }), 403, 'FORBIDDEN');
      expectError(await t.req('DELETE', `/account/v1/keys/${admin.id}`, { key: member.secret }), 404, 'NOT_FOUND');
      expectError(await t.req('PATCH', `/account/v1/keys/${admin.id}`, { key: member.secret, body: { rpm: 1 } }), 404, 'NOT_FOUND');
      // Keys carry the limits admins set: a member cannot mint keys, nor change limits on their own.
      expectError(await t.req('POST', '/account/v1/keys', { key: member.secret, body: { name: 'x', member_id: adminId } }), 403, 'FORBIDDEN');
      expectError(await t.req('POST', '/account/v1/keys', { key: member.secret, body: { name: 'mine' } }), 403, 'FORBIDDEN');
      expectError(await t.req('PATCH', `/account/v1/keys/${member.id}`, { key: member.secret, body: { rpm: 1000 } }), 403, 'FORBIDDEN');
      assert.deepEqual(await counts(db), before, 'refused calls change nothing');
      const renamed = await t.req('PATCH', `/account/v1/keys/${member.id}`, { key: member.secret, body: { name: 'renamed by me' } });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, 'renamed by me');
      const own = await t.req('POST', '/account/v1/keys', { key: admin.secret, body: { name: 'for member', member_id: memberId } });
      assert.equal(own.status, 201);
      assert.equal(own.body.member_id, memberId);
      assert.equal(own.body.role, 'member');
      const mk2 = await t.req('GET', '/account/v1/keys', { key: member.secret });
      assert.deepEqual(mk2.body.data.map((k: { id: string }) => k.id).sort(), [member.id, own.body.id].sort());
      assert.equal((await t.req('DELETE', `/account/v1/keys/${own.body.id}`, { key: member.secret })).status, 200);
      // An admin cannot revoke the owner's key.
      expectError(await t.req('DELETE', `/account/v1/keys/${owner.id}`, { key: admin.secret }), 403, 'FORBIDDEN');

      // admin: sees all keys, manages members and keys.
      const ak = await t.req('GET', '/account/v1/keys', { key: admin.secret });
      assert.equal(ak.body.data.length, 5);
      const added = await t.req('POST', '/account/v1/members', { key: admin.secret, body: { email: 'new@e.test', role: 'member' } });
      assert.equal(added.status, 201, added.text);
      const upd = await t.req('PATCH', `/account/v1/members/${added.body.id}`, { key: admin.secret, body: { role: 'viewer' } });
      assert.equal(upd.body.role, 'viewer');
      const forNew = await t.req('POST', '/account/v1/keys', { key: admin.secret, body: { name: 'for new', member_id: added.body.id } });
      assert.equal(forNew.status, 201, forNew.text);
      assert.equal(forNew.body.role, 'viewer');
      assert.equal((await t.req('PATCH', `/account/v1/keys/${member.id}`, { key: admin.secret, body: { rpm: 30 } })).body.rpm, 30);
      assert.equal((await t.req('DELETE', `/account/v1/members/${added.body.id}`, { key: admin.secret })).status, 200);
      expectError(await t.req('GET', '/account/v1/balance', { key: forNew.body.key }), 401, 'KEY_REVOKED');
      const ref = await t.req('POST', '/account/v1/refunds', { key: admin.secret, body: { topup_id: topupId, amount: '1.00' }, idem: idem() });
      assert.equal(ref.status, 201, ref.text);

      // Only an owner can grant (or take away) the owner role — also not through a key.
      const beforeOwner = await counts(db);
      expectError(await t.req('POST', '/account/v1/members', { key: admin.secret, body: { email: 'o2@e.test', role: 'owner' } }), 403, 'FORBIDDEN');
      expectError(await t.req('PATCH', `/account/v1/members/${memberId}`, { key: admin.secret, body: { role: 'owner' } }), 403, 'FORBIDDEN');
      expectError(await t.req('PATCH', `/account/v1/members/${ownerId}`, { key: admin.secret, body: { role: 'admin' } }), 403, 'FORBIDDEN');
      expectError(await t.req('DELETE', `/account/v1/members/${ownerId}`, { key: admin.secret }), 403, 'FORBIDDEN');
      const asOwnerKey = await t.req('POST', '/account/v1/keys', { key: admin.secret, body: { name: 'x', role: 'owner' } });
      expectError(asOwnerKey, 403, 'FORBIDDEN');
      assert.equal(asOwnerKey.body.error.message, 'An admin cannot create a key with the owner role.');
      expectError(await t.req('POST', '/account/v1/keys', { key: admin.secret, body: { name: 'x', member_id: ownerId } }), 403, 'FORBIDDEN');
      assert.deepEqual(await counts(db), beforeOwner);
      const o2 = await t.req('POST', '/account/v1/members', { key: owner.secret, body: { email: 'o2@e.test', role: 'owner' } });
      assert.equal(o2.status, 201, o2.text);
      const promoted = await t.req('PATCH', `/account/v1/members/${memberId}`, { key: owner.secret, body: { role: 'owner' } });
      assert.equal(promoted.body.role, 'owner');
      // A role change applies to the member's keys at once.
      const asOwner = await t.req('POST', '/account/v1/members', { key: member.secret, body: { email: 'by-member@e.test', role: 'viewer' } });
      assert.equal(asOwner.status, 201, asOwner.text);
      await t.req('PATCH', `/account/v1/members/${memberId}`, { key: owner.secret, body: { role: 'viewer' } });
      expectError(await t.req('POST', '/account/v1/keys', { key: member.secret, body: { name: 'v' } }), 403, 'FORBIDDEN');
    });

    test('key limits: an admin key cannot lift what an operator set on it, nor mint or widen keys beyond its own', async () => {
      const ent = await newAccount({ kind: 'enterprise' });
      const adminId = (await t.admin('POST', `/admin/v1/accounts/${ent}/members`, { email: 'lim-admin@e.test', role: 'admin' })).id;
      const bounded = await newKey(ent, { member_id: adminId, models: ['gpt-4o-mini'], rpm: 60, ips: ['10.0.0.0/8'], limits: { month: '100.00' } });
      const free = await newKey(ent, { member_id: adminId });
      const before = await counts(db);
      const patchOwn = (body: Record<string, unknown>) => t.req('PATCH', `/account/v1/keys/${bounded.id}`, { key: bounded.secret, body });
      // Lifting its own operator-set limits: refused, naming the limit.
      expectError(await patchOwn({ models: null }), 403, 'FORBIDDEN', 'models');
      expectError(await patchOwn({ models: ['gpt-4o-mini', 'claude-sonnet-4-5'] }), 403, 'FORBIDDEN', 'models');
      expectError(await patchOwn({ limits: { month: null } }), 403, 'FORBIDDEN', 'limits.month');
      expectError(await patchOwn({ limits: { month: '100.01' } }), 403, 'FORBIDDEN', 'limits.month');
      expectError(await patchOwn({ rpm: null }), 403, 'FORBIDDEN', 'rpm');
      expectError(await patchOwn({ ips: ['0.0.0.0/0'] }), 403, 'FORBIDDEN', 'ips');
      // Minting a key beyond its own limits: refused; a key it mints without limits gets its own.
      const mint = (body: Record<string, unknown>) => t.req('POST', '/account/v1/keys', { key: bounded.secret, body: { name: 'child', ...body } });
      expectError(await mint({ models: null }), 403, 'FORBIDDEN', 'models');
      expectError(await mint({ rpm: 61 }), 403, 'FORBIDDEN', 'rpm');
      expectError(await mint({ limits: { month: '500.00' } }), 403, 'FORBIDDEN', 'limits.month');
      expectError(await mint({ ips: ['11.0.0.0/8'] }), 403, 'FORBIDDEN', 'ips');
      expectError(await mint({ expires_at: '2999-01-01T00:00:00Z', rpm: 1_000_000 }), 403, 'FORBIDDEN', 'rpm');
      assert.deepEqual(await counts(db), before, 'refused calls change nothing');
      const child = await mint({});
      assert.equal(child.status, 201, child.text);
      assert.deepEqual([child.body.models, child.body.rpm, child.body.ips, child.body.limits.month], [['gpt-4o-mini'], 60, ['10.0.0.0/8'], '100.00']);
      const narrower = await mint({ rpm: 10, ips: ['10.1.0.0/16'], limits: { month: '5.00', day: '1.00' } });
      assert.equal(narrower.status, 201, narrower.text);
      // Tightening is always allowed, its own key included; loosening back is not (it now acts with less).
      assert.equal((await patchOwn({ rpm: 30, name: 'tightened' })).body.rpm, 30);
      expectError(await patchOwn({ rpm: 60 }), 403, 'FORBIDDEN', 'rpm');
      // An unlimited admin key may loosen another key up to what the operator set on it, never beyond.
      const patchBy = (k: { secret: string }, id: string, body: Record<string, unknown>) => t.req('PATCH', `/account/v1/keys/${id}`, { key: k.secret, body });
      assert.equal((await patchBy(free, bounded.id, { rpm: 60 })).status, 200);
      expectError(await patchBy(free, bounded.id, { rpm: 61 }), 403, 'FORBIDDEN', 'rpm');
      expectError(await patchBy(free, bounded.id, { models: null }), 403, 'FORBIDDEN', 'models');
      // Limits a customer set (not an operator) the unlimited key may lift; the bounded key may not widen them.
      assert.equal((await patchBy(free, narrower.body.id, { limits: { day: null } })).status, 200);
      expectError(await patchBy(bounded, narrower.body.id, { rpm: 61 }), 403, 'FORBIDDEN', 'rpm');
      assert.equal((await patchBy(bounded, narrower.body.id, { rpm: 20 })).body.rpm, 20);
      // The operator sets and lifts anything; customers are then bound by the new setting.
      const lifted = await t.admin('PATCH', `/admin/v1/accounts/${ent}/keys/${bounded.id}`, { models: null, rpm: 120 });
      assert.deepEqual([lifted.models, lifted.rpm], [null, 120]);
      assert.equal((await patchBy(free, bounded.id, { rpm: 100 })).status, 200);
      expectError(await patchBy(free, bounded.id, { rpm: 121 }), 403, 'FORBIDDEN', 'rpm');
    });

    test('OpenAPI at /admin/v1/openapi.json lists every registered route', async () => {
      // It documents the operator API, so it is served to the operator key only.
      expectError(await t.req('GET', '/admin/v1/openapi.json', { key: null }), 401, 'AUTH_REQUIRED');
      expectError(await t.req('GET', '/admin/v1/openapi.json', { key: 'sa-wrong-key-000000000000000000' }), 401, 'KEY_INVALID');
      const customer = await newKey(await newAccount());
      expectError(await t.req('GET', '/admin/v1/openapi.json', { key: customer.secret }), 403, 'FORBIDDEN');
      const r = await t.req('GET', '/admin/v1/openapi.json');
      assert.equal(r.status, 200);
      const doc = r.body;
      assert.equal(doc.openapi, '3.1.0');
      const specs = t.app.routes.specs;
      let ops = 0;
      for (const p of Object.values(doc.paths) as Array<Record<string, unknown>>) ops += Object.keys(p).length;
      assert.equal(ops, specs.length, 'one operation per route, no more, no less');
      for (const s of specs) {
        const path = s.url.replace(/:([A-Za-z_]+)/g, '{$1}');
        const op = doc.paths[path]?.[s.method.toLowerCase()];
        assert.ok(op, `${s.method} ${path} is documented`);
        assert.equal(op.summary, s.summary);
        assert.ok(s.summary.length > 5);
        for (const m of s.url.matchAll(/:([A-Za-z_]+)/g)) assert.ok(op.parameters.some((p: { name: string; in: string }) => p.name === m[1] && p.in === 'path'));
        const hasIdem = op.parameters.some((p: { name: string }) => p.name === 'Idempotency-Key');
        assert.equal(hasIdem, !!s.idempotent, `${s.method} ${s.url}: Idempotency-Key documented iff required`);
        if (s.body) assert.ok(op.requestBody, `${s.method} ${s.url} documents its body`);
        assert.ok(t.app.app.hasRoute({ method: s.method, url: s.url }), `${s.method} ${s.url} is registered`);
      }
      // And the other way: every control-plane route Fastify serves is in the table.
      const served = registeredRoutes(t.app.app.printRoutes({ commonPrefix: false })).filter(
        (x) => x.method !== 'HEAD' && /^\/((admin|account)\/v1|console\/api)\//.test(x.url) && x.url !== '/admin/v1/openapi.json',
      );
      assert.ok(served.length >= specs.length);
      for (const x of served) assert.ok(specs.some((s) => s.method === x.method && s.url === x.url), `${x.method} ${x.url} is in the route table`);
      // The routes the issue names.
      for (const [m, u] of [
        ['POST', '/admin/v1/accounts'],
        ['POST', '/admin/v1/accounts/:id/keys'],
        ['POST', '/admin/v1/accounts/:id/topups'],
        ['GET', '/admin/v1/accounts/:id/balance'],
        ['GET', '/admin/v1/accounts/:id/ledger'],
        ['POST', '/admin/v1/redemption-batches'],
        ['POST', '/admin/v1/refunds/:refundId/approve'],
        ['GET', '/account/v1/balance'],
        ['GET', '/account/v1/ledger'],
        ['GET', '/account/v1/keys'],
        ['POST', '/account/v1/refunds'],
      ]) {
        assert.ok(specs.some((s) => s.method === m && s.url === u), `${m} ${u}`);
      }
      for (const s of specs) {
        if (s.url.startsWith('/admin/')) assert.equal(s.auth, 'operator', s.url);
        if (s.url.startsWith('/account/')) assert.equal(s.auth, 'customer', s.url);
      }
    });
  });
}
