// The data plane's in-memory view of each account's money (billing/balances.ts) against a real
// SQLite database: reserve, settle, committed, dropped, reloads, and the race between a reload and
// the writer's commit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAccount, getBalance } from '../../../src/accounts/accounts.ts';
import { Balances } from '../../../src/billing/balances.ts';
import { book } from '../../../src/billing/books.ts';
import { createHold } from '../../../src/billing/holds.ts';
import { recordTopup } from '../../../src/billing/topups.ts';
import { parseUsd } from '../../../src/kernel/money.ts';
import type { SqliteDb } from '../../../src/storage/sqlite/db.ts';
import { createTestRuntime, idem, type TestRuntime } from '../../helpers/runtime.ts';

const usd = (s: string) => parseUsd(s, { allowZero: true, allowNegative: true });

let t: TestRuntime;
before(async () => {
  t = await createTestRuntime('sqlite');
});
after(async () => {
  await t?.close();
});

async function funded(amount: string, extra: Record<string, unknown> = {}): Promise<string> {
  const a = await createAccount(t.op, { name: `acct ${idem()}`, ...extra });
  await recordTopup(t.op, a.id, { amount, method: 'card' }, idem());
  return a.id;
}

test('reserve, settle, committed: holds and unflushed charges count until the writer lands them', async () => {
  const a = await funded('10.00');
  const b = new Balances(t.rt);
  assert.equal(await b.available(a), usd('10'));
  assert.equal(await b.reserve(a, usd('6')), true);
  assert.equal(await b.available(a), usd('4'));
  assert.equal(await b.reserve(a, usd('4.000000001')), false, 'beyond what is available');
  assert.equal(await b.available(a), usd('4'), 'a refused reserve holds nothing');
  b.settle(a, usd('6'), usd('2.5'));
  assert.deepEqual(b.snapshot(a), { durable: usd('10'), held: 0n, unflushed: usd('2.5') });
  assert.equal(await b.available(a), usd('7.5'));
  b.committed(a, usd('2.5'), usd('7.5'));
  assert.deepEqual(b.snapshot(a), { durable: usd('7.5'), held: 0n, unflushed: 0n });
  assert.equal(await b.available(a), usd('7.5'));
});

test('dropped: charges the writer gave up on stop counting', async () => {
  const a = await funded('5.00');
  const b = new Balances(t.rt);
  assert.equal(await b.reserve(a, usd('3')), true);
  b.settle(a, usd('3'), usd('3'));
  assert.equal(await b.available(a), usd('2'));
  b.dropped(a, usd('3'));
  assert.equal(await b.available(a), usd('5'));
  // Unknown accounts are ignored, not created.
  b.settle('acct_unknown', 1n, 1n);
  b.committed('acct_unknown', 1n, 1n);
  b.dropped('acct_unknown', 1n);
  assert.equal(b.snapshot('acct_unknown'), undefined);
});

test('the one formula: durable paid + granted + credit line − durable holds − request holds − unflushed', async () => {
  const a = await funded('10.00', { credit_line: '2.00' });
  await createHold(t.op, a, { amount: usd('3') }, idem());
  const b = new Balances(t.rt);
  // Nothing in flight: the same figure as the balance view.
  assert.equal(await b.available(a), (await getBalance(t.rt, a)).available);
  assert.equal(await b.available(a), usd('9'));
  assert.equal(await b.reserve(a, usd('4')), true);
  b.settle(a, usd('4'), usd('1'));
  assert.equal(await b.reserve(a, usd('0.5')), true);
  assert.equal(await b.available(a), usd('9') - usd('1') - usd('0.5'));
  // The credit line is the floor: everything down to −2.00 can be reserved, not a nano more.
  assert.equal(await b.reserve(a, usd('7.5') + 1n), false);
  assert.equal(await b.reserve(a, usd('7.5')), true);
  assert.equal(await b.available(a), 0n);
});

test('changes made elsewhere are seen after invalidate, or after the refresh interval', async () => {
  const a = await funded('1.00');
  const b = new Balances(t.rt, 2000);
  assert.equal(await b.available(a), usd('1'));
  await recordTopup(t.op, a, { amount: '2.00', method: 'card' }, idem());
  assert.equal(await b.available(a), usd('1'), 'cached');
  b.invalidate(a);
  assert.equal(await b.available(a), usd('3'));
  await recordTopup(t.op, a, { amount: '4.00', method: 'card' }, idem());
  t.clock.advance(2001);
  assert.equal(await b.available(a), usd('7'));
});

test('a reload that read before the writer committed never overwrites the committed figure', async () => {
  const a = await funded('10.00');
  const b = new Balances(t.rt);
  assert.equal(await b.reserve(a, usd('5')), true);
  b.settle(a, usd('5'), usd('3'));
  b.invalidate(a);
  // The reload reads storage now (10.00), then waits; meanwhile the writer's transaction lands
  // (10.00 − 3.00) and reports it. The reload must not put 10.00 back.
  const reading = b.available(a);
  (t.rt.db as SqliteDb).runSync('UPDATE books SET balance = balance - ? WHERE code = ?', [usd('3'), book.customer(a, 'paid')]);
  b.committed(a, usd('3'), usd('7'));
  assert.equal(await reading, usd('7'));
  assert.deepEqual(b.snapshot(a), { durable: usd('7'), held: 0n, unflushed: 0n });
  // Concurrent callers wait for the same reload.
  b.invalidate(a);
  const all = await Promise.all([b.available(a), b.available(a), b.reserve(a, usd('7'))]);
  assert.deepEqual(all, [usd('7'), usd('7'), true]);
  assert.equal(await b.available(a), 0n);
});
