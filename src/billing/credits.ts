import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { MAX_USD_NANOS, formatUsd } from '../kernel/money.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { idempotent } from '../kernel/idempotency.ts';
import { iso, parseInput, usdAmount } from '../kernel/validation.ts';
import { big, optStr, str, type Queryable, type Row } from '../storage/port.ts';
import { book, lockAccount } from './books.ts';
import { writeTx } from './journal.ts';

// Credits: the one service that grants money into a customer's `granted` bucket for the
// guarantees — compensation for an abnormal charge, reissuance after a platform incident, an SLA
// credit, or an operator's goodwill. Each credit is one journal transaction from `s:credits`
// (negative = given) and one `credits` row pointing at it and at what it is for (ref_type/ref_id,
// e.g. a finding, an incident, an SLA report). Like every money movement it is idempotent: the
// same key with the same payload replays the first credit; with another payload it is a conflict.
// A batch (an incident's reissuance, a period's SLA credits) derives each credit's idempotency key
// from (batch id, account id), and storage refuses a second credit for the same pair: re-running a
// batch never pays an account twice.

export const CREDIT_KINDS = ['compensation', 'reissue', 'sla', 'goodwill'] as const;
export type CreditKind = (typeof CREDIT_KINDS)[number];

export interface Credit {
  id: string;
  account_id: string;
  kind: CreditKind;
  amount: bigint;
  ref_type: string | null;
  ref_id: string | null;
  memo: string | null;
  batch_id: string | null;
  tx_id: string;
  created_by: string;
  created_at: number;
}

function toCredit(r: Row): Credit {
  return {
    id: str(r.id),
    account_id: str(r.account_id),
    kind: str(r.kind) as CreditKind,
    amount: big(r.amount),
    ref_type: optStr(r.ref_type),
    ref_id: optStr(r.ref_id),
    memo: optStr(r.memo),
    batch_id: optStr(r.batch_id),
    tx_id: str(r.tx_id),
    created_by: str(r.created_by),
    created_at: Number(r.created_at),
  };
}

export function creditView(c: Credit): Record<string, unknown> {
  return {
    id: c.id,
    account_id: c.account_id,
    kind: c.kind,
    amount: formatUsd(c.amount),
    ref_type: c.ref_type,
    ref_id: c.ref_id,
    memo: c.memo,
    batch_id: c.batch_id,
    tx_id: c.tx_id,
    created_at: iso(c.created_at),
  };
}

const refFields = {
  amount: z.bigint().positive().max(MAX_USD_NANOS),
  refType: z.string().trim().min(1).max(64).optional(),
  refId: z.string().trim().min(1).max(200).optional(),
  memo: z.string().trim().min(1).max(1000).optional(),
};

const bothOrNeither = (v: { refType?: string | undefined; refId?: string | undefined }, ctx: z.RefinementCtx) => {
  if ((v.refType === undefined) !== (v.refId === undefined)) {
    ctx.addIssue({ code: 'custom', path: [v.refType === undefined ? 'refType' : 'refId'], message: 'refType and refId go together' });
  }
};

export const CreditInput = z
  .object({ accountId: z.string().min(1), kind: z.enum(CREDIT_KINDS), ...refFields })
  .strict()
  .superRefine(bothOrNeither);
export type CreditInput = z.input<typeof CreditInput>;

const BatchInput = z
  .object({
    id: z.string().trim().min(1).max(200),
    kind: z.enum(CREDIT_KINDS),
    credits: z.array(z.object({ accountId: z.string().min(1), ...refFields }).strict().superRefine(bothOrNeither)).min(1).max(100_000),
  })
  .strict();
export type CreditBatch = z.input<typeof BatchInput>;

type Parsed = z.output<typeof CreditInput>;

/** Writes one credit: the account locked, the journal transaction, the credit row, its audit entry. */
async function writeCredit(ctx: ServiceContext, q: Queryable, c: Parsed, batchId: string | null, now: number): Promise<Credit> {
  const m = await lockAccount(ctx.db, q, c.accountId);
  if (m.status === 'closed') throw new AppError('CONFLICT', 'The account is closed.');
  if (batchId !== null) {
    // The idempotency record normally answers first; this holds even without it.
    const paid = await q.get<{ id: string }>('SELECT id FROM credits WHERE batch_id = ? AND account_id = ?', [batchId, c.accountId]);
    if (paid) throw new AppError('CONFLICT', `Account ${c.accountId} was already credited in batch ${batchId} (${paid.id}).`);
  }
  const id = newId('cr', now);
  const txId = await writeTx(ctx.db, q, {
    kind: 'credit',
    accountId: c.accountId,
    memo: c.memo ?? `${c.kind} credit`,
    refType: 'credit',
    refId: id,
    actor: actorId(ctx.actor),
    at: now,
    entries: [
      { book: book.customer(c.accountId, 'granted'), amount: c.amount },
      { book: book.credits, amount: -c.amount },
    ],
  });
  const credit: Credit = {
    id, account_id: c.accountId, kind: c.kind, amount: c.amount, ref_type: c.refType ?? null, ref_id: c.refId ?? null, memo: c.memo ?? null,
    batch_id: batchId, tx_id: txId, created_by: actorId(ctx.actor), created_at: now,
  };
  await q.run(
    'INSERT INTO credits (id, account_id, kind, amount, ref_type, ref_id, memo, batch_id, tx_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [id, c.accountId, c.kind, c.amount, credit.ref_type, credit.ref_id, credit.memo, batchId, txId, credit.created_by, now],
  );
  await audit(q, ctx.actor, 'credit.issue', { type: 'credit', id, accountId: c.accountId }, undefined, credit, now);
  return credit;
}

/**
 * One credit — or a correcting one (a negative amount, from `granted` back to `s:credits`) —
 * inside the caller's transaction, for an engine that records its own rows with the money (an
 * incident's reissuance). The caller makes it exactly-once: `batchId` is derived from stable ids,
 * and storage refuses a second credit for the same batch and account.
 */
export async function creditInTx(ctx: ServiceContext, q: Queryable, c: { accountId: string; kind: CreditKind; amount: bigint; refType?: string; refId?: string; memo?: string }, batchId: string, now: number): Promise<Credit> {
  requireOperator(ctx.actor);
  if (c.amount === 0n || c.amount > MAX_USD_NANOS || c.amount < -MAX_USD_NANOS) throw new AppError('VALIDATION', `amount: a credit or correction is non-zero and at most ${formatUsd(MAX_USD_NANOS)} USD either way`, { field: 'amount' });
  return writeCredit(ctx, q, c, batchId, now);
}

/** Grants one credit (operators and the system's guarantees only). */
export async function issueCredit(ctx: ServiceContext, raw: CreditInput, idempotencyKey: string): Promise<{ credit: Credit; replayed: boolean }> {
  requireOperator(ctx.actor);
  const input = parseInput(CreditInput, raw);
  const now = ctx.now();
  const { result, replayed } = await idempotent(
    ctx.db,
    { scope: `credit:${input.accountId}`, key: idempotencyKey, payload: { op: 'credit', ...input } },
    (q) => writeCredit(ctx, q, input, null, now),
    now,
  );
  ctx.bus.balanceChanged(input.accountId);
  return { credit: result, replayed };
}

/**
 * Grants a batch of credits of one kind, each in its own transaction, each account at most once
 * per batch: its idempotency key is derived from (batch id, account id), so running the batch
 * again replays what was paid and pays only what was not; the same account with another amount
 * is IDEMPOTENCY_CONFLICT. A batch stops at its first error; what it paid stays paid.
 */
export async function issueCreditBatch(ctx: ServiceContext, raw: CreditBatch): Promise<Array<{ credit: Credit; replayed: boolean }>> {
  requireOperator(ctx.actor);
  const batch = parseInput(BatchInput, raw);
  const seen = new Set<string>();
  for (const [i, c] of batch.credits.entries()) {
    if (seen.has(c.accountId)) throw new AppError('VALIDATION', `credits.${i}.accountId: ${c.accountId} appears twice in batch ${batch.id}`, { field: `credits.${i}.accountId` });
    seen.add(c.accountId);
  }
  const out: Array<{ credit: Credit; replayed: boolean }> = [];
  for (const c of batch.credits) {
    const input: Parsed = { ...c, kind: batch.kind };
    const now = ctx.now();
    const r = await idempotent(
      ctx.db,
      { scope: `credit-batch:${batch.id}`, key: c.accountId, payload: { op: 'credit', batch: batch.id, ...input } },
      (q) => writeCredit(ctx, q, input, batch.id, now),
      now,
    );
    ctx.bus.balanceChanged(c.accountId);
    out.push({ credit: r.result, replayed: r.replayed });
  }
  return out;
}

/** An operator's goodwill credit, as the REST API and the CLI take it (USD strings; a memo says why). */
export const GoodwillInput = z
  .object({
    amount: usdAmount(),
    memo: z.string().trim().min(1).max(1000),
    ref_type: z.string().trim().min(1).max(64).optional(),
    ref_id: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

export async function grantGoodwill(ctx: ServiceContext, accountId: string, raw: unknown, idempotencyKey: string): Promise<{ credit: Credit; replayed: boolean }> {
  requireOperator(ctx.actor);
  const b = parseInput(GoodwillInput, raw);
  if ((b.ref_type === undefined) !== (b.ref_id === undefined)) {
    const field = b.ref_type === undefined ? 'ref_type' : 'ref_id';
    throw new AppError('VALIDATION', `${field}: ref_type and ref_id go together`, { field });
  }
  return issueCredit(ctx, { accountId, kind: 'goodwill', amount: b.amount, memo: b.memo, refType: b.ref_type, refId: b.ref_id }, idempotencyKey);
}

/** An account's credits, newest first (paged by id: `before`). */
export async function listCredits(ctx: ServiceContext, accountId: string, opts: { limit: number; before?: string | undefined }): Promise<Credit[]> {
  return (await pageCredits(ctx, accountId, opts)).rows;
}

/** How an account's credits sort. */
export const CREDIT_SORT: SortSpec = {
  columns: { id: 'id', created_at: 'created_at', amount: 'amount', kind: 'kind' },
  text: ['id', 'kind'],
  default: '-id',
};

/** An account's credits in the asked order (default: newest first), a page after the cursor (`before`: the legacy id cursor). */
export async function pageCredits(ctx: ServiceContext, accountId: string, opts: Sorting & { limit: number; before?: string | undefined }): Promise<Paged<Credit>> {
  requireRole(ctx.actor, accountId, 'viewer');
  const where = ['account_id = ?', ...(opts.before ? ['id < ?'] : [])];
  const p = await sortedPage(ctx.db, { from: 'credits', where, params: opts.before ? [accountId, opts.before] : [accountId], spec: CREDIT_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit });
  return { rows: p.rows.map(toCredit), next_cursor: p.next_cursor };
}

/** One credit of an account (another account's is not found). */
export async function getCredit(ctx: ServiceContext, accountId: string, id: string): Promise<Credit> {
  requireRole(ctx.actor, accountId, 'viewer');
  const r = await ctx.db.get('SELECT * FROM credits WHERE id = ? AND account_id = ?', [id, accountId]);
  if (!r) throw new AppError('NOT_FOUND', `credit ${id} not found`, { resource: 'credit' });
  return toCredit(r);
}
