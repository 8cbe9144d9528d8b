// Closing SLA periods on every engine: an immutable snapshot and the capped credit posted once
// (closing again, or concurrently, is a no-op), claims and their deadline, corrections as
// correcting entries with a reason, amendments that would reach into a closed period. Every
// ledger movement is checked and `ledger verify` stays clean.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, getBalance } from '../../src/accounts/accounts.ts';
import { amendContract, createContract } from '../../src/contracts/contracts.ts';
import { closePeriod, correctPeriod } from '../../src/contracts/close.ts';
import { fileClaim } from '../../src/contracts/claims.ts';
import { closeDuePeriods } from '../../src/contracts/jobs.ts';
import { contractReport } from '../../src/contracts/service.ts';
import { rebuildRollups } from '../../src/requests/rollups.ts';
import { verifyLedger } from '../../src/billing/verify.ts';
import { withActor } from '../../src/kernel/context.ts';
import { parseUsd } from '../../src/kernel/money.ts';
import { engines } from '../helpers/engines.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';
import { createTestRuntime, idem, type TestRuntime } from '../helpers/runtime.ts';
import { incidentsOf } from '../helpers/sla.ts';

const T = (s: string) => Date.parse(s);
const usd = (s: string) => parseUsd(s, { allowZero: true, allowNegative: true });
const none = incidentsOf([]);

async function code(p: Promise<unknown>): Promise<{ code: string; message: string; details: any }> {
  const e = (await p.then(() => null, (x: unknown) => x)) as any;
  assert.ok(e && e.code, `expected an error, got ${String(e)}`);
  return e;
}

for (const engine of engines()) {
  describe(`SLA periods (${engine})`, () => {
    let t: TestRuntime;
    before(async () => {
      t = await createTestRuntime(engine);
    });
    after(async () => t?.close());
    // The made-up log rows carry amounts without usage transactions (test/helpers/request-rows.ts):
    // that one check is about them, every other invariant must hold.
    const ledgerProblems = async () => (await verifyLedger(t.rt.db, t.clock.now())).problems.filter((p) => p.check !== 'usage_matches_request_log');

    /** An account whose February had $200 of covered spend and one interval at 50 % errors. */
    async function setup(terms: Record<string, unknown> = {}) {
      const a = (await createAccount(t.op, { name: `sla ${idem()}`, kind: 'enterprise' })).id;
      const at = T('2026-02-09T00:00:00Z');
      const rows = [
        ...Array.from({ length: 200 }, (_, i) => fakeRow({ account_id: a, started_at: at + i * 60_000, outcome: 'ok', amount: 1_000_000_000n })),
        ...Array.from({ length: 200 }, (_, i) => fakeRow({ account_id: a, started_at: at + i * 60_000 + 1, outcome: 'platform_error', amount: 0n })),
      ];
      await insertRows(t.rt.db, rows);
      await rebuildRollups(t.rt.db, at, at + 201 * 60_000);
      t.clock.t = T('2026-02-10T00:00:00Z');
      const c = await createContract(t.op, {
        account_id: a,
        name: 'Gold',
        terms: { term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99.9', credit_tiers: [{ below_percent: '99.9', credit_percent: '10' }, { below_percent: '99', credit_percent: '25' }], ...terms },
      });
      return { a, c };
    }

    test('close: snapshot stored, capped credit posted once; closing again and concurrently is a no-op', async () => {
      const { a, c } = await setup({ cap: { percent: '50', amount: '30.00' } });
      t.clock.t = T('2026-02-20T00:00:00Z');
      const early = await code(closePeriod(t.op, c.id, '2026-02', none));
      assert.equal(early.code, 'SLA_PERIOD_NOT_OVER');
      t.clock.t = T('2026-03-01T00:10:00Z');
      // 40 intervals at 50 % of 8064: 99.7520 % → the 99.9 % tier, 10 % of $200 = $20 (under the $30 cap).
      const first = await closePeriod(t.op, c.id, '2026-02', none);
      assert.equal(first.created, true);
      assert.equal(first.closed.availability, (100 * (1 - 20 / 8064)).toFixed(4));
      assert.equal(first.closed.credit, usd('20'));
      assert.equal(first.credit?.kind, 'sla');
      assert.equal(first.credit?.ref_id, `${c.id}/2026-02`);
      assert.equal((await getBalance(t.rt, a)).granted, usd('20'));
      const again = await closePeriod(t.op, c.id, '2026-02', none);
      const many = await Promise.all(Array.from({ length: 4 }, () => closePeriod(t.op, c.id, '2026-02', none)));
      assert.equal(again.created, false);
      assert.ok(many.every((r) => !r.created && r.credit?.id === first.credit?.id));
      assert.equal((await getBalance(t.rt, a)).granted, usd('20'));
      assert.equal(Number((await t.rt.db.get<{ n: bigint }>("SELECT COUNT(*) AS n FROM credits WHERE account_id = ? AND kind = 'sla'", [a]))!.n), 1);
      // The snapshot is what the report shows from now on, even when the data under it changes.
      await insertRows(t.rt.db, Array.from({ length: 50 }, (_, i) => fakeRow({ account_id: a, started_at: T('2026-02-11T00:00:00Z') + i, outcome: 'platform_error', amount: 0n })));
      await rebuildRollups(t.rt.db, T('2026-02-11T00:00:00Z'), T('2026-02-11T00:01:00Z'));
      const shown = (await contractReport(t.op, c.id, { period: '2026-02' }, none)).view as any;
      assert.deepEqual([shown.status, shown.availability, shown.credit.paid], ['closed', first.closed.availability, '20.00']);
      const live = (await contractReport(t.op, c.id, { from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }, none)).view as any;
      assert.notEqual(live.availability, shown.availability);
      // An amendment cannot reach back into the closed month.
      const back = await code(amendContract(t.op, c.id, { effective_from: '2026-02-20T00:00:00Z', reason: 'x', terms: { target_percent: '99' } }));
      assert.equal(back.code, 'CONFLICT');
      assert.deepEqual(await ledgerProblems(), []);
    });

    test('the cap: a percentage of the covered spend and an absolute amount', async () => {
      const pct = await setup({ cap: { percent: '5' } });
      const abs = await setup({ cap: { percent: null, amount: '7.50' } });
      t.clock.t = T('2026-03-02T00:00:00Z');
      assert.equal((await closePeriod(t.op, pct.c.id, '2026-02', none)).closed.credit, usd('10'));
      const r = await closePeriod(t.op, abs.c.id, '2026-02', none);
      assert.deepEqual([r.closed.credit_before_cap, r.closed.credit], [usd('20'), usd('7.5')]);
      assert.equal((await getBalance(t.rt, abs.a)).granted, usd('7.5'));
    });

    test('claims: required before the deadline; a late claim is refused naming the deadline; no claim, no credit', async () => {
      const claimed = await setup({ claims: { required: true, deadline_days: 10 } });
      const unclaimed = await setup({ claims: { required: true, deadline_days: 10 } });
      const automatic = await setup();
      const customer = (a: string) => withActor(t.rt, { type: 'customer', accountId: a, keyId: 'key_x', memberId: null, role: 'owner' });
      t.clock.t = T('2026-02-25T00:00:00Z');
      assert.equal((await code(fileClaim(customer(claimed.a), { contract_id: claimed.c.id, period: '2026-02' }))).code, 'SLA_PERIOD_NOT_OVER');
      t.clock.t = T('2026-03-05T00:00:00Z');
      assert.equal((await code(fileClaim(customer(automatic.a), { contract_id: automatic.c.id, period: '2026-02' }))).code, 'SLA_CLAIM_NOT_NEEDED');
      // Another account's contract is not even found.
      assert.equal((await code(fileClaim(customer(automatic.a), { contract_id: claimed.c.id, period: '2026-02' }))).code, 'NOT_FOUND');
      const filed = await fileClaim(customer(claimed.a), { contract_id: claimed.c.id, period: '2026-02', evidence: 'errors on 9 February, ticket T-17' });
      assert.equal(filed.created, true);
      assert.equal((await fileClaim(customer(claimed.a), { contract_id: claimed.c.id, period: '2026-02' })).created, false);
      const waiting = await code(closePeriod(t.op, unclaimed.c.id, '2026-02', none));
      assert.equal(waiting.code, 'SLA_AWAITING_CLAIM');
      assert.match(waiting.message, /2026-03-11T00:00:00.000Z/);
      assert.equal((await closePeriod(t.op, claimed.c.id, '2026-02', none)).closed.credit, usd('20'));
      t.clock.t = T('2026-03-11T00:00:01Z');
      const late = await code(fileClaim(customer(unclaimed.a), { contract_id: unclaimed.c.id, period: '2026-02' }));
      assert.equal(late.code, 'SLA_CLAIM_LATE');
      assert.match(late.message, /2026-03-11T00:00:00.000Z/);
      assert.equal(late.details.deadline, '2026-03-11T00:00:00.000Z');
      const lapsed = await closePeriod(t.op, unclaimed.c.id, '2026-02', none);
      assert.deepEqual([lapsed.closed.credit, lapsed.credit], [0n, null]);
      assert.match(lapsed.note ?? '', /no claim/);
      assert.equal((await getBalance(t.rt, unclaimed.a)).granted, 0n);
    });

    test('corrections after closing: correcting credits and entries with their reason, idempotent', async () => {
      const { a, c } = await setup();
      t.clock.t = T('2026-03-03T00:00:00Z');
      const notYet = await code(correctPeriod(t.op, c.id, '2026-02', { amount: '1.00', reason: 'x' }, idem()));
      assert.equal(notYet.code, 'CONFLICT');
      await closePeriod(t.op, c.id, '2026-02', none);
      const key = idem();
      const plus = await correctPeriod(t.op, c.id, '2026-02', { amount: '2.50', reason: 'maintenance was not announced after all' }, key);
      const replay = await correctPeriod(t.op, c.id, '2026-02', { amount: '2.50', reason: 'maintenance was not announced after all' }, key);
      assert.equal(replay.replayed, true);
      assert.equal(replay.correction.id, plus.correction.id);
      t.clock.advance(60_000);
      const minus = await correctPeriod(t.op, c.id, '2026-02', { amount: '-1.25', reason: 'traffic of a test key was counted' }, idem());
      assert.equal(minus.correction.amount, '-1.25');
      assert.equal((await getBalance(t.rt, a)).granted, usd('21.25'));
      const tx = await t.rt.db.get('SELECT kind, memo FROM ledger_tx WHERE id = ?', [minus.correction.tx_id as string]);
      assert.equal(tx?.kind, 'credit_correction');
      assert.match(String(tx?.memo), /traffic of a test key/);
      assert.equal((await code(correctPeriod(t.op, c.id, '2026-02', { amount: '-1000.00', reason: 'too much' }, idem()))).code, 'CONFLICT');
      assert.equal((await code(correctPeriod(t.op, c.id, '2026-02', { amount: '0', reason: 'nothing' }, idem()))).code, 'VALIDATION');
      const shown = (await contractReport(t.op, c.id, { period: '2026-02' }, none)).view as any;
      assert.deepEqual(shown.corrections.map((x: any) => x.amount), ['2.50', '-1.25']);
      assert.deepEqual(await ledgerProblems(), []);
    });

    test('the schedule closes each contract\'s ended months once, an hour after they end, and waits for claims', async () => {
      const auto = await setup({ term: { start: '2026-01-15T00:00:00Z' } });
      const claimed = await setup({ term: { start: '2026-01-15T00:00:00Z' }, claims: { required: true, deadline_days: 10 } });
      t.clock.t = T('2026-03-01T00:30:00Z');
      const early = await closeDuePeriods(t.rt);
      assert.deepEqual(early.filter((x) => x.contract === auto.c.id).map((x) => x.period), ['2026-01']);
      t.clock.t = T('2026-03-01T01:00:00Z');
      const due = await closeDuePeriods(t.rt);
      assert.deepEqual(due.filter((x) => x.contract === auto.c.id).map((x) => x.period), ['2026-02']);
      assert.equal(due.filter((x) => x.contract === claimed.c.id).length, 0, 'waits for a claim');
      assert.equal((await getBalance(t.rt, auto.a)).granted, usd('20'));
      assert.deepEqual((await closeDuePeriods(t.rt)).filter((x) => x.contract === auto.c.id), []);
      t.clock.t = T('2026-03-12T00:00:00Z');
      const lapsed = await closeDuePeriods(t.rt);
      assert.deepEqual(lapsed.filter((x) => x.contract === claimed.c.id).map((x) => [x.period, x.credit]), [['2026-02', null]]);
    });
  });
}
