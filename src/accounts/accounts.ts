import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { formatUsd, parseUsd } from '../kernel/money.ts';
import { available, bucketBalances, type SpendOrder } from '../billing/books.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { iso, parseInput, usdAmount } from '../kernel/validation.ts';
import { big, optNum, str, type Queryable, type Row } from '../storage/port.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';

// Accounts: individual or enterprise, with their status, price group, credit line, spending order
// and account-wide rate limits; and the balance view (members are in members.ts).

export type AccountKind = 'individual' | 'enterprise';

export interface Account {
  id: string;
  name: string;
  kind: AccountKind;
  status: 'active' | 'suspended' | 'closed';
  email: string | null;
  group: string;
  credit_line: bigint;
  spend_order: SpendOrder | null;
  rpm: number | null;
  tpm: number | null;
  held: bigint;
  last_topup_at: number | null;
  balance_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export function toAccount(r: Row): Account {
  return {
    id: str(r.id),
    name: str(r.name),
    kind: str(r.kind) as AccountKind,
    status: str(r.status) as Account['status'],
    email: (r.email as string | null) ?? null,
    group: str(r.group_name),
    credit_line: big(r.credit_line),
    spend_order: (r.spend_order as SpendOrder | null) ?? null,
    rpm: optNum(r.rpm),
    tpm: optNum(r.tpm),
    held: big(r.held),
    last_topup_at: optNum(r.last_topup_at),
    balance_expires_at: optNum(r.balance_expires_at),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
  };
}

export function accountView(a: Account): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    kind: a.kind,
    status: a.status,
    email: a.email,
    group: a.group,
    credit_line: formatUsd(a.credit_line),
    spend_order: a.spend_order,
    rpm: a.rpm,
    tpm: a.tpm,
    created_at: iso(a.created_at),
    updated_at: iso(a.updated_at),
  };
}

const name = z.string().trim().min(1).max(200);
const group = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, _ or -');
const spendOrder = z.enum(['granted_first', 'paid_first']);

export const CreateAccountInput = z
  .object({
    name,
    kind: z.enum(['individual', 'enterprise']).default('individual'),
    email: z.email().optional(),
    group: group.optional(),
    credit_line: usdAmount({ allowZero: true }).optional(),
    spend_order: spendOrder.optional(),
    rpm: z.number().int().positive().max(10_000_000).optional(),
    tpm: z.number().int().positive().max(1_000_000_000).optional(),
  })
  .strict();

export const UpdateAccountInput = z
  .object({
    name: name.optional(),
    email: z.email().nullable().optional(),
    status: z.enum(['active', 'suspended', 'closed']).optional(),
    group: group.optional(),
    credit_line: usdAmount({ allowZero: true }).optional(),
    spend_order: spendOrder.nullable().optional(),
    rpm: z.number().int().positive().max(10_000_000).nullable().optional(),
    tpm: z.number().int().positive().max(1_000_000_000).nullable().optional(),
  })
  .strict();

export async function getAccountRow(q: Queryable, id: string): Promise<Account> {
  const r = await q.get('SELECT * FROM accounts WHERE id = ?', [id]);
  if (!r) throw new AppError('NOT_FOUND', `account ${id} not found`, { resource: 'account' });
  return toAccount(r);
}

export async function createAccount(ctx: ServiceContext, raw: unknown): Promise<Account> {
  requireOperator(ctx.actor);
  const input = parseInput(CreateAccountInput, raw);
  const now = ctx.now();
  const account: Account = {
    id: newId('acct', now),
    name: input.name,
    kind: input.kind,
    status: 'active',
    email: input.email ?? null,
    group: input.group ?? 'default',
    credit_line: input.credit_line ?? parseUsd(ctx.config.defaultCreditLine, { allowZero: true }),
    spend_order: input.spend_order ?? null,
    rpm: input.rpm ?? null,
    tpm: input.tpm ?? null,
    held: 0n,
    last_topup_at: null,
    balance_expires_at: null,
    created_at: now,
    updated_at: now,
  };
  await ctx.db.tx(async (q) => {
    await q.run(
      'INSERT INTO accounts (id, name, kind, status, email, group_name, credit_line, spend_order, rpm, tpm, held, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)',
      [account.id, account.name, account.kind, account.status, account.email, account.group, account.credit_line, account.spend_order, account.rpm, account.tpm, now, now],
    );
    await audit(q, ctx.actor, 'account.create', { type: 'account', id: account.id, accountId: account.id }, undefined, account, now);
  });
  return account;
}

export async function updateAccount(ctx: ServiceContext, id: string, raw: unknown): Promise<Account> {
  requireOperator(ctx.actor);
  const input = parseInput(UpdateAccountInput, raw);
  const now = ctx.now();
  const after = await ctx.db.tx(async (q) => {
    const before = await getAccountRow(q, id);
    const next: Account = {
      ...before,
      name: input.name ?? before.name,
      email: input.email === undefined ? before.email : input.email,
      status: input.status ?? before.status,
      group: input.group ?? before.group,
      credit_line: input.credit_line ?? before.credit_line,
      spend_order: input.spend_order === undefined ? before.spend_order : input.spend_order,
      rpm: input.rpm === undefined ? before.rpm : input.rpm,
      tpm: input.tpm === undefined ? before.tpm : input.tpm,
      updated_at: now,
    };
    await q.run('UPDATE accounts SET name = ?, email = ?, status = ?, group_name = ?, credit_line = ?, spend_order = ?, rpm = ?, tpm = ?, updated_at = ? WHERE id = ?', [
      next.name, next.email, next.status, next.group, next.credit_line, next.spend_order, next.rpm, next.tpm, now, id,
    ]);
    await audit(q, ctx.actor, 'account.update', { type: 'account', id, accountId: id }, before, next, now);
    return next;
  });
  ctx.bus.accountChanged(id);
  ctx.bus.balanceChanged(id);
  return after;
}

export async function getAccount(ctx: ServiceContext, id: string): Promise<Account> {
  requireRole(ctx.actor, id, 'viewer');
  return getAccountRow(ctx.db, id);
}

/** How the accounts list sorts (`sort=` of GET /admin/v1/accounts). */
export const ACCOUNT_SORT: SortSpec = {
  columns: { id: 'id', name: 'name', kind: 'kind', status: 'status', email: "COALESCE(email, '')", group: 'group_name', created_at: 'created_at' },
  text: ['id', 'name', 'kind', 'status', 'email', 'group'],
  default: 'id',
};

export async function listAccounts(ctx: ServiceContext, opts: { limit: number; after?: string | undefined }): Promise<Account[]> {
  return (await pageAccounts(ctx, opts)).rows;
}

/** Accounts in the asked order, a page after the cursor (`after`: the legacy id cursor of the default order). */
export async function pageAccounts(ctx: ServiceContext, opts: Sorting & { limit: number; after?: string | undefined }): Promise<Paged<Account>> {
  requireOperator(ctx.actor);
  const where = opts.after ? ['id > ?'] : [];
  const p = await sortedPage(ctx.db, { from: 'accounts', where, params: opts.after ? [opts.after] : [], spec: ACCOUNT_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit });
  return { rows: p.rows.map(toAccount), next_cursor: p.next_cursor };
}

export interface Balance {
  account_id: string;
  paid: bigint;
  granted: bigint;
  held: bigint;
  credit_line: bigint;
  total: bigint;
  available: bigint;
  balance_expires_at: number | null;
}

export async function getBalance(rt: Runtime | ServiceContext, id: string): Promise<Balance> {
  if ('actor' in rt) requireRole(rt.actor, id, 'viewer');
  const a = await getAccountRow(rt.db, id);
  const b = await bucketBalances(rt.db, id);
  const total = b.paid + b.granted;
  return {
    account_id: id,
    paid: b.paid,
    granted: b.granted,
    held: a.held,
    credit_line: a.credit_line,
    total,
    available: available({ balance: total, creditLine: a.credit_line, held: a.held }),
    balance_expires_at: a.balance_expires_at,
  };
}

export function balanceView(b: Balance): Record<string, unknown> {
  return {
    account_id: b.account_id,
    currency: 'USD',
    paid: formatUsd(b.paid),
    granted: formatUsd(b.granted),
    total: formatUsd(b.total),
    held: formatUsd(b.held),
    credit_line: formatUsd(b.credit_line),
    available: formatUsd(b.available),
    balance_expires_at: iso(b.balance_expires_at),
  };
}
