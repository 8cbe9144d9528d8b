// Isolation: a customer key cannot read or change anything of another account through any
// /account/v1 route. The routes are enumerated from the route table, so a new route is covered
// (and attacked with the other account's ids in its path, body and query) without editing this file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RouteSpec } from '../../src/http/routes.ts';
import { newId } from '../../src/kernel/ids.ts';
import type { Db } from '../../src/storage/port.ts';
import { engines } from '../helpers/engines.ts';
import { createTestApp, idem, type Res, type TestApp } from '../helpers/runtime.ts';

interface Tenant {
  account: string;
  keys: Array<{ id: string; secret: string; prefix: string; name: string }>;
  members: Array<{ id: string; email: string }>;
  topups: string[];
  refunds: string[];
  txs: string[];
  idemKeys: string[];
  /** Every string that identifies this tenant's data: ids, emails, names, references. */
  markers: string[];
}

const plain = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

/** Everything stored about one account, as rows (a change anywhere shows as a difference). */
async function dump(db: Db, t: Tenant): Promise<string> {
  const ids = [t.account, ...t.keys.map((k) => k.id), ...t.members.map((m) => m.id), ...t.topups, ...t.refunds];
  const marks = ids.map(() => '?').join(', ');
  const q = (sql: string, params: string[] = [t.account]) => db.all(sql, params);
  return plain({
    account: await q('SELECT * FROM accounts WHERE id = ?'),
    books: await q('SELECT code, balance FROM books WHERE account_id = ? ORDER BY code'),
    keys: await q('SELECT * FROM api_keys WHERE account_id = ? ORDER BY id'),
    members: await q('SELECT * FROM members WHERE account_id = ? ORDER BY id'),
    topups: await q('SELECT * FROM topups WHERE account_id = ? ORDER BY id'),
    refunds: await q('SELECT * FROM refunds WHERE account_id = ? ORDER BY id'),
    holds: await q('SELECT * FROM holds WHERE account_id = ? ORDER BY id'),
    ledger: await q('SELECT * FROM ledger_tx WHERE account_id = ? ORDER BY id'),
    entries: await q("SELECT e.tx_id, e.book, e.amount FROM ledger_entries e WHERE e.book LIKE ? ORDER BY e.id", [`c:${t.account}:%`]),
    audit: await q(`SELECT * FROM audit_log WHERE account_id = ? OR target_id IN (${marks}) ORDER BY id`, [t.account, ...ids]),
    idempotency: await q("SELECT scope, idem_key, request_hash FROM idempotency WHERE scope LIKE ? ORDER BY scope, idem_key", [`%${t.account}%`]),
    spend: await q(`SELECT * FROM key_spend WHERE key_id IN (${t.keys.map(() => '?').join(', ')}) ORDER BY key_id, period`, t.keys.map((k) => k.id)),
  });
}

/** Replaces every occurrence of B's ids in a string by a fresh fake id of the same kind. */
function fakeIds(text: string, ids: string[], fakes: Map<string, string>): string {
  let out = text;
  for (const id of ids) {
    if (!out.includes(id)) continue;
    let f = fakes.get(id);
    if (!f) fakes.set(id, (f = newId(id.slice(0, id.indexOf('_')))));
    out = out.split(id).join(f);
  }
  return out;
}

function scrub(text: string, ids: string[]): string {
  let out = text;
  for (const id of ids) out = out.split(id).join('<id>');
  return out;
}

for (const engine of engines()) {
  describe(`isolation between accounts (${engine})`, () => {
    let t: TestApp;
    let db: Db;
    let A: Tenant;
    let B: Tenant;

    /** An enterprise account with members, keys, top-ups, refunds (pending, approved, rejected) and spending. */
    async function tenant(label: string): Promise<Tenant> {
      const name = `${label}-corp-${idem()}`;
      const account = (await t.admin('POST', '/admin/v1/accounts', { name, kind: 'enterprise', email: `${label}-billing@${label}.test` })).id as string;
      const members: Tenant['members'] = [];
      for (const role of ['owner', 'admin', 'member', 'viewer']) {
        const email = `${label}-${role}@${label}.test`;
        members.push({ id: (await t.admin('POST', `/admin/v1/accounts/${account}/members`, { email, role })).id, email });
      }
      const keys: Tenant['keys'] = [];
      for (const m of members) {
        const kname = `${label}-key-${m.email}`;
        const k = await t.admin('POST', `/admin/v1/accounts/${account}/keys`, { name: kname, member_id: m.id });
        keys.push({ id: k.id, secret: k.key, prefix: k.prefix, name: kname });
      }
      const unbound = await t.admin('POST', `/admin/v1/accounts/${account}/keys`, { name: `${label}-service-key`, role: 'admin', limits: { day: '1.00' } });
      keys.push({ id: unbound.id, secret: unbound.key, prefix: unbound.prefix, name: `${label}-service-key` });
      const topups: string[] = [];
      for (const [amount, method, reference] of [['100.00', 'bank_transfer', `${label}-BANK-REF`], ['40.00', 'card', `${label}-CARD-REF`], ['10.00', 'other', `${label}-OTHER-REF`]] as const) {
        topups.push((await t.admin('POST', `/admin/v1/accounts/${account}/topups`, { amount, method, reference, bonus: '1.00' }, idem())).id);
      }
      const h = await t.admin('POST', `/admin/v1/accounts/${account}/holds`, { amount: '5.00', reference: `${label}-request` }, idem());
      await t.admin('POST', `/admin/v1/holds/${h.id}/post`, { amount: '3.00' }, idem());
      const owner = keys[0]!.secret;
      const idemKeys = [`${label}-refund-1`, `${label}-refund-2`, `${label}-refund-3`];
      const refunds: string[] = [];
      for (const [i, topup] of topups.entries()) {
        const r = await t.req('POST', '/account/v1/refunds', { key: owner, body: { topup_id: topup, amount: '2.00', reason: `${label}-reason` }, idem: idemKeys[i]! });
        assert.equal(r.status, 201, r.text);
        refunds.push(r.body.id);
      }
      await t.admin('POST', `/admin/v1/refunds/${refunds[0]}/approve`, {});
      await t.admin('POST', `/admin/v1/refunds/${refunds[1]}/reject`, { note: `${label}-no` });
      const batch = await t.admin('POST', '/admin/v1/redemption-batches', { count: 1, amount: '3.00' });
      await t.req('POST', '/account/v1/redeem', { key: owner, body: { code: batch.codes[0] } });
      const txs = (await t.admin('GET', `/admin/v1/accounts/${account}/ledger`)).data.map((e: { tx_id: string }) => e.tx_id);
      const markers = [
        account, name, `${label}-billing@${label}.test`,
        ...keys.flatMap((k) => [k.id, k.prefix, k.name, k.secret]),
        ...members.flatMap((m) => [m.id, m.email]),
        ...topups, ...refunds, ...txs, `${label}-BANK-REF`, `${label}-CARD-REF`, `${label}-reason`, `${label}-no`, `${label}-request`,
      ];
      return { account, keys, members, topups, refunds, txs, idemKeys, markers };
    }

    before(async () => {
      t = await createTestApp(engine);
      db = t.rt.db;
      A = await tenant('alpha');
      B = await tenant('bravo');
    });
    after(async () => {
      await t?.close();
    });

    const accountRoutes = () => t.app.routes.specs.filter((s) => s.url.startsWith('/account/v1/'));

    test('the route table has the customer routes to attack', () => {
      const routes = accountRoutes();
      assert.ok(routes.length >= 15, `${routes.length} /account/v1 routes`);
      for (const s of routes) assert.equal(s.auth, 'customer', `${s.method} ${s.url} needs a customer key`);
    });

    test("A's own view works (so the checks below are not vacuous)", async () => {
      const owner = A.keys[0]!.secret;
      const keys = await t.req('GET', '/account/v1/keys', { key: owner });
      assert.deepEqual(keys.body.data.map((k: { id: string }) => k.id).sort(), A.keys.map((k) => k.id).sort());
      const members = await t.req('GET', '/account/v1/members', { key: owner });
      assert.deepEqual(members.body.data.map((m: { id: string }) => m.id).sort(), A.members.map((m) => m.id).sort());
      const refunds = await t.req('GET', '/account/v1/refunds', { key: owner });
      assert.deepEqual(refunds.body.data.map((r: { id: string }) => r.id).sort(), [...A.refunds].sort());
      const topups = await t.req('GET', '/account/v1/topups', { key: owner });
      assert.equal(topups.body.data.length, 4);
      const ledger = await t.req('GET', '/account/v1/ledger', { key: owner });
      assert.deepEqual(ledger.body.data.map((e: { tx_id: string }) => e.tx_id), A.txs);
      assert.equal((await t.req('GET', `/account/v1/refunds/${A.refunds[0]}`, { key: owner })).body.id, A.refunds[0]);
    });

    test('no /account/v1 route lets A read or change anything of B', async () => {
      const bIds = [B.account, ...B.keys.map((k) => k.id), ...B.members.map((m) => m.id), ...B.topups, ...B.refunds, ...B.txs];
      const byParam: Record<string, string[]> = {
        keyId: B.keys.map((k) => k.id),
        memberId: B.members.map((m) => m.id),
        refundId: B.refunds,
        topupId: B.topups,
        txId: B.txs,
        id: [B.account],
        accountId: [B.account],
      };
      const byField: Record<string, string[]> = {
        topup_id: B.topups,
        member_id: B.members.map((m) => m.id),
        key_id: B.keys.map((k) => k.id),
        refund_id: B.refunds,
        account_id: [B.account],
      };
      const filler: Record<string, unknown> = { name: 'iso-probe', email: `iso-${idem()}@alpha.test`, role: 'viewer', code: 'SR-2222-3333-4444-5555', amount: '1.00', reason: 'probe', topup_id: B.topups[0], member_id: B.members[2]!.id };
      const attackers = [A.keys[0]!, A.keys[1]!, A.keys[4]!]; // owner, admin, an unbound admin-role service key

      const baseBody = (spec: RouteSpec): Record<string, unknown> | undefined => {
        const shape = (spec.body as unknown as { shape?: Record<string, { isOptional(): boolean; options?: unknown[]; _zod: { def: { type: string } } }> })?.shape;
        if (!spec.body) return undefined;
        if (!shape) return {};
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(shape)) {
          if (v.isOptional() && !(k in filler)) continue;
          if (k === 'email') out[k] = `iso-${idem()}@alpha.test`;
          else if (k in filler) out[k] = filler[k];
          else if (k.endsWith('_id')) out[k] = B.account;
          else if (v.options) out[k] = v.options[0];
          else out[k] = { string: 'probe', number: 1, boolean: false, array: [], object: {} }[v._zod.def.type] ?? 'probe';
        }
        return out;
      };

      const coverage = new Map<string, number>();
      const failures: string[] = [];
      let attempts = 0;

      for (const spec of accountRoutes()) {
        const params = [...spec.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!);
        // Paths: every combination of B ids for the path parameters (or the path as is).
        let paths = [spec.url];
        for (const p of params) paths = paths.flatMap((u) => (byParam[p] ?? bIds).map((id) => u.replace(`:${p}`, id)));
        // Bodies: a valid-looking body, then each id-like field set to each of B's ids of that kind, plus a smuggled account_id.
        const base = baseBody(spec);
        const bodies: Array<Record<string, unknown> | undefined> = [base];
        if (base) {
          const fields = Object.keys((spec.body as unknown as { shape?: object }).shape ?? {});
          for (const f of fields) if (f.endsWith('_id') || f in byField) for (const id of byField[f] ?? bIds) bodies.push({ ...base, [f]: id });
          bodies.push({ ...base, account_id: B.account });
        }
        const query = `?account_id=${B.account}&limit=1000&before=${B.txs[0]}&after=${B.keys[0]!.id}&key_id=${B.keys[0]!.id}`;
        const idemKeys = spec.idempotent ? [null, ...B.idemKeys] : [null];

        const before = await dump(db, B);
        for (const attacker of attackers) {
          for (const path of paths) {
            for (const body of bodies) {
              for (const idemKey of idemKeys) {
                const url = spec.method === 'GET' ? path + query : path;
                const send = (u: string, b: unknown, k: string | null) =>
                  t.req(spec.method, u, { key: attacker.secret, ...(b === undefined ? {} : { body: b }), ...(spec.idempotent ? { idem: k ?? idem('iso') } : {}), headers: { 'x-account-id': B.account } });
                const bodyText = body === undefined ? '' : JSON.stringify(body);
                const res: Res = await send(url, body, idemKey);
                attempts++;
                const where = `${attacker.name} ${spec.method} ${url} ${bodyText} idem=${idemKey}`;
                const requestText = path + bodyText + (idemKey ?? '');
                const usesB = bIds.some((id) => requestText.includes(id));
                if (usesB) coverage.set(`${spec.method} ${spec.url}`, (coverage.get(`${spec.method} ${spec.url}`) ?? 0) + 1);
                if (usesB && res.status < 400) failures.push(`${where}: acting on B's id succeeded with ${res.status} ${res.text.slice(0, 200)}`);
                // 2xx bodies never mention B; error bodies at most echo what A sent.
                for (const m of B.markers) {
                  if (res.text.includes(m) && (res.status < 400 || !(requestText + url).includes(m))) failures.push(`${where}: response shows B's ${m}: ${res.text.slice(0, 300)}`);
                }
                // A refusal must not tell B's existing ids from ids that exist nowhere.
                if (usesB && res.status >= 400) {
                  const fakes = new Map<string, string>();
                  const fakePath = fakeIds(url, bIds, fakes);
                  const fakeBody = body === undefined ? undefined : JSON.parse(fakeIds(bodyText, bIds, fakes));
                  const other = await send(fakePath, fakeBody, idemKey ? `${idemKey}-other` : null);
                  const all = [...bIds, ...fakes.values()];
                  if (other.status !== res.status || scrub(other.text, all) !== scrub(res.text, all)) {
                    failures.push(`${where}: B's ids answer ${res.status} ${res.text} but unknown ids answer ${other.status} ${other.text}`);
                  }
                }
              }
            }
          }
        }
        const afterDump = await dump(db, B);
        if (afterDump !== before) failures.push(`${spec.method} ${spec.url}: B's data changed`);
      }

      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures`);
      // Every route that takes an id or an id-like field was attacked with B's ids.
      for (const spec of accountRoutes()) {
        const takesId = /:/.test(spec.url) || Object.keys((spec.body as unknown as { shape?: object })?.shape ?? {}).some((f) => f.endsWith('_id'));
        if (takesId) assert.ok((coverage.get(`${spec.method} ${spec.url}`) ?? 0) > 0, `${spec.method} ${spec.url} was attacked with B's ids`);
      }
      assert.ok(attempts > 100, `${attempts} attempts`);
    });

    test("B is untouched and still works: its keys, its data, its view", async () => {
      const owner = B.keys[0]!.secret;
      const keys = await t.req('GET', '/account/v1/keys', { key: owner });
      assert.deepEqual(keys.body.data.map((k: { id: string }) => k.id).sort(), B.keys.map((k) => k.id).sort());
      for (const k of keys.body.data) assert.equal(k.status, 'active');
      for (const k of B.keys) assert.equal((await t.req('GET', '/account/v1/balance', { key: k.secret })).status, 200);
      const members = await t.req('GET', '/account/v1/members', { key: owner });
      assert.deepEqual(members.body.data.map((m: { id: string }) => m.id).sort(), B.members.map((m) => m.id).sort());
      const refunds = await t.req('GET', '/account/v1/refunds', { key: owner });
      assert.deepEqual(refunds.body.data.map((r: { id: string; status: string }) => r.status).sort(), ['approved', 'pending', 'rejected']);
      const bal = await t.req('GET', '/account/v1/balance', { key: owner });
      // 150 paid + 3 bonus; 3 spent (granted first); 2 refunded; 3 redeemed into paid.
      assert.deepEqual([bal.body.paid, bal.body.granted], ['151.00', '0.00']);
      // A's keys cannot be used on B by naming B anywhere in the request either.
      const viaHeader = await t.req('GET', `/account/v1/balance?account_id=${B.account}`, { key: A.keys[0]!.secret, headers: { 'x-account-id': B.account } });
      assert.equal(viaHeader.body.account_id, A.account);
    });
  });
}
