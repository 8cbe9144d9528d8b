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
import { big, str, type Queryable, type Row } from '../storage/port.ts';
import { CASH_METHODS, book, lockAccount, type Bucket } from './books.ts';
import { writeTx, type Entry } from './journal.ts';

export const PAYMENT_METHODS = CASH_METHODS;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number] | 'redemption_code';

export interface Topup {
  id: string;
  account_id: string;
  method: PaymentMethod;
  amount: bigint;
  bonus: bigint;
  reference: string | null;
  contract_number: string | null;
  invoiced: boolean;
  refundable: boolean;
  refunded: bigint;
  bonus_clawed_back: bigint;
  redemption_code_id: string | null;
  note: string | null;
  tx_id: string;
  created_by: string;
  created_at: number;
}

export function toTopup(r: Row): Topup {
  return {
    id: str(r.id),
    account_id: str(r.account_id),
    method: str(r.method) as PaymentMethod,
    amount: big(r.amount),
    bonus: big(r.bonus),
    reference: (r.reference as string | null) ?? null,
    contract_number: (r.contract_number as string | null) ?? null,
    invoiced: big(r.invoiced) === 1n,
    refundable: big(r.refundable) === 1n,
    refunded: big(r.refunded),
    bonus_clawed_back: big(r.bonus_clawed_back),
    redemption_code_id: (r.redemption_code_id as string | null) ?? null,
    note: (r.note as string | null) ?? null,
    tx_id: str(r.tx_id),
    created_by: str(r.created_by),
    created_at: Number(r.created_at),
  };
}

export function topupView(t: Topup): Record<string, unknown> {
  return {
    id: t.id,
    account_id: t.account_id,
    method: t.method,
    amount: formatUsd(t.amount),
    bonus: formatUsd(t.bonus),
    reference: t.reference,
    contract_number: t.contract_number,
    invoiced: t.invoiced,
    refundable: t.refundable,
    refunded: formatUsd(t.refunded),
    bonus_clawed_back: formatUsd(t.bonus_clawed_back),
    note: t.note,
    tx_id: t.tx_id,
    created_at: iso(t.created_at),
  };
}

export const TopupInput = z
  .object({
    amount: usdAmount(),
    method: z.enum(PAYMENT_METHODS),
    reference: z.string().trim().min(1).max(200).optional(),
    contract_number: z.string().trim().min(1).max(200).optional(),
    bonus: usdAmount({ allowZero: true }).optional(),
    invoiced: z.boolean().optional(),
    refundable: z.boolean().optional(),
    note: z.string().max(1000).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.method === 'bank_transfer' && !v.reference) ctx.addIssue({ code: 'custom', path: ['reference'], message: 'is required for bank transfers (the bank reference)' });
  });

/** Sets last top-up time and, when balance expiry is on, the new expiry. */
async function touchTopupTimes(rt: Runtime, q: Queryable, accountId: string, now: number): Promise<void> {
  const days = rt.config.balanceExpiryDays;
  await q.run('UPDATE accounts SET last_topup_at = ?, balance_expires_at = ?, updated_at = ? WHERE id = ?', [
    now, days > 0 ? now + days * 86_400_000 : null, now, accountId,
  ]);
}

/** Shared by operator top-ups and code redemptions: the payment, its bonus, one journal transaction. */
export async function writeTopup(
  rt: Runtime,
  q: Queryable,
  actor: string,
  t: Omit<Topup, 'tx_id' | 'refunded' | 'bonus_clawed_back' | 'created_by'>,
  creditBucket: Bucket,
  source: string,
): Promise<Topup> {
  const entries: Entry[] = [
    { book: book.customer(t.account_id, creditBucket), amount: t.amount },
    { book: source, amount: -t.amount },
  ];
  if (t.bonus > 0n) entries.push({ book: book.customer(t.account_id, 'granted'), amount: t.bonus }, { book: book.bonus, amount: -t.bonus });
  const txId = await writeTx(rt.db, q, { kind: 'topup', accountId: t.account_id, memo: t.reference, refType: 'topup', refId: t.id, actor, entries, at: t.created_at });
  const full: Topup = { ...t, tx_id: txId, refunded: 0n, bonus_clawed_back: 0n, created_by: actor };
  await q.run(
    `INSERT INTO topups (id, account_id, method, amount, bonus, reference, contract_number, invoiced, refundable, redemption_code_id, note, tx_id, created_by, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [full.id, full.account_id, full.method, full.amount, full.bonus, full.reference, full.contract_number, full.invoiced ? 1 : 0, full.refundable ? 1 : 0, full.redemption_code_id, full.note, txId, actor, full.created_at],
  );
  await touchTopupTimes(rt, q, t.account_id, t.created_at);
  return full;
}

/** An operator records a payment received (and an optional bonus into `granted`). */
export async function recordTopup(ctx: ServiceContext, accountId: string, raw: unknown, idempotencyKey: string): Promise<{ topup: Topup; replayed: boolean }> {
  requireOperator(ctx.actor);
  const input = parseInput(TopupInput, raw);
  const now = ctx.now();
  const { result, replayed } = await idempotent(ctx.db, { scope: `topup:${accountId}`, key: idempotencyKey, payload: { accountId, ...input } }, async (q) => {
    const m = await lockAccount(ctx.db, q, accountId);
    if (m.status === 'closed') throw new AppError('CONFLICT', 'The account is closed.');
    const topup = await writeTopup(
      ctx,
      q,
      actorId(ctx.actor),
      {
        id: newId('top', now),
        account_id: accountId,
        method: input.method,
        amount: input.amount,
        bonus: input.bonus ?? 0n,
        reference: input.reference ?? null,
        contract_number: input.contract_number ?? null,
        invoiced: input.invoiced ?? false,
        // Invoiced top-ups are non-refundable unless the operator says otherwise.
        refundable: input.refundable ?? !(input.invoiced ?? false),
        redemption_code_id: null,
        note: input.note ?? null,
        created_at: now,
      },
      'paid',
      book.cash(input.method),
    );
    await audit(q, ctx.actor, 'topup.record', { type: 'topup', id: topup.id, accountId }, undefined, topup, now);
    return topup;
  }, now);
  ctx.bus.balanceChanged(accountId);
  return { topup: result, replayed };
}

/** How an account's top-ups sort. */
export const TOPUP_SORT: SortSpec = {
  columns: { created_at: 'created_at', amount: 'amount', bonus: 'bonus', refunded: 'refunded', method: 'method' },
  text: ['method'],
  default: '-created_at',
};

export async function listTopups(ctx: ServiceContext, accountId: string, limit = 100): Promise<Topup[]> {
  return (await pageTopups(ctx, accountId, { limit })).rows;
}

/** An account's top-ups in the asked order (default: newest first), a page after the cursor. */
export async function pageTopups(ctx: ServiceContext, accountId: string, opts: Sorting & { limit: number }): Promise<Paged<Topup>> {
  requireRole(ctx.actor, accountId, 'viewer');
  const p = await sortedPage(ctx.db, { from: 'topups', where: ['account_id = ?'], params: [accountId], spec: TOPUP_SORT, ...opts });
  return { rows: p.rows.map(toTopup), next_cursor: p.next_cursor };
}

export async function getTopupRow(q: Queryable, id: string, forUpdate = ''): Promise<Topup> {
  const r = await q.get(`SELECT * FROM topups WHERE id = ?${forUpdate}`, [id]);
  if (!r) throw new AppError('NOT_FOUND', `top-up ${id} not found`, { resource: 'topup' });
  return toTopup(r);
}

/**
 * Balance expiry (off unless SURETY_BALANCE_EXPIRY_DAYS > 0): an account with no top-up for that
 * many days loses its remaining balance to `s:expired`, granted first. Money held by open holds
 * stays so those requests can still settle.
 */
export async function expireBalances(rt: Runtime, now = rt.now()): Promise<number> {
  const due = await rt.db.all<{ id: string }>('SELECT id FROM accounts WHERE balance_expires_at IS NOT NULL AND balance_expires_at <= ?', [now]);
  let n = 0;
  for (const { id } of due) {
    const outcome = await rt.db.tx(async (q): Promise<'skipped' | 'expired' | 'empty'> => {
      const m = await lockAccount(rt.db, q, id);
      // Look again under the lock: a top-up since the scan has started a new expiry period.
      const still = await q.get('SELECT id FROM accounts WHERE id = ? AND balance_expires_at IS NOT NULL AND balance_expires_at <= ?', [id, now]);
      if (!still) return 'skipped';
      const paid = m.paid > 0n ? m.paid : 0n;
      const granted = m.granted > 0n ? m.granted : 0n;
      let expire = paid + granted - m.held;
      if (expire > 0n) {
        const fromGranted = expire < granted ? expire : granted;
        const fromPaid = expire - fromGranted;
        await writeTx(rt.db, q, {
          kind: 'expiry',
          accountId: id,
          memo: 'balance expired',
          actor: 'system:expiry',
          at: now,
          entries: [
            { book: book.customer(id, 'granted'), amount: -fromGranted },
            { book: book.customer(id, 'paid'), amount: -fromPaid },
            { book: book.expired, amount: expire },
          ],
        });
      } else expire = 0n;
      await q.run('UPDATE accounts SET balance_expires_at = NULL, updated_at = ? WHERE id = ?', [now, id]);
      await audit(q, { type: 'system', id: 'expiry' }, 'balance.expire', { type: 'account', id, accountId: id }, { paid: m.paid, granted: m.granted }, { expired: expire }, now);
      return expire > 0n ? 'expired' : 'empty';
    });
    // Counted here, not inside the transaction, which PostgreSQL may retry.
    if (outcome === 'expired') n++;
    if (outcome !== 'skipped') rt.bus.balanceChanged(id);
  }
  return n;
}

