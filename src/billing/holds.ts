import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { idempotent } from '../kernel/idempotency.ts';
import { big, optNum, str, type Queryable, type Row } from '../storage/port.ts';
import { getKeyRow } from '../accounts/keys.ts';
import { available, chargeEntries, lockAccount } from './books.ts';
import { writeTx } from './journal.ts';

// Two-phase spending: reserve (hold) → post part or all → or void. An open hold counts against
// the balance; a hold that outlives its TTL is voided by the sweeper and never charged.

export type HoldStatus = 'open' | 'posted' | 'voided' | 'expired';

export interface Hold {
  id: string;
  account_id: string;
  key_id: string | null;
  amount: bigint;
  posted: bigint;
  status: HoldStatus;
  reference: string | null;
  created_at: number;
  expires_at: number;
  settled_at: number | null;
  tx_id: string | null;
}

function toHold(r: Row): Hold {
  return {
    id: str(r.id),
    account_id: str(r.account_id),
    key_id: (r.key_id as string | null) ?? null,
    amount: big(r.amount),
    posted: big(r.posted),
    status: str(r.status) as HoldStatus,
    reference: (r.reference as string | null) ?? null,
    created_at: Number(r.created_at),
    expires_at: Number(r.expires_at),
    settled_at: optNum(r.settled_at),
    tx_id: (r.tx_id as string | null) ?? null,
  };
}

export const CreateHoldInput = z
  .object({
    amount: z.bigint().positive(),
    ttl_seconds: z.number().int().min(1).max(86_400).optional(),
    key_id: z.string().optional(),
    reference: z.string().max(200).optional(),
  })
  .strict();

export async function createHold(ctx: ServiceContext, accountId: string, input: z.infer<typeof CreateHoldInput>, idempotencyKey: string): Promise<Hold> {
  const now = ctx.now();
  const ttl = input.ttl_seconds ?? ctx.config.holdTtlSeconds;
  const { result } = await idempotent(ctx.db, { scope: `hold:${accountId}`, key: idempotencyKey, payload: { op: 'hold', accountId, ...input } }, async (q) => {
    const m = await lockAccount(ctx.db, q, accountId);
    if (m.status !== 'active') throw new AppError('ACCOUNT_SUSPENDED');
    // The key a hold is attributed to is one of the account's own (another's answers as missing).
    if (input.key_id !== undefined) await getKeyRow(q, accountId, input.key_id);
    if (input.amount > available(m)) {
      throw new AppError('INSUFFICIENT_BALANCE', `The account can commit ${formatUsd(available(m) > 0n ? available(m) : 0n)} USD; the hold needs ${formatUsd(input.amount)} USD.`);
    }
    const hold: Hold = {
      id: newId('hold', now),
      account_id: accountId,
      key_id: input.key_id ?? null,
      amount: input.amount,
      posted: 0n,
      status: 'open',
      reference: input.reference ?? null,
      created_at: now,
      expires_at: now + ttl * 1000,
      settled_at: null,
      tx_id: null,
    };
    await q.run('INSERT INTO holds (id, account_id, key_id, amount, posted, status, reference, created_at, expires_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)', [
      hold.id, accountId, hold.key_id, hold.amount, 'open', hold.reference, now, hold.expires_at,
    ]);
    await q.run('UPDATE accounts SET held = held + ?, updated_at = ? WHERE id = ?', [hold.amount, now, accountId]);
    await audit(q, ctx.actor, 'hold.create', { type: 'hold', id: hold.id, accountId }, undefined, hold, now);
    return hold;
  }, now);
  ctx.bus.balanceChanged(accountId);
  return result;
}

async function loadHold(ctx: ServiceContext, q: Queryable, holdId: string): Promise<Hold> {
  const r = await q.get(`SELECT * FROM holds WHERE id = ?${ctx.db.forUpdate}`, [holdId]);
  if (!r) throw new AppError('NOT_FOUND', `hold ${holdId} not found`, { resource: 'hold' });
  return toHold(r);
}

/**
 * Posts part or all of an open hold as a usage charge; the rest of the hold is released.
 *
 * Read, lock, read again: the hold is first read only to learn its account; the account is locked
 * (accounts are always locked first, see books.ts); then the hold is read again under that lock,
 * because another post or void may have settled it between the two reads.
 */
export async function postHold(ctx: ServiceContext, holdId: string, amount: bigint, idempotencyKey: string, accountScope?: string): Promise<Hold> {
  const now = ctx.now();
  const { result } = await idempotent(ctx.db, { scope: `hold-post:${holdId}`, key: idempotencyKey, payload: { op: 'post', holdId, amount } }, async (q) => {
    const peek = await loadHold(ctx, q, holdId);
    if (accountScope && peek.account_id !== accountScope) throw new AppError('NOT_FOUND', `hold ${holdId} not found`, { resource: 'hold' });
    const m = await lockAccount(ctx.db, q, peek.account_id);
    const hold = await loadHold(ctx, q, holdId);
    if (hold.status !== 'open' || hold.expires_at <= now) throw new AppError('HOLD_NOT_OPEN', `hold ${holdId} is ${hold.status === 'open' ? 'expired' : hold.status}`);
    // The hold is the cap: only the reserved amount was checked against `available` when the hold
    // was made, so posting more could take the account past its credit line.
    if (amount < 0n || amount > hold.amount) throw new AppError('HOLD_EXCEEDED', `post amount ${formatUsd(amount)} exceeds the hold of ${formatUsd(hold.amount)}`);
    let txId: string | null = null;
    if (amount > 0n) {
      txId = await writeTx(ctx.db, q, {
        kind: 'charge',
        accountId: hold.account_id,
        memo: hold.reference,
        refType: 'hold',
        refId: hold.id,
        actor: actorId(ctx.actor),
        entries: chargeEntries(hold.account_id, amount, m, m.spendOrder ?? ctx.config.spendOrder),
        at: now,
      });
    }
    await q.run("UPDATE holds SET status = 'posted', posted = ?, settled_at = ?, tx_id = ? WHERE id = ?", [amount, now, txId, holdId]);
    await q.run('UPDATE accounts SET held = held - ?, updated_at = ? WHERE id = ?', [hold.amount, now, hold.account_id]);
    const after: Hold = { ...hold, status: 'posted', posted: amount, settled_at: now, tx_id: txId };
    await audit(q, ctx.actor, 'hold.post', { type: 'hold', id: holdId, accountId: hold.account_id }, hold, after, now);
    return after;
  }, now);
  ctx.bus.balanceChanged(result.account_id);
  return result;
}

/** Releases an open hold without charging anything (read, lock, read again as postHold). Voiding a voided hold returns it unchanged. */
export async function voidHold(ctx: ServiceContext, holdId: string, accountScope?: string): Promise<Hold> {
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const peek = await loadHold(ctx, q, holdId);
    if (accountScope && peek.account_id !== accountScope) throw new AppError('NOT_FOUND', `hold ${holdId} not found`, { resource: 'hold' });
    await lockAccount(ctx.db, q, peek.account_id);
    const hold = await loadHold(ctx, q, holdId);
    if (hold.status === 'voided' || hold.status === 'expired') return hold;
    if (hold.status !== 'open') throw new AppError('HOLD_NOT_OPEN', `hold ${holdId} is ${hold.status}`);
    await q.run("UPDATE holds SET status = 'voided', settled_at = ? WHERE id = ?", [now, holdId]);
    await q.run('UPDATE accounts SET held = held - ?, updated_at = ? WHERE id = ?', [hold.amount, now, hold.account_id]);
    const after: Hold = { ...hold, status: 'voided', settled_at: now };
    await audit(q, ctx.actor, 'hold.void', { type: 'hold', id: holdId, accountId: hold.account_id }, hold, after, now);
    return after;
  });
  ctx.bus.balanceChanged(out.account_id);
  return out;
}

export async function getHold(rt: Runtime, holdId: string, accountScope?: string): Promise<Hold> {
  const r = await rt.db.get('SELECT * FROM holds WHERE id = ?', [holdId]);
  if (!r || (accountScope && r.account_id !== accountScope)) throw new AppError('NOT_FOUND', `hold ${holdId} not found`, { resource: 'hold' });
  return toHold(r);
}

/** Voids every open hold past its TTL (status `expired`). Returns how many it released. */
export async function expireHolds(rt: Runtime, now = rt.now()): Promise<number> {
  const accounts = new Set<string>();
  const n = await rt.db.tx(async (q) => {
    const rows = await q.all(`SELECT id, account_id, amount FROM holds WHERE status = 'open' AND expires_at <= ?${rt.db.forUpdate}`, [now]);
    for (const r of rows) {
      await q.run("UPDATE holds SET status = 'expired', settled_at = ? WHERE id = ? AND status = 'open'", [now, r.id as string]);
      await q.run('UPDATE accounts SET held = held - ?, updated_at = ? WHERE id = ?', [big(r.amount), now, r.account_id as string]);
      accounts.add(str(r.account_id));
    }
    return rows.length;
  });
  for (const a of accounts) rt.bus.balanceChanged(a);
  return n;
}

export function holdView(h: Hold): Record<string, unknown> {
  return {
    id: h.id,
    account_id: h.account_id,
    key_id: h.key_id,
    amount: formatUsd(h.amount),
    posted: formatUsd(h.posted),
    status: h.status,
    reference: h.reference,
    created_at: new Date(h.created_at).toISOString(),
    expires_at: new Date(h.expires_at).toISOString(),
    settled_at: h.settled_at === null ? null : new Date(h.settled_at).toISOString(),
    tx_id: h.tx_id,
  };
}

