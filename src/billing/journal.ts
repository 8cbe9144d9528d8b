import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { insertMany } from '../storage/batch.ts';
import type { Db, Queryable, SqlValue } from '../storage/port.ts';
import { big, str } from '../storage/port.ts';
import { bookLimit, bookMeta, chargeEntries, customerOf, isKnownBook, lockAccount, type SpendOrder } from './books.ts';

// The journal writer: the ONE place that writes journal transactions (`ledger_tx`), their entries
// (`ledger_entries`) and the materialised book balances (`books`). Every movement of money — a
// top-up, a refund, a posted hold, a credit, an expiry, and the gateway's usage charges — goes
// through `writeTx` or `postUsage`, and so through the same checks:
//   - the entries of a transaction sum to zero, with at least two non-zero entries;
//   - every book is a known book (books.ts), and a customer book is one of the transaction's own account;
//   - no book leaves its range (BALANCE_OUT_OF_RANGE, nothing moved).
// Entries are never changed: a correction is a new transaction. The books and their signs, the
// lock order and the spending order are in books.ts.

// Lock order and bucket choice live with the books; re-exported for the callers that charge usage.
export { chargeEntries, lockAccount } from './books.ts';

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

/** A journal transaction the writer refused: a bug in the caller, never a customer's mistake. */
export class JournalError extends Error {
  override name = 'JournalError';
}

interface Checked {
  id: string;
  tx: JournalTx;
  entries: Entry[];
  moved: bigint;
}

/** The writer's checks (see the top of this file); zero entries are dropped. */
function check(tx: JournalTx): Checked {
  const entries = tx.entries.filter((e) => e.amount !== 0n);
  let sum = 0n;
  let moved = 0n;
  for (const e of entries) {
    if (!isKnownBook(e.book)) throw new JournalError(`journal transaction ${tx.kind}: unknown book ${e.book}`);
    const owner = customerOf(e.book);
    if (owner !== null && owner !== tx.accountId) {
      throw new JournalError(`journal transaction ${tx.kind} of ${tx.accountId ?? 'no account'} touches ${e.book}, a book of another account`);
    }
    sum += e.amount;
    if (e.amount > 0n) moved += e.amount;
  }
  if (sum !== 0n) throw new JournalError(`unbalanced journal transaction ${tx.kind}: sum ${sum}`);
  if (entries.length < 2) throw new JournalError(`journal transaction ${tx.kind} needs two non-zero entries`);
  return { id: tx.id ?? newId('tx', tx.at), tx, entries, moved };
}

const TX_COLUMNS = ['id', 'kind', 'account_id', 'amount', 'memo', 'ref_type', 'ref_id', 'actor', 'created_at'] as const;

/** Checks, then writes, several transactions with their entries and book balances, in bulk. */
async function post(db: Db, q: Queryable, txs: readonly JournalTx[]): Promise<Checked[]> {
  const checked = txs.map(check);
  const deltas = new Map<string, bigint>();
  let at = 0;
  for (const c of checked) {
    for (const e of c.entries) deltas.set(e.book, (deltas.get(e.book) ?? 0n) + e.amount);
    if (c.tx.at > at) at = c.tx.at;
  }
  await applyBookDeltas(q, deltas, at);
  const txRows: SqlValue[][] = checked.map(({ id, tx, moved }) => [id, tx.kind, tx.accountId, moved, tx.memo ?? null, tx.refType ?? null, tx.refId ?? null, tx.actor, tx.at]);
  const entryRows: SqlValue[][] = checked.flatMap(({ id, entries }) => entries.map((e) => [id, e.book, e.amount]));
  await insertMany(q, db.engine, 'ledger_tx', TX_COLUMNS, txRows);
  await insertMany(q, db.engine, 'ledger_entries', ['tx_id', 'book', 'amount'], entryRows);
  return checked;
}

/** Writes one balanced journal transaction and updates the materialised book balances. */
export async function writeTx(db: Db, q: Queryable, tx: JournalTx): Promise<string> {
  const [c] = await post(db, q, [tx]);
  return c!.id;
}

/**
 * Adds entry amounts to the materialised book balances (creating books on first use), in book
 * code order: the second half of the lock order (accounts first, see books.ts lockAccount). A
 * balance that would leave its range is refused (BALANCE_OUT_OF_RANGE) before any book is
 * written: SQLite would silently turn an overflowing integer into a float.
 */
async function applyBookDeltas(q: Queryable, deltas: ReadonlyMap<string, bigint>, at: number): Promise<void> {
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

/** One charged request of a group-committed batch. */
export interface UsageCharge {
  accountId: string;
  requestId: string;
  keyId: string | null;
  amount: bigint;
  at: number;
}

export interface UsagePosted {
  txId: string;
  charged: bigint;
  /** paid + granted of the account once this batch is committed. */
  balanceAfter: bigint;
}

/**
 * Posts the gateway's usage charges of one batch: ONE `usage` journal transaction per account,
 * whose amount is the sum of its requests' amounts (each request row points at it through
 * `tx_id`; `surety ledger verify` checks that they agree). Far fewer ledger rows than one per
 * request, written in bulk, through the same checks as every other transaction. Accounts are
 * locked in id order, then books are updated in code order (the lock order, books.ts).
 */
export async function postUsage(db: Db, q: Queryable, charges: readonly UsageCharge[], defaultOrder: SpendOrder): Promise<Map<string, UsagePosted>> {
  const perAccount = new Map<string, UsageCharge[]>();
  for (const c of charges) {
    if (c.amount <= 0n) throw new JournalError(`usage charge of request ${c.requestId} is ${c.amount}: only positive charges are posted`);
    let list = perAccount.get(c.accountId);
    if (!list) perAccount.set(c.accountId, (list = []));
    list.push(c);
  }
  const txs: JournalTx[] = [];
  const out = new Map<string, UsagePosted>();
  for (const accountId of [...perAccount.keys()].sort()) {
    const list = perAccount.get(accountId)!;
    const m = await lockAccount(db, q, accountId);
    let total = 0n;
    for (const c of list) total += c.amount;
    const at = list[list.length - 1]!.at;
    const keys = new Set(list.map((c) => c.keyId));
    const only = list[0]!;
    const id = newId('tx', at);
    txs.push({
      id,
      kind: 'usage',
      accountId,
      memo: `${list.length} request${list.length === 1 ? '' : 's'}`,
      refType: 'requests',
      refId: list.length === 1 ? only.requestId : null,
      actor: keys.size === 1 && only.keyId ? `key:${only.keyId}` : 'gateway',
      entries: chargeEntries(accountId, total, m, m.spendOrder ?? defaultOrder),
      at,
    });
    out.set(accountId, { txId: id, charged: total, balanceAfter: m.balance - total });
  }
  await post(db, q, txs);
  return out;
}
