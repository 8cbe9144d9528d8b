import { audit } from '../kernel/audit.ts';
import type { ServiceContext } from '../kernel/context.ts';
import { AppError } from '../kernel/errors.ts';
import { json } from '../storage/port.ts';
import { SecretBox, SecretBoxError, isSealed, secretBox } from './secret-box.ts';

// Rotating SURETY_SECRET_KEY: every stored upstream key is decrypted with the current key (this
// process's SURETY_SECRET_KEY, or the data directory's secret.key) and encrypted again with the
// new one, all channels in one transaction, audited per channel. A value already under the new key
// is left as it is, so an interrupted or repeated rotation finishes the job and changes nothing
// more. Afterwards every instance must start with the new key (a start with the old one is refused,
// naming the channels it cannot decrypt). `env:` references are not secrets and are not touched.

export interface Rotation {
  channels: number;
  keys: number;
  /** The new key's id, as stored values name it (enc:v1:<key id>:…). */
  keyId: string;
}

export async function rotateSecretKey(ctx: ServiceContext, newSecret: string): Promise<Rotation> {
  if (newSecret.length < 32) throw new AppError('VALIDATION', 'new secret key: must be at least 32 characters, e.g. the output of `openssl rand -base64 32`', { field: 'new_secret_key' });
  const current = secretBox(ctx);
  const next = new SecretBox(newSecret);
  if (next.keyId === current.keyId) throw new AppError('VALIDATION', 'new secret key: it is the key in use', { field: 'new_secret_key' });
  return ctx.db.tx(async (q) => {
    const rows = await q.all<{ id: string; name: string; keys: string }>(`SELECT id, name, keys FROM channels ORDER BY id${ctx.db.forUpdate}`);
    let channels = 0;
    let keys = 0;
    for (const r of rows) {
      const stored = json<string[]>(r.keys, []);
      let changed = 0;
      const again = stored.map((k) => {
        if (k.startsWith('env:')) return k;
        if (!isSealed(k)) return (changed++, next.seal(k));
        try {
          next.open(k);
          return k;
        } catch {
          // not under the new key yet
        }
        try {
          const plain = current.open(k);
          changed++;
          return next.seal(plain);
        } catch (e) {
          const why = e instanceof SecretBoxError ? e.message : String(e);
          throw new AppError('CONFLICT', `channel ${r.name}: a stored key cannot be decrypted with the current secret key (${why}); nothing was rotated`);
        }
      });
      if (changed === 0) continue;
      await q.run('UPDATE channels SET keys = ? WHERE id = ?', [JSON.stringify(again), r.id]);
      await audit(q, ctx.actor, 'channel.keys_reencrypted', { type: 'channel', id: r.id }, { key_id: current.keyId }, { key_id: next.keyId, keys: changed }, ctx.now());
      channels++;
      keys += changed;
    }
    return { channels, keys, keyId: next.keyId };
  });
}
