import type { Engine, Queryable, SqlValue } from '../storage/port.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
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

/** How an account's statement sorts. */
export const LEDGER_SORT: SortSpec = {
  columns: { id: 'id', at: 'created_at', kind: 'kind', amount: 'paid + granted', paid: 'paid', granted: 'granted' },
  text: ['id', 'kind'],
  default: '-id',
};

/** An account's journal, newest first, with the movement on each of its buckets. */
export async function accountJournal(q: Queryable & { engine: Engine }, accountId: string, opts: { limit: number; before?: string | undefined }): Promise<LedgerEntryView[]> {
  return (await journalPage(q, accountId, opts)).rows;
}

/** An account's journal in the asked order (default: newest first), a page after the cursor (`before`: the legacy tx-id cursor). */
export async function journalPage(q: Queryable & { engine: Engine }, accountId: string, opts: Sorting & { limit: number; before?: string | undefined }): Promise<Paged<LedgerEntryView>> {
  const params: SqlValue[] = [book.customer(accountId, 'paid'), book.customer(accountId, 'granted'), accountId];
  let where = 't.account_id = ?';
  if (opts.before) {
    where += ' AND t.id < ?';
    params.push(opts.before);
  }
  const from = `(SELECT t.id, t.kind, t.created_at, t.memo, t.ref_type, t.ref_id,
            CAST(SUM(CASE WHEN e.book = ? THEN e.amount ELSE 0 END) AS BIGINT) AS paid,
            CAST(SUM(CASE WHEN e.book = ? THEN e.amount ELSE 0 END) AS BIGINT) AS granted
       FROM ledger_tx t JOIN ledger_entries e ON e.tx_id = t.id
      WHERE ${where}
      GROUP BY t.id, t.kind, t.created_at, t.memo, t.ref_type, t.ref_id) j`;
  const p = await sortedPage(q, { from, where: [], params, spec: LEDGER_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit });
  const rows = p.rows.map((r) => {
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
  return { rows, next_cursor: p.next_cursor };
}
