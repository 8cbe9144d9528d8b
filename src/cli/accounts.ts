import { accountView, balanceView, createAccount, getAccount, getBalance, listAccounts, updateAccount } from '../accounts/accounts.ts';
import { defined, flag, int, limit, LIMIT_OPTION, nullable, required, str, UsageError, withServices, type Command } from './framework.ts';

const ACCOUNT_FIELDS = {
  name: { type: 'string', value: 'NAME', help: 'display name' },
  email: { type: 'string', value: 'EMAIL', help: 'contact e-mail' },
  group: { type: 'string', value: 'GROUP', help: 'price group (multipliers per group); default "default"' },
  'credit-line': { type: 'string', value: 'USD', help: 'how far the balance may go below zero, e.g. "100.00" (default SURETY_DEFAULT_CREDIT_LINE)' },
  'spend-order': { type: 'string', value: 'ORDER', help: 'granted_first | paid_first (default: the SURETY_SPEND_ORDER setting)' },
  rpm: { type: 'string', value: 'N', help: 'requests per minute for the whole account (all keys together)' },
  tpm: { type: 'string', value: 'N', help: 'tokens per minute for the whole account' },
} as const;

const ACCOUNT_COLUMNS: Array<[string, string]> = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['kind', 'KIND'],
  ['status', 'STATUS'],
  ['group', 'GROUP'],
  ['credit_line', 'CREDIT LINE'],
  ['created_at', 'CREATED'],
];

export const commands: Command[] = [
  {
    name: 'accounts create',
    summary: 'Create an individual or enterprise account',
    options: {
      ...ACCOUNT_FIELDS,
      kind: { type: 'string', value: 'KIND', help: 'individual (default) | enterprise (members, many keys sharing one balance)' },
    },
    details: 'Example: surety accounts create --name "Acme Corp" --kind enterprise --email ops@acme.example',
    async run({ values: v, io }) {
      const input = defined({
        name: required(v, 'name', 'accounts create'),
        kind: str(v, 'kind'),
        email: str(v, 'email'),
        group: str(v, 'group'),
        credit_line: str(v, 'credit-line'),
        spend_order: str(v, 'spend-order'),
        rpm: int(v, 'rpm'),
        tpm: int(v, 'tpm'),
      });
      const account = await withServices((ctx) => createAccount(ctx, input));
      const view = accountView(account);
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'accounts list',
    summary: 'List accounts, oldest first (paged by id)',
    options: {
      limit: LIMIT_OPTION,
      after: { type: 'string', value: 'ID', help: 'start after this account id (the previous page\'s next_after)' },
    },
    async run({ values: v, io }) {
      const n = limit(v, 'accounts list');
      const rows = await withServices((ctx) => listAccounts(ctx, { limit: n, after: str(v, 'after') }));
      const data = rows.map(accountView);
      const next = rows.length === n ? rows.at(-1)!.id : null;
      io.result({ data, next_after: next }, () => {
        io.table(data, ACCOUNT_COLUMNS);
        if (next) io.line(`(more: --after ${next})`);
      });
    },
  },
  {
    name: 'accounts show',
    summary: 'Show an account and its balance',
    args: ['account'],
    async run({ positionals: [id], io }) {
      const { account, balance } = await withServices(async (ctx) => ({ account: await getAccount(ctx, id!), balance: await getBalance(ctx, id!) }));
      const view = { ...accountView(account), balance: balanceView(balance) };
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'accounts update',
    summary: 'Change name, e-mail, status, group, credit line or spending order',
    args: ['account'],
    options: {
      ...ACCOUNT_FIELDS,
      'clear-email': { type: 'boolean', help: 'remove the contact e-mail' },
      status: { type: 'string', value: 'STATUS', help: 'active | suspended (keys stop working) | closed' },
    },
    details: '--spend-order default clears the account\'s own order (the SURETY_SPEND_ORDER setting applies);\n--rpm none and --tpm none remove the account-wide rate limits.',
    async run({ values: v, positionals: [id], io }) {
      const order = str(v, 'spend-order');
      const input = defined({
        name: str(v, 'name'),
        email: flag(v, 'clear-email') ? null : str(v, 'email'),
        status: str(v, 'status'),
        group: str(v, 'group'),
        credit_line: str(v, 'credit-line'),
        spend_order: order === 'default' ? null : order,
        rpm: nullable(v, 'rpm', int),
        tpm: nullable(v, 'tpm', int),
      });
      if (Object.keys(input).length === 0) throw new UsageError('nothing to update: give at least one of the options', 'accounts update');
      const account = await withServices((ctx) => updateAccount(ctx, id!, input));
      const view = accountView(account);
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'balance',
    summary: 'An account\'s balance by bucket (paid, granted), held and available',
    args: ['account'],
    async run({ positionals: [id], io }) {
      const view = balanceView(await withServices((ctx) => getBalance(ctx, id!)));
      io.result(view, () => io.record(view));
    },
  },
];
