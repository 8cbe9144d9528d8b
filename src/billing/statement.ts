import type { Queryable } from '../storage/port.ts';
import { big, str } from '../storage/port.ts';
import { book } from './books.ts';

// An account's statement: its journal transactions, newest first, each with what it moved on the
// account's two buckets. Read-only; the journal writer (journal.ts) is what fills it.

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
