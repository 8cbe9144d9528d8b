import { randomBytes } from 'node:crypto';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId, sha256Hex } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { iso, isoTime, parseInput, requireFuture, usdAmount } from '../kernel/validation.ts';
import { big, optNum, str } from '../storage/port.ts';
import { book, lockAccount, type Bucket } from './books.ts';
import { RedemptionThrottle } from './redemption-throttle.ts';
import { writeTopup, type Topup } from './topups.ts';

// Redemption codes: generated in batches (shown once, stored hashed), each redeemed once.
// Redeeming is a top-up with method `redemption_code`; it is never refundable to cash.

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I

function newCode(): string {
  const bytes = randomBytes(16);
  let s = '';
  for (const b of bytes) s += ALPHABET[b & 31];
  return `SR-${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}`;
}

/** Codes are compared case- and dash-insensitively. */
function normalise(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

export const CreateBatchInput = z
  .object({
    count: z.number().int().min(1).max(10_000),
    amount: usdAmount(),
    expires_at: isoTime.optional(),
    bucket: z.enum(['paid', 'granted']).default('paid'),
    note: z.string().max(1000).optional(),
  })
  .strict();

export interface Batch {
  id: string;
  amount: bigint;
  count: number;
  expires_at: number | null;
  bucket: Bucket;
  note: string | null;
  created_at: number;
}

export async function createRedemptionBatch(ctx: ServiceContext, raw: unknown): Promise<{ batch: Batch; codes: string[] }> {
  requireOperator(ctx.actor);
  const input = parseInput(CreateBatchInput, raw);
  const now = ctx.now();
  requireFuture('expires_at', input.expires_at, now);
  const batch: Batch = { id: newId('rcb', now), amount: input.amount, count: input.count, expires_at: input.expires_at ?? null, bucket: input.bucket, note: input.note ?? null, created_at: now };
  const codes: string[] = [];
  await ctx.db.tx(async (q) => {
    await q.run('INSERT INTO redemption_batches (id, amount, count, expires_at, bucket, note, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      batch.id, batch.amount, batch.count, batch.expires_at, batch.bucket, batch.note, actorId(ctx.actor), now,
    ]);
    for (let i = 0; i < input.count; i++) {
      const code = newCode();
      codes.push(code);
      await q.run('INSERT INTO redemption_codes (id, batch_id, hash, hint, amount, expires_at) VALUES (?, ?, ?, ?, ?, ?)', [
        newId('rc', now), batch.id, sha256Hex(normalise(code)), code.slice(-4), batch.amount, batch.expires_at,
      ]);
    }
    await audit(q, ctx.actor, 'redemption_batch.create', { type: 'redemption_batch', id: batch.id }, undefined, batch, now);
  });
  return { batch, codes };
}

export function batchView(b: Batch, redeemed = 0): Record<string, unknown> {
  return { id: b.id, amount: formatUsd(b.amount), count: b.count, redeemed, expires_at: iso(b.expires_at), bucket: b.bucket, note: b.note, created_at: iso(b.created_at) };
}

/** How redemption batches sort. */
export const BATCH_SORT: SortSpec = {
  columns: { id: 'id', created_at: 'created_at', amount: 'amount', count: 'count', redeemed: 'redeemed', expires_at: 'COALESCE(expires_at, 0)' },
  text: ['id'],
  default: '-id',
};

/** Redemption batches, newest first (paged by id: `before`), each with how many of its codes were redeemed. */
export async function listRedemptionBatches(ctx: ServiceContext, opts: { limit: number; before?: string | undefined }): Promise<Array<{ batch: Batch; redeemed: number }>> {
  return (await pageRedemptionBatches(ctx, opts)).rows;
}

/** Redemption batches in the asked order (default: newest first), a page after the cursor. */
export async function pageRedemptionBatches(ctx: ServiceContext, opts: Sorting & { limit: number; before?: string | undefined }): Promise<Paged<{ batch: Batch; redeemed: number }>> {
  requireOperator(ctx.actor);
  const from = `(SELECT b.*, (SELECT COUNT(*) FROM redemption_codes c WHERE c.batch_id = b.id AND c.redeemed_by IS NOT NULL) AS redeemed FROM redemption_batches b) rb`;
  const p = await sortedPage(ctx.db, { from, where: opts.before ? ['id < ?'] : [], params: opts.before ? [opts.before] : [], spec: BATCH_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit });
  const rows = p.rows.map((r) => ({
    batch: {
      id: str(r.id), amount: big(r.amount), count: Number(r.count), expires_at: optNum(r.expires_at), bucket: str(r.bucket) as Bucket,
      note: (r.note as string | null) ?? null, created_at: Number(r.created_at),
    },
    redeemed: Number(r.redeemed),
  }));
  return { rows, next_cursor: p.next_cursor };
}

export async function listBatchCodes(ctx: ServiceContext, batchId: string): Promise<Array<Record<string, unknown>>> {
  requireOperator(ctx.actor);
  const rows = await ctx.db.all('SELECT * FROM redemption_codes WHERE batch_id = ? ORDER BY id', [batchId]);
  if (rows.length === 0) throw new AppError('NOT_FOUND', `batch ${batchId} not found`, { resource: 'redemption_batch' });
  return rows.map((r) => ({
    id: str(r.id),
    hint: `…${str(r.hint)}`,
    amount: formatUsd(big(r.amount)),
    expires_at: iso(optNum(r.expires_at)),
    redeemed_by: (r.redeemed_by as string | null) ?? null,
    redeemed_at: iso(optNum(r.redeemed_at)),
  }));
}

/** Where a redemption comes from, for the throttle of failed attempts (customer requests). */
export interface RedeemGuard {
  throttle: RedemptionThrottle;
  ip: string | null;
}

/**
 * Redeems a code into an account. The conditional UPDATE is the guard: of any number of
 * concurrent redemptions of one code exactly one changes the row; the rest see it redeemed.
 * With a guard, failed attempts (unknown, used or expired codes) count against the account and
 * the client's address, and too many refuse further attempts (redemption-throttle.ts).
 */
export async function redeemCode(ctx: ServiceContext, accountId: string, code: string, guard?: RedeemGuard): Promise<Topup> {
  requireRole(ctx.actor, accountId, 'member');
  const now = ctx.now();
  const subjects = RedemptionThrottle.subjects(accountId, guard?.ip ?? null);
  await guard?.throttle.check(subjects, now);
  if (typeof code !== 'string' || normalise(code).length < 8) throw new AppError('VALIDATION', 'code: must be a redemption code like SR-XXXX-XXXX-XXXX-XXXX', { field: 'code' });
  try {
    return await redeem(ctx, accountId, code, now);
  } catch (e) {
    if (guard && e instanceof AppError && e.code.startsWith('REDEMPTION_CODE_')) await guard.throttle.failed(subjects, now);
    throw e;
  }
}

async function redeem(ctx: ServiceContext, accountId: string, code: string, now: number): Promise<Topup> {
  const hash = sha256Hex(normalise(code));
  const topup = await ctx.db.tx(async (q) => {
    await lockAccount(ctx.db, q, accountId);
    const r = await q.get(
      `SELECT c.id, c.amount, c.expires_at, c.redeemed_by, b.bucket, b.id AS batch_id FROM redemption_codes c JOIN redemption_batches b ON b.id = c.batch_id WHERE c.hash = ?`,
      [hash],
    );
    if (!r) throw new AppError('REDEMPTION_CODE_INVALID');
    if (r.redeemed_by) throw new AppError('REDEMPTION_CODE_USED');
    const exp = optNum(r.expires_at);
    if (exp !== null && exp <= now) throw new AppError('REDEMPTION_CODE_EXPIRED');
    const claimed = await q.run('UPDATE redemption_codes SET redeemed_by = ?, redeemed_at = ? WHERE id = ? AND redeemed_by IS NULL', [accountId, now, str(r.id)]);
    if (claimed.changes !== 1) throw new AppError('REDEMPTION_CODE_USED');
    const t = await writeTopup(
      ctx,
      q,
      actorId(ctx.actor),
      {
        id: newId('top', now),
        account_id: accountId,
        method: 'redemption_code',
        amount: big(r.amount),
        bonus: 0n,
        reference: `code …${code.slice(-4)}`,
        contract_number: null,
        invoiced: false,
        refundable: false,
        redemption_code_id: str(r.id),
        note: `batch ${str(r.batch_id)}`,
        created_at: now,
      },
      str(r.bucket) as Bucket,
      book.redemption,
    );
    await q.run('UPDATE redemption_codes SET topup_id = ? WHERE id = ?', [t.id, str(r.id)]);
    await audit(q, ctx.actor, 'redemption_code.redeem', { type: 'redemption_code', id: str(r.id), accountId }, undefined, t, now);
    return t;
  });
  ctx.bus.balanceChanged(accountId);
  return topup;
}
