import { z } from 'zod';
import { SortQuery, sortedPage, type Paged, type SortSpec } from '../kernel/sorting.ts';
import { AppError } from '../kernel/errors.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { formatUsd } from '../kernel/money.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { iso, parseInput, usdAmount } from '../kernel/validation.ts';
import { big, optNum, str, type Row, type SqlValue } from '../storage/port.ts';
import { recordTopup, topupView } from '../billing/topups.ts';

// Transfer notices: an enterprise tells the platform about a bank transfer it made (amount, date,
// payer, reference, contract number, optionally the receipt). The notice waits in the operator's
// queue; confirming it records the top-up through the one top-up service with that reference and
// contract number, under the idempotency key `transfer-notice:<id>` — confirming twice (two
// operators, a retry) records one top-up. Rejecting moves no money. Both sides see the state.

export const RECEIPT_MAX_BYTES = 2 * 1024 * 1024;
const RECEIPT_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/webp'] as const;

export const NoticeInput = z
  .object({
    amount: usdAmount(),
    paid_on: z.iso.date(),
    payer: z.string().trim().min(1).max(200),
    reference: z.string().trim().min(1).max(200),
    contract_number: z.string().trim().min(1).max(200).optional(),
    note: z.string().max(2000).optional(),
    receipt: z.object({ name: z.string().min(1).max(200), type: z.enum(RECEIPT_TYPES), data: z.base64() }).strict().optional(),
  })
  .strict();
export const DecisionInput = z.object({ note: z.string().max(2000).optional(), bonus: usdAmount({ allowZero: true }).optional() }).strict();
export const NoticeQuery = z.object({ status: z.enum(['pending', 'confirmed', 'rejected']).optional(), account_id: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).optional(), ...SortQuery.shape }).strict();

/** How transfer notices sort. */
export const NOTICE_SORT: SortSpec = {
  columns: { created_at: 'created_at', amount: 'amount', paid_on: 'paid_on', status: 'status', payer: 'payer', account_id: 'account_id' },
  text: ['paid_on', 'status', 'payer', 'account_id'],
  default: '-created_at',
};

export function noticeView(r: Row): Record<string, unknown> {
  return {
    id: str(r.id), account_id: str(r.account_id), amount: formatUsd(big(r.amount)), paid_on: str(r.paid_on), payer: str(r.payer), reference: str(r.reference),
    contract_number: (r.contract_number as string | null) ?? null, note: (r.note as string | null) ?? null,
    receipt: r.receipt_name ? { name: str(r.receipt_name), type: str(r.receipt_type) } : null,
    status: str(r.status), topup_id: (r.topup_id as string | null) ?? null, decision_note: (r.decision_note as string | null) ?? null,
    created_by: str(r.created_by), created_at: iso(Number(r.created_at)), decided_by: (r.decided_by as string | null) ?? null, decided_at: iso(optNum(r.decided_at)),
  };
}

export async function createNotice(ctx: ServiceContext, accountId: string, raw: unknown): Promise<Record<string, unknown>> {
  requireRole(ctx.actor, accountId, 'admin');
  const input = parseInput(NoticeInput, raw);
  const receipt = input.receipt ? Buffer.from(input.receipt.data, 'base64') : null;
  if (receipt && receipt.length > RECEIPT_MAX_BYTES) throw new AppError('VALIDATION', `receipt.data: at most ${RECEIPT_MAX_BYTES} bytes`, { field: 'receipt.data' });
  const now = ctx.now();
  const id = newId('tn', now);
  return ctx.db.tx(async (q) => {
    await q.run(
      `INSERT INTO transfer_notices (id, account_id, amount, paid_on, payer, reference, contract_number, note, receipt_name, receipt_type, receipt, status, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
      [id, accountId, input.amount, input.paid_on, input.payer, input.reference, input.contract_number ?? null, input.note ?? null,
        input.receipt?.name ?? null, input.receipt?.type ?? null, receipt ? receipt.toString('base64') : null, actorId(ctx.actor), now],
    );
    const row = (await q.get('SELECT * FROM transfer_notices WHERE id = ?', [id]))!;
    await audit(q, ctx.actor, 'transfer_notice.create', { type: 'transfer_notice', id, accountId }, undefined, noticeView(row), now);
    return noticeView(row);
  });
}

export async function listNotices(ctx: ServiceContext, f: z.infer<typeof NoticeQuery>): Promise<Paged<Record<string, unknown>>> {
  if (f.account_id) requireRole(ctx.actor, f.account_id, 'viewer');
  else requireOperator(ctx.actor);
  const w: string[] = [];
  const p: SqlValue[] = [];
  if (f.account_id) (w.push('account_id = ?'), p.push(f.account_id));
  if (f.status) (w.push('status = ?'), p.push(f.status));
  const page = await sortedPage(ctx.db, { from: 'transfer_notices', where: w, params: p, spec: NOTICE_SORT, sort: f.sort, cursor: f.cursor, limit: f.limit ?? 100 });
  return { rows: page.rows.map(noticeView), next_cursor: page.next_cursor };
}

async function noticeRow(ctx: ServiceContext, id: string): Promise<Row> {
  const r = await ctx.db.get('SELECT * FROM transfer_notices WHERE id = ?', [id]);
  if (!r) throw new AppError('NOT_FOUND', `transfer notice ${id} not found`, { resource: 'transfer_notice' });
  requireRole(ctx.actor, str(r.account_id), 'viewer');
  return r;
}

export async function noticeReceipt(ctx: ServiceContext, id: string): Promise<{ name: string; type: string; data: Buffer }> {
  const r = await noticeRow(ctx, id);
  if (!r.receipt) throw new AppError('NOT_FOUND', 'This notice has no receipt.', { resource: 'receipt' });
  return { name: str(r.receipt_name), type: str(r.receipt_type), data: Buffer.from(str(r.receipt), 'base64') };
}

/** Confirms a notice: records its top-up (idempotently) and marks it confirmed. */
export async function confirmNotice(ctx: ServiceContext, id: string, raw: unknown): Promise<Record<string, unknown>> {
  requireOperator(ctx.actor);
  const input = parseInput(DecisionInput, raw);
  const r = await noticeRow(ctx, id);
  if (str(r.status) === 'rejected') throw new AppError('CONFLICT', 'This notice was rejected.');
  const accountId = str(r.account_id);
  const { topup } = await recordTopup(ctx, accountId, {
    amount: formatUsd(big(r.amount)), method: 'bank_transfer', reference: str(r.reference),
    ...(r.contract_number ? { contract_number: str(r.contract_number) } : {}),
    ...(input.bonus ? { bonus: formatUsd(input.bonus) } : {}),
    note: `transfer notice ${id} (paid ${str(r.paid_on)} by ${str(r.payer)})`,
  }, `transfer-notice:${id}`);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    await q.run("UPDATE transfer_notices SET status = 'confirmed', topup_id = ?, decision_note = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
      [topup.id, input.note ?? null, actorId(ctx.actor), now, id]);
    const after = (await q.get('SELECT * FROM transfer_notices WHERE id = ?', [id]))!;
    await audit(q, ctx.actor, 'transfer_notice.confirm', { type: 'transfer_notice', id, accountId }, noticeView(r), noticeView(after), now);
    return { ...noticeView(after), topup: topupView(topup) };
  });
}

export async function rejectNotice(ctx: ServiceContext, id: string, raw: unknown): Promise<Record<string, unknown>> {
  requireOperator(ctx.actor);
  const input = parseInput(DecisionInput, raw);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const before = await q.get('SELECT * FROM transfer_notices WHERE id = ?', [id]);
    if (!before) throw new AppError('NOT_FOUND', `transfer notice ${id} not found`, { resource: 'transfer_notice' });
    const done = await q.run("UPDATE transfer_notices SET status = 'rejected', decision_note = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
      [input.note ?? null, actorId(ctx.actor), now, id]);
    if (done.changes === 0) throw new AppError('CONFLICT', `This notice is already ${str(before.status)}.`);
    const after = (await q.get('SELECT * FROM transfer_notices WHERE id = ?', [id]))!;
    await audit(q, ctx.actor, 'transfer_notice.reject', { type: 'transfer_notice', id, accountId: str(before.account_id) }, noticeView(before), noticeView(after), now);
    return noticeView(after);
  });
}
