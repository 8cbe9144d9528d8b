// The ledger conformance suite: the same tests against every storage engine (SQLite always,
// PostgreSQL when SURETY_TEST_DATABASE_URL is set). Real databases, real services, no mocks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, getBalance, updateAccount } from '../../src/accounts/accounts.ts';
import { createHold, expireHolds, getHold, postHold, voidHold } from '../../src/billing/holds.ts';
import { book } from '../../src/billing/books.ts';
import { JournalError, postUsage, writeTx } from '../../src/billing/journal.ts';
import { accountJournal } from '../../src/billing/statement.ts';
import { createRedemptionBatch, redeemCode } from '../../src/billing/redemption.ts';
import { approveRefund, getRefund, rejectRefund, requestRefund } from '../../src/billing/refunds.ts';
import { expireBalances, getTopupRow, recordTopup } from '../../src/billing/topups.ts';
import { verifyLedger } from '../../src/billing/verify.ts';
import { AppError } from '../../src/kernel/errors.ts';
import { parseUsd } from '../../src/kernel/money.ts';
import { withActor, type Runtime, type ServiceContext } from '../../src/kernel/context.ts';
import type { Db } from '../../src/storage/port.ts';
import { engines } from '../helpers/engines.ts';
import { OPERATOR, createTestRuntime, idem, type TestRuntime } from '../helpers/runtime.ts';

const usd = (s: string) => parseUsd(s, { allowZero: true, allowNegative: true });
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Asserts that `p` rejects with an AppError of `code`; returns the error. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<AppError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof AppError, `expected AppError ${code}, got ${err === undefined ? 'success' : String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

async function count(db: Db, sql: string, params: Array<string | number> = []): Promise<number> {
  const r = await db.get<{ n: bigint }>(`SELECT COUNT(*) AS n FROM ${sql}`, params);
  return Number(r?.n ?? 0);
}

async function bookBalance(db: Db, code: string): Promise<bigint> {
  const r = await db.get<{ balance: bigint }>('SELECT balance FROM books WHERE code = ?', [code]);
  return r ? BigInt(r.balance) : 0n;
}

for (const engine of engines()) {
  describe(`ledger conformance (${engine})`, () => {
    let t: TestRuntime;
    let rt: Runtime;
    let db: Db;
    let op: ServiceContext;

    before(async () => {
      t = await createTestRuntime(engine, {
        spendOrder: 'granted_first',
        refundWindowDays: 30,
        refundFeePctBankTransfer: 1,
        refundFeePctCard: 3,
        refundFeePctOther: 0,
        holdTtlSeconds: 900,
        balanceExpiryDays: 0,
      });
      rt = t.rt;
      db = rt.db;
      op = withActor(rt, OPERATOR);
    });
    after(async () => {
      await t?.close();
    });

    const newAccount = async (extra: Record<string, unknown> = {}) => (await createAccount(op, { name: `acct ${idem()}`, ...extra })).id;
    const topup = async (accountId: string, body: Record<string, unknown>, key = idem('top')) =>
      (await recordTopup(op, accountId, { method: 'other', reference: 'test', ...body }, key)).topup;
    const balance = (accountId: string) => getBalance(rt, accountId);
    /** Charges `amount` through a hold that is posted in full. */
    const spend = async (accountId: string, amount: string) => {
      const h = await createHold(op, accountId, { amount: usd(amount) }, idem('hold'));
      return postHold(op, h.id, usd(amount), idem('post'));
    };
    const verifyOk = async () => {
      const r = await verifyLedger(db, t.clock.now());
      assert.deepEqual(r.problems, []);
      assert.equal(r.ok, true);
    };

    test('writeTx writes balanced transactions, materialises balances, refuses what breaks a rule', async () => {
      const acct = await newAccount();
      const a = book.customer(acct, 'granted');
      const b = book.credits;
      const at = t.clock.now();
      const bBefore = await bookBalance(db, b);
      const write = (entries: Array<{ book: string; amount: bigint }>, accountId: string | null = acct) =>
        db.tx((q) => writeTx(db, q, { kind: 'test', accountId, actor: 'test', at, entries }));
      const id = await write([{ book: a, amount: 5n }, { book: b, amount: -5n }]);
      assert.equal(await bookBalance(db, a), 5n);
      assert.equal(await bookBalance(db, b), bBefore - 5n);
      const tx = await db.get('SELECT amount, kind FROM ledger_tx WHERE id = ?', [id]);
      assert.equal(BigInt(tx!.amount as bigint), 5n);
      assert.equal(await count(db, 'ledger_entries WHERE tx_id = ?', [id]), 2);

      const txBefore = await count(db, 'ledger_tx');
      const entriesBefore = await count(db, 'ledger_entries');
      const refused = async (entries: Array<{ book: string; amount: bigint }>, pattern: RegExp, accountId: string | null = acct) => {
        const err = await write(entries, accountId).then(() => null, (e: unknown) => e);
        assert.ok(err instanceof JournalError, `expected a JournalError, got ${String(err)}`);
        assert.match(err.message, pattern);
      };
      await refused([{ book: a, amount: 5n }, { book: b, amount: -4n }], /unbalanced/);
      await refused([{ book: a, amount: 0n }, { book: b, amount: 0n }], /two non-zero entries/);
      // Only known books: a typo never opens a new book.
      await refused([{ book: a, amount: 5n }, { book: 's:credit', amount: -5n }], /unknown book s:credit/);
      await refused([{ book: `c:${acct}:bonus`, amount: 5n }, { book: b, amount: -5n }], /unknown book/);
      // A customer book belongs to the transaction's own account.
      const other = await newAccount();
      await refused([{ book: book.customer(other, 'paid'), amount: 5n }, { book: b, amount: -5n }], /a book of another account/);
      await refused([{ book: a, amount: 5n }, { book: b, amount: -5n }], /a book of another account/, null);
      // A balanced write followed by a failure in the same transaction leaves nothing behind.
      await assert.rejects(
        db.tx(async (q) => {
          await writeTx(db, q, { kind: 'test', accountId: acct, actor: 'test', at, entries: [{ book: a, amount: 7n }, { book: b, amount: -7n }] });
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      assert.equal(await count(db, 'ledger_entries'), entriesBefore);
      assert.equal(await bookBalance(db, a), 5n);
      assert.equal(await bookBalance(db, book.customer(other, 'paid')), 0n);
      // Three-way transactions are fine as long as they sum to zero.
      await write([{ book: a, amount: 3n }, { book: book.customer(acct, 'paid'), amount: 2n }, { book: b, amount: -5n }]);
      assert.equal(await bookBalance(db, a), 8n);
      assert.equal(await bookBalance(db, book.customer(acct, 'paid')), 2n);
      await verifyOk();
    });

    test('a top-up with a bonus lands in paid and granted, balanced against cash and bonus books', async () => {
      const acct = await newAccount();
      const cashBefore = await bookBalance(db, book.cash('bank_transfer'));
      const bonusBefore = await bookBalance(db, book.bonus);
      const top = await topup(acct, { amount: '100.00', method: 'bank_transfer', reference: 'BT-1', contract_number: 'C-9', bonus: '10.00' });
      assert.equal(top.amount, usd('100'));
      assert.equal(top.bonus, usd('10'));
      const b = await balance(acct);
      assert.equal(b.paid, usd('100'));
      assert.equal(b.granted, usd('10'));
      assert.equal(b.total, usd('110'));
      assert.equal(b.available, usd('110'));
      assert.equal(await bookBalance(db, book.cash('bank_transfer')), cashBefore - usd('100'));
      assert.equal(await bookBalance(db, book.bonus), bonusBefore - usd('10'));
      const journal = await accountJournal(db, acct, { limit: 10 });
      assert.equal(journal.length, 1);
      assert.equal(journal[0]!.kind, 'topup');
      assert.equal(journal[0]!.paid, usd('100'));
      assert.equal(journal[0]!.granted, usd('10'));
      assert.equal(journal[0]!.ref_id, top.id);
      const row = await getTopupRow(db, top.id);
      assert.equal(row.contract_number, 'C-9');
      assert.equal(row.tx_id, journal[0]!.tx_id);
    });

    test('charges follow the spending order: setting, per-account override, and both ways', async () => {
      // Config default here: granted_first.
      const g = await newAccount();
      await topup(g, { amount: '50.00', bonus: '20.00' });
      await spend(g, '30.00');
      let b = await balance(g);
      assert.equal(b.granted, 0n);
      assert.equal(b.paid, usd('40'));

      // Per-account paid_first overrides the setting.
      const p = await newAccount({ spend_order: 'paid_first' });
      await topup(p, { amount: '50.00', bonus: '20.00' });
      await spend(p, '30.00');
      b = await balance(p);
      assert.equal(b.paid, usd('20'));
      assert.equal(b.granted, usd('20'));
      await spend(p, '30.00');
      b = await balance(p);
      assert.equal(b.paid, 0n);
      assert.equal(b.granted, usd('10'));

      // The setting itself, with the account following it.
      const v = await t.variant({ spendOrder: 'paid_first' });
      const vop = withActor(v, OPERATOR);
      const s = await newAccount();
      await topup(s, { amount: '50.00', bonus: '20.00' });
      const h = await createHold(vop, s, { amount: usd('30') }, idem());
      await postHold(vop, h.id, usd('30'), idem());
      b = await balance(s);
      assert.equal(b.paid, usd('20'));
      assert.equal(b.granted, usd('20'));

      // Switching an account back to the setting (null) uses the setting again.
      await updateAccount(op, p, { spend_order: null });
      await topup(p, { amount: '5.00' });
      await spend(p, '4.00');
      b = await balance(p);
      assert.equal(b.granted, usd('6'));
      assert.equal(b.paid, usd('5'));
    });

    test('postUsage: one usage transaction per account and batch, in bulk, through the writer\'s checks', async () => {
      const a = await newAccount();
      const b = await newAccount({ spend_order: 'paid_first' });
      await topup(a, { amount: '10.00', bonus: '1.00' });
      await topup(b, { amount: '10.00', bonus: '1.00' });
      const revenueBefore = await bookBalance(db, book.revenue);
      const at = t.clock.now();
      const charges = [
        { accountId: b, requestId: 'req_b1', keyId: 'key_b', amount: usd('2'), at },
        { accountId: a, requestId: 'req_a1', keyId: 'key_a1', amount: usd('0.5'), at },
        { accountId: a, requestId: 'req_a2', keyId: 'key_a2', amount: usd('1'), at: at + 1 },
      ];
      const posted = await db.tx((q) => postUsage(db, q, charges, 'granted_first'));
      assert.deepEqual([...posted.keys()].sort(), [a, b].sort());
      assert.equal(posted.get(a)!.charged, usd('1.5'));
      assert.equal(posted.get(a)!.balanceAfter, usd('9.5'));
      assert.equal(posted.get(b)!.balanceAfter, usd('9'));
      const txA = await db.get('SELECT * FROM ledger_tx WHERE id = ?', [posted.get(a)!.txId]);
      assert.deepEqual([txA!.kind, BigInt(txA!.amount as bigint), txA!.memo, txA!.ref_id, txA!.actor, Number(txA!.created_at)], ['usage', usd('1.5'), '2 requests', null, 'gateway', at + 1]);
      const txB = await db.get('SELECT * FROM ledger_tx WHERE id = ?', [posted.get(b)!.txId]);
      assert.deepEqual([txB!.memo, txB!.ref_type, txB!.ref_id, txB!.actor], ['1 request', 'requests', 'req_b1', 'key:key_b']);
      // Each account's spending order: a granted first, b (its own setting) paid first.
      let ba = await balance(a);
      assert.deepEqual([ba.granted, ba.paid], [0n, usd('9.5')]);
      const bb = await balance(b);
      assert.deepEqual([bb.granted, bb.paid], [usd('1'), usd('8')]);
      assert.equal(await bookBalance(db, book.revenue), revenueBefore + usd('3.5'));
      // A charge that is not positive is a bug in the caller: nothing of the batch is written.
      const txBefore = await count(db, 'ledger_tx');
      await assert.rejects(
        db.tx((q) => postUsage(db, q, [{ ...charges[1]!, requestId: 'req_ok' }, { ...charges[1]!, requestId: 'req_zero', amount: 0n }], 'granted_first')),
        (e: unknown) => e instanceof JournalError && /req_zero/.test(e.message),
      );
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      ba = await balance(a);
      assert.equal(ba.paid, usd('9.5'));
      // A charge that would take the balance out of range moves nothing (the book check applies here too).
      await assert.rejects(
        db.tx((q) => postUsage(db, q, [{ ...charges[1]!, amount: 2n ** 62n }], 'granted_first')),
        (e: unknown) => e instanceof AppError && e.code === 'BALANCE_OUT_OF_RANGE',
      );
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      // The request rows the gateway writes with them, each pointing at its account's transaction.
      for (const c of charges) {
        await db.run(
          `INSERT INTO request_log (id, account_id, key_id, endpoint, provider, started_at, ended_at, duration_ms, status, outcome, hold_amount, amount, tx_id)
           VALUES (?, ?, ?, 'chat', 'openai', ?, ?, 0, 200, 'ok', ?, ?, ?)`,
          [c.requestId, c.accountId, c.keyId, c.at, c.at, c.amount, c.amount, posted.get(c.accountId)!.txId],
        );
      }
      await verifyOk();
    });

    test('holds: reserve, post part (rest released), void, and the errors after', async () => {
      const acct = await newAccount();
      await topup(acct, { amount: '100.00' });
      const revenueBefore = await bookBalance(db, book.revenue);
      const h = await createHold(op, acct, { amount: usd('30'), reference: 'req-1' }, idem());
      assert.equal(h.status, 'open');
      let b = await balance(acct);
      assert.equal(b.held, usd('30'));
      assert.equal(b.available, usd('70'));
      assert.equal(b.paid, usd('100'), 'a hold moves no money');

      const posted = await postHold(op, h.id, usd('12.5'), idem());
      assert.equal(posted.status, 'posted');
      assert.equal(posted.posted, usd('12.5'));
      assert.ok(posted.tx_id);
      b = await balance(acct);
      assert.equal(b.held, 0n);
      assert.equal(b.paid, usd('87.5'));
      assert.equal(b.available, usd('87.5'));
      assert.equal(await bookBalance(db, book.revenue), revenueBefore + usd('12.5'));
      await rejectsWith(postHold(op, h.id, usd('1'), idem()), 'HOLD_NOT_OPEN');

      // Void: nothing charged, hold released; voiding again is a no-op; posting after is refused.
      const h2 = await createHold(op, acct, { amount: usd('20') }, idem());
      assert.equal((await balance(acct)).available, usd('67.5'));
      const voided = await voidHold(op, h2.id);
      assert.equal(voided.status, 'voided');
      assert.equal((await voidHold(op, h2.id)).status, 'voided');
      b = await balance(acct);
      assert.equal(b.held, 0n);
      assert.equal(b.paid, usd('87.5'));
      await rejectsWith(postHold(op, h2.id, usd('1'), idem()), 'HOLD_NOT_OPEN');
      await rejectsWith(voidHold(op, h.id), 'HOLD_NOT_OPEN');

      // Posting more than the hold is refused and leaves the hold open.
      const h3 = await createHold(op, acct, { amount: usd('5') }, idem());
      const txBefore = await count(db, 'ledger_tx');
      await rejectsWith(postHold(op, h3.id, usd('5.000000001'), idem()), 'HOLD_EXCEEDED');
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      assert.equal((await getHold(rt, h3.id)).status, 'open');
      assert.equal((await balance(acct)).held, usd('5'));
      // Posting zero settles it without a journal transaction.
      const zero = await postHold(op, h3.id, 0n, idem());
      assert.equal(zero.status, 'posted');
      assert.equal(zero.tx_id, null);
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      assert.equal((await balance(acct)).held, 0n);

      // A hold larger than what is available is refused.
      await rejectsWith(createHold(op, acct, { amount: usd('87.500000001') }, idem()), 'INSUFFICIENT_BALANCE');
      await rejectsWith(postHold(op, 'hold_doesnotexist', 1n, idem()), 'NOT_FOUND');
      await verifyOk();
    });

    test('holds past their TTL cannot be posted and are voided by expireHolds, never charged', async () => {
      const acct = await newAccount();
      await topup(acct, { amount: '10.00' });
      const h = await createHold(op, acct, { amount: usd('4'), ttl_seconds: 60 }, idem());
      assert.equal(h.expires_at, t.clock.now() + 60_000);
      const keep = await createHold(op, acct, { amount: usd('1'), ttl_seconds: 3600 }, idem());
      assert.equal(await expireHolds(rt), 0, 'nothing is due yet');
      t.clock.advance(61_000);
      // Before the sweeper runs, the verifier sees the expired open hold.
      const report = await verifyLedger(db, t.clock.now());
      assert.deepEqual(report.problems.map((p) => [p.check, p.subject]), [['no_expired_open_holds', h.id]]);
      await rejectsWith(postHold(op, h.id, usd('1'), idem()), 'HOLD_NOT_OPEN');
      assert.equal(await expireHolds(rt), 1);
      const after = await getHold(rt, h.id);
      assert.equal(after.status, 'expired');
      assert.equal((await getHold(rt, keep.id)).status, 'open');
      const b = await balance(acct);
      assert.equal(b.held, usd('1'));
      assert.equal(b.paid, usd('10'), 'an expired hold is never charged');
      await rejectsWith(postHold(op, h.id, usd('1'), idem()), 'HOLD_NOT_OPEN');
      assert.equal(await expireHolds(rt), 0, 'expiring is done once');
      await postHold(op, keep.id, usd('1'), idem());
      await verifyOk();
    });

    test('200 concurrent holds at a balance covering exactly 50: exactly 50 succeed', async () => {
      const acct = await newAccount();
      await topup(acct, { amount: '40.00', bonus: '10.00' });
      const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => createHold(op, acct, { amount: usd('1.00') }, `conc-${i}`)));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(ok.length, 50);
      assert.equal(failed.length, 150);
      for (const f of failed) {
        assert.ok(f.reason instanceof AppError, String(f.reason));
        assert.equal(f.reason.code, 'INSUFFICIENT_BALANCE');
      }
      const b = await balance(acct);
      assert.equal(b.held, usd('50'));
      assert.equal(b.available, 0n);
      assert.equal(await count(db, "holds WHERE account_id = ? AND status = 'open'", [acct]), 50);
      await rejectsWith(createHold(op, acct, { amount: 1n }, idem()), 'INSUFFICIENT_BALANCE');
      // Settle them all concurrently too: 50 posts of 1.00 exhaust both buckets exactly.
      await Promise.all(ok.map((r) => postHold(op, (r as PromiseFulfilledResult<{ id: string }>).value.id, usd('1'), idem())));
      const end = await balance(acct);
      assert.equal(end.paid, 0n);
      assert.equal(end.granted, 0n);
      assert.equal(end.held, 0n);
      await verifyOk();
    });

    test('a credit line lets the balance go below zero exactly to the line, never further', async () => {
      const acct = await newAccount({ credit_line: '10.00' });
      await rejectsWith(createHold(op, acct, { amount: usd('10.000000001') }, idem()), 'INSUFFICIENT_BALANCE');
      const h = await createHold(op, acct, { amount: usd('10') }, idem());
      await rejectsWith(createHold(op, acct, { amount: 1n }, idem()), 'INSUFFICIENT_BALANCE');
      await postHold(op, h.id, usd('10'), idem());
      let b = await balance(acct);
      assert.equal(b.paid, usd('-10'));
      assert.equal(b.total, usd('-10'));
      assert.equal(b.available, 0n);
      await rejectsWith(createHold(op, acct, { amount: 1n }, idem()), 'INSUFFICIENT_BALANCE');
      // Concurrent holds at the line: exactly as many as the top-up allows.
      await topup(acct, { amount: '3.00' });
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => createHold(op, acct, { amount: usd('1') }, idem())));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
      for (const r of results) if (r.status === 'fulfilled') await voidHold(op, r.value.id);
      b = await balance(acct);
      assert.equal(b.available, usd('3'));
      // Without a credit line the same account cannot go below zero.
      const none = await newAccount();
      await rejectsWith(createHold(op, none, { amount: 1n }, idem()), 'INSUFFICIENT_BALANCE');
      await verifyOk();
    });

    test('idempotency: same key and payload replays, another payload conflicts, nothing moves twice', async () => {
      const acct = await newAccount();
      const body = { amount: '25.00', method: 'card', reference: 'ch_1' };
      const first = await recordTopup(op, acct, body, 'idem-1');
      assert.equal(first.replayed, false);
      const txCount = await count(db, 'ledger_tx WHERE account_id = ?', [acct]);
      const second = await recordTopup(op, acct, { ...body }, 'idem-1');
      assert.equal(second.replayed, true);
      assert.equal(second.topup.id, first.topup.id);
      assert.equal(second.topup.amount, usd('25'), 'the replay returns the first result with its bigint amounts');
      assert.equal((await balance(acct)).paid, usd('25'));
      assert.equal(await count(db, 'ledger_tx WHERE account_id = ?', [acct]), txCount);
      assert.equal(await count(db, 'topups WHERE account_id = ?', [acct]), 1);

      const conflict = await rejectsWith(recordTopup(op, acct, { ...body, amount: '26.00' }, 'idem-1'), 'IDEMPOTENCY_CONFLICT');
      assert.equal(conflict.status, 409);
      assert.equal((await balance(acct)).paid, usd('25'));
      // Keys are scoped per account: the same key on another account is a new movement.
      const other = await newAccount();
      await recordTopup(op, other, body, 'idem-1');
      assert.equal((await balance(other)).paid, usd('25'));
      // A failed call does not burn its key.
      await rejectsWith(recordTopup(op, acct, { amount: 'abc', method: 'card' }, 'idem-2'), 'VALIDATION');
      await recordTopup(op, acct, body, 'idem-2');
      assert.equal((await balance(acct)).paid, usd('50'));

      // Holds and posts are idempotent too.
      const h1 = await createHold(op, acct, { amount: usd('5') }, 'hold-key');
      const h2 = await createHold(op, acct, { amount: usd('5') }, 'hold-key');
      assert.equal(h2.id, h1.id);
      assert.equal((await balance(acct)).held, usd('5'));
      await rejectsWith(createHold(op, acct, { amount: usd('6') }, 'hold-key'), 'IDEMPOTENCY_CONFLICT');
      const p1 = await postHold(op, h1.id, usd('2'), 'post-key');
      const p2 = await postHold(op, h1.id, usd('2'), 'post-key');
      assert.equal(p2.tx_id, p1.tx_id);
      assert.equal((await balance(acct)).paid, usd('48'));
      await rejectsWith(postHold(op, h1.id, usd('3'), 'post-key'), 'IDEMPOTENCY_CONFLICT');
      await verifyOk();
    });

    test('20 concurrent top-ups with one idempotency key move the money once', async () => {
      const acct = await newAccount();
      const body = { amount: '100.00', method: 'bank_transfer', reference: 'BT-CONC' };
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => recordTopup(op, acct, body, 'same-key')));
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.deepEqual(rejected.map((r) => String(r.reason)), []);
      const values = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof recordTopup>>>).value);
      assert.equal(new Set(values.map((v) => v.topup.id)).size, 1);
      assert.equal(values.filter((v) => !v.replayed).length, 1);
      assert.equal((await balance(acct)).paid, usd('100'));
      assert.equal(await count(db, 'topups WHERE account_id = ?', [acct]), 1);
      assert.equal(await count(db, 'ledger_tx WHERE account_id = ?', [acct]), 1);
      assert.equal(await count(db, "audit_log WHERE account_id = ? AND action = 'topup.record'", [acct]), 1);
    });

    test('redemption: a code redeems exactly once under 20 concurrent calls; expired and unknown codes', async () => {
      const accounts = [await newAccount(), await newAccount(), await newAccount(), await newAccount()];
      const { batch, codes } = await createRedemptionBatch(op, { count: 3, amount: '5.00', expires_at: new Date(t.clock.now() + 2 * HOUR).toISOString() });
      assert.equal(codes.length, 3);
      assert.equal(new Set(codes).size, 3);
      assert.equal(await count(db, 'redemption_codes WHERE batch_id = ?', [batch.id]), 3);
      // Codes are stored hashed only.
      const stored = JSON.stringify(await db.all('SELECT * FROM redemption_codes WHERE batch_id = ?', [batch.id]), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      for (const c of codes) assert.ok(!stored.includes(c) && !stored.includes(c.replace(/-/g, '')), 'no plain code in storage');

      const redemptionBefore = await bookBalance(db, book.redemption);
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => redeemCode(op, accounts[i % 4]!, codes[0]!)));
      const ok = results.filter((r) => r.status === 'fulfilled');
      assert.equal(ok.length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AppError).code, 'REDEMPTION_CODE_USED', String(r.reason));
      const winner = (ok[0] as PromiseFulfilledResult<{ account_id: string; method: string }>).value;
      assert.equal(winner.method, 'redemption_code');
      assert.equal(await bookBalance(db, book.redemption), redemptionBefore - usd('5'));
      let total = 0n;
      for (const a of accounts) total += (await balance(a)).paid;
      assert.equal(total, usd('5'));
      assert.equal((await balance(winner.account_id)).paid, usd('5'));
      await rejectsWith(redeemCode(op, accounts[0]!, codes[0]!), 'REDEMPTION_CODE_USED');

      // Case and dashes do not matter.
      await redeemCode(op, accounts[1]!, codes[1]!.toLowerCase().replace(/-/g, ''));
      await rejectsWith(redeemCode(op, accounts[1]!, 'SR-AAAA-BBBB-CCCC-DDDD'), 'REDEMPTION_CODE_INVALID');
      await rejectsWith(redeemCode(op, accounts[1]!, 'x'), 'VALIDATION');

      // After the expiry the last code is refused and nothing is credited.
      t.clock.advance(3 * HOUR);
      const before = await balance(accounts[2]!);
      await rejectsWith(redeemCode(op, accounts[2]!, codes[2]!), 'REDEMPTION_CODE_EXPIRED');
      assert.deepEqual(await balance(accounts[2]!), before);
      await rejectsWith(createRedemptionBatch(op, { count: 1, amount: '1.00', expires_at: new Date(t.clock.now() - 1000).toISOString() }), 'VALIDATION');

      // A granted batch credits the granted bucket; redeemed top-ups are never refundable.
      const g = await createRedemptionBatch(op, { count: 1, amount: '2.50', bucket: 'granted' });
      const top = await redeemCode(op, accounts[3]!, g.codes[0]!);
      const b = await balance(accounts[3]!);
      assert.equal(b.granted, usd('2.5'));
      await rejectsWith(requestRefund(op, accounts[3]!, { topup_id: top.id }, idem()), 'REFUND_NOT_ALLOWED');
      await verifyOk();
    });

    test('refunds: only within the refund window', async () => {
      const acct = await newAccount();
      const old = await topup(acct, { amount: '10.00', method: 'card' });
      t.clock.advance(29 * DAY);
      const fresh = await topup(acct, { amount: '10.00', method: 'card' });
      // Day 29: the old one is still refundable.
      const r1 = await requestRefund(op, acct, { topup_id: old.id, amount: '1.00' }, idem());
      await rejectRefund(op, r1.refund.id, {});
      t.clock.advance(2 * DAY);
      const err = await rejectsWith(requestRefund(op, acct, { topup_id: old.id }, idem()), 'REFUND_WINDOW_CLOSED');
      assert.match(err.message, /30 days/);
      const r2 = await requestRefund(op, acct, { topup_id: fresh.id }, idem());
      assert.equal(r2.refund.amount, usd('10'));
      // A refund asked for in time is still honoured at approval.
      t.clock.advance(30 * DAY);
      const approved = await approveRefund(op, r2.refund.id, {});
      assert.equal(approved.status, 'approved');
      await rejectsWith(requestRefund(op, acct, { topup_id: 'top_missing' }, idem()), 'NOT_FOUND');
      // A window of 0 days refuses everything but the same instant.
      const v = await t.variant({ refundWindowDays: 0 });
      const zero = await topup(acct, { amount: '1.00', method: 'card' });
      t.clock.advance(1);
      await rejectsWith(requestRefund(withActor(v, OPERATOR), acct, { topup_id: zero.id }, idem()), 'REFUND_WINDOW_CLOSED');
    });

    test('refunds: only from unspent paid balance; pending requests reserve; approval re-checks', async () => {
      const acct = await newAccount();
      const top = await topup(acct, { amount: '100.00', method: 'bank_transfer', reference: 'BT-R' });
      await spend(acct, '30.00');
      assert.equal((await balance(acct)).paid, usd('70'));
      const err = await rejectsWith(requestRefund(op, acct, { topup_id: top.id, amount: '70.000000001' }, idem()), 'REFUND_NOT_ALLOWED');
      assert.equal(err.details?.max_refundable, '70.00');
      const r = await requestRefund(op, acct, { topup_id: top.id, reason: 'leaving' }, idem());
      assert.equal(r.refund.amount, usd('70'), 'without an amount: all that can be refunded');
      assert.equal(r.refund.status, 'pending');
      // A pending refund reserves its amount against further requests.
      await rejectsWith(requestRefund(op, acct, { topup_id: top.id, amount: '0.01' }, idem()), 'REFUND_NOT_ALLOWED');

      const cashBefore = await bookBalance(db, book.cash('bank_transfer'));
      const feesBefore = await bookBalance(db, book.refundFees);
      const a = await approveRefund(op, r.refund.id, { note: 'ok' });
      assert.equal(a.fee, usd('0.70'), 'bank transfer fee 1%');
      assert.equal(a.payout, usd('69.30'));
      assert.equal(a.bonus_clawback, 0n);
      assert.equal((await balance(acct)).paid, 0n);
      assert.equal(await bookBalance(db, book.cash('bank_transfer')), cashBefore + usd('69.30'));
      assert.equal(await bookBalance(db, book.refundFees), feesBefore + usd('0.70'));
      const after = await getTopupRow(db, top.id);
      assert.equal(after.refunded, usd('70'));
      const tx = await db.get('SELECT kind, ref_type, ref_id FROM ledger_tx WHERE id = ?', [a.tx_id!]);
      assert.deepEqual({ ...tx }, { kind: 'refund', ref_type: 'refund', ref_id: r.refund.id });

      // Approval re-checks: money spent after the request cannot be refunded.
      const acct2 = await newAccount();
      const top2 = await topup(acct2, { amount: '100.00', method: 'card' });
      const pending = await requestRefund(op, acct2, { topup_id: top2.id, amount: '50.00' }, idem());
      await spend(acct2, '80.00');
      const txBefore = await count(db, 'ledger_tx');
      await rejectsWith(approveRefund(op, pending.refund.id, {}), 'REFUND_NOT_ALLOWED');
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      assert.equal((await getRefund(op, pending.refund.id)).status, 'pending');
      assert.equal((await balance(acct2)).paid, usd('20'));
      await verifyOk();
    });

    test('refunds: concurrent requests never reserve more than the payment', async () => {
      const acct = await newAccount();
      const top = await topup(acct, { amount: '100.00', method: 'card' });
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => requestRefund(op, acct, { topup_id: top.id, amount: '30.00' }, idem())));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AppError).code, 'REFUND_NOT_ALLOWED');
      const pending = await db.all<{ id: string }>("SELECT id FROM refunds WHERE account_id = ? AND status = 'pending'", [acct]);
      assert.equal(pending.length, 3);
      await Promise.all(pending.map((r) => approveRefund(op, r.id, {})));
      const b = await balance(acct);
      assert.equal(b.paid, usd('10'));
      assert.equal((await getTopupRow(db, top.id)).refunded, usd('90'));
      await verifyOk();
    });

    test('refunds: bonus taken back in proportion, fee per payment method', async () => {
      // Card (3%), bonus 20 on 100, refunded in two halves.
      const acct = await newAccount();
      const top = await topup(acct, { amount: '100.00', method: 'card', bonus: '20.00' });
      const r1 = await requestRefund(op, acct, { topup_id: top.id, amount: '50.00' }, idem());
      const a1 = await approveRefund(op, r1.refund.id, {});
      assert.equal(a1.fee, usd('1.50'));
      assert.equal(a1.bonus_clawback, usd('10'));
      assert.equal(a1.payout, usd('48.50'));
      let b = await balance(acct);
      assert.equal(b.paid, usd('50'));
      assert.equal(b.granted, usd('10'));
      const r2 = await requestRefund(op, acct, { topup_id: top.id }, idem());
      assert.equal(r2.refund.amount, usd('50'));
      const a2 = await approveRefund(op, r2.refund.id, {});
      assert.equal(a2.bonus_clawback, usd('10'));
      b = await balance(acct);
      assert.equal(b.paid, 0n);
      assert.equal(b.granted, 0n);
      const row = await getTopupRow(db, top.id);
      assert.equal(row.refunded, usd('100'));
      assert.equal(row.bonus_clawed_back, usd('20'));
      await rejectsWith(requestRefund(op, acct, { topup_id: top.id }, idem()), 'REFUND_NOT_ALLOWED');

      // Bonus already spent (granted first): what cannot be taken back comes off the payout.
      const spent = await newAccount();
      const top2 = await topup(spent, { amount: '100.00', method: 'card', bonus: '20.00' });
      await spend(spent, '15.00');
      b = await balance(spent);
      assert.equal(b.granted, usd('5'));
      assert.equal(b.paid, usd('100'));
      const r3 = await requestRefund(op, spent, { topup_id: top2.id }, idem());
      const a3 = await approveRefund(op, r3.refund.id, {});
      assert.equal(a3.fee, usd('3'));
      assert.equal(a3.bonus_clawback, usd('20'));
      assert.equal(a3.payout, usd('82'));
      b = await balance(spent);
      assert.equal(b.paid, 0n);
      assert.equal(b.granted, 0n);

      // Method `other`: 0% fee.
      const o = await newAccount();
      const top3 = await topup(o, { amount: '10.00', method: 'other' });
      const r4 = await requestRefund(op, o, { topup_id: top3.id }, idem());
      const a4 = await approveRefund(op, r4.refund.id, {});
      assert.equal(a4.fee, 0n);
      assert.equal(a4.payout, usd('10'));
      await verifyOk();
    });

    test('refunds: invoiced top-ups are non-refundable unless marked refundable', async () => {
      const acct = await newAccount();
      const inv = await topup(acct, { amount: '10.00', method: 'bank_transfer', reference: 'INV-1', invoiced: true });
      assert.equal(inv.refundable, false);
      const err = await rejectsWith(requestRefund(op, acct, { topup_id: inv.id }, idem()), 'REFUND_NOT_ALLOWED');
      assert.match(err.message, /non-refundable/);
      const ok = await topup(acct, { amount: '10.00', method: 'bank_transfer', reference: 'INV-2', invoiced: true, refundable: true });
      const r = await requestRefund(op, acct, { topup_id: ok.id }, idem());
      assert.equal(r.refund.status, 'pending');
      const never = await topup(acct, { amount: '5.00', method: 'card', refundable: false });
      await rejectsWith(requestRefund(op, acct, { topup_id: never.id }, idem()), 'REFUND_NOT_ALLOWED');
    });

    test('refunds: reject writes nothing; approving twice (even concurrently) approves once', async () => {
      const acct = await newAccount();
      const top = await topup(acct, { amount: '40.00', method: 'card' });
      const r = await requestRefund(op, acct, { topup_id: top.id, amount: '10.00' }, idem());
      const txBefore = await count(db, 'ledger_tx');
      const rejected = await rejectRefund(op, r.refund.id, { note: 'no' });
      assert.equal(rejected.status, 'rejected');
      assert.equal(rejected.decision_note, 'no');
      assert.equal((await rejectRefund(op, r.refund.id, {})).status, 'rejected');
      assert.equal(await count(db, 'ledger_tx'), txBefore);
      assert.equal((await balance(acct)).paid, usd('40'));
      assert.equal((await getTopupRow(db, top.id)).refunded, 0n);
      await rejectsWith(approveRefund(op, r.refund.id, {}), 'CONFLICT');

      // A rejected request frees its amount: the whole top-up can be asked for again.
      const again = await requestRefund(op, acct, { topup_id: top.id }, idem());
      assert.equal(again.refund.amount, usd('40'));
      const results = await Promise.all(Array.from({ length: 5 }, () => approveRefund(op, again.refund.id, {})));
      assert.equal(new Set(results.map((x) => x.tx_id)).size, 1);
      assert.equal(await count(db, "ledger_tx WHERE ref_type = 'refund' AND ref_id = ?", [again.refund.id]), 1);
      assert.equal(await count(db, "audit_log WHERE action = 'refund.approve' AND target_id = ?", [again.refund.id]), 1);
      await approveRefund(op, again.refund.id, {});
      assert.equal(await count(db, 'ledger_tx'), txBefore + 1);
      assert.equal((await balance(acct)).paid, 0n);
      assert.equal((await getTopupRow(db, top.id)).refunded, usd('40'));
      await rejectsWith(rejectRefund(op, again.refund.id, {}), 'CONFLICT');

      // Refund requests are idempotent.
      const acct2 = await newAccount();
      const top2 = await topup(acct2, { amount: '20.00', method: 'card' });
      const q1 = await requestRefund(op, acct2, { topup_id: top2.id, amount: '5.00' }, 'rf-key');
      const q2 = await requestRefund(op, acct2, { topup_id: top2.id, amount: '5.00' }, 'rf-key');
      assert.equal(q2.replayed, true);
      assert.equal(q2.refund.id, q1.refund.id);
      await rejectsWith(requestRefund(op, acct2, { topup_id: top2.id, amount: '6.00' }, 'rf-key'), 'IDEMPOTENCY_CONFLICT');
      assert.equal(await count(db, 'refunds WHERE account_id = ?', [acct2]), 1);
      await verifyOk();
    });

    test('balance expiry moves what is left (granted first) to s:expired, sparing held money', async () => {
      const v = await t.variant({ balanceExpiryDays: 365 });
      const vop = withActor(v, OPERATOR);
      const acct = await newAccount();
      const t0 = t.clock.now();
      await recordTopup(vop, acct, { amount: '100.00', method: 'card', bonus: '10.00' }, idem());
      assert.equal((await balance(acct)).balance_expires_at, t0 + 365 * DAY);
      // Off by default: the main runtime (expiry 0) sets no expiry on its top-ups.
      const plain = await newAccount();
      await topup(plain, { amount: '1.00' });
      assert.equal((await balance(plain)).balance_expires_at, null);

      t.clock.advance(364 * DAY);
      assert.equal(await expireBalances(v), 0);
      t.clock.advance(DAY - HOUR);
      const h = await createHold(vop, acct, { amount: usd('20'), ttl_seconds: 86_400 }, idem());
      t.clock.advance(HOUR + 60_000);
      const expiredBefore = await bookBalance(db, book.expired);
      assert.equal(await expireBalances(v), 1);
      const b = await balance(acct);
      assert.equal(b.granted, 0n);
      assert.equal(b.paid, usd('20'), 'held money is not expired');
      assert.equal(b.held, usd('20'));
      assert.equal(b.balance_expires_at, null);
      assert.equal(await bookBalance(db, book.expired), expiredBefore + usd('90'));
      assert.equal(await count(db, "ledger_tx WHERE account_id = ? AND kind = 'expiry'", [acct]), 1);
      assert.equal(await count(db, "audit_log WHERE account_id = ? AND action = 'balance.expire'", [acct]), 1);
      assert.equal(await expireBalances(v), 0, 'expired once');
      await postHold(vop, h.id, usd('20'), idem());
      assert.equal((await balance(acct)).paid, 0n);
      // A new top-up starts a new period.
      await recordTopup(vop, acct, { amount: '1.00', method: 'card' }, idem());
      assert.equal((await balance(acct)).balance_expires_at, t.clock.now() + 365 * DAY);
      await verifyOk();
    });

    test('balance expiry racing a top-up never expires the fresh top-up', async () => {
      const v = await t.variant({ balanceExpiryDays: 365 });
      const vop = withActor(v, OPERATOR);
      const acct = await newAccount();
      await recordTopup(vop, acct, { amount: '100.00', method: 'card' }, idem());
      t.clock.advance(366 * DAY);
      // The sweep finds the account due, then a top-up lands before the sweep locks it: the
      // top-up restarts the expiry period, so the sweep must look again under the lock.
      const sweep = expireBalances(v);
      const fresh = recordTopup(vop, acct, { amount: '50.00', method: 'card' }, idem());
      await Promise.all([sweep, fresh]);
      const b = await balance(acct);
      // Either order is honest: sweep first (100 expired, then +50) or top-up first (nothing due).
      assert.ok(b.paid === usd('50') || b.paid === usd('150'), `paid ${b.paid}: the fresh top-up was expired`);
      if (b.paid === usd('150')) assert.equal(b.balance_expires_at, t.clock.now() + 365 * DAY);
      await verifyOk();
    });

    test('verifyLedger passes on all of the above and names each kind of corruption', async () => {
      // Open holds left anywhere would be past their TTL by now; the sweeper settles them.
      await expireHolds(rt);
      const clean = await verifyLedger(db, t.clock.now());
      assert.deepEqual(clean.problems, []);
      assert.ok(clean.checked.transactions! > 50, `checked ${clean.checked.transactions} transactions`);
      assert.ok(clean.checked.books! > 10);

      const acct = await newAccount({ credit_line: '5.00' });
      await topup(acct, { amount: '10.00', method: 'card', bonus: '1.00' });
      const paidBook = book.customer(acct, 'paid');
      const entry = await db.get<{ id: bigint; tx_id: string }>('SELECT e.id, e.tx_id FROM ledger_entries e WHERE e.book = ?', [paidBook]);
      const problems = async () => (await verifyLedger(db, t.clock.now())).problems.map((p) => `${p.check} ${p.subject}`).sort();

      // 1. An entry changed behind the ledger's back: the transaction no longer balances and the
      //    book no longer matches its entries.
      await db.run('UPDATE ledger_entries SET amount = amount + 1 WHERE id = ?', [entry!.id]);
      assert.deepEqual(await problems(), [`balanced_transactions ${entry!.tx_id}`, `materialised_balances ${paidBook}`].sort());
      const report = await verifyLedger(db, t.clock.now());
      assert.equal(report.ok, false);
      assert.match(report.problems.find((p) => p.check === 'balanced_transactions')!.detail, /sum to 1 nano-USD/);
      await db.run('UPDATE ledger_entries SET amount = amount - 1 WHERE id = ?', [entry!.id]);
      assert.deepEqual(await problems(), []);

      // 2. A materialised balance off by one nano-USD.
      await db.run('UPDATE books SET balance = balance - 1 WHERE code = ?', [paidBook]);
      assert.deepEqual(await problems(), [`materialised_balances ${paidBook}`]);
      await db.run('UPDATE books SET balance = balance + 1 WHERE code = ?', [paidBook]);

      // 3. held out of step with the open holds.
      await db.run('UPDATE accounts SET held = held + 7 WHERE id = ?', [acct]);
      assert.deepEqual(await problems(), [`held_matches_open_holds ${acct}`]);
      await db.run('UPDATE accounts SET held = held - 7 WHERE id = ?', [acct]);

      // 4. An open hold past its expiry (held kept consistent, so only that check fires).
      const now = t.clock.now();
      await db.run("INSERT INTO holds (id, account_id, amount, posted, status, created_at, expires_at) VALUES ('hold_corrupt', ?, 3, 0, 'open', ?, ?)", [acct, now - 2000, now - 1000]);
      await db.run('UPDATE accounts SET held = held + 3 WHERE id = ?', [acct]);
      assert.deepEqual(await problems(), ['no_expired_open_holds hold_corrupt']);
      assert.equal(await expireHolds(rt), 1);
      assert.deepEqual(await problems(), []);

      // 5. A balance below its credit line (the line lowered behind the ledger's back).
      const h = await createHold(op, acct, { amount: usd('14') }, idem());
      await postHold(op, h.id, usd('14'), idem());
      assert.equal((await balance(acct)).total, usd('-3'));
      assert.deepEqual(await problems(), []);
      await db.run('UPDATE accounts SET credit_line = 0 WHERE id = ?', [acct]);
      assert.deepEqual(await problems(), [`within_credit_line ${acct}`]);
      await db.run('UPDATE accounts SET credit_line = ? WHERE id = ?', [usd('5'), acct]);

      // 6. A journal transaction with a single entry, and a top-up whose transaction vanished.
      await db.run("INSERT INTO ledger_tx (id, kind, account_id, amount, actor, created_at) VALUES ('tx_lonely', 'test', NULL, 0, 'test', ?)", [now]);
      assert.deepEqual(await problems(), ['balanced_transactions tx_lonely']);
      await db.run("DELETE FROM ledger_tx WHERE id = 'tx_lonely'");
      const top = await db.get<{ id: string; tx_id: string }>('SELECT id, tx_id FROM topups WHERE account_id = ?', [acct]);
      await db.run("UPDATE topups SET tx_id = 'tx_gone' WHERE id = ?", [top!.id]);
      assert.deepEqual(await problems(), [`payments_have_entries ${top!.id}`]);
      await db.run('UPDATE topups SET tx_id = ? WHERE id = ?', [top!.tx_id, top!.id]);

      assert.deepEqual(await problems(), []);
    });
  });
}
