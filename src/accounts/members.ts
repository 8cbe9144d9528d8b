import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { ROLES, type Role, type ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { optNum, str, type Queryable, type Row } from '../storage/port.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { getAccountRow } from './accounts.ts';
import { revokeMemberKeys } from './keys.ts';

// The members of an enterprise account: people with a role (owner, admin, member, viewer) whose
// keys share the account's balance. An account keeps at least one owner; only owners grant or
// take away the owner role.

export interface Member {
  id: string;
  account_id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: number;
  removed_at: number | null;
}

function toMember(r: Row): Member {
  return {
    id: str(r.id),
    account_id: str(r.account_id),
    email: str(r.email),
    name: (r.name as string | null) ?? null,
    role: str(r.role) as Role,
    created_at: Number(r.created_at),
    removed_at: optNum(r.removed_at),
  };
}

export function memberView(m: Member): Record<string, unknown> {
  return { id: m.id, account_id: m.account_id, email: m.email, name: m.name, role: m.role, created_at: iso(m.created_at) };
}

const role = z.enum(ROLES as [Role, ...Role[]]);
export const AddMemberInput = z.object({ email: z.email(), name: z.string().max(200).optional(), role }).strict();
export const UpdateMemberInput = z.object({ role: role.optional(), name: z.string().max(200).optional() }).strict();

/** How an account's members sort. */
export const MEMBER_SORT: SortSpec = {
  columns: { created_at: 'created_at', email: 'email', name: "COALESCE(name, '')", role: 'role' },
  text: ['email', 'name', 'role'],
  default: 'created_at',
};

export async function listMembers(ctx: ServiceContext, accountId: string): Promise<Member[]> {
  return (await pageMembers(ctx, accountId, { limit: 1000 })).rows;
}

/** An account's members in the asked order (default: oldest first), a page after the cursor. */
export async function pageMembers(ctx: ServiceContext, accountId: string, opts: Sorting & { limit: number }): Promise<Paged<Member>> {
  requireRole(ctx.actor, accountId, 'viewer');
  const p = await sortedPage(ctx.db, { from: 'members', where: ['account_id = ?', 'removed_at IS NULL'], params: [accountId], spec: MEMBER_SORT, ...opts });
  return { rows: p.rows.map(toMember), next_cursor: p.next_cursor };
}

export async function getMemberRow(q: Queryable, accountId: string, memberId: string): Promise<Member> {
  const r = await q.get('SELECT * FROM members WHERE id = ? AND account_id = ? AND removed_at IS NULL', [memberId, accountId]);
  if (!r) throw new AppError('NOT_FOUND', `member ${memberId} not found`, { resource: 'member' });
  return toMember(r);
}

/** Only owners may create, promote to, demote from or remove owners. */
function checkOwnerChange(ctx: ServiceContext, touchesOwner: boolean): void {
  if (touchesOwner && ctx.actor.type === 'customer' && ctx.actor.role !== 'owner') {
    throw new AppError('FORBIDDEN', 'Only an owner can grant, change or remove the owner role.');
  }
}

export async function addMember(ctx: ServiceContext, accountId: string, raw: unknown): Promise<Member> {
  requireRole(ctx.actor, accountId, 'admin');
  const input = parseInput(AddMemberInput, raw);
  checkOwnerChange(ctx, input.role === 'owner');
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const account = await getAccountRow(q, accountId);
    if (account.kind !== 'enterprise') throw new AppError('CONFLICT', 'Only enterprise accounts have members.');
    const dup = await q.get('SELECT id FROM members WHERE account_id = ? AND email = ? AND removed_at IS NULL', [accountId, input.email.toLowerCase()]);
    if (dup) throw new AppError('CONFLICT', `${input.email} is already a member of this account.`);
    const m: Member = { id: newId('mem', now), account_id: accountId, email: input.email.toLowerCase(), name: input.name ?? null, role: input.role, created_at: now, removed_at: null };
    await q.run('INSERT INTO members (id, account_id, email, name, role, created_at) VALUES (?, ?, ?, ?, ?, ?)', [m.id, accountId, m.email, m.name, m.role, now]);
    await audit(q, ctx.actor, 'member.add', { type: 'member', id: m.id, accountId }, undefined, m, now);
    return m;
  });
}

async function ownerCount(q: Queryable, accountId: string): Promise<number> {
  const r = await q.get("SELECT COUNT(*) AS n FROM members WHERE account_id = ? AND role = 'owner' AND removed_at IS NULL", [accountId]);
  return Number(r?.n ?? 0);
}

export async function updateMember(ctx: ServiceContext, accountId: string, memberId: string, raw: unknown): Promise<Member> {
  requireRole(ctx.actor, accountId, 'admin');
  const input = parseInput(UpdateMemberInput, raw);
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const before = await getMemberRow(q, accountId, memberId);
    checkOwnerChange(ctx, before.role === 'owner' || input.role === 'owner');
    if (before.role === 'owner' && input.role && input.role !== 'owner' && (await ownerCount(q, accountId)) <= 1) {
      throw new AppError('CONFLICT', 'An enterprise account keeps at least one owner.');
    }
    const after: Member = { ...before, role: input.role ?? before.role, name: input.name ?? before.name };
    await q.run('UPDATE members SET role = ?, name = ? WHERE id = ?', [after.role, after.name, memberId]);
    await audit(q, ctx.actor, 'member.update', { type: 'member', id: memberId, accountId }, before, after, now);
    return after;
  });
  ctx.bus.accountChanged(accountId);
  return out;
}

export async function removeMember(ctx: ServiceContext, accountId: string, memberId: string): Promise<void> {
  requireRole(ctx.actor, accountId, 'admin');
  const now = ctx.now();
  const revoked = await ctx.db.tx(async (q) => {
    const before = await getMemberRow(q, accountId, memberId);
    checkOwnerChange(ctx, before.role === 'owner');
    if (before.role === 'owner' && (await ownerCount(q, accountId)) <= 1) throw new AppError('CONFLICT', 'An enterprise account keeps at least one owner.');
    await q.run('UPDATE members SET removed_at = ? WHERE id = ?', [now, memberId]);
    // A removed member's keys stop working with them, revoked as any key is (audit entry each).
    const keys = await revokeMemberKeys(ctx, q, accountId, memberId, now);
    await audit(q, ctx.actor, 'member.remove', { type: 'member', id: memberId, accountId }, before, { ...before, removed_at: now, keys_revoked: keys }, now);
    return keys;
  });
  for (const k of revoked) ctx.bus.keyChanged(k);
  ctx.bus.accountChanged(accountId);
}

