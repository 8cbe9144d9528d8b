import { BlockList, isIP } from 'node:net';
import { AppError } from '../kernel/errors.ts';
import { MemoryFailureLog } from '../kernel/failure-log.ts';
import { sha256Hex } from '../kernel/ids.ts';
import type { Role, Runtime } from '../kernel/context.ts';
import { optNum, str } from '../storage/port.ts';
import { toKey, type ApiKey } from './keys.ts';

// Key authentication for every request: the presented secret's hash looked up (and cached), the
// key's state checked, and its IP allow-list compiled once per load.

/** An address or CIDR block ("10.0.0.0/8", "2001:db8::/32"); null when malformed. */
export function parseCidr(s: string): { addr: string; bits: number; type: 'ipv4' | 'ipv6' } | null {
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

/**
 * Guessing keys is throttled per client address: past `maxFailures` unknown keys (or wrong operator
 * keys) within `windowMs`, every authentication from that address that is not already known to be
 * good is refused with 429 RATE_LIMITED until the oldest failure leaves the window. Shared by every
 * instance through Redis with REDIS_URL. Keys are looked up by their SHA-256, never compared as
 * secrets, so a lookup takes the same time whatever the guess.
 */
export const AUTH_THROTTLE = { maxFailures: 30, windowMs: 60_000 };

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

  private readonly localFailures = new MemoryFailureLog();

  constructor(rt: Runtime, ttlMs = 5000) {
    this.rt = rt;
    this.ttlMs = ttlMs;
  }

  /** Refuses an address that has used up its failed authentications (429 RATE_LIMITED, `retry_after`). */
  async guard(ip: string, now = this.rt.now()): Promise<void> {
    const log = this.rt.failures ?? this.localFailures;
    const { now: at, times } = await log.failures(`auth:ip:${ip}`, AUTH_THROTTLE.windowMs, now);
    if (times.length < AUTH_THROTTLE.maxFailures) return;
    const retryAfter = Math.max(1, Math.ceil((times[times.length - AUTH_THROTTLE.maxFailures]! + AUTH_THROTTLE.windowMs - at) / 1000));
    throw new AppError('RATE_LIMITED', `Too many failed authentications from this address; try again in ${retryAfter} s.`, { retry_after: retryAfter });
  }

  /** Counts a failed authentication (an unknown key, a wrong operator key) against an address. */
  async failed(ip: string, now = this.rt.now()): Promise<void> {
    await (this.rt.failures ?? this.localFailures).failures(`auth:ip:${ip}`, AUTH_THROTTLE.windowMs, now, AUTH_THROTTLE.maxFailures);
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
  async authenticate(secret: string, ip?: string): Promise<Principal> {
    if (!secret) throw new AppError('AUTH_REQUIRED');
    return this.authenticateHash(this.hashOf(secret), ip);
  }

  /**
   * The hot path's shortcut: the principal of a good key whose cache entry is fresh, at once (no
   * promise); null when `authenticate` must decide (unknown, stale, refused, or a guessing address).
   */
  cachedGood(secret: string): Principal | null {
    if (!secret) return null;
    const entry = this.cache.get(this.hashOf(secret));
    const now = this.rt.now();
    const p = entry?.principal;
    if (!p || now - entry!.loadedAt > this.ttlMs) return null;
    return refusalOf(p, now) ? null : p;
  }

  /** As authenticate(), by the key's SHA-256 (a console session keeps the hash, never the key). */
  async authenticateHash(hash: string, ip?: string): Promise<Principal> {
    const now = this.rt.now();
    let entry = this.cache.get(hash);
    const fresh = entry !== undefined && now - entry.loadedAt <= this.ttlMs;
    // A key known to be good costs nothing more; anything else from a guessing address is refused.
    if (ip && !(fresh && entry!.principal)) await this.guard(ip, now);
    if (!entry || !fresh) {
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
    if (!p) {
      if (ip) await this.failed(ip, now);
      throw new AppError('KEY_INVALID');
    }
    const refused = refusalOf(p, now);
    if (refused) throw refused;
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

/** Why a known key may not be used now (revoked, expired, its account not active), or null. */
function refusalOf(p: Principal, now: number): AppError | null {
  if (p.key.status === 'revoked') return new AppError('KEY_REVOKED');
  if (p.key.expires_at !== null && p.key.expires_at <= now) return new AppError('KEY_EXPIRED');
  if (p.accountStatus !== 'active') return new AppError('ACCOUNT_SUSPENDED', `The account is ${p.accountStatus}.`);
  return null;
}
