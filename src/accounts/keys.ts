import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId, secretToken, sha256Hex } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { audit } from '../kernel/audit.ts';
import { ROLES, type Role, type ServiceContext } from '../kernel/context.ts';
import { iso, isoTime, parseInput, requireFuture, usdAmount } from '../kernel/validation.ts';
import { json, optBig, optNum, str, type Queryable, type Row, type SqlValue } from '../storage/port.ts';
import { parseCidr } from './key-auth.ts';
import { LIMIT_FIELDS, NO_LIMITS, checkCustomerChange, limitsForCreate, limitsOf, withGiven, type GivenLimits, type KeyLimits } from './key-limits.ts';
import { getAccountRow } from './accounts.ts';
import { getMemberRow } from './members.ts';
import { requireRole, roleAtLeast } from '../kernel/authorisation.ts';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';

// The key service: customer API keys (a secret shown once, stored as its SHA-256), their role,
// allow-lists, expiry, rate and spend limits; creating, listing, changing and revoking them.
// Authenticating a presented key is key-auth.ts.

// The data plane imports these from here.
export { KeyAuthenticator, ipAllowed, type Principal } from './key-auth.ts';

export const KEY_PREFIX = 'sk-sur-';

export interface ApiKey extends KeyLimits {
  id: string;
  account_id: string;
  member_id: string | null;
  name: string;
  role: Role;
  prefix: string;
  /** The limits an operator last set on this key: customers may tighten them, never loosen them. */
  op: KeyLimits;
  status: 'active' | 'revoked';
  created_at: number;
  revoked_at: number | null;
}

/** The limit columns of a row (`prefix` '' for the key's limits, 'op_' for the operator's). */
function limitColumns(r: Row, prefix: '' | 'op_'): KeyLimits {
  return {
    models: json<string[] | null>(r[`${prefix}models`], null),
    ips: json<string[] | null>(r[`${prefix}ips`], null),
    expires_at: optNum(r[`${prefix}expires_at`]),
    rpm: optNum(r[`${prefix}rpm`]),
    tpm: optNum(r[`${prefix}tpm`]),
    concurrency: optNum(r[`${prefix}concurrency`]),
    limit_day: optBig(r[`${prefix}limit_day`]),
    limit_month: optBig(r[`${prefix}limit_month`]),
    limit_total: optBig(r[`${prefix}limit_total`]),
  };
}

/** Column values of limits, in LIMIT_FIELDS order. */
function limitValues(l: KeyLimits): SqlValue[] {
  return LIMIT_FIELDS.map((f) => {
    const v = l[f];
    return Array.isArray(v) ? JSON.stringify(v) : v;
  });
}

export function toKey(r: Row): ApiKey {
  return {
    id: str(r.id),
    account_id: str(r.account_id),
    member_id: (r.member_id as string | null) ?? null,
    name: str(r.name),
    role: str(r.role) as Role,
    prefix: str(r.prefix),
    ...limitColumns(r, ''),
    op: limitColumns(r, 'op_'),
    status: str(r.status) as ApiKey['status'],
    created_at: Number(r.created_at),
    revoked_at: optNum(r.revoked_at),
  };
}

const usdOrNull = (b: bigint | null) => (b === null ? null : formatUsd(b));

export function keyView(k: ApiKey): Record<string, unknown> {
  return {
    id: k.id,
    account_id: k.account_id,
    member_id: k.member_id,
    name: k.name,
    role: k.role,
    prefix: k.prefix,
    models: k.models,
    ips: k.ips,
    expires_at: iso(k.expires_at),
    rpm: k.rpm,
    tpm: k.tpm,
    concurrency: k.concurrency,
    limits: { day: usdOrNull(k.limit_day), month: usdOrNull(k.limit_month), total: usdOrNull(k.limit_total) },
    status: k.status,
    created_at: iso(k.created_at),
    revoked_at: iso(k.revoked_at),
  };
}

const cidr = z.string().refine((s) => parseCidr(s) !== null, 'must be an IP address or CIDR block like "10.0.0.0/8"');

const limits = z
  .object({
    day: usdAmount().nullable().optional(),
    month: usdAmount().nullable().optional(),
    total: usdAmount().nullable().optional(),
  })
  .strict();
const posInt = z.number().int().positive().max(10_000_000);

const keyFields = {
  name: z.string().trim().min(1).max(200),
  models: z.array(z.string().min(1).max(200)).max(1000).nullable().optional(),
  ips: z.array(cidr).max(1000).nullable().optional(),
  expires_at: isoTime.nullable().optional(),
  rpm: posInt.nullable().optional(),
  tpm: posInt.nullable().optional(),
  concurrency: posInt.nullable().optional(),
  limits: limits.optional(),
};

export const CreateKeyInput = z
  .object({
    ...keyFields,
    member_id: z.string().optional(),
    role: z.enum(ROLES as [Role, ...Role[]]).optional(),
  })
  .strict();
export const UpdateKeyInput = z.object({ ...keyFields, name: keyFields.name.optional() }).strict();

/** The limits an input gives (undefined: not given). */
function givenLimits(input: z.infer<typeof UpdateKeyInput>): GivenLimits {
  return {
    models: input.models, ips: input.ips, expires_at: input.expires_at, rpm: input.rpm, tpm: input.tpm, concurrency: input.concurrency,
    limit_day: input.limits?.day, limit_month: input.limits?.month, limit_total: input.limits?.total,
  };
}

/**
 * The limits bounding a customer: those of the key they act with (it authenticated, so it exists);
 * none for a member signed in to the console with a password, who is bounded by role and by the
 * limits an operator set. Null for operators: their limits are the operator's.
 */
async function actingKey(ctx: ServiceContext, q: Queryable, accountId: string): Promise<KeyLimits | null> {
  if (ctx.actor.type !== 'customer') return null;
  return ctx.actor.keyId ? getKeyRow(q, accountId, ctx.actor.keyId) : NO_LIMITS;
}

export async function getKeyRow(q: Queryable, accountId: string, keyId: string): Promise<ApiKey> {
  const r = await q.get('SELECT * FROM api_keys WHERE id = ? AND account_id = ?', [keyId, accountId]);
  if (!r) throw new AppError('NOT_FOUND', `key ${keyId} not found`, { resource: 'key' });
  return toKey(r);
}

/** "a member", "an admin", "an owner". */
function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'An' : 'A';
}

/** A member (not admin) only sees and manages the keys bound to them. */
function customerMayTouch(ctx: ServiceContext, key: { member_id: string | null }): boolean {
  if (ctx.actor.type !== 'customer') return true;
  if (roleAtLeast(ctx.actor.role, 'admin')) return true;
  return key.member_id !== null && key.member_id === ctx.actor.memberId;
}

/** An owner's key is changed or revoked by owners (and operators) only. */
function checkOwnerKey(ctx: ServiceContext, key: { role: Role }): void {
  if (key.role === 'owner' && ctx.actor.type === 'customer' && ctx.actor.role !== 'owner') {
    throw new AppError('FORBIDDEN', "Only an owner can change or revoke an owner's key.");
  }
}

/** Creates a key; the secret is returned here once and only its hash is stored. */
export async function createKey(ctx: ServiceContext, accountId: string, raw: unknown): Promise<{ key: ApiKey; secret: string }> {
  // Keys share the account's balance and carry its limits: admins and owners issue them (also for
  // members), so that a member cannot mint a key without the limits an admin set.
  requireRole(ctx.actor, accountId, 'admin');
  const input = parseInput(CreateKeyInput, raw);
  const now = ctx.now();
  requireFuture('expires_at', input.expires_at, now);
  const secret = KEY_PREFIX + secretToken(40);
  return ctx.db.tx(async (q) => {
    const account = await getAccountRow(q, accountId);
    const memberId = input.member_id ?? null;
    let role: Role;
    if (memberId) {
      if (account.kind !== 'enterprise') throw new AppError('VALIDATION', 'member_id: only enterprise accounts have members', { field: 'member_id' });
      const m = await getMemberRow(q, accountId, memberId).catch(() => {
        throw new AppError('VALIDATION', `member_id: no member ${memberId} in this account`, { field: 'member_id' });
      });
      if (input.role && input.role !== m.role) throw new AppError('VALIDATION', `role: a key bound to a member has the member's role (${m.role})`, { field: 'role' });
      role = m.role;
    } else {
      role = input.role ?? (account.kind === 'individual' ? 'owner' : 'member');
    }
    // Never above the caller's own role: neither by asking for it nor by binding the key to a higher member.
    if (ctx.actor.type === 'customer' && roleAtLeast(role, ctx.actor.role) && role !== ctx.actor.role) {
      throw new AppError('FORBIDDEN', `${article(ctx.actor.role)} ${ctx.actor.role} cannot create a key with the ${role} role.`);
    }
    // A customer's key is bounded by the key it is created with; an operator's limits are the bound.
    const acting = await actingKey(ctx, q, accountId);
    const given = givenLimits(input);
    const limits = acting ? limitsForCreate(given, acting) : withGiven(NO_LIMITS, given);
    const key: ApiKey = {
      id: newId('key', now),
      account_id: accountId,
      member_id: memberId,
      name: input.name,
      role,
      prefix: secret.slice(0, KEY_PREFIX.length + 4),
      ...limits,
      op: acting ? NO_LIMITS : limitsOf(limits),
      status: 'active',
      created_at: now,
      revoked_at: null,
    };
    await q.run(
      `INSERT INTO api_keys (id, account_id, member_id, name, role, prefix, hash, ${LIMIT_FIELDS.join(', ')}, ${LIMIT_FIELDS.map((f) => `op_${f}`).join(', ')}, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ${LIMIT_FIELDS.map(() => '?, ?').join(', ')}, 'active', ?)`,
      [key.id, accountId, key.member_id, key.name, key.role, key.prefix, sha256Hex(secret), ...limitValues(key), ...limitValues(key.op), now],
    );
    await audit(q, ctx.actor, 'key.create', { type: 'key', id: key.id, accountId }, undefined, key, now);
    return { key, secret };
  });
}

/** How an account's keys sort. */
export const KEY_SORT: SortSpec = {
  columns: { created_at: 'created_at', name: 'name', status: 'status', role: 'role', expires_at: 'COALESCE(expires_at, 0)', revoked_at: 'COALESCE(revoked_at, 0)' },
  text: ['name', 'status', 'role'],
  default: 'created_at',
};

export async function listKeys(ctx: ServiceContext, accountId: string): Promise<ApiKey[]> {
  return (await pageKeys(ctx, accountId, { limit: 1000 })).rows;
}

/** An account's keys (a customer below admin: their own and their member's) in the asked order, a page after the cursor. */
export async function pageKeys(ctx: ServiceContext, accountId: string, opts: Sorting & { limit: number }): Promise<Paged<ApiKey>> {
  requireRole(ctx.actor, accountId, 'viewer');
  const where = ['account_id = ?'];
  const params: SqlValue[] = [accountId];
  if (ctx.actor.type === 'customer' && !roleAtLeast(ctx.actor.role, 'admin')) {
    if (ctx.actor.memberId !== null) (where.push('(id = ? OR member_id = ?)'), params.push(ctx.actor.keyId, ctx.actor.memberId));
    else (where.push('id = ?'), params.push(ctx.actor.keyId));
  }
  const p = await sortedPage(ctx.db, { from: 'api_keys', where, params, spec: KEY_SORT, ...opts });
  return { rows: p.rows.map(toKey), next_cursor: p.next_cursor };
}

export async function updateKey(ctx: ServiceContext, accountId: string, keyId: string, raw: unknown): Promise<ApiKey> {
  requireRole(ctx.actor, accountId, 'member');
  const input = parseInput(UpdateKeyInput, raw);
  const now = ctx.now();
  requireFuture('expires_at', input.expires_at, now);
  const out = await ctx.db.tx(async (q) => {
    const before = await getKeyRow(q, accountId, keyId);
    if (!customerMayTouch(ctx, before)) throw new AppError('NOT_FOUND', `key ${keyId} not found`, { resource: 'key' });
    checkOwnerKey(ctx, before);
    // Limits and allow-lists are the admins' to set: a member may only rename their own key.
    if (ctx.actor.type === 'customer' && !roleAtLeast(ctx.actor.role, 'admin') && Object.keys(input).some((k) => k !== 'name')) {
      throw new AppError('FORBIDDEN', "Only admins can change a key's limits, allow-lists and expiry.");
    }
    const limits = withGiven(before, givenLimits(input));
    const acting = await actingKey(ctx, q, accountId);
    if (acting) checkCustomerChange(limits, limitsOf(before), acting, before.op);
    const after: ApiKey = { ...before, name: input.name ?? before.name, ...limits, op: acting ? before.op : limitsOf(limits) };
    await q.run(
      `UPDATE api_keys SET name = ?, ${[...LIMIT_FIELDS, ...LIMIT_FIELDS.map((f) => `op_${f}`)].map((c) => `${c} = ?`).join(', ')} WHERE id = ?`,
      [after.name, ...limitValues(after), ...limitValues(after.op), keyId],
    );
    await audit(q, ctx.actor, 'key.update', { type: 'key', id: keyId, accountId }, before, after, now);
    return after;
  });
  ctx.bus.keyChanged(keyId);
  return out;
}

/**
 * The one way a key is revoked: marks it revoked with its audit entry, inside the caller's
 * transaction. The caller sends the bus notice (`ctx.bus.keyChanged`) once that transaction has
 * committed, so that every cache drops the key at once.
 */
async function revokeInTx(ctx: ServiceContext, q: Queryable, before: ApiKey, now: number): Promise<ApiKey> {
  const after: ApiKey = { ...before, status: 'revoked', revoked_at: now };
  await q.run("UPDATE api_keys SET status = 'revoked', revoked_at = ? WHERE id = ?", [now, before.id]);
  await audit(q, ctx.actor, 'key.revoke', { type: 'key', id: before.id, accountId: before.account_id }, before, after, now);
  return after;
}

/** Revokes a key; the data plane drops it from its cache at once (bus notice). Idempotent. */
export async function revokeKey(ctx: ServiceContext, accountId: string, keyId: string): Promise<ApiKey> {
  requireRole(ctx.actor, accountId, 'member');
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const before = await getKeyRow(q, accountId, keyId);
    if (!customerMayTouch(ctx, before)) throw new AppError('NOT_FOUND', `key ${keyId} not found`, { resource: 'key' });
    checkOwnerKey(ctx, before);
    if (before.status === 'revoked') return before;
    return revokeInTx(ctx, q, before, now);
  });
  ctx.bus.keyChanged(keyId);
  return out;
}

/**
 * Revokes the active keys bound to a member, inside the caller's transaction (a member's removal,
 * authorised by the caller). Returns their ids for the caller's bus notices after commit.
 */
export async function revokeMemberKeys(ctx: ServiceContext, q: Queryable, accountId: string, memberId: string, now: number): Promise<string[]> {
  const rows = await q.all("SELECT * FROM api_keys WHERE account_id = ? AND member_id = ? AND status = 'active' ORDER BY id", [accountId, memberId]);
  for (const r of rows) await revokeInTx(ctx, q, toKey(r), now);
  return rows.map((r) => str(r.id));
}
