// Credits (billing/credits.ts) on every engine: idempotent single credits, batches that never pay
// an account twice, and the ledger they leave behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, getBalance, updateAccount } from '../../src/accounts/accounts.ts';
import { book } from '../../src/billing/books.ts';
import { grantGoodwill, issueCredit, issueCreditBatch, listCredits } from '../../src/billing/credits.ts';
import { verifyLedger } from '../../src/billing/verify.ts';
import { AppError } from '../../src/kernel/errors.ts';
import { parseUsd } from '../../src/kernel/money.ts';
import { withActor, type ServiceContext } from '../../src/kernel/context.ts';
import type { Db } from '../../src/storage/port.ts';
import { engines } from '../helpers/engines.ts';
import { createTestRuntime, idem, type TestRuntime } from '../helpers/runtime.ts';

const usd = (s: string) => parseUsd(s, { allowZero: true });

async function rejectsWith(p: Promise<unknown>, code: string): Promise<AppError> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof AppError, `expected AppError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

async function count(db: Db, sql: string, params: string[] = []): Promise<number> {
  return Number((await db.get<{ n: bigint }>(`SELECT COUNT(*) AS n FROM ${sql}`, params))!.n);
}

for (const engine of engines()) {
  describe(`credits (${engine})`, () => {
    let t: TestRuntime;
    let sys: ServiceContext;
    before(async () => {
      t = await createTestRuntime(engine);
      sys = withActor(t.rt, { type: 'system', id: 'detection' });
    });
    after(async () => {
      await t?.close();
    });

    const newAccount = async () => (await createAccount(t.op, { name: `acct ${idem()}` })).id;
    const credits = async (db: Db) => (await db.get<{ balance: bigint }>('SELECT balance FROM books WHERE code = ?', [book.credits]))?.balance ?? 0n;

    test('a credit lands in granted, from s:credits, with its row, journal transaction and audit entry', async () => {
      const acct = await newAccount();
      const before = await credits(t.rt.db);
      const { credit, replayed } = await issueCredit(sys, { accountId: acct, amount: usd('12.5'), kind: 'compensation', refType: 'finding', refId: 'fnd_1', memo: 'billed but failed' }, 'fnd_1');
      assert.equal(replayed, false);
      assert.deepEqual([credit.kind, credit.amount, credit.ref_type, credit.ref_id, credit.created_by], ['compensation', usd('12.5'), 'finding', 'fnd_1', 'system:detection']);
      const b = await getBalance(t.rt, acct);
      assert.deepEqual([b.granted, b.paid, b.available], [usd('12.5'), 0n, usd('12.5')]);
      assert.equal(await credits(t.rt.db), before - usd('12.5'));
      const tx = await t.rt.db.get('SELECT kind, ref_type, ref_id, memo, amount FROM ledger_tx WHERE id = ?', [credit.tx_id]);
      assert.deepEqual({ ...tx }, { kind: 'credit', ref_type: 'credit', ref_id: credit.id, memo: 'billed but failed', amount: usd('12.5') });
      assert.equal(await count(t.rt.db, "audit_log WHERE action = 'credit.issue' AND target_id = ?", [credit.id]), 1);
      assert.deepEqual((await listCredits(t.op, acct, { limit: 10 })).map((c) => c.id), [credit.id]);
      assert.deepEqual((await verifyLedger(t.rt.db, t.clock.now())).problems, []);
    });

    test('idempotent: the same key replays, another payload conflicts, nothing moves twice', async () => {
      const acct = await newAccount();
      const input = { accountId: acct, amount: usd('3'), kind: 'sla' as const, refType: 'sla_report', refId: 'rep_1' };
      const first = await issueCredit(t.op, input, 'sla-rep_1');
      const again = await issueCredit(t.op, { ...input }, 'sla-rep_1');
      assert.equal(again.replayed, true);
      assert.equal(again.credit.id, first.credit.id);
      assert.equal(again.credit.amount, usd('3'));
      await rejectsWith(issueCredit(t.op, { ...input, amount: usd('4') }, 'sla-rep_1'), 'IDEMPOTENCY_CONFLICT');
      await rejectsWith(issueCredit(t.op, { ...input, kind: 'goodwill' }, 'sla-rep_1'), 'IDEMPOTENCY_CONFLICT');
      assert.equal((await getBalance(t.rt, acct)).granted, usd('3'));
      assert.equal(await count(t.rt.db, 'credits WHERE account_id = ?', [acct]), 1);
      assert.equal(await count(t.rt.db, 'ledger_tx WHERE account_id = ?', [acct]), 1);
    });

    test('20 concurrent calls with one key make one movement', async () => {
      const acct = await newAccount();
      const results = await Promise.all(Array.from({ length: 20 }, () => issueCredit(t.op, { accountId: acct, amount: usd('1'), kind: 'goodwill', memo: 'sorry' }, 'same')));
      assert.equal(new Set(results.map((r) => r.credit.id)).size, 1);
      assert.equal(results.filter((r) => !r.replayed).length, 1);
      assert.equal((await getBalance(t.rt, acct)).granted, usd('1'));
      assert.equal(await count(t.rt.db, 'credits WHERE account_id = ?', [acct]), 1);
      assert.equal(await count(t.rt.db, "audit_log WHERE action = 'credit.issue' AND account_id = ?", [acct]), 1);
    });

    test('a batch pays each account once: re-running replays, a changed amount conflicts, a half-done batch completes', async () => {
      const [a, b, c] = [await newAccount(), await newAccount(), await newAccount()];
      const batch = { id: 'inc_42', kind: 'reissue' as const, credits: [
        { accountId: a, amount: usd('2'), refType: 'incident', refId: 'inc_42' },
        { accountId: b, amount: usd('5'), refType: 'incident', refId: 'inc_42' },
      ] };
      const first = await issueCreditBatch(sys, batch);
      assert.deepEqual(first.map((r) => r.replayed), [false, false]);
      assert.ok(first.every((r) => r.credit.batch_id === 'inc_42' && r.credit.kind === 'reissue'));
      // Re-running (a retry, a second operator, a crash mid-way) pays nobody twice, and adding an
      // account pays only that one.
      const rerun = await issueCreditBatch(sys, { ...batch, credits: [...batch.credits, { accountId: c, amount: usd('1'), refType: 'incident', refId: 'inc_42' }] });
      assert.deepEqual(rerun.map((r) => r.replayed), [true, true, false]);
      assert.deepEqual(rerun.slice(0, 2).map((r) => r.credit.id), first.map((r) => r.credit.id));
      assert.deepEqual([(await getBalance(t.rt, a)).granted, (await getBalance(t.rt, b)).granted, (await getBalance(t.rt, c)).granted], [usd('2'), usd('5'), usd('1')]);
      // Concurrent re-runs too.
      await Promise.all(Array.from({ length: 5 }, () => issueCreditBatch(sys, batch)));
      assert.equal(await count(t.rt.db, "credits WHERE batch_id = 'inc_42'"), 3);
      // A re-run with a recomputed amount is a conflict for that account, never a second payment.
      await rejectsWith(issueCreditBatch(sys, { ...batch, credits: [{ ...batch.credits[0]!, amount: usd('3') }] }), 'IDEMPOTENCY_CONFLICT');
      assert.equal((await getBalance(t.rt, a)).granted, usd('2'));
      // The same account twice in one batch is refused before anything moves.
      const d = await newAccount();
      const err = await rejectsWith(issueCreditBatch(sys, { id: 'inc_43', kind: 'reissue', credits: [{ accountId: d, amount: 1n }, { accountId: d, amount: 1n }] }), 'VALIDATION');
      assert.equal(err.details?.field, 'credits.1.accountId');
      assert.equal((await getBalance(t.rt, d)).granted, 0n);
      // Storage itself refuses a second credit of one batch to one account, whatever the idempotency records say.
      await t.rt.db.run("DELETE FROM idempotency WHERE scope = 'credit-batch:inc_42'");
      await rejectsWith(issueCreditBatch(sys, batch), 'CONFLICT');
      assert.equal((await getBalance(t.rt, a)).granted, usd('2'));
      assert.deepEqual((await verifyLedger(t.rt.db, t.clock.now())).problems, []);
    });

    test('refused: customers, bad input, closed accounts; none of them moves money', async () => {
      const acct = await newAccount();
      const customer = withActor(t.rt, { type: 'customer', accountId: acct, keyId: 'key_x', memberId: null, role: 'owner' });
      await rejectsWith(issueCredit(customer, { accountId: acct, amount: 1n, kind: 'goodwill' }, idem()), 'FORBIDDEN');
      await rejectsWith(grantGoodwill(customer, acct, { amount: '1.00', memo: 'x' }, idem()), 'FORBIDDEN');
      await rejectsWith(issueCredit(t.op, { accountId: acct, amount: 0n, kind: 'goodwill' }, idem()), 'VALIDATION');
      await rejectsWith(issueCredit(t.op, { accountId: acct, amount: 1n, kind: 'bonus' as 'goodwill' }, idem()), 'VALIDATION');
      const ref = await rejectsWith(issueCredit(t.op, { accountId: acct, amount: 1n, kind: 'sla', refType: 'sla_report' }, idem()), 'VALIDATION');
      assert.equal(ref.details?.field, 'refId');
      await rejectsWith(grantGoodwill(t.op, acct, { amount: '1.00' }, idem()), 'VALIDATION');
      await rejectsWith(grantGoodwill(t.op, acct, { amount: '1e3', memo: 'x' }, idem()), 'VALIDATION');
      await rejectsWith(issueCredit(t.op, { accountId: 'acct_none', amount: 1n, kind: 'goodwill' }, idem()), 'NOT_FOUND');
      await updateAccount(t.op, acct, { status: 'closed' });
      await rejectsWith(grantGoodwill(t.op, acct, { amount: '1.00', memo: 'x' }, idem()), 'CONFLICT');
      assert.equal(await count(t.rt.db, 'credits WHERE account_id = ?', [acct]), 0);
      assert.equal((await getBalance(t.rt, acct)).granted, 0n);
    });
  });
}
