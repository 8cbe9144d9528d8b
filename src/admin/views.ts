import { formatUsd } from '../kernel/money.ts';
import type { LedgerEntryView } from '../billing/statement.ts';
import { str, type Db, type Row, type SqlValue } from '../storage/port.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { fromJson } from '../kernel/json.ts';

export function ledgerView(rows: LedgerEntryView[], limit: number, nextCursor?: string | null): Record<string, unknown> {
  return {
    data: rows.map((r) => ({
      tx_id: r.tx_id,
      kind: r.kind,
      at: new Date(r.at).toISOString(),
      amount: formatUsd(r.amount),
      paid: formatUsd(r.paid),
      granted: formatUsd(r.granted),
      memo: r.memo,
      ref_type: r.ref_type,
      ref_id: r.ref_id,
    })),
    next_before: rows.length === limit ? rows.at(-1)?.tx_id : null,
    ...(nextCursor !== undefined ? { next_cursor: nextCursor } : {}),
  };
}

const plain = (s: unknown) => (s === null || s === undefined ? null : JSON.parse(JSON.stringify(fromJson(String(s)), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))));

/** How the audit log sorts (ids are integers, in write order). */
export const AUDIT_SORT: SortSpec = {
  columns: { id: 'id', at: 'at', action: 'action', actor: 'actor_id', target_type: 'target_type', account_id: "COALESCE(account_id, '')" },
  text: ['action', 'actor', 'target_type', 'account_id'],
  default: '-id',
  numericId: true,
};

export async function listAudit(db: Db, f: AuditFilter): Promise<Array<Record<string, unknown>>> {
  return (await pageAudit(db, f)).rows;
}

type AuditFilter = Sorting & { accountId?: string | undefined; targetType?: string | undefined; targetId?: string | undefined; action?: string | undefined; limit: number; before?: string | undefined };

/** Audit entries matching the filter in the asked order (default: newest first), a page after the cursor. */
export async function pageAudit(db: Db, f: AuditFilter): Promise<Paged<Record<string, unknown>>> {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (f.accountId) (where.push('account_id = ?'), params.push(f.accountId));
  if (f.targetType) (where.push('target_type = ?'), params.push(f.targetType));
  if (f.targetId) (where.push('target_id = ?'), params.push(f.targetId));
  if (f.action) (where.push('action = ?'), params.push(f.action));
  if (f.before) (where.push('id < ?'), params.push(Number(f.before)));
  const { rows, next_cursor } = await sortedPage(db, { from: 'audit_log', where, params, spec: AUDIT_SORT, sort: f.sort, cursor: f.cursor, limit: f.limit });
  return { rows: rows.map(auditView), next_cursor };
}

function auditView(r: Row): Record<string, unknown> {
  return {
    id: Number(r.id),
    at: new Date(Number(r.at)).toISOString(),
    actor: str(r.actor_id),
    actor_type: str(r.actor_type),
    action: str(r.action),
    target_type: str(r.target_type),
    target_id: str(r.target_id),
    account_id: r.account_id ?? null,
    before: plain(r.before_json),
    after: plain(r.after_json),
  };
}

