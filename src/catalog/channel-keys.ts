import type { ChannelConfig } from './channels.ts';

// What a channel's keys are worth here and now: `env:NAME` resolved from the environment. A channel with no key left is not used (it would authenticate as nobody), and
// the admin API says so (`usable: false` and why) instead of listing it as healthy.

export interface ResolvedKeys {
  /** The keys to send upstream, in rotation order. */
  keys: string[];
  /** Environment variables named by env: keys that are unset or empty. */
  unsetEnv: string[];
}

export function resolveChannelKeys(keys: readonly string[], env: NodeJS.ProcessEnv): ResolvedKeys {
  const out: ResolvedKeys = { keys: [], unsetEnv: [] };
  for (const k of keys) {
    if (k.startsWith('env:')) {
      const v = env[k.slice(4)];
      if (v) out.keys.push(v);
      else out.unsetEnv.push(k.slice(4));
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
  return { usable: false, unusable_reason: why.join('; ') };
}
