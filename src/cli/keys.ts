import { createKey, keyView, listKeys, revokeKey, updateKey } from '../accounts/keys.ts';
import { defined, int, list, nullable, required, str, UsageError, withServices, type Command, type OptionSpec, type Values } from './framework.ts';

const KEY_FIELDS: Record<string, OptionSpec> = {
  name: { type: 'string', value: 'NAME', help: 'a name people recognise ("CI", "alice laptop")' },
  models: { type: 'string', value: 'LIST', help: 'model allow-list, comma-separated (default: every model)' },
  ips: { type: 'string', value: 'LIST', help: 'IP allow-list of addresses or CIDR blocks, comma-separated' },
  expires: { type: 'string', value: 'ISO', help: 'expiry time, e.g. 2026-12-31T00:00:00Z' },
  rpm: { type: 'string', value: 'N', help: 'requests per minute' },
  tpm: { type: 'string', value: 'N', help: 'tokens per minute' },
  concurrency: { type: 'string', value: 'N', help: 'requests in flight at once' },
  'limit-day': { type: 'string', value: 'USD', help: 'spend limit per day' },
  'limit-month': { type: 'string', value: 'USD', help: 'spend limit per month' },
  'limit-total': { type: 'string', value: 'USD', help: 'spend limit over the key\'s life' },
};

/** The key fields shared by create and update; on update "none" clears a field. */
function keyInput(v: Values): Record<string, unknown> {
  const limits = defined({
    day: nullable(v, 'limit-day', str),
    month: nullable(v, 'limit-month', str),
    total: nullable(v, 'limit-total', str),
  });
  return defined({
    name: str(v, 'name'),
    models: list(v, 'models'),
    ips: list(v, 'ips'),
    expires_at: nullable(v, 'expires', str),
    rpm: nullable(v, 'rpm', int),
    tpm: nullable(v, 'tpm', int),
    concurrency: nullable(v, 'concurrency', int),
    limits: Object.keys(limits).length ? limits : undefined,
  });
}

export const commands: Command[] = [
  {
    name: 'keys create',
    summary: 'Create an API key (the secret is printed once; only its hash is stored)',
    args: ['account'],
    options: {
      ...KEY_FIELDS,
      member: { type: 'string', value: 'ID', help: 'bind the key to a member of an enterprise account (it takes their role)' },
      role: { type: 'string', value: 'ROLE', help: 'owner | admin | member | viewer for keys not bound to a member' },
    },
    details: 'Example: surety keys create acct_… --name CI --models gpt-4o-mini,claude-sonnet-5-5 --limit-month 500.00 --rpm 600',
    async run({ values: v, positionals: [account], io }) {
      const input = { ...keyInput(v), name: required(v, 'name', 'keys create'), ...defined({ member_id: str(v, 'member'), role: str(v, 'role') }) };
      const { key, secret } = await withServices((ctx) => createKey(ctx, account!, input));
      const view = { ...keyView(key), key: secret };
      io.result(view, () => {
        io.line('API key (shown once; store it now):');
        io.line(`  ${secret}`);
        io.line();
        io.record(keyView(key));
      });
    },
  },
  {
    name: 'keys list',
    summary: 'List an account\'s keys',
    args: ['account'],
    async run({ positionals: [account], io }) {
      const data = (await withServices((ctx) => listKeys(ctx, account!))).map(keyView);
      io.result({ data }, () =>
        io.table(data, [
          ['id', 'ID'],
          ['name', 'NAME'],
          ['prefix', 'PREFIX'],
          ['role', 'ROLE'],
          ['member_id', 'MEMBER'],
          ['status', 'STATUS'],
          ['models', 'MODELS'],
          ['limits.month', 'LIMIT/MONTH'],
          ['expires_at', 'EXPIRES'],
        ]),
      );
    },
  },
  {
    name: 'keys update',
    summary: 'Change a key\'s name, allow-lists, expiry, rate and spend limits ("none" clears one)',
    args: ['account', 'key'],
    options: KEY_FIELDS,
    details: 'Example: surety keys update acct_… key_… --limit-day 20.00 --ips none',
    async run({ values: v, positionals: [account, key], io }) {
      const input = keyInput(v);
      if (Object.keys(input).length === 0) throw new UsageError('nothing to update: give at least one of the options', 'keys update');
      const view = keyView(await withServices((ctx) => updateKey(ctx, account!, key!, input)));
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'keys revoke',
    summary: 'Revoke a key (a running gateway stops accepting it within seconds)',
    args: ['account', 'key'],
    async run({ positionals: [account, key], io }) {
      const view = keyView(await withServices((ctx) => revokeKey(ctx, account!, key!)));
      io.result(view, () => io.record(view));
    },
  },
];
