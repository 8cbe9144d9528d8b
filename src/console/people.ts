import { z } from 'zod';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { AppError } from '../kernel/errors.ts';
import { newId, secretToken, sha256Hex } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import type { ServiceContext } from '../kernel/context.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { optNum, str, type Row } from '../storage/port.ts';
import { getMemberRow } from '../accounts/members.ts';
import { hashPassword, PASSWORD_MAX } from './passwords.ts';
import type { ConsoleSessions } from './sessions.ts';

// The people who sign in with a password: operator accounts (created by an operator — the first
// one with the operator key), and members of customer accounts, whose password is set by an
// admin or through an invitation link (valid INVITATION_TTL_MS, used once; only its hash is kept).

export const INVITATION_TTL_MS = 7 * 24 * 3600_000;

const password = z.string().max(PASSWORD_MAX);
export const OperatorInput = z.object({ email: z.email(), name: z.string().max(200).optional(), password }).strict();
export const PasswordInput = z.object({ password }).strict();
export const AcceptInvitationInput = z.object({ token: z.string().min(1).max(200), password }).strict();

export function operatorView(r: Row): Record<string, unknown> {
  return { id: str(r.id), email: str(r.email), name: (r.name as string | null) ?? null, created_by: str(r.created_by), created_at: iso(Number(r.created_at)), disabled_at: iso(optNum(r.disabled_at)) };
}

export async function createOperatorAccount(ctx: ServiceContext, raw: unknown): Promise<Record<string, unknown>> {
  requireOperator(ctx.actor);
  const input = parseInput(OperatorInput, raw);
  const hash = await hashPassword(input.password);
  const now = ctx.now();
  const email = input.email.toLowerCase();
  return ctx.db.tx(async (q) => {
    if (await q.get('SELECT id FROM operator_accounts WHERE email = ?', [email])) throw new AppError('CONFLICT', `An operator account with ${email} exists.`);
    const id = newId('opr', now);
    const createdBy = ctx.actor.type === 'operator' ? ctx.actor.id : 'system';
    await q.run('INSERT INTO operator_accounts (id, email, name, password_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)', [id, email, input.name ?? null, hash, createdBy, now]);
    const view = { id, email, name: input.name ?? null, created_by: createdBy, created_at: iso(now), disabled_at: null };
    await audit(q, ctx.actor, 'operator_account.create', { type: 'operator_account', id }, undefined, view, now);
    return view;
  });
}

/** How operator accounts sort. */
export const OPERATOR_SORT: SortSpec = {
  columns: { created_at: 'created_at', email: 'email', name: "COALESCE(name, '')", disabled_at: 'COALESCE(disabled_at, 0)' },
  text: ['email', 'name'],
  default: 'created_at',
};

/** Operator accounts in the asked order (default: oldest first), a page after the cursor. */
export async function listOperatorAccounts(ctx: ServiceContext, opts: Sorting & { limit?: number | undefined } = {}): Promise<Paged<Record<string, unknown>>> {
  requireOperator(ctx.actor);
  const p = await sortedPage(ctx.db, { from: 'operator_accounts', where: [], params: [], spec: OPERATOR_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit ?? 1000 });
  return { rows: p.rows.map(operatorView), next_cursor: p.next_cursor };
}

/** Disables an operator account; its sessions end at once. An operator cannot disable their own. */
export async function disableOperatorAccount(ctx: ServiceContext, sessions: ConsoleSessions, id: string): Promise<Record<string, unknown>> {
  requireOperator(ctx.actor);
  if (ctx.actor.type === 'operator' && ctx.actor.id === id) throw new AppError('CONFLICT', 'You cannot disable the account you are signed in with.');
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const before = await q.get('SELECT * FROM operator_accounts WHERE id = ?', [id]);
    if (!before) throw new AppError('NOT_FOUND', `operator account ${id} not found`, { resource: 'operator_account' });
    await q.run('UPDATE operator_accounts SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?', [now, id]);
    await sessions.endFor(q, { operatorId: id }, now);
    const after = { ...operatorView(before), disabled_at: iso(optNum(before.disabled_at) ?? now) };
    await audit(q, ctx.actor, 'operator_account.disable', { type: 'operator_account', id }, operatorView(before), after, now);
    return after;
  });
}

/** Sets a member's password: an admin of the account, an operator, or the member themself. Their other sessions end. */
export async function setMemberPassword(ctx: ServiceContext, sessions: ConsoleSessions, accountId: string, memberId: string, raw: unknown): Promise<void> {
  const self = ctx.actor.type === 'customer' && ctx.actor.accountId === accountId && ctx.actor.memberId === memberId;
  if (!self) requireRole(ctx.actor, accountId, 'admin');
  const input = parseInput(PasswordInput, raw);
  const hash = await hashPassword(input.password);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    const m = await getMemberRow(q, accountId, memberId);
    if (m.role === 'owner' && !self && ctx.actor.type === 'customer' && ctx.actor.role !== 'owner') throw new AppError('FORBIDDEN', "Only an owner can set an owner's password.");
    await q.run('DELETE FROM member_passwords WHERE member_id = ?', [memberId]);
    await q.run('INSERT INTO member_passwords (member_id, hash, updated_at) VALUES (?, ?, ?)', [memberId, hash, now]);
    await sessions.endFor(q, { memberId }, now);
    await audit(q, ctx.actor, 'member.password_set', { type: 'member', id: memberId, accountId }, undefined, { member_id: memberId }, now);
  });
}

/** An invitation link for a member to set their password; the token is returned once. */
export async function createInvitation(ctx: ServiceContext, accountId: string, memberId: string): Promise<{ token: string; expires_at: string | null; member_id: string }> {
  requireRole(ctx.actor, accountId, 'admin');
  const now = ctx.now();
  const token = secretToken(40);
  await ctx.db.tx(async (q) => {
    const m = await getMemberRow(q, accountId, memberId);
    if (m.role === 'owner' && ctx.actor.type === 'customer' && ctx.actor.role !== 'owner') throw new AppError('FORBIDDEN', 'Only an owner can invite an owner.');
    const id = newId('inv', now);
    const by = ctx.actor.type === 'customer' ? (ctx.actor.memberId ?? ctx.actor.keyId ?? '') : ctx.actor.id;
    await q.run('INSERT INTO console_invitations (id, token_hash, account_id, member_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [id, sha256Hex(token), accountId, memberId, by, now, now + INVITATION_TTL_MS]);
    await audit(q, ctx.actor, 'member.invite', { type: 'member', id: memberId, accountId }, undefined, { invitation: id, expires_at: iso(now + INVITATION_TTL_MS) }, now);
  });
  return { token, expires_at: iso(now + INVITATION_TTL_MS), member_id: memberId };
}

/** Uses an invitation: sets the member's password. Returns the member, to sign them in. */
export async function acceptInvitation(ctx: ServiceContext, sessions: ConsoleSessions, raw: unknown): Promise<{ accountId: string; memberId: string; role: string }> {
  const input = parseInput(AcceptInvitationInput, raw);
  const hash = await hashPassword(input.password);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const inv = await q.get('SELECT * FROM console_invitations WHERE token_hash = ?', [sha256Hex(input.token)]);
    if (!inv || optNum(inv.used_at) !== null || Number(inv.expires_at) <= now) throw new AppError('INVITATION_INVALID');
    const accountId = str(inv.account_id);
    const memberId = str(inv.member_id);
    const m = await getMemberRow(q, accountId, memberId).catch(() => {
      throw new AppError('INVITATION_INVALID', 'The member this invitation was for has been removed.');
    });
    // Used once, also when two tabs accept at the same time: the update decides.
    const used = await q.run('UPDATE console_invitations SET used_at = ? WHERE id = ? AND used_at IS NULL', [now, str(inv.id)]);
    if (used.changes === 0) throw new AppError('INVITATION_INVALID');
    await q.run('DELETE FROM member_passwords WHERE member_id = ?', [memberId]);
    await q.run('INSERT INTO member_passwords (member_id, hash, updated_at) VALUES (?, ?, ?)', [memberId, hash, now]);
    await sessions.endFor(q, { memberId }, now);
    const actor = { type: 'customer' as const, accountId, keyId: null, memberId, role: m.role };
    await audit(q, actor, 'member.invitation_accept', { type: 'member', id: memberId, accountId }, undefined, { invitation: str(inv.id) }, now);
    return { accountId, memberId, role: m.role };
  });
}
