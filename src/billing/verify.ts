import { formatUsd } from '../kernel/money.ts';
import type { Db } from '../storage/port.ts';
import { big, str } from '../storage/port.ts';

export interface VerifyProblem {
  check: string;
  subject: string;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  checked: Record<string, number>;
  problems: VerifyProblem[];
}

/**
 * Proves the ledger's invariants from the raw entries (read-only):
 *  1. every journal transaction has at least two entries and sums to zero;
 *  2. every book's materialised balance equals the sum of its entries (and no entry names a missing book);
 *  3. each account's materialised `held` equals the sum of its open holds;
 *  4. no open hold is past its expiry;
 *  5. no customer is below their credit line (paid + granted ≥ −credit line);
 *  6. every top-up, approved refund and credit points at an existing journal transaction;
 *  7. every usage transaction equals the sum of the request-log rows that point at it, and every
 *     charged request points at a usage transaction.
 */
export async function verifyLedger(db: Db, now = Date.now(), limit = 100): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const checked: Record<string, number> = {};
  const add = (check: string, subject: string, detail: string) => {
    if (problems.length < limit * 6) problems.push({ check, subject, detail });
  };

  checked.transactions = Number((await db.get('SELECT COUNT(*) AS n FROM ledger_tx'))?.n ?? 0);
  for (const r of await db.all(
    `SELECT t.id, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) AS s, COUNT(e.id) AS n
       FROM ledger_tx t LEFT JOIN ledger_entries e ON e.tx_id = t.id
      GROUP BY t.id HAVING COALESCE(SUM(e.amount), 0) <> 0 OR COUNT(e.id) < 2 LIMIT ?`,
    [limit],
  )) {
    add('balanced_transactions', str(r.id), `entries sum to ${big(r.s)} nano-USD over ${Number(r.n)} entries`);
  }
  for (const r of await db.all('SELECT DISTINCT e.tx_id FROM ledger_entries e LEFT JOIN ledger_tx t ON t.id = e.tx_id WHERE t.id IS NULL LIMIT ?', [limit])) {
    add('balanced_transactions', str(r.tx_id), 'entries without a journal transaction');
  }

  checked.books = Number((await db.get('SELECT COUNT(*) AS n FROM books'))?.n ?? 0);
  for (const r of await db.all(
    `SELECT b.code, b.balance, CAST(COALESCE(s.total, 0) AS BIGINT) AS total
       FROM books b LEFT JOIN (SELECT book, SUM(amount) AS total FROM ledger_entries GROUP BY book) s ON s.book = b.code
      WHERE b.balance <> COALESCE(s.total, 0) LIMIT ?`,
    [limit],
  )) {
    add('materialised_balances', str(r.code), `materialised ${formatUsd(big(r.balance))} USD, entries sum to ${formatUsd(big(r.total))} USD`);
  }
  for (const r of await db.all('SELECT DISTINCT e.book FROM ledger_entries e LEFT JOIN books b ON b.code = e.book WHERE b.code IS NULL LIMIT ?', [limit])) {
    add('materialised_balances', str(r.book), 'entries for a book that has no materialised balance');
  }

  checked.accounts = Number((await db.get('SELECT COUNT(*) AS n FROM accounts'))?.n ?? 0);
  for (const r of await db.all(
    `SELECT a.id, a.held, CAST(COALESCE(h.total, 0) AS BIGINT) AS total
       FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM holds WHERE status = 'open' GROUP BY account_id) h ON h.account_id = a.id
      WHERE a.held <> COALESCE(h.total, 0) LIMIT ?`,
    [limit],
  )) {
    add('held_matches_open_holds', str(r.id), `held ${formatUsd(big(r.held))} USD, open holds sum to ${formatUsd(big(r.total))} USD`);
  }

  checked.open_holds = Number((await db.get("SELECT COUNT(*) AS n FROM holds WHERE status = 'open'"))?.n ?? 0);
  for (const r of await db.all("SELECT id, account_id, expires_at FROM holds WHERE status = 'open' AND expires_at <= ? LIMIT ?", [now, limit])) {
    add('no_expired_open_holds', str(r.id), `open hold of ${str(r.account_id)} expired at ${new Date(Number(r.expires_at)).toISOString()}`);
  }

  for (const r of await db.all(
    `SELECT a.id, a.credit_line, CAST(COALESCE(SUM(b.balance), 0) AS BIGINT) AS total
       FROM accounts a LEFT JOIN books b ON b.account_id = a.id
      GROUP BY a.id, a.credit_line HAVING COALESCE(SUM(b.balance), 0) < -a.credit_line LIMIT ?`,
    [limit],
  )) {
    add('within_credit_line', str(r.id), `balance ${formatUsd(big(r.total))} USD is below the credit line of ${formatUsd(big(r.credit_line))} USD`);
  }

  for (const r of await db.all('SELECT x.id FROM topups x LEFT JOIN ledger_tx t ON t.id = x.tx_id WHERE t.id IS NULL LIMIT ?', [limit])) {
    add('payments_have_entries', str(r.id), 'top-up without its journal transaction');
  }
  for (const r of await db.all("SELECT x.id FROM refunds x LEFT JOIN ledger_tx t ON t.id = x.tx_id WHERE x.status = 'approved' AND t.id IS NULL LIMIT ?", [limit])) {
    add('payments_have_entries', str(r.id), 'approved refund without its journal transaction');
  }
  for (const r of await db.all('SELECT x.id FROM credits x LEFT JOIN ledger_tx t ON t.id = x.tx_id WHERE t.id IS NULL LIMIT ?', [limit])) {
    add('payments_have_entries', str(r.id), 'credit without its journal transaction');
  }

  // 7. Usage charges and the request log agree: each usage transaction's amount is the sum of the
  //    amounts of the requests pointing at it, and every charged request points at one.
  checked.charged_requests = Number((await db.get('SELECT COUNT(*) AS n FROM request_log WHERE amount > 0'))?.n ?? 0);
  for (const r of await db.all(
    `SELECT t.id, t.amount, CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS logged
       FROM ledger_tx t LEFT JOIN request_log l ON l.tx_id = t.id
      WHERE t.kind = 'usage'
      GROUP BY t.id, t.amount HAVING COALESCE(SUM(l.amount), 0) <> t.amount LIMIT ?`,
    [limit],
  )) {
    add('usage_matches_request_log', str(r.id), `usage transaction of ${formatUsd(big(r.amount))} USD, its requests sum to ${formatUsd(big(r.logged))} USD`);
  }
  for (const r of await db.all(
    "SELECT l.id FROM request_log l LEFT JOIN ledger_tx t ON t.id = l.tx_id WHERE l.amount > 0 AND (t.id IS NULL OR t.kind <> 'usage') LIMIT ?",
    [limit],
  )) {
    add('usage_matches_request_log', str(r.id), 'a charged request without its usage transaction');
  }

  return { ok: problems.length === 0, checked, problems };
}
