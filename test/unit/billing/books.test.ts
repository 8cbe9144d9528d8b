// The book rules that need no storage: which codes are books, the spending order, and the one
// `available` formula.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { available, book, customerOf, isKnownBook, splitCharge } from '../../../src/billing/books.ts';
import { parseUsd } from '../../../src/kernel/money.ts';

const usd = (s: string) => parseUsd(s, { allowZero: true, allowNegative: true });

test('splitCharge takes buckets in spending order and overdraws only paid', () => {
  assert.deepEqual(splitCharge(usd('30'), usd('50'), usd('20'), 'granted_first'), { paid: usd('10'), granted: usd('20') });
  assert.deepEqual(splitCharge(usd('30'), usd('50'), usd('20'), 'paid_first'), { paid: usd('30'), granted: 0n });
  assert.deepEqual(splitCharge(usd('60'), usd('50'), usd('20'), 'paid_first'), { paid: usd('50'), granted: usd('10') });
  assert.deepEqual(splitCharge(usd('10'), usd('50'), usd('20'), 'granted_first'), { paid: 0n, granted: usd('10') });
  // Beyond both buckets (credit line): the rest comes from paid, granted never goes negative.
  assert.deepEqual(splitCharge(usd('100'), usd('10'), usd('5'), 'granted_first'), { paid: usd('95'), granted: usd('5') });
  assert.deepEqual(splitCharge(usd('3'), usd('-2'), usd('1'), 'paid_first'), { paid: usd('2'), granted: usd('1') });
});

test('available = paid + granted + credit line − held (− money in flight in memory)', () => {
  assert.equal(available({ balance: usd('110'), creditLine: 0n, held: 0n }), usd('110'));
  assert.equal(available({ balance: usd('10'), creditLine: usd('5'), held: usd('3') }), usd('12'));
  assert.equal(available({ balance: usd('-5'), creditLine: usd('5'), held: 0n }), 0n);
  assert.equal(available({ balance: usd('10'), creditLine: 0n, held: usd('4'), inFlight: usd('7') }), usd('-1'));
});

test('known books: the customer buckets and the system books of the sign table, nothing else', () => {
  for (const code of [book.customer('acct_1', 'paid'), book.customer('acct_1', 'granted'), book.cash('bank_transfer'), book.cash('card'), book.cash('other'),
    book.revenue, book.bonus, book.credits, book.redemption, book.refundFees, book.expired]) {
    assert.ok(isKnownBook(code), code);
  }
  for (const code of ['s:cash:redemption_code', 's:cash:', 's:revenues', 'c:acct_1:held', 'c::paid', 'c:a:b:paid', 's:test', 'revenue', '']) {
    assert.ok(!isKnownBook(code), code);
  }
  assert.equal(customerOf('c:acct_1:paid'), 'acct_1');
  assert.equal(customerOf(book.revenue), null);
});
