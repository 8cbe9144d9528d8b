import { AppError } from '../kernel/errors.ts';
import { secretToken, sha256Hex } from '../kernel/ids.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Actor, Runtime, ServiceContext } from '../kernel/context.ts';
import type { Queryable } from '../storage/port.ts';

// The operator key. Only its SHA-256 is stored (settings `admin_key_hash`), and only through
// `storeAdminKeyHash` below, which audits every change by fingerprint.

export const ADMIN_KEY_SETTING = 'admin_key_hash';

const BOOTSTRAP: Actor = { type: 'system', id: 'bootstrap' };

/** A new operator key in the format the first start generates (`sa-sur-` + 40 base62 chars). */
export function newAdminKey(): string {
  return `sa-sur-${secretToken(40)}`;
}

async function storedHash(q: Queryable): Promise<string | null> {
  const r = await q.get<{ value: string }>('SELECT value FROM settings WHERE name = ?', [ADMIN_KEY_SETTING]);
  return r?.value ?? null;
}

/**
 * The one writer of the stored operator key hash, with its audit entry (fingerprints only: the
 * trail says that the key changed, never enough to check a guess). `replace` false stores it only
 * when none is stored; the primary key settles a race between instances (the loser changes
 * nothing and writes no audit entry). Returns whether this call stored it.
 */
async function storeAdminKeyHash(q: Queryable, actor: Actor, hash: string, now: number, replace: boolean): Promise<boolean> {
  const before = await storedHash(q);
  const r = await q.run(
    `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (name) DO ${replace ? 'UPDATE SET value = excluded.value, updated_at = excluded.updated_at' : 'NOTHING'}`,
    [ADMIN_KEY_SETTING, hash, now],
  );
  if (r.changes === 0) return false;
  const fingerprint = (h: string) => ({ fingerprint: h.slice(0, 8) });
  await audit(q, actor, replace ? 'admin_key.rotate' : 'admin_key.create', { type: 'setting', id: ADMIN_KEY_SETTING }, before ? fingerprint(before) : undefined, fingerprint(hash), now);
  return true;
}

/**
 * The operator key at start: SURETY_ADMIN_KEY when set; otherwise the stored one, or — on the
 * first start — a new key, stored as a hash (audited as system:bootstrap) and returned once to be
 * printed. When several instances start at once on an empty database, one key wins; the others
 * use its hash and print nothing.
 */
export async function resolveAdminKey(rt: Runtime): Promise<{ hash: string; generated: string | null }> {
  if (rt.config.adminKey) return { hash: sha256Hex(rt.config.adminKey), generated: null };
  const existing = await storedHash(rt.db);
  if (existing) return { hash: existing, generated: null };
  const key = newAdminKey();
  const hash = sha256Hex(key);
  const stored = await rt.db.tx((q) => storeAdminKeyHash(q, BOOTSTRAP, hash, rt.now(), false));
  if (stored) return { hash, generated: key };
  return { hash: (await storedHash(rt.db))!, generated: null };
}

/**
 * Replaces the stored operator key and returns the new key, to be shown once. Refused when
 * SURETY_ADMIN_KEY is set: then the environment is the key's only source. A running gateway keeps
 * accepting the key it started with until it restarts.
 */
export async function rotateAdminKey(ctx: ServiceContext): Promise<{ key: string; fingerprint: string }> {
  requireOperator(ctx.actor);
  if (ctx.config.adminKey) {
    throw new AppError('CONFLICT', 'SURETY_ADMIN_KEY is set, so the operator key comes from the environment: change it there (or unset it to use a stored, rotatable key).');
  }
  const key = newAdminKey();
  const hash = sha256Hex(key);
  await ctx.db.tx((q) => storeAdminKeyHash(q, ctx.actor, hash, ctx.now(), true));
  return { key, fingerprint: hash.slice(0, 8) };
}
