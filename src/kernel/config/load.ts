import { readFileSync } from 'node:fs';
import { ConfigSchema, ENV_KEYS, type Config, type ConfigKey } from './schema.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const SECRET_KEYS: ReadonlySet<ConfigKey> = new Set(['adminKey', 'secretKey', 'databaseUrl', 'redisUrl', 'smtpUrl']);

/**
 * Reads the configuration from the environment (and `<VAR>_FILE` for secrets), validates it once
 * and freezes it. A bad value throws a ConfigError naming the variable and what is wrong.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<ConfigKey, unknown>> = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_KEYS) as Array<[ConfigKey, string]>) {
    let value: string | undefined = env[name];
    const fileVar = env[`${name}_FILE`];
    if ((value === undefined || value === '') && fileVar && SECRET_KEYS.has(key)) {
      try {
        value = readFileSync(fileVar, 'utf8').trim();
      } catch (e) {
        throw new ConfigError(`${name}_FILE: cannot read ${fileVar}: ${(e as Error).message}`);
      }
    }
    if (value !== undefined && value !== '') raw[key] = value;
  }
  Object.assign(raw, overrides);
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const name = (ENV_KEYS as Record<string, string>)[key] ?? key;
      const shown = SECRET_KEYS.has(key as ConfigKey) ? '(hidden)' : JSON.stringify(raw[key]);
      return `${name}=${shown}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze({ ...parsed.data });
}

/** The configuration with secrets masked, safe to log. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const k of SECRET_KEYS) if (out[k] !== undefined) out[k] = '(set)';
  return out;
}
