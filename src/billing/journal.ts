import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { INT64_MAX, formatUsd } from '../kernel/money.ts';
import type { Db, Queryable } from '../storage/port.ts';
import { big, str } from '../storage/port.ts';

// The double-entry ledger. A journal transaction moves money between books; its entries sum to
// zero; book balances are materialised in the same database transaction. Entries are never
// changed: a correction is a new transaction.
//
// Books and their sign convention (balance = sum of entries):
//   c:<account>:paid      customer cash balance (refundable)             positive = customer has money
//   c:<account>:granted   customer granted balance (bonus, credits)      positive = customer has money
//   s:cash:<method>       money received from / paid back to customers   negative = net cash received
//   s:revenue             usage charged                                  positive = earned
//   s:bonus               bonuses and credits granted                    negative = given away
//   s:redemption          redemption codes redeemed                      negative = value issued
//   s:refund_fees         fees kept on refunds                           positive = earned
//   s:expired             balances expired under the expiry setting      positive = expired

export type Bucket = 'paid' | 'granted';
export type SpendOrder = 'granted_first' | 'paid_first';

export const book = {
  customer: (accountId: string, bucket: Bucket) => `c:${accountId}:${bucket}`,
  cash: (method: string) => `s:cash:${method}`,
  revenue: 's:revenue',
  bonus: 's:bonus',
  redemption: 's:redemption',
  refundFees: 's:refund_fees',
  expired: 's:expired',
} as const;

export interface Entry {
  book: string;
  amount: bigint;
}

export interface JournalTx {
  kind: string;
  accountId: string | null;
  memo?: string | null;
  refType?: string | null;
  refId?: string | null;
  actor: string;
  entries: Entry[];
  at: number;
  id?: string;
}

function bookMeta(code: string): { accountId: string | null; bucket: string } {
  if (code.startsWith('c:')) {
    const i = code.lastIndexOf(':');
    return { accountId: code.slice(2, i), bucket: code.slice(i + 1) };
  }
  return { accountId: null, bucket: code.slice(2) };
}

/** Writes one balanced journal transaction and updates the materialised book balances. */
export async function writeTx(q: Queryable, tx: JournalTx): Promise<string> {
  const entries = tx.entries.filter((e) => e.amount !== 0n);
  let sum = 0n;
  for (const e of entries) sum += e.amount;
  if (sum !== 0n) throw new Error(`unbalanced journal transaction ${tx.kind}: sum ${sum}`);
  if (entries.length < 2) throw new Error(`journal transaction ${tx.kind} needs two non-zero entries`);
  const id = tx.id ?? newId('tx', tx.at);
  let moved = 0n;
  for (const e of entries) if (e.amount > 0n) moved += e.amount;
  await q.run(
    'INSERT INTO ledger_tx (id, kind, account_id, amount, memo, ref_type, ref_id, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [id, tx.kind, tx.accountId, moved, tx.memo ?? null, tx.refType ?? null, tx.refId ?? null, tx.actor, tx.at],
  );
  const deltas = new Map<string, bigint>();
  for (const e of entries) {
    await q.run('INSERT INTO ledger_entries (tx_id, book, amount) VALUES (?, ?, ?)', [id, e.book, e.amount]);
    deltas.set(e.book, (deltas.get(e.book) ?? 0n) + e.amount);
  }
  await applyBookDeltas(q, deltas, tx.at);
  return id;
}

/**
 * The largest absolute balance of a book. A customer's books are summed with each other and with
 * the credit line (available = paid + granted + credit line − held): 2^61 nano-USD (~$2.3e9)
 * each keeps that sum inside a signed 64-bit integer. System books are never summed together,
 * so they may use the whole range.
 */
export const MAX_CUSTOMER_BOOK = 2n ** 61n;

function bookLimit(code: string): bigint {
  return code.startsWith('c:') ? MAX_CUSTOMER_BOOK : INT64_MAX;
}

/**
 * Adds entry amounts to the materialised book balances (creating books on first use), in book
 * order so that concurrent transactions on PostgreSQL lock rows in the same order. A balance that
 * would leave its range is refused (BALANCE_OUT_OF_RANGE) before anything is written: SQLite
 * would silently turn an overflowing integer into a float.
 */
export async function applyBookDeltas(q: Queryable, deltas: ReadonlyMap<string, bigint>, at: number): Promise<void> {
  const sorted = [...deltas].sort(([a], [b]) => (a < b ? -1 : 1));
  const current = new Map<string, bigint>();
  const codes = sorted.map(([code]) => code);
  for (let i = 0; i < codes.length; i += 500) {
    const chunk = codes.slice(i, i + 500);
    for (const r of await q.all(`SELECT code, balance FROM books WHERE code IN (${chunk.map(() => '?').join(', ')})`, chunk)) current.set(str(r.code), big(r.balance));
  }
  for (const [code, delta] of sorted) {
    const after = (current.get(code) ?? 0n) + delta;
    const limit = bookLimit(code);
    if (after > limit || after < -limit) {
      throw new AppError('BALANCE_OUT_OF_RANGE', `This movement would take the book ${code} to ${formatUsd(after)} USD, beyond the ${formatUsd(limit)} USD a book can hold; nothing was moved.`);
    }
  }
  for (const [code, delta] of sorted) {
    const meta = bookMeta(code);
    await q.run(
      `INSERT INTO books (code, account_id, bucket, balance, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (code) DO UPDATE SET balance = books.balance + excluded.balance, updated_at = excluded.updated_at`,
      [code, meta.accountId, meta.bucket, delta, at],
    );
  }
}

export interface AccountMoney {
  id: string;
  status: string;
  paid: bigint;
  granted: bigint;
  held: bigint;
  creditLine: bigint;
  spendOrder: SpendOrder | null;
}

/** Reads (and on PostgreSQL row-locks) an account's money state; all money movements start here. */
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

/** Money the account can commit to a new hold or charge: both buckets, plus credit line, less holds. */
export function available(m: AccountMoney): bigint {
  return m.paid + m.granted + m.creditLine - m.held;
}

/**
 * Splits a charge across the buckets in spending order. Each bucket gives what it has (never
 * below zero); whatever is left (only possible within the credit line) is drawn from paid.
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
export function chargeEntries(accountId: string, amount: bigint, m: { paid: bigint; granted: bigint }, order: SpendOrder): Entry[] {
  const s = splitCharge(amount, m.paid, m.granted, order);
  return [
    { book: book.customer(accountId, 'granted'), amount: -s.granted },
    { book: book.customer(accountId, 'paid'), amount: -s.paid },
    { book: book.revenue, amount },
  ];
}

export interface LedgerEntryView {
  tx_id: string;
  kind: string;
  at: number;
  memo: string | null;
  ref_type: string | null;
  ref_id: string | null;
  paid: bigint;
  granted: bigint;
  amount: bigint;
}

/** An account's journal, newest first, with the movement on each of its buckets. */
export async function accountJournal(q: Queryable, accountId: string, opts: { limit: number; before?: string | undefined }): Promise<LedgerEntryView[]> {
  const params: Array<string | number> = [book.customer(accountId, 'paid'), book.customer(accountId, 'granted'), accountId];
  let where = 't.account_id = ?';
  if (opts.before) {
    where += ' AND t.id < ?';
    params.push(opts.before);
  }
  params.push(opts.limit);
  const rows = await q.all(
    `SELECT t.id, t.kind, t.created_at, t.memo, t.ref_type, t.ref_id,
            CAST(SUM(CASE WHEN e.book = ? THEN e.amount ELSE 0 END) AS BIGINT) AS paid,
            CAST(SUM(CASE WHEN e.book = ? THEN e.amount ELSE 0 END) AS BIGINT) AS granted
       FROM ledger_tx t JOIN ledger_entries e ON e.tx_id = t.id
      WHERE ${where}
      GROUP BY t.id, t.kind, t.created_at, t.memo, t.ref_type, t.ref_id
      ORDER BY t.id DESC
      LIMIT ?`,
    params,
  );
  return rows.map((r) => {
    const paid = big(r.paid);
    const granted = big(r.granted);
    return {
      tx_id: str(r.id),
      kind: str(r.kind),
      at: Number(r.created_at),
      memo: (r.memo as string | null) ?? null,
      ref_type: (r.ref_type as string | null) ?? null,
      ref_id: (r.ref_id as string | null) ?? null,
      paid,
      granted,
      amount: paid + granted,
    };
  });
}

