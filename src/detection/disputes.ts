import { z } from 'zod';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { json, num, str, type Row } from '../storage/port.ts';
import { loadRuleContext } from './context.ts';
import { storeCandidates, toFinding, type Finding } from './findings.ts';
import { CUSTOMER_DISPUTE } from './rules/index.ts';
import type { Candidate } from './rules/types.ts';
import { enabledRules, judgeRows, toScanRow } from './scanner.ts';
import { detectionSettings } from './settings.ts';

// Disputes: a customer says some of their charges are wrong. The rules run on those rows at
// once; what they find becomes findings with the dispute attached (a finding the scanner had
// already made gets the dispute attached too). When no rule matches, the dispute itself becomes
// a `customer_dispute` finding in the operator's queue. The customer follows it: the findings,
// their state and the operator's answer (the decision note).

export const DisputeInput = z
  .object({
    request_ids: z.array(z.string().min(1).max(100)).min(1).max(100),
    reason: z.string().trim().min(1).max(2000),
  })
  .strict();

export interface Dispute {
  id: string;
  account_id: string;
  request_ids: string[];
  reason: string;
  created_at: number;
  findings: Finding[];
}

/** Where a dispute stands, from its findings: under review while any is undecided. */
function disputeStatus(findings: Finding[]): string {
  if (findings.some((f) => f.status === 'open' || f.status === 'verified')) return 'under_review';
  return findings.some((f) => f.status === 'compensated') ? 'compensated' : 'rejected';
}

export function disputeView(d: Dispute): Record<string, unknown> {
  return {
    id: d.id,
    status: disputeStatus(d.findings),
    request_ids: d.request_ids,
    reason: d.reason,
    created_at: iso(d.created_at),
    findings: d.findings.map((f) => ({ id: f.id, rule: f.rule, status: f.status, amount: formatUsd(f.amount), compensated: f.compensated === null ? null : formatUsd(f.compensated), answer: f.decision_note })),
  };
}

async function load(ctx: ServiceContext, r: Row): Promise<Dispute> {
  const findings = (await ctx.db.all('SELECT * FROM findings WHERE dispute_id = ? ORDER BY id', [str(r.id)])).map(toFinding);
  return { id: str(r.id), account_id: str(r.account_id), request_ids: json<string[]>(r.request_ids, []), reason: str(r.reason), created_at: num(r.created_at), findings };
}

/** Files a dispute on the caller's own requests (members and above), within the dispute window. */
export async function fileDispute(ctx: ServiceContext, accountId: string, raw: unknown): Promise<Dispute> {
  requireRole(ctx.actor, accountId, 'member');
  const input = parseInput(DisputeInput, raw);
  const ids = [...new Set(input.request_ids)];
  const settings = await detectionSettings(ctx);
  const now = ctx.now();
  const rows = await ctx.db.all(`SELECT * FROM request_log WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
  const byId = new Map(rows.map((r) => [str(r.id), r]));
  const oldest = now - settings.dispute_window_days * 86_400_000;
  for (const [i, id] of ids.entries()) {
    const r = byId.get(id);
    if (!r || str(r.account_id) !== accountId) throw new AppError('NOT_FOUND', `request_ids.${i}: request ${id} not found`, { field: `request_ids.${i}`, resource: 'request' });
    if (num(r.started_at) < oldest) {
      throw new AppError('DISPUTE_WINDOW_CLOSED', `request_ids.${i}: request ${id} is older than the ${settings.dispute_window_days}-day dispute window`, { field: `request_ids.${i}` });
    }
  }
  const scanRows = rows.map(toScanRow);
  const rules = enabledRules(settings);
  const found = judgeRows(rules.rows, scanRows, await loadRuleContext(ctx, settings));
  const id = newId('dsp', now);
  // Requests no rule matched go to the operator as the customer's word.
  const matched = new Set(found.map((f) => f.subject));
  const unmatched = scanRows.filter((r) => !matched.has(r.id));
  if (unmatched.length > 0) found.push(disputeFinding(id, accountId, unmatched, input.reason, now));
  await ctx.db.tx(async (q) => {
    await q.run('INSERT INTO disputes (id, account_id, request_ids, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)', [id, accountId, JSON.stringify(ids), input.reason, actorId(ctx.actor), now]);
    await storeCandidates(q, found, now, id);
    await audit(q, ctx.actor, 'dispute.file', { type: 'dispute', id, accountId }, undefined, { request_ids: ids, reason: input.reason, findings: found.map((f) => f.rule) }, now);
  });
  return getDispute(ctx, accountId, id);
}

/** No rule matched: the dispute itself goes to the operator's queue, the disputed charges at stake. */
function disputeFinding(id: string, accountId: string, rows: ReturnType<typeof toScanRow>[], reason: string, now: number): Candidate {
  const charged = rows.filter((r) => r.amount > 0n);
  const total = charged.reduce((a, r) => a + r.amount, 0n);
  return {
    rule: CUSTOMER_DISPUTE,
    subject: id,
    account_id: accountId,
    model: rows.length > 0 && rows.every((r) => r.model === rows[0]!.model) ? rows[0]!.model : null,
    request_ids: rows.map((r) => r.id),
    charged: total,
    stakes: Object.fromEntries(charged.map((r) => [r.id, r.amount])),
    reason: `The customer disputes ${rows.length} request(s) charged $${formatUsd(total)} that no rule matched: ${reason}`.slice(0, 2000),
    evidence: { customer_reason: reason, requests: rows.map((r) => ({ request_id: r.id, model: r.model, outcome: r.outcome, amount: r.amount, duration_ms: r.duration_ms })) },
    occurred_at: now,
  };
}

export async function getDispute(ctx: ServiceContext, accountId: string | null, id: string): Promise<Dispute> {
  const r = await ctx.db.get('SELECT * FROM disputes WHERE id = ?', [id]);
  if (!r || (accountId !== null && str(r.account_id) !== accountId)) throw new AppError('NOT_FOUND', `dispute ${id} not found`, { resource: 'dispute' });
  requireRole(ctx.actor, str(r.account_id), 'viewer');
  return load(ctx, r);
}

/** How disputes sort. */
export const DISPUTE_SORT: SortSpec = { columns: { id: 'id', created_at: 'created_at', account_id: 'account_id' }, text: ['id', 'account_id'], default: '-id' };

export async function listDisputes(ctx: ServiceContext, accountId: string | null, limit: number, before?: string): Promise<Dispute[]> {
  return (await pageDisputes(ctx, accountId, { limit, before })).rows;
}

/** Disputes (of an account, or all) in the asked order (default: newest first), a page after the cursor. */
export async function pageDisputes(ctx: ServiceContext, accountId: string | null, opts: Sorting & { limit: number; before?: string | undefined }): Promise<Paged<Dispute>> {
  if (accountId !== null) requireRole(ctx.actor, accountId, 'viewer');
  const w: string[] = [];
  const params: Array<string | number> = [];
  if (accountId !== null) (w.push('account_id = ?'), params.push(accountId));
  if (opts.before) (w.push('id < ?'), params.push(opts.before));
  const p = await sortedPage(ctx.db, { from: 'disputes', where: w, params, spec: DISPUTE_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit });
  return { rows: await Promise.all(p.rows.map((r) => load(ctx, r))), next_cursor: p.next_cursor };
}
