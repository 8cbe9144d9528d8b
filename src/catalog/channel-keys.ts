import { ConfigError } from '../kernel/config/load.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime } from '../kernel/context.ts';
import { json } from '../storage/port.ts';
import type { ChannelConfig } from './channels.ts';
import { SECRET_KEY_FILE, isSealed, secretBox } from './secret-box.ts';

// What a channel's keys are worth here and now: `env:NAME` resolved from the environment, stored
// values decrypted. A channel with no key left is not used (it would authenticate as nobody), and
// the admin API says so (`usable: false` and why) instead of listing it as healthy.

export interface ResolvedKeys {
  /** The keys to send upstream, in rotation order. */
  keys: string[];
  /** Environment variables named by env: keys that are unset or empty. */
  unsetEnv: string[];
  /** Stored keys that cannot be decrypted with this process's secret key. */
  undecryptable: number;
}

export function resolveChannelKeys(keys: readonly string[], env: NodeJS.ProcessEnv): ResolvedKeys {
  const out: ResolvedKeys = { keys: [], unsetEnv: [], undecryptable: 0 };
  for (const k of keys) {
    if (k.startsWith('env:')) {
      const v = env[k.slice(4)];
      if (v) out.keys.push(v);
      else out.unsetEnv.push(k.slice(4));
    } else if (isSealed(k)) {
      out.undecryptable++;
    } else {
      out.keys.push(k);
    }
  }
  return out;
}

export interface Usability {
  usable: boolean;
  /** Why not, for an operator to act on; null when usable. */
  unusable_reason: string | null;
}

export function channelUsability(c: ChannelConfig, env: NodeJS.ProcessEnv): Usability {
  if (!c.enabled) return { usable: false, unusable_reason: 'disabled by the operator (enabled: false)' };
  const r = resolveChannelKeys(c.keys, env);
  if (r.keys.length > 0) return { usable: true, unusable_reason: null };
  const why: string[] = [];
  if (r.unsetEnv.length === 1) why.push(`environment variable ${r.unsetEnv[0]} is not set`);
  if (r.unsetEnv.length > 1) why.push(`environment variables ${r.unsetEnv.join(', ')} are not set`);
  if (r.undecryptable > 0) why.push(`${r.undecryptable === 1 ? 'its stored key' : `${r.undecryptable} stored keys`} cannot be decrypted with this SURETY_SECRET_KEY`);
  return { usable: false, unusable_reason: why.join('; ') };
}

/**
 * Run once at start, before anything reads the catalog: refuses to start when a stored key cannot
 * be decrypted (the wrong SURETY_SECRET_KEY would otherwise take channels out silently), then
 * encrypts keys stored in plaintext by earlier versions. Returns how many channels it encrypted.
 */
export async function prepareUpstreamKeys(rt: Runtime): Promise<number> {
  const box = secretBox(rt);
  if (rt.db.engine === 'postgres' && !rt.config.secretKey) {
    rt.log.warn(`SURETY_SECRET_KEY is not set: upstream keys are encrypted with the key in ${SECRET_KEY_FILE} of this instance's data directory; every instance on this PostgreSQL must use the same key (set SURETY_SECRET_KEY)`);
  }
  const rows = await rt.db.all<{ id: string; name: string; keys: string }>('SELECT id, name, keys FROM channels ORDER BY name');
  const problems: string[] = [];
  for (const r of rows) {
    for (const k of json<string[]>(r.keys, [])) {
      if (!isSealed(k)) continue;
      try {
        box.open(k);
      } catch (e) {
        problems.push(`channel ${r.name}: ${(e as Error).message}`);
        break;
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `SURETY_SECRET_KEY: the stored upstream keys of ${problems.length} channel(s) cannot be decrypted:\n  ${problems.slice(0, 10).join('\n  ')}\n` +
        `Start with the secret key they were stored with (SURETY_SECRET_KEY, or the ${SECRET_KEY_FILE} file of the data directory they were written from).`,
    );
  }
  let encrypted = 0;
  for (const r of rows) {
    const keys = json<string[]>(r.keys, []);
    if (keys.every((k) => k.startsWith('env:') || isSealed(k))) continue;
    const sealed = JSON.stringify(keys.map((k) => (k.startsWith('env:') || isSealed(k) ? k : box.seal(k))));
    const n = await rt.db.tx(async (q) => {
      // Compare-and-set: an instance starting at the same time encrypts each row once.
      const { changes } = await q.run('UPDATE channels SET keys = ? WHERE id = ? AND keys = ?', [sealed, r.id, r.keys]);
      if (changes === 1) await audit(q, { type: 'system', id: 'secret-box' }, 'channel.keys_encrypted', { type: 'channel', id: r.id }, undefined, { keys: keys.length }, rt.now());
      return changes;
    });
    encrypted += n;
  }
  if (encrypted > 0) rt.log.info({ channels: encrypted }, 'upstream keys stored in plaintext were encrypted');
  return encrypted;
}
