import { AppError } from '../kernel/errors.ts';
import { INT64_MAX } from '../kernel/money.ts';
import type { Db, Queryable } from '../storage/port.ts';
import { big, str } from '../storage/port.ts';

// The books of the ledger and the rules that read them: which codes exist and their signs, the
// order in which a movement locks them, how much an account can commit, and how a charge is
// split across a customer's buckets. The journal writer (journal.ts) is the only code that writes
// entries to these books.
//
// Books and their sign convention (balance = sum of entries):
//   c:<account>:paid      customer cash balance (refundable)             positive = customer has money
//   c:<account>:granted   customer granted balance (bonus, credits)      positive = customer has money
//   s:cash:<method>       money received from / paid back to customers   negative = net cash received
//   s:revenue             usage charged                                  positive = earned
//   s:bonus               bonuses granted with payments                  negative = given away
//   s:credits             credits granted (compensation, reissue, SLA, goodwill)  negative = given
//   s:redemption          redemption codes redeemed                      negative = value issued
//   s:refund_fees         fees kept on refunds                           positive = earned
//   s:expired             balances expired under the expiry setting      positive = expired

export type Bucket = 'paid' | 'granted';
export type SpendOrder = 'granted_first' | 'paid_first';

/** The ways cash reaches the platform; each has its own `s:cash:<method>` book. */
export const CASH_METHODS = ['bank_transfer', 'card', 'other'] as const;
export type CashMethod = (typeof CASH_METHODS)[number];

export const book = {
  customer: (accountId: string, bucket: Bucket) => `c:${accountId}:${bucket}`,
  cash: (method: CashMethod) => `s:cash:${method}`,
  revenue: 's:revenue',
  bonus: 's:bonus',
  credits: 's:credits',
  redemption: 's:redemption',
  refundFees: 's:refund_fees',
  expired: 's:expired',
} as const;

const SYSTEM_BOOKS: ReadonlySet<string> = new Set([
  ...CASH_METHODS.map((m) => book.cash(m)),
  book.revenue,
  book.bonus,
  book.credits,
  book.redemption,
  book.refundFees,
  book.expired,
]);

const CUSTOMER_BOOK = /^c:([^:\s]+):(paid|granted)$/;

/** The account a customer book belongs to, or null for a system book (or an unknown code). */
export function customerOf(code: string): string | null {
  return CUSTOMER_BOOK.exec(code)?.[1] ?? null;
}

/** True for the books of the table above, and only for them: a typo never becomes a new book. */
export function isKnownBook(code: string): boolean {
  return SYSTEM_BOOKS.has(code) || CUSTOMER_BOOK.test(code);
}

/** The account and bucket columns of a book row. */
export function bookMeta(code: string): { accountId: string | null; bucket: string } {
  const m = CUSTOMER_BOOK.exec(code);
  return m ? { accountId: m[1]!, bucket: m[2]! } : { accountId: null, bucket: code.slice(2) };
}

/**
 * The largest absolute balance of a book. A customer's books are summed with each other and with
 * the credit line (see `available`): 2^61 nano-USD (~$2.3e9) each keeps that sum inside a signed
 * 64-bit integer. System books are never summed together, so they may use the whole range.
 */
export const MAX_CUSTOMER_BOOK = 2n ** 61n;

export function bookLimit(code: string): bigint {
  return code.startsWith('c:') ? MAX_CUSTOMER_BOOK : INT64_MAX;
}

/**
 * What an account can commit to a new hold or charge — the one formula, used everywhere:
 *
 *   available = paid + granted + credit line − held
 *
 * `balance` is paid + granted (the customer's books), `held` the durable holds on the account row.
 * The data plane's in-memory view (balances.ts) also passes `inFlight`: its request holds and its
 * settled charges not yet flushed to storage, which are money committed just as surely.
 */
export interface MoneyPosition {
  balance: bigint;
  creditLine: bigint;
  held: bigint;
  inFlight?: bigint;
}

export function available(p: MoneyPosition): bigint {
  return p.balance + p.creditLine - p.held - (p.inFlight ?? 0n);
}

export interface AccountMoney extends MoneyPosition {
  id: string;
  status: string;
  paid: bigint;
  granted: bigint;
  spendOrder: SpendOrder | null;
}

/**
 * Reads an account's money state under a lock; every money movement starts here.
 *
 * Lock order: a movement locks its accounts first (sorted by id when there are several), then the
 * journal writer updates books in code order. Every writer takes the same order, so two
 * PostgreSQL transactions never wait on each other in a cycle. SQLite takes the database write
 * lock at BEGIN IMMEDIATE, so there the order only matters for PostgreSQL.
 */
export async function lockAccount(db: Db, q: Queryable, accountId: string): Promise<AccountMoney> {
  const a = await q.get(`SELECT id, status, held, credit_line, spend_order FROM accounts WHERE id = ?${db.forUpdate}`, [accountId]);
  if (!a) throw new AppError('NOT_FOUND', `account ${accountId} not found`, { resource: 'account' });
  const b = await bucketBalances(q, accountId);
  return {
    id: str(a.id),
    status: str(a.status),
    held: big(a.held),
    creditLine: big(a.credit_line),
    spendOrder: (a.spend_order as SpendOrder | null) ?? null,
    ...b,
    balance: b.paid + b.granted,
  };
}

export async function bucketBalances(q: Queryable, accountId: string): Promise<{ paid: bigint; granted: bigint }> {
  const rows = await q.all<{ code: string; balance: bigint }>('SELECT code, balance FROM books WHERE code IN (?, ?)', [
    book.customer(accountId, 'paid'),
    book.customer(accountId, 'granted'),
  ]);
  let paid = 0n;
  let granted = 0n;
  for (const r of rows) {
    if (r.code.endsWith(':paid')) paid = big(r.balance);
    else granted = big(r.balance);
  }
  return { paid, granted };
}

/**
 * Splits a charge across the buckets in spending order. Each bucket gives what it has, never going
 * below zero; whatever is left — only possible within a credit line — is drawn from `paid`, so
 * that `granted` (bonuses, credits) is never overdrawn and a debt is always a debt of cash.
 * Example, granted_first, 30 charged with paid 50 and granted 20: granted gives 20, paid 10.
 */
export function splitCharge(amount: bigint, paid: bigint, granted: bigint, order: SpendOrder): { paid: bigint; granted: bigint } {
  const first: Bucket = order === 'granted_first' ? 'granted' : 'paid';
  const have = { paid: paid > 0n ? paid : 0n, granted: granted > 0n ? granted : 0n };
  const take = { paid: 0n, granted: 0n };
  let rest = amount;
  const firstTake = rest < have[first] ? rest : have[first];
  take[first] += firstTake;
  rest -= firstTake;
  const second: Bucket = first === 'paid' ? 'granted' : 'paid';
  const secondTake = rest < have[second] ? rest : have[second];
  take[second] += secondTake;
  rest -= secondTake;
  take.paid += rest;
  return take;
}

/** Entries for charging `amount` of usage to an account, in its spending order. */
export function chargeEntries(accountId: string, amount: bigint, m: { paid: bigint; granted: bigint }, order: SpendOrder): Array<{ book: string; amount: bigint }> {
  const s = splitCharge(amount, m.paid, m.granted, order);
  return [
    { book: book.customer(accountId, 'granted'), amount: -s.granted },
    { book: book.customer(accountId, 'paid'), amount: -s.paid },
    { book: book.revenue, amount },
  ];
}
