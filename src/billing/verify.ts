import { formatUsd } from '../kernel/money.ts';
import type { Db } from '../storage/port.ts';
import { big, str, type Row } from '../storage/port.ts';

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
  for (const [name, sql] of Object.entries(COUNTS)) checked[name] = Number((await db.get(sql))?.n ?? 0);
  for (const probe of PROBES) {
    for (const r of await db.all(probe.sql, probe.withNow ? [now, limit] : [limit])) {
      if (problems.length < limit * 6) problems.push({ check: probe.check, subject: str(r[probe.subject]), detail: probe.detail(r) });
    }
  }
  return { ok: problems.length === 0, checked, problems };
}

/** How much was checked. */
const COUNTS: Record<string, string> = {
  transactions: 'SELECT COUNT(*) AS n FROM ledger_tx',
  books: 'SELECT COUNT(*) AS n FROM books',
  accounts: 'SELECT COUNT(*) AS n FROM accounts',
  open_holds: "SELECT COUNT(*) AS n FROM holds WHERE status = 'open'",
  charged_requests: 'SELECT COUNT(*) AS n FROM request_log WHERE amount > 0',
};

const usd = (v: unknown) => formatUsd(big(v));

/** Each query finds what breaks one invariant (numbered as above); every row it returns is a problem. */
const PROBES: Array<{ check: string; sql: string; subject: string; detail: (r: Row) => string; withNow?: true }> = [
  {
    check: 'balanced_transactions',
    sql: `SELECT t.id, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) AS s, COUNT(e.id) AS n
            FROM ledger_tx t LEFT JOIN ledger_entries e ON e.tx_id = t.id
           GROUP BY t.id HAVING COALESCE(SUM(e.amount), 0) <> 0 OR COUNT(e.id) < 2 LIMIT ?`,
    subject: 'id',
    detail: (r) => `entries sum to ${big(r.s)} nano-USD over ${Number(r.n)} entries`,
  },
  {
    check: 'balanced_transactions',
    sql: 'SELECT DISTINCT e.tx_id FROM ledger_entries e LEFT JOIN ledger_tx t ON t.id = e.tx_id WHERE t.id IS NULL LIMIT ?',
    subject: 'tx_id',
    detail: () => 'entries without a journal transaction',
  },
  {
    check: 'materialised_balances',
    sql: `SELECT b.code, b.balance, CAST(COALESCE(s.total, 0) AS BIGINT) AS total
            FROM books b LEFT JOIN (SELECT book, SUM(amount) AS total FROM ledger_entries GROUP BY book) s ON s.book = b.code
           WHERE b.balance <> COALESCE(s.total, 0) LIMIT ?`,
    subject: 'code',
    detail: (r) => `materialised ${usd(r.balance)} USD, entries sum to ${usd(r.total)} USD`,
  },
  {
    check: 'materialised_balances',
    sql: 'SELECT DISTINCT e.book FROM ledger_entries e LEFT JOIN books b ON b.code = e.book WHERE b.code IS NULL LIMIT ?',
    subject: 'book',
    detail: () => 'entries for a book that has no materialised balance',
  },
  {
    check: 'held_matches_open_holds',
    sql: `SELECT a.id, a.held, CAST(COALESCE(h.total, 0) AS BIGINT) AS total
            FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM holds WHERE status = 'open' GROUP BY account_id) h ON h.account_id = a.id
           WHERE a.held <> COALESCE(h.total, 0) LIMIT ?`,
    subject: 'id',
    detail: (r) => `held ${usd(r.held)} USD, open holds sum to ${usd(r.total)} USD`,
  },
  {
    check: 'no_expired_open_holds',
    sql: "SELECT id, account_id, expires_at FROM holds WHERE status = 'open' AND expires_at <= ? LIMIT ?",
    withNow: true,
    subject: 'id',
    detail: (r) => `open hold of ${str(r.account_id)} expired at ${new Date(Number(r.expires_at)).toISOString()}`,
  },
  {
    check: 'within_credit_line',
    sql: `SELECT a.id, a.credit_line, CAST(COALESCE(SUM(b.balance), 0) AS BIGINT) AS total
            FROM accounts a LEFT JOIN books b ON b.account_id = a.id
           GROUP BY a.id, a.credit_line HAVING COALESCE(SUM(b.balance), 0) < -a.credit_line LIMIT ?`,
    subject: 'id',
    detail: (r) => `balance ${usd(r.total)} USD is below the credit line of ${usd(r.credit_line)} USD`,
  },
  {
    check: 'payments_have_entries',
    sql: 'SELECT x.id FROM topups x LEFT JOIN ledger_tx t ON t.id = x.tx_id WHERE t.id IS NULL LIMIT ?',
    subject: 'id',
    detail: () => 'top-up without its journal transaction',
  },
  {
    check: 'payments_have_entries',
    sql: "SELECT x.id FROM refunds x LEFT JOIN ledger_tx t ON t.id = x.tx_id WHERE x.status = 'approved' AND t.id IS NULL LIMIT ?",
    subject: 'id',
    detail: () => 'approved refund without its journal transaction',
  },
  {
    check: 'payments_have_entries',
    sql: 'SELECT x.id FROM credits x LEFT JOIN ledger_tx t ON t.id = x.tx_id WHERE t.id IS NULL LIMIT ?',
    subject: 'id',
    detail: () => 'credit without its journal transaction',
  },
  {
    // 7. Usage charges and the request log agree, both ways.
    check: 'usage_matches_request_log',
    sql: `SELECT t.id, t.amount, CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS logged
            FROM ledger_tx t LEFT JOIN request_log l ON l.tx_id = t.id
           WHERE t.kind = 'usage'
           GROUP BY t.id, t.amount HAVING COALESCE(SUM(l.amount), 0) <> t.amount LIMIT ?`,
    subject: 'id',
    detail: (r) => `usage transaction of ${usd(r.amount)} USD, its requests sum to ${usd(r.logged)} USD`,
  },
  {
    check: 'usage_matches_request_log',
    sql: "SELECT l.id FROM request_log l LEFT JOIN ledger_tx t ON t.id = l.tx_id WHERE l.amount > 0 AND (t.id IS NULL OR t.kind <> 'usage') LIMIT ?",
    subject: 'id',
    detail: () => 'a charged request without its usage transaction',
  },
];
