import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { idempotent } from '../kernel/idempotency.ts';
import { iso, parseInput, usdAmount } from '../kernel/validation.ts';
import { big, optNum, str, type Queryable, type Row } from '../storage/port.ts';
import { available, book, bucketBalances, lockAccount } from './books.ts';
import { writeTx, type Entry } from './journal.ts';
import { getTopupRow, type PaymentMethod, type Topup } from './topups.ts';

// Refunds go back along the original path: a customer asks to refund one top-up; an operator
// approves (ledger entries written, recorded against that payment) or rejects.
// Rules: within the refund window; only refundable top-ups (not invoiced-non-refundable, never
// redemption codes); at most what is left of that payment and of the unspent paid balance; the
// bonus granted with it is taken back in proportion (what of it was already spent is deducted
// from the payout); a fee per payment method is kept.

export type RefundStatus = 'pending' | 'approved' | 'rejected';

export interface Refund {
  id: string;
  topup_id: string;
  account_id: string;
  amount: bigint;
  fee: bigint;
  payout: bigint;
  bonus_clawback: bigint;
  status: RefundStatus;
  reason: string | null;
  decision_note: string | null;
  requested_by: string;
  decided_by: string | null;
  decided_at: number | null;
  tx_id: string | null;
  created_at: number;
  /** Pending refunds only: fee, bonus claw-back and payout if approved now (not stored). */
  estimate?: { fee: bigint; bonus_clawback: bigint; payout: bigint } | null;
}

function toRefund(r: Row): Refund {
  return {
    id: str(r.id),
    topup_id: str(r.topup_id),
    account_id: str(r.account_id),
    amount: big(r.amount),
    fee: big(r.fee),
    payout: big(r.payout),
    bonus_clawback: big(r.bonus_clawback),
    status: str(r.status) as RefundStatus,
    reason: (r.reason as string | null) ?? null,
    decision_note: (r.decision_note as string | null) ?? null,
    requested_by: str(r.requested_by),
    decided_by: (r.decided_by as string | null) ?? null,
    decided_at: optNum(r.decided_at),
    tx_id: (r.tx_id as string | null) ?? null,
    created_at: Number(r.created_at),
  };
}

/**
 * `fee`, `bonus_clawback` and `payout` are what an approved refund kept and paid; they are null
 * until then. A pending refund shows `*_estimate` instead: the same figures if approved now.
 */
export function refundView(r: Refund): Record<string, unknown> {
  const decided = r.status === 'approved';
  const est = r.status === 'pending' ? (r.estimate ?? null) : null;
  return {
    id: r.id,
    topup_id: r.topup_id,
    account_id: r.account_id,
    amount: formatUsd(r.amount),
    fee: decided ? formatUsd(r.fee) : null,
    bonus_clawback: decided ? formatUsd(r.bonus_clawback) : null,
    payout: decided ? formatUsd(r.payout) : null,
    fee_estimate: est ? formatUsd(est.fee) : null,
    bonus_clawback_estimate: est ? formatUsd(est.bonus_clawback) : null,
    payout_estimate: est ? formatUsd(est.payout) : null,
    status: r.status,
    reason: r.reason,
    decision_note: r.decision_note,
    decided_at: iso(r.decided_at),
    tx_id: r.tx_id,
    created_at: iso(r.created_at),
  };
}

export const RefundRequestInput = z
  .object({
    topup_id: z.string().min(1),
    amount: usdAmount().optional(),
    reason: z.string().max(2000).optional(),
  })
  .strict();

function feePct(rt: Runtime, method: PaymentMethod): number {
  if (method === 'bank_transfer') return rt.config.refundFeePctBankTransfer;
  if (method === 'card') return rt.config.refundFeePctCard;
  return rt.config.refundFeePctOther;
}

/** Fee in nanos: pct given with up to 4 decimals, rounded half up once. */
function feeFor(amount: bigint, pct: number): bigint {
  const bp = BigInt(Math.round(pct * 10_000)); // hundredths of a basis point
  return (amount * bp + 500_000n) / 1_000_000n;
}

/**
 * What approving `amount` of top-up `t` moves, given the account's `granted` balance: the method's
 * fee; the bonus given with the payment, taken back in proportion to the part refunded — from
 * `granted` as far as it goes (clawFromGranted), the rest (already spent) kept from the payout
 * (shortfall); and the payout. Example: 50 of a 100 card payment with a 20 bonus, 3 % fee, 4 left
 * in granted: fee 1.50, bonus due 10 (4 from granted, 6 short), payout 50 − 1.50 − 6 = 42.50.
 */
function settlement(rt: Runtime, t: Topup, amount: bigint, granted: bigint): { fee: bigint; clawFromGranted: bigint; shortfall: bigint; payout: bigint } {
  const fee = feeFor(amount, feePct(rt, t.method));
  const bonusDue = t.bonus > 0n ? (t.bonus * (t.refunded + amount)) / t.amount - t.bonus_clawed_back : 0n;
  const grantedFree = granted > 0n ? granted : 0n;
  const clawFromGranted = bonusDue < grantedFree ? bonusDue : grantedFree;
  let shortfall = bonusDue - clawFromGranted;
  if (shortfall > amount - fee) shortfall = amount - fee;
  return { fee, clawFromGranted, shortfall, payout: amount - fee - shortfall };
}

/**
 * A pending refund with what approving it now would keep and pay (estimates: the balance and the
 * bonus still in `granted` may change before an operator decides). Decided refunds are unchanged.
 */
async function withEstimate(rt: Runtime, q: Queryable, r: Refund): Promise<Refund> {
  if (r.status !== 'pending') return r;
  const t = await getTopupRow(q, r.topup_id);
  const { granted } = await bucketBalances(q, r.account_id);
  const s = settlement(rt, t, r.amount, granted);
  return { ...r, estimate: { fee: s.fee, bonus_clawback: s.clawFromGranted + s.shortfall, payout: s.payout } };
}

async function pendingOn(q: Queryable, topupId: string, except?: string): Promise<bigint> {
  const r = await q.get(
    `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS s FROM refunds WHERE topup_id = ? AND status = 'pending'${except ? ' AND id <> ?' : ''}`,
    except ? [topupId, except] : [topupId],
  );
  return big(r?.s);
}

async function pendingOnAccount(q: Queryable, accountId: string, except?: string): Promise<bigint> {
  const r = await q.get(
    `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS s FROM refunds WHERE account_id = ? AND status = 'pending'${except ? ' AND id <> ?' : ''}`,
    except ? [accountId, except] : [accountId],
  );
  return big(r?.s);
}

/** How much of a top-up can be refunded now, and why not when nothing can. */
async function refundable(rt: Runtime, q: Queryable, t: Topup, paid: bigint, now: number, exceptRefund?: string): Promise<bigint> {
  if (!t.refundable || t.method === 'redemption_code') {
    throw new AppError('REFUND_NOT_ALLOWED', t.method === 'redemption_code' ? 'Redemption-code top-ups are not refundable.' : 'This top-up is marked non-refundable (invoiced).');
  }
  if (now > t.created_at + rt.config.refundWindowDays * 86_400_000) {
    throw new AppError('REFUND_WINDOW_CLOSED', `Top-ups can be refunded within ${rt.config.refundWindowDays} days; this one is from ${iso(t.created_at)}.`);
  }
  const leftOfPayment = t.amount - t.refunded - (await pendingOn(q, t.id, exceptRefund));
  const unspentPaid = paid - (await pendingOnAccount(q, t.account_id, exceptRefund));
  const max = leftOfPayment < unspentPaid ? leftOfPayment : unspentPaid;
  return max > 0n ? max : 0n;
}

export async function requestRefund(ctx: ServiceContext, accountId: string, raw: unknown, idempotencyKey: string): Promise<{ refund: Refund; replayed: boolean }> {
  requireRole(ctx.actor, accountId, 'admin');
  const input = parseInput(RefundRequestInput, raw);
  const now = ctx.now();
  const { result, replayed } = await idempotent(ctx.db, { scope: `refund:${accountId}`, key: idempotencyKey, payload: { accountId, ...input } }, async (q) => {
    const m = await lockAccount(ctx.db, q, accountId);
    const t = await getTopupRow(q, input.topup_id).catch(() => null);
    if (!t || t.account_id !== accountId) throw new AppError('NOT_FOUND', `top-up ${input.topup_id} not found`, { resource: 'topup' });
    const max = await refundable(ctx, q, t, m.paid, now);
    const amount = input.amount ?? max;
    if (amount <= 0n || amount > max) {
      throw new AppError('REFUND_NOT_ALLOWED', `At most ${formatUsd(max)} USD of this top-up can be refunded now (what is left of the payment and of the unspent paid balance).`, { max_refundable: formatUsd(max) });
    }
    const refund: Refund = {
      id: newId('rfd', now), topup_id: t.id, account_id: accountId, amount, fee: 0n, payout: 0n, bonus_clawback: 0n, status: 'pending',
      reason: input.reason ?? null, decision_note: null, requested_by: actorId(ctx.actor), decided_by: null, decided_at: null, tx_id: null, created_at: now,
    };
    await q.run('INSERT INTO refunds (id, topup_id, account_id, amount, status, reason, requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      refund.id, t.id, accountId, amount, 'pending', refund.reason, refund.requested_by, now,
    ]);
    await audit(q, ctx.actor, 'refund.request', { type: 'refund', id: refund.id, accountId }, undefined, refund, now);
    return refund;
  }, now);
  return { refund: await withEstimate(ctx, ctx.db, result), replayed };
}

async function getRefundRow(db: ServiceContext['db'], q: Queryable, id: string): Promise<Refund> {
  const r = await q.get(`SELECT * FROM refunds WHERE id = ?${db.forUpdate}`, [id]);
  if (!r) throw new AppError('NOT_FOUND', `refund ${id} not found`, { resource: 'refund' });
  return toRefund(r);
}

export const DecisionInput = z.object({ note: z.string().max(2000).optional() }).strict();

/** Approving writes the ledger entries; approving twice returns the approved refund unchanged. */
export async function approveRefund(ctx: ServiceContext, refundId: string, raw: unknown): Promise<Refund> {
  requireOperator(ctx.actor);
  const input = parseInput(DecisionInput, raw ?? {});
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const peek = await getRefundRow(ctx.db, q, refundId);
    const m = await lockAccount(ctx.db, q, peek.account_id);
    const before = await getRefundRow(ctx.db, q, refundId);
    if (before.status === 'approved') return before;
    if (before.status !== 'pending') throw new AppError('CONFLICT', `The refund is ${before.status}.`);
    const t = await getTopupRow(q, before.topup_id, ctx.db.forUpdate);
    // Never pending (refused at request), but the cash book must be a payment method's.
    if (t.method === 'redemption_code') throw new AppError('REFUND_NOT_ALLOWED', 'Redemption-code top-ups are not refundable.');
    // Re-check at approval: the balance may have been spent since the request (the window is
    // judged at request time: a request made in time is honoured).
    const leftOfPayment = t.amount - t.refunded;
    const unspent = m.paid - (await pendingOnAccount(q, t.account_id, refundId));
    if (before.amount > leftOfPayment || before.amount > unspent || before.amount > available(m)) {
      throw new AppError('REFUND_NOT_ALLOWED', `The account no longer has ${formatUsd(before.amount)} USD of unspent paid balance for this refund.`);
    }
    const { fee, clawFromGranted, shortfall, payout } = settlement(ctx, t, before.amount, m.granted);
    const entries: Entry[] = [
      { book: book.customer(t.account_id, 'paid'), amount: -before.amount },
      { book: book.cash(t.method), amount: payout },
      { book: book.refundFees, amount: fee },
      { book: book.bonus, amount: shortfall + clawFromGranted },
      { book: book.customer(t.account_id, 'granted'), amount: -clawFromGranted },
    ];
    const txId = await writeTx(ctx.db, q, { kind: 'refund', accountId: t.account_id, memo: input.note ?? null, refType: 'refund', refId: refundId, actor: actorId(ctx.actor), entries, at: now });
    const after: Refund = {
      ...before, status: 'approved', fee, payout, bonus_clawback: clawFromGranted + shortfall, decision_note: input.note ?? null,
      decided_by: actorId(ctx.actor), decided_at: now, tx_id: txId,
    };
    await q.run('UPDATE refunds SET status = ?, fee = ?, payout = ?, bonus_clawback = ?, decision_note = ?, decided_by = ?, decided_at = ?, tx_id = ? WHERE id = ?', [
      'approved', fee, payout, after.bonus_clawback, after.decision_note, after.decided_by, now, txId, refundId,
    ]);
    await q.run('UPDATE topups SET refunded = refunded + ?, bonus_clawed_back = bonus_clawed_back + ? WHERE id = ?', [before.amount, after.bonus_clawback, t.id]);
    await audit(q, ctx.actor, 'refund.approve', { type: 'refund', id: refundId, accountId: t.account_id }, before, after, now);
    return after;
  });
  ctx.bus.balanceChanged(out.account_id);
  return out;
}

export async function rejectRefund(ctx: ServiceContext, refundId: string, raw: unknown): Promise<Refund> {
  requireOperator(ctx.actor);
  const input = parseInput(DecisionInput, raw ?? {});
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const before = await getRefundRow(ctx.db, q, refundId);
    if (before.status === 'rejected') return before;
    if (before.status !== 'pending') throw new AppError('CONFLICT', `The refund is ${before.status}.`);
    const after: Refund = { ...before, status: 'rejected', decision_note: input.note ?? null, decided_by: actorId(ctx.actor), decided_at: now };
    await q.run('UPDATE refunds SET status = ?, decision_note = ?, decided_by = ?, decided_at = ? WHERE id = ?', ['rejected', after.decision_note, after.decided_by, now, refundId]);
    await audit(q, ctx.actor, 'refund.reject', { type: 'refund', id: refundId, accountId: before.account_id }, before, after, now);
    return after;
  });
}

/** How refunds sort. */
export const REFUND_SORT: SortSpec = {
  columns: { created_at: 'created_at', amount: 'amount', status: 'status', account_id: 'account_id', decided_at: 'COALESCE(decided_at, 0)' },
  text: ['status', 'account_id'],
  default: '-created_at',
};

type RefundFilter = { accountId?: string | undefined; status?: string | undefined; limit: number };

export async function listRefunds(ctx: ServiceContext, filter: RefundFilter): Promise<Refund[]> {
  return (await pageRefunds(ctx, filter)).rows;
}

/** Refunds (of an account, or all for operators) in the asked order (default: newest first), a page after the cursor. */
export async function pageRefunds(ctx: ServiceContext, filter: RefundFilter & Sorting): Promise<Paged<Refund>> {
  if (filter.accountId) requireRole(ctx.actor, filter.accountId, 'viewer');
  else requireOperator(ctx.actor);
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (filter.accountId) (where.push('account_id = ?'), params.push(filter.accountId));
  if (filter.status) (where.push('status = ?'), params.push(filter.status));
  const p = await sortedPage(ctx.db, { from: 'refunds', where, params, spec: REFUND_SORT, sort: filter.sort, cursor: filter.cursor, limit: filter.limit });
  return { rows: await Promise.all(p.rows.map((r) => withEstimate(ctx, ctx.db, toRefund(r)))), next_cursor: p.next_cursor };
}

export async function getRefund(ctx: ServiceContext, refundId: string): Promise<Refund> {
  const r = await ctx.db.get('SELECT * FROM refunds WHERE id = ?', [refundId]);
  // Another account's refund answers exactly like a missing one: a key cannot probe for ids.
  if (!r || (ctx.actor.type === 'customer' && ctx.actor.accountId !== r.account_id)) throw new AppError('NOT_FOUND', `refund ${refundId} not found`, { resource: 'refund' });
  requireRole(ctx.actor, str(r.account_id), 'viewer');
  return withEstimate(ctx, ctx.db, toRefund(r));
}
