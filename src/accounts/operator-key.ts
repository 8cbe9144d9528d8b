import { AppError } from '../kernel/errors.ts';
import { secretToken, sha256Hex } from '../kernel/ids.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { ServiceContext } from '../kernel/context.ts';

export const ADMIN_KEY_SETTING = 'admin_key_hash';

/** A new operator key in the format the first start generates (`sa-sur-` + 40 base62 chars). */
export function newAdminKey(): string {
  return `sa-sur-${secretToken(40)}`;
}

/**
 * Replaces the stored operator key (only its SHA-256 is kept) and returns the new key, to be shown
 * once. Refused when SURETY_ADMIN_KEY is set: then the environment is the key's only source.
 * A running gateway keeps accepting the key it started with until it restarts.
 */
export async function rotateAdminKey(ctx: ServiceContext): Promise<{ key: string; fingerprint: string }> {
  requireOperator(ctx.actor);
  if (ctx.config.adminKey) {
    throw new AppError('CONFLICT', 'SURETY_ADMIN_KEY is set, so the operator key comes from the environment: change it there (or unset it to use a stored, rotatable key).');
  }
  const key = newAdminKey();
  const hash = sha256Hex(key);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    const before = await q.get<{ value: string }>('SELECT value FROM settings WHERE name = ?', [ADMIN_KEY_SETTING]);
    await q.run(
      'INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      [ADMIN_KEY_SETTING, hash, now],
    );
    // Fingerprints only: the audit trail says that the key changed, never enough to check a guess.
    await audit(q, ctx.actor, 'admin_key.rotate', { type: 'setting', id: ADMIN_KEY_SETTING }, before ? { fingerprint: before.value.slice(0, 8) } : undefined, { fingerprint: hash.slice(0, 8) }, now);
  });
  return { key, fingerprint: hash.slice(0, 8) };
}
