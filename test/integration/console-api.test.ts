// The console's server side over real HTTP: the three ways to sign in, the session cookie's
// flags, CSRF on writes, sessions ending with what they were made from, the sign-in throttle,
// usage analytics and its uniform export, transfer notices confirmed once. SQLite, and
// PostgreSQL when SURETY_TEST_DATABASE_URL is set.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { engines } from '../helpers/engines.ts';

interface Browser {
  cookie: string;
  csrf: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers; text: string }>;
}

/** A cookie jar of one: what a browser would send back. */
function browser(url: string): Browser {
  const b: Browser = {
    cookie: '',
    csrf: '',
    async call(method, path, body, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (b.cookie) h.cookie = b.cookie;
      if (body !== undefined) h['content-type'] = 'application/json';
      const r = await fetch(url + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const set = r.headers.get('set-cookie');
      if (set) b.cookie = set.split(';')[0]!.endsWith('=') ? '' : set.split(';')[0]!;
      const text = await r.text();
      let parsed: any = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = text;
      }
      if (parsed?.csrf) b.csrf = parsed.csrf;
      return { status: r.status, body: parsed, headers: r.headers, text };
    },
  };
  return b;
}

for (const engine of engines()) {
  describe(`console API (${engine})`, () => {
    let g: TestGateway;
    before(async () => {
      g = await startTestGateway({ engine });
    });
    after(async () => g?.close());

    test('a customer key signs in: HttpOnly SameSite=Strict cookie, CSRF needed on writes, revoking the key ends the session', async () => {
      const c = await g.customer('5.00', { role: 'admin' }, { kind: 'enterprise', email: 'owner@acme.example' });
      const b = browser(g.url);
      const r = await b.call('POST', '/console/api/sign-in', { method: 'key', key: c.key });
      assert.equal(r.status, 200, r.text);
      const cookie = r.headers.get('set-cookie')!;
      assert.match(cookie, /^surety_session=[A-Za-z0-9]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
      assert.equal(r.body.account.id, c.accountId);
      assert.equal(r.body.kind, 'customer');
      assert.doesNotMatch(r.text, /sk-sur-/, 'the key is never sent back');

      const bal = await b.call('GET', '/account/v1/balance');
      assert.equal(bal.status, 200);
      assert.equal(bal.body.paid, '5.00');
      // An operator route with a customer session.
      assert.equal((await b.call('GET', '/admin/v1/accounts')).body.error.code, 'FORBIDDEN');

      const noCsrf = await b.call('POST', '/account/v1/keys', { name: 'from console' });
      assert.equal(noCsrf.status, 403);
      assert.equal(noCsrf.body.error.code, 'CSRF_REJECTED');
      const wrong = await b.call('POST', '/account/v1/keys', { name: 'from console' }, { 'x-csrf-token': 'x'.repeat(32) });
      assert.equal(wrong.body.error.code, 'CSRF_REJECTED');
      const made = await b.call('POST', '/account/v1/keys', { name: 'from console', models: ['gpt-4o-mini'] }, { 'x-csrf-token': b.csrf });
      assert.equal(made.status, 201, made.text);
      assert.deepEqual(made.body.models, ['gpt-4o-mini']);

      await g.admin('DELETE', `/admin/v1/accounts/${c.accountId}/keys/${c.keyId}`);
      const after = await b.call('GET', '/account/v1/balance');
      assert.equal(after.status, 401);
      assert.equal(after.body.error.code, 'SESSION_INVALID');
      assert.equal((await b.call('GET', '/console/api/session')).body.signed_in, false);
    });

    test('the operator key signs in, creates an operator account; that account signs in; disabling it ends its session', async () => {
      const op = browser(g.url);
      assert.equal((await op.call('POST', '/console/api/sign-in', { method: 'key', key: 'sa-test-operator-key-0123456789abcdef' })).body.kind, 'operator');
      const created = await op.call('POST', '/admin/v1/operators', { email: 'Ops@Example.com', name: 'Ops', password: 'correct horse battery' }, { 'x-csrf-token': op.csrf });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.email, 'ops@example.com');
      assert.doesNotMatch(created.text, /correct horse/);

      const acct = browser(g.url);
      const bad = await acct.call('POST', '/console/api/sign-in', { method: 'operator', email: 'ops@example.com', password: 'wrong password!' });
      assert.equal(bad.status, 401);
      assert.equal(bad.body.error.code, 'SIGN_IN_FAILED');
      const ok = await acct.call('POST', '/console/api/sign-in', { method: 'operator', email: 'ops@example.com', password: 'correct horse battery' });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.operator.email, 'ops@example.com');
      assert.equal((await acct.call('GET', '/admin/v1/accounts?limit=1')).status, 200);
      assert.equal((await acct.call('GET', '/account/v1/balance')).body.error.code, 'FORBIDDEN');

      // Signing in again in the same browser ends the session it had.
      const before = acct.cookie;
      assert.equal((await acct.call('POST', '/console/api/sign-in', { method: 'operator', email: 'ops@example.com', password: 'correct horse battery' })).status, 200);
      assert.notEqual(acct.cookie, before);
      const stale = await fetch(`${g.url}/admin/v1/accounts?limit=1`, { headers: { cookie: before } });
      assert.equal(((await stale.json()) as any).error.code, 'SESSION_INVALID');

      const off = await op.call('POST', `/admin/v1/operators/${created.body.id}/disable`, undefined, { 'x-csrf-token': op.csrf });
      assert.equal(off.status, 200, off.text);
      assert.equal((await acct.call('GET', '/admin/v1/accounts?limit=1')).body.error.code, 'SESSION_INVALID');
      const audit = await g.admin('GET', `/admin/v1/audit?target_id=${created.body.id}`);
      assert.deepEqual(audit.data.map((e: any) => e.action).sort(), ['operator_account.create', 'operator_account.disable']);
    });

    test('a member sets a password through an invitation link (once) and signs in with it; sign-out ends the session', async () => {
      const c = await g.customer('1.00', {}, { kind: 'enterprise', email: 'boss@corp.example' });
      const m = await g.admin('POST', `/admin/v1/accounts/${c.accountId}/members`, { email: 'ana@corp.example', role: 'member' });
      const inv = await g.admin('POST', `/admin/v1/accounts/${c.accountId}/members/${m.id}/invitations`);
      assert.match(inv.path, /^\/console\/invite#[A-Za-z0-9]{40}$/);
      const b = browser(g.url);
      const short = await b.call('POST', '/console/api/invitations/accept', { token: inv.token, password: 'short' });
      assert.equal(short.body.error.code, 'VALIDATION');
      const acc = await b.call('POST', '/console/api/invitations/accept', { token: inv.token, password: 'ana-password-1' });
      assert.equal(acc.status, 200, acc.text);
      assert.equal(acc.body.member.email, 'ana@corp.example');
      assert.equal((await b.call('POST', '/console/api/invitations/accept', { token: inv.token, password: 'ana-password-2' })).body.error.code, 'INVITATION_INVALID');

      const b2 = browser(g.url);
      const si = await b2.call('POST', '/console/api/sign-in', { method: 'password', email: 'ANA@corp.example', password: 'ana-password-1' });
      assert.equal(si.status, 200, si.text);
      assert.equal(si.body.role, 'member');
      assert.equal((await b2.call('GET', '/account/v1/keys')).status, 200);
      // A member cannot create keys (admins do); the role still applies to a password session.
      assert.equal((await b2.call('POST', '/account/v1/keys', { name: 'x' }, { 'x-csrf-token': b2.csrf })).body.error.code, 'FORBIDDEN');
      assert.equal((await b2.call('POST', '/console/api/sign-out', undefined, { 'x-csrf-token': b2.csrf })).status, 200);
      assert.equal(b2.cookie, '');
      assert.equal((await b2.call('GET', '/account/v1/keys')).body.error.code, 'AUTH_REQUIRED');
    });

    test('an admin signed in with a password (no key) creates a key within role; the audit names the member', async () => {
      const c = await g.customer('1.00', {}, { kind: 'enterprise' });
      const m = await g.admin('POST', `/admin/v1/accounts/${c.accountId}/members`, { email: 'admin@corp.example', role: 'admin' });
      await g.admin('PUT', `/admin/v1/accounts/${c.accountId}/members/${m.id}/password`, { password: 'admin-password-1' });
      const b = browser(g.url);
      assert.equal((await b.call('POST', '/console/api/sign-in', { method: 'password', email: 'admin@corp.example', password: 'admin-password-1' })).status, 200);
      const k = await b.call('POST', '/account/v1/keys', { name: 'by password', models: ['gpt-4o-mini'], limits: { month: '5.00' } }, { 'x-csrf-token': b.csrf });
      assert.equal(k.status, 201, k.text);
      // Limits a customer set are the customer's: they can loosen them again (an operator's they could not).
      const loosened = await b.call('PATCH', `/account/v1/keys/${k.body.id}`, { limits: { month: '50.00' } }, { 'x-csrf-token': b.csrf });
      assert.equal(loosened.status, 200, loosened.text);
      assert.equal(loosened.body.limits.month, '50.00');
      // An owner's role is beyond an admin's.
      assert.equal((await b.call('POST', '/account/v1/keys', { name: 'owner key', role: 'owner' }, { 'x-csrf-token': b.csrf })).body.error.code, 'FORBIDDEN');
      const audit = await g.admin('GET', `/admin/v1/audit?target_id=${k.body.id}`);
      assert.deepEqual(audit.data.map((e: any) => e.actor), [`member:${m.id}`, `member:${m.id}`]);
    });

    test('failed sign-ins are rate-limited per account, a right password included, with retry-after', async () => {
      const b = browser(g.url);
      await g.admin('POST', '/admin/v1/operators', { email: 'guess@example.com', password: 'the real password' });
      for (let i = 0; i < 10; i++) {
        const r = await b.call('POST', '/console/api/sign-in', { method: 'operator', email: 'guess@example.com', password: `guess number ${i}` });
        assert.equal(r.body.error.code, 'SIGN_IN_FAILED');
      }
      const r = await b.call('POST', '/console/api/sign-in', { method: 'operator', email: 'guess@example.com', password: 'the real password' });
      assert.equal(r.status, 429);
      assert.equal(r.body.error.code, 'RATE_LIMITED');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    });

    test('usage analytics by model and its CSV export in the uniform format; transfer notices confirmed once', async () => {
      const c = await g.customer('5.00', { role: 'admin' }, { kind: 'enterprise' });
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
        assert.equal(r.status, 200);
        await r.text();
      }
      await g.settle();
      const b = browser(g.url);
      await b.call('POST', '/console/api/sign-in', { method: 'key', key: c.key });
      const u = await b.call('GET', '/account/v1/usage?group_by=model');
      assert.equal(u.status, 200, u.text);
      const row = u.body.data.find((x: any) => x.group === 'gpt-4o-mini');
      assert.equal(row.requests, 3);
      assert.equal(row.ok, 3);
      assert.ok(row.input_tokens > 0);
      const logs = await g.logsOfKey(c.keyId);
      const total = logs.reduce((s: bigint, l: any) => s + BigInt(l.amount.replace('.', '').padEnd(12, '0')), 0n);
      assert.ok(total > 0n);
      const csv = await b.call('GET', '/account/v1/usage?group_by=model&format=csv');
      assert.equal(csv.headers.get('x-surety-export'), 'usage/1; format=1');
      assert.equal(csv.text.split('\n')[0], 'account_id,group_by,group,requests,ok,client_faults,upstream_faults,platform_faults,input_tokens,output_tokens,spend');
      assert.match(csv.text, new RegExp(`${c.accountId},model,gpt-4o-mini,3,3,`));

      const n = await b.call('POST', '/account/v1/transfer-notices', { amount: '250.00', paid_on: '2026-11-30', payer: 'Acme Ltd', reference: 'WIRE-77', contract_number: 'C-9' }, { 'x-csrf-token': b.csrf });
      assert.equal(n.status, 201, n.text);
      assert.equal(n.body.status, 'pending');
      const one = await g.admin('POST', `/admin/v1/transfer-notices/${n.body.id}/confirm`, {});
      const two = await g.admin('POST', `/admin/v1/transfer-notices/${n.body.id}/confirm`, {});
      assert.equal(one.topup.id, two.topup.id);
      assert.equal(one.topup.reference, 'WIRE-77');
      assert.equal(one.topup.contract_number, 'C-9');
      assert.equal((await g.balance(c.accountId)).paid.startsWith('25'), true);
      const mine = await b.call('GET', '/account/v1/transfer-notices');
      assert.equal(mine.body.data[0].status, 'confirmed');
      assert.equal((await g.admin('GET', `/admin/v1/accounts/${c.accountId}/topups`)).data.filter((t: any) => t.reference === 'WIRE-77').length, 1);
    });
  });
}

describe('console API behind a TLS proxy', () => {
  test('the session cookie is Secure when the request came over HTTPS (X-Forwarded-Proto with SURETY_TRUST_PROXY)', async () => {
    const g = await startTestGateway({ demo: false, config: { trustProxy: '1' } });
    try {
      const c = await g.customer('1.00');
      const sign = (headers: Record<string, string>) =>
        fetch(`${g.url}/console/api/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ method: 'key', key: c.key }) });
      const tls = await sign({ 'x-forwarded-proto': 'https' });
      assert.equal(tls.status, 200);
      assert.match(tls.headers.get('set-cookie')!, /; Secure$/);
      const plain = await sign({});
      assert.doesNotMatch(plain.headers.get('set-cookie')!, /Secure/);
    } finally {
      await g.close();
    }
  });
});
