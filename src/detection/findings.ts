import { createHash } from 'node:crypto';
import { z } from 'zod';
import { formatUsd } from '../kernel/money.ts';
import { iso, isoTime, usdAmount } from '../kernel/validation.ts';
import { big, json, num, optBig, optStr, str, type Engine, type Queryable, type Row, type SqlValue } from '../storage/port.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { FINDING_RULES } from './rules/index.ts';
import type { Candidate } from './rules/types.ts';

// Findings: what a rule found, with its evidence, and where it stands —
//   open → verified → compensated, or rejected (with a reason).
// A finding's id derives from (rule, subject) and the time of the charge, so that scanning the same
// rows again, or two scanners at once, finds the same finding: storage keeps the first and ignores
// the others (INSERT … ON CONFLICT DO NOTHING). Ids sort by the time of the wrong charge.

export const FINDING_STATUSES = ['open', 'verified', 'compensated', 'rejected'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

export interface Finding {
  id: string;
  rule: string;
  subject: string;
  account_id: string | null;
  model: string | null;
  status: FindingStatus;
  amount: bigint;
  charged: bigint;
  reason: string;
  request_ids: string[];
  stakes: Record<string, bigint>;
  evidence: Record<string, unknown>;
  occurred_at: number;
  dispute_id: string | null;
  decision_note: string | null;
  decided_by: string | null;
  credit_id: string | null;
  compensated: bigint | null;
  created_at: number;
  updated_at: number;
}

const B32 = '0123456789abcdefghjkmnpqrstvwxyz';

/** `fnd_` + the charge's time (10 base32 chars, as kernel/ids.ts) + 16 hex chars of SHA-256(rule, subject). */
export function findingId(rule: string, subject: string, occurredAt: number): string {
  let t = Math.max(0, Math.floor(occurredAt));
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = B32[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return `fnd_${time}${createHash('sha256').update(`${rule}\u0000${subject}`).digest('hex').slice(0, 16)}`;
}

const usdJson = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? formatUsd(x) : x));
const sum = (stakes: Record<string, bigint>) => Object.values(stakes).reduce((a, b) => a + b, 0n);

const COLUMNS = ['id', 'rule', 'subject', 'account_id', 'model', 'status', 'amount', 'charged', 'reason', 'request_ids', 'stakes', 'evidence', 'occurred_at', 'dispute_id', 'created_at', 'updated_at'];
const INSERT_HEAD = `INSERT INTO findings (${COLUMNS.join(', ')})`;
const ONE = `(${COLUMNS.map(() => '?').join(', ')})`;
const INSERT = `${INSERT_HEAD} VALUES ${ONE} ON CONFLICT (id) DO NOTHING`;

/** Findings stored by one multi-row INSERT on PostgreSQL (16 parameters each: 8,000 a statement). */
const CHUNK = 500;

/**
 * Stores candidates as open findings; those already stored are left as they are. Returns the ids,
 * and how many were new. On PostgreSQL (`engine`), findings without a dispute go in multi-row
 * INSERTs: one round trip per finding was a third of a scan's time there (2,000 findings in a
 * 100,000-row bench scan); SQLite has no round trips to save and keeps its one cached statement.
 * A finding twice in one INSERT is stored once (DO NOTHING skips the second), as it is one by one.
 */
export async function storeCandidates(q: Queryable, candidates: readonly Candidate[], now: number, disputeId: string | null = null, engine: Engine = 'sqlite'): Promise<{ ids: string[]; created: number }> {
  let created = 0;
  const ids: string[] = [];
  const rows: SqlValue[][] = [];
  for (const c of candidates) {
    const id = findingId(c.rule, c.subject, c.occurred_at);
    ids.push(id);
    const stakes = Object.fromEntries(Object.entries(c.stakes).map(([k, v]) => [k, v.toString()]));
    rows.push([id, c.rule, c.subject, c.account_id, c.model, 'open', sum(c.stakes), c.charged, c.reason, JSON.stringify(c.request_ids), JSON.stringify(stakes), usdJson(c.evidence), c.occurred_at, disputeId, now, now]);
  }
  if (engine === 'postgres' && disputeId === null) {
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      created += (await q.run(`${INSERT_HEAD} VALUES ${new Array(chunk.length).fill(ONE).join(', ')} ON CONFLICT (id) DO NOTHING`, chunk.flat())).changes;
    }
    return { ids, created };
  }
  for (const [i, values] of rows.entries()) {
    created += (await q.run(INSERT, values)).changes;
    if (disputeId !== null) await q.run('UPDATE findings SET dispute_id = ? WHERE id = ? AND dispute_id IS NULL', [disputeId, ids[i]!]);
  }
  return { ids, created };
}

export function toFinding(r: Row): Finding {
  return {
    id: str(r.id),
    rule: str(r.rule),
    subject: str(r.subject),
    account_id: optStr(r.account_id),
    model: optStr(r.model),
    status: str(r.status) as FindingStatus,
    amount: big(r.amount),
    charged: big(r.charged),
    reason: str(r.reason),
    request_ids: json<string[]>(r.request_ids, []),
    stakes: Object.fromEntries(Object.entries(json<Record<string, string>>(r.stakes, {})).map(([k, v]) => [k, BigInt(v)])),
    evidence: json<Record<string, unknown>>(r.evidence, {}),
    occurred_at: num(r.occurred_at),
    dispute_id: optStr(r.dispute_id),
    decision_note: optStr(r.decision_note),
    decided_by: optStr(r.decided_by),
    credit_id: optStr(r.credit_id),
    compensated: optBig(r.compensated),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

/** A finding as the APIs show it; customers do not see who decided it. */
export function findingView(f: Finding, audience: 'operator' | 'customer' = 'operator'): Record<string, unknown> {
  return {
    id: f.id,
    rule: f.rule,
    status: f.status,
    account_id: f.account_id,
    model: f.model,
    amount: formatUsd(f.amount),
    charged: formatUsd(f.charged),
    compensated: f.compensated === null ? null : formatUsd(f.compensated),
    reason: f.reason,
    request_ids: f.request_ids,
    occurred_at: iso(f.occurred_at),
    dispute_id: f.dispute_id,
    decision_note: f.decision_note,
    ...(audience === 'operator' ? { decided_by: f.decided_by } : {}),
    credit_id: f.credit_id,
    created_at: iso(f.created_at),
    updated_at: iso(f.updated_at),
  };
}

// ---- the operator's queue: one filter for lists, bulk decisions and exports ----

export const FindingFilter = z
  .object({
    rule: z.enum(FINDING_RULES).optional(),
    account_id: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    status: z.enum(FINDING_STATUSES).optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    min_amount: usdAmount({ allowZero: true }).optional(),
    dispute_id: z.string().min(1).optional(),
  })
  .strict();
export type FindingFilter = z.output<typeof FindingFilter>;

export function findingWhere(f: FindingFilter & { before?: string | undefined }): { sql: string; params: SqlValue[]; conds: string[] } {
  const w: string[] = [];
  const params: SqlValue[] = [];
  const add = (sql: string, v: SqlValue | undefined) => {
    if (v !== undefined) (w.push(sql), params.push(v));
  };
  add('rule = ?', f.rule);
  add('account_id = ?', f.account_id);
  add('model = ?', f.model);
  add('status = ?', f.status);
  add('occurred_at >= ?', f.from);
  add('occurred_at < ?', f.to);
  add('amount >= ?', f.min_amount);
  add('dispute_id = ?', f.dispute_id);
  add('id < ?', f.before);
  return { sql: w.length ? `WHERE ${w.join(' AND ')}` : '', params, conds: w };
}

/** How findings sort. */
export const FINDING_SORT: SortSpec = {
  columns: { id: 'id', created_at: 'created_at', occurred_at: 'occurred_at', amount: 'amount', charged: 'charged', compensated: 'COALESCE(compensated, 0)', rule: 'rule', status: 'status', model: "COALESCE(model, '')", account_id: "COALESCE(account_id, '')" },
  text: ['id', 'rule', 'status', 'model', 'account_id'],
  default: '-id',
};

/** Findings matching a filter, newest first (paged by id: `before`). */
export async function listFindings(q: Queryable & { engine: Engine }, f: FindingFilter & { before?: string | undefined }, limit: number): Promise<Finding[]> {
  return (await pageFindings(q, f, { limit })).rows;
}

/** Findings matching a filter in the asked order (default: newest first), a page after the cursor. */
export async function pageFindings(q: Queryable & { engine: Engine }, f: FindingFilter & { before?: string | undefined }, opts: Sorting & { limit: number }): Promise<Paged<Finding>> {
  const w = findingWhere(f);
  const p = await sortedPage(q, { from: 'findings', where: w.conds, params: w.params, spec: FINDING_SORT, ...opts });
  return { rows: p.rows.map(toFinding), next_cursor: p.next_cursor };
}

export async function getFinding(q: Queryable, id: string): Promise<Finding | null> {
  const r = await q.get('SELECT * FROM findings WHERE id = ?', [id]);
  return r ? toFinding(r) : null;
}
