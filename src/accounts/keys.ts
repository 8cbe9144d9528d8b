import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId, secretToken, sha256Hex } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { audit } from '../kernel/audit.ts';
import { ROLES, type Role, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { iso, isoTime, parseInput, usdAmount } from '../kernel/validation.ts';
import { json, optBig, optNum, str, type Queryable, type Row } from '../storage/port.ts';
import { getAccountRow, getMemberRow } from './accounts.ts';
import { requireRole, roleAtLeast } from '../kernel/authorisation.ts';

export const KEY_PREFIX = 'sk-sur-';

export interface ApiKey {
  id: string;
  account_id: string;
  member_id: string | null;
  name: string;
  role: Role;
  prefix: string;
  models: string[] | null;
  ips: string[] | null;
  expires_at: number | null;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
  limit_day: bigint | null;
  limit_month: bigint | null;
  limit_total: bigint | null;
  status: 'active' | 'revoked';
  created_at: number;
  revoked_at: number | null;
}

export function toKey(r: Row): ApiKey {
  return {
    id: str(r.id),
    account_id: str(r.account_id),
    member_id: (r.member_id as string | null) ?? null,
    name: str(r.name),
    role: str(r.role) as Role,
    prefix: str(r.prefix),
    models: json<string[] | null>(r.models, null),
    ips: json<string[] | null>(r.ips, null),
    expires_at: optNum(r.expires_at),
    rpm: optNum(r.rpm),
    tpm: optNum(r.tpm),
    concurrency: optNum(r.concurrency),
    limit_day: optBig(r.limit_day),
    limit_month: optBig(r.limit_month),
    limit_total: optBig(r.limit_total),
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

function parseCidr(s: string): { addr: string; bits: number; type: 'ipv4' | 'ipv6' } | null {
  const [addr, bitsStr, extra] = s.split('/');
  if (extra !== undefined || !addr) return null;
  const v = isIP(addr);
  if (!v) return null;
  const max = v === 4 ? 32 : 128;
  const bits = bitsStr === undefined ? max : Number(bitsStr);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (bitsStr !== undefined && !/^\d+$/.test(bitsStr))) return null;
  return { addr, bits, type: v === 4 ? 'ipv4' : 'ipv6' };
}

/** A compiled IP allow-list; null allows every address. */
export function compileIpAllowList(ips: string[] | null): BlockList | null {
  if (!ips || ips.length === 0) return null;
  const bl = new BlockList();
  for (const s of ips) {
    const c = parseCidr(s);
    if (c) bl.addSubnet(c.addr, c.bits, c.type);
  }
  return bl;
}

export function ipAllowed(list: BlockList | null, ip: string): boolean {
  if (!list) return true;
  const v4mapped = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const type = isIP(v4mapped) === 4 ? 'ipv4' : 'ipv6';
  return list.check(v4mapped, type);
}

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

export async function getKeyRow(q: Queryable, accountId: string, keyId: string): Promise<ApiKey> {
  const r = await q.get('SELECT * FROM api_keys WHERE id = ? AND account_id = ?', [keyId, accountId]);
  if (!r) throw new AppError('NOT_FOUND', `key ${keyId} not found`, { resource: 'key' });
  return toKey(r);
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
      throw new AppError('FORBIDDEN', `A ${ctx.actor.role} cannot create a key with the ${role} role.`);
    }
    const key: ApiKey = {
      id: newId('key', now),
      account_id: accountId,
      member_id: memberId,
      name: input.name,
      role,
      prefix: secret.slice(0, KEY_PREFIX.length + 4),
      models: input.models ?? null,
      ips: input.ips ?? null,
      expires_at: input.expires_at ?? null,
      rpm: input.rpm ?? null,
      tpm: input.tpm ?? null,
      concurrency: input.concurrency ?? null,
      limit_day: input.limits?.day ?? null,
      limit_month: input.limits?.month ?? null,
      limit_total: input.limits?.total ?? null,
      status: 'active',
      created_at: now,
      revoked_at: null,
    };
    await q.run(
      `INSERT INTO api_keys (id, account_id, member_id, name, role, prefix, hash, models, ips, expires_at, rpm, tpm, concurrency, limit_day, limit_month, limit_total, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)`,
      [
        key.id, accountId, key.member_id, key.name, key.role, key.prefix, sha256Hex(secret),
        key.models ? JSON.stringify(key.models) : null, key.ips ? JSON.stringify(key.ips) : null,
        key.expires_at, key.rpm, key.tpm, key.concurrency, key.limit_day, key.limit_month, key.limit_total, now,
      ],
    );
    await audit(q, ctx.actor, 'key.create', { type: 'key', id: key.id, accountId }, undefined, key, now);
    return { key, secret };
  });
}

export async function listKeys(ctx: ServiceContext, accountId: string): Promise<ApiKey[]> {
  requireRole(ctx.actor, accountId, 'viewer');
  const rows = await ctx.db.all('SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at, id', [accountId]);
  const keys = rows.map(toKey);
  if (ctx.actor.type === 'customer' && !roleAtLeast(ctx.actor.role, 'admin')) {
    const self = ctx.actor;
    return keys.filter((k) => k.id === self.keyId || (self.memberId !== null && k.member_id === self.memberId));
  }
  return keys;
}

export async function updateKey(ctx: ServiceContext, accountId: string, keyId: string, raw: unknown): Promise<ApiKey> {
  requireRole(ctx.actor, accountId, 'member');
  const input = parseInput(UpdateKeyInput, raw);
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const before = await getKeyRow(q, accountId, keyId);
    if (!customerMayTouch(ctx, before)) throw new AppError('NOT_FOUND', `key ${keyId} not found`, { resource: 'key' });
    checkOwnerKey(ctx, before);
    // Limits and allow-lists are the admins' to set: a member may only rename their own key.
    if (ctx.actor.type === 'customer' && !roleAtLeast(ctx.actor.role, 'admin') && Object.keys(input).some((k) => k !== 'name')) {
      throw new AppError('FORBIDDEN', "Only admins can change a key's limits, allow-lists and expiry.");
    }
    const pick = <T>(v: T | undefined, old: T): T => (v === undefined ? old : v);
    const after: ApiKey = {
      ...before,
      name: input.name ?? before.name,
      models: pick(input.models, before.models),
      ips: pick(input.ips, before.ips),
      expires_at: pick(input.expires_at, before.expires_at),
      rpm: pick(input.rpm, before.rpm),
      tpm: pick(input.tpm, before.tpm),
      concurrency: pick(input.concurrency, before.concurrency),
      limit_day: pick(input.limits?.day, before.limit_day),
      limit_month: pick(input.limits?.month, before.limit_month),
      limit_total: pick(input.limits?.total, before.limit_total),
    };
    await q.run(
      'UPDATE api_keys SET name = ?, models = ?, ips = ?, expires_at = ?, rpm = ?, tpm = ?, concurrency = ?, limit_day = ?, limit_month = ?, limit_total = ? WHERE id = ?',
      [
        after.name, after.models ? JSON.stringify(after.models) : null, after.ips ? JSON.stringify(after.ips) : null,
        after.expires_at, after.rpm, after.tpm, after.concurrency, after.limit_day, after.limit_month, after.limit_total, keyId,
      ],
    );
    await audit(q, ctx.actor, 'key.update', { type: 'key', id: keyId, accountId }, before, after, now);
    return after;
  });
  ctx.bus.keyChanged(keyId);
  return out;
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
    const after: ApiKey = { ...before, status: 'revoked', revoked_at: now };
    await q.run("UPDATE api_keys SET status = 'revoked', revoked_at = ? WHERE id = ?", [now, keyId]);
    await audit(q, ctx.actor, 'key.revoke', { type: 'key', id: keyId, accountId }, before, after, now);
    return after;
  });
  ctx.bus.keyChanged(keyId);
  return out;
}

// ---- authentication ----

export interface Principal {
  key: ApiKey;
  accountStatus: string;
  accountGroup: string;
  accountKind: string;
  accountRpm: number | null;
  accountTpm: number | null;
  /** The member's current role when the key is bound to a member, else the key's own role. */
  role: Role;
  ipList: BlockList | null;
  modelSet: Set<string> | null;
}

interface CacheEntry {
  principal: Principal | null;
  loadedAt: number;
}

/**
 * Resolves API keys to principals with a small cache. Changes made through this process's
 * services evict at once (bus); entries also expire after `ttlMs` so changes made by another
 * gateway instance on shared PostgreSQL are seen within that time.
 */
export class KeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly byKeyId = new Map<string, string>();
  private readonly byAccount = new Map<string, Set<string>>();
  private readonly rt: Runtime;
  private readonly ttlMs: number;

  constructor(rt: Runtime, ttlMs = 5000) {
    this.rt = rt;
    this.ttlMs = ttlMs;
  }

  /** SHA-256 of presented secrets, remembered for keys seen recently (hashing is per request). */
  private readonly hashes = new Map<string, string>();
  private hashOf(secret: string): string {
    let h = this.hashes.get(secret);
    if (h === undefined) {
      h = sha256Hex(secret);
      if (this.hashes.size >= 10_000) this.hashes.clear();
      this.hashes.set(secret, h);
    }
    return h;
  }

  evictKey(keyId: string): void {
    const h = this.byKeyId.get(keyId);
    if (h) this.cache.delete(h);
  }

  evictAccount(accountId: string): void {
    for (const h of this.byAccount.get(accountId) ?? []) this.cache.delete(h);
  }

  /** Returns the principal or throws the auth error that applies (invalid, revoked, expired, suspended). */
  async authenticate(secret: string): Promise<Principal> {
    if (!secret) throw new AppError('AUTH_REQUIRED');
    const hash = this.hashOf(secret);
    const now = this.rt.now();
    let entry = this.cache.get(hash);
    if (!entry || now - entry.loadedAt > this.ttlMs) {
      entry = { principal: await this.load(hash), loadedAt: now };
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(hash, entry);
      if (entry.principal) {
        this.byKeyId.set(entry.principal.key.id, hash);
        let set = this.byAccount.get(entry.principal.key.account_id);
        if (!set) this.byAccount.set(entry.principal.key.account_id, (set = new Set()));
        set.add(hash);
      }
    }
    const p = entry.principal;
    if (!p) throw new AppError('KEY_INVALID');
    if (p.key.status === 'revoked') throw new AppError('KEY_REVOKED');
    if (p.key.expires_at !== null && p.key.expires_at <= now) throw new AppError('KEY_EXPIRED');
    if (p.accountStatus !== 'active') throw new AppError('ACCOUNT_SUSPENDED', `The account is ${p.accountStatus}.`);
    return p;
  }

  /** The principal of a key that exists, whatever its state (after authenticate(); from the cache). */
  known(secret: string): Principal | null {
    return secret ? (this.cache.get(this.hashOf(secret))?.principal ?? null) : null;
  }

  private async load(hash: string): Promise<Principal | null> {
    const r = await this.rt.db.get(
      `SELECT k.*, a.status AS account_status, a.group_name AS account_group, a.kind AS account_kind, a.rpm AS account_rpm, a.tpm AS account_tpm, m.role AS member_role, m.removed_at AS member_removed_at
         FROM api_keys k JOIN accounts a ON a.id = k.account_id LEFT JOIN members m ON m.id = k.member_id
        WHERE k.hash = ?`,
      [hash],
    );
    if (!r) return null;
    const key = toKey(r);
    if (r.member_removed_at !== null && r.member_removed_at !== undefined) key.status = 'revoked';
    return {
      key,
      accountStatus: str(r.account_status),
      accountGroup: str(r.account_group),
      accountKind: str(r.account_kind),
      accountRpm: optNum(r.account_rpm),
      accountTpm: optNum(r.account_tpm),
      role: ((r.member_role as string | null) ?? key.role) as Role,
      ipList: compileIpAllowList(key.ips),
      modelSet: key.models ? new Set(key.models) : null,
    };
  }
}
