import type { Dataset } from '../kernel/export.ts';
import { formatUsd } from '../kernel/money.ts';
import { iso } from '../kernel/validation.ts';
import type { Db } from '../storage/port.ts';
import { findingView, findingWhere, toFinding, type FindingFilter } from './findings.ts';

// Findings in the one export format (kernel/export.ts, docs/export.md): dataset `findings`,
// version 1 — these columns, in this order (test/unit/detection/export.test.ts pins them).

export const FINDINGS_DATASET: Dataset = {
  name: 'findings',
  version: 1,
  columns: ['id', 'rule', 'status', 'account_id', 'model', 'amount', 'charged', 'compensated', 'occurred_at', 'request_ids', 'reason', 'dispute_id', 'decision_note', 'credit_id', 'created_at', 'updated_at'],
  accountColumn: 'account_id',
  amountColumns: ['amount', 'charged', 'compensated'],
};

/** Every finding matching the filter, oldest first, as export rows (a cursor: constant memory). */
export function findingsExport(db: Db, f: FindingFilter): { rows: AsyncIterable<Record<string, unknown>>; filter: Record<string, unknown> } {
  const w = findingWhere(f);
  async function* rows() {
    for await (const r of db.stream(`SELECT * FROM findings ${w.sql} ORDER BY id ASC`, w.params)) {
      const v = findingView(toFinding(r));
      yield { ...v, request_ids: (v.request_ids as string[]).join(' ') };
    }
  }
  const filter: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) if (v !== undefined) filter[k] = k === 'from' || k === 'to' ? iso(v as number) : typeof v === 'bigint' ? formatUsd(v) : v;
  return { rows: rows(), filter };
}
