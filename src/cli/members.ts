import { addMember, listMembers, memberView, removeMember, updateMember } from '../accounts/members.ts';
import { defined, required, str, UsageError, withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'members add',
    summary: 'Add a member to an enterprise account',
    args: ['account'],
    options: {
      email: { type: 'string', value: 'EMAIL', help: 'the member\'s e-mail (unique within the account)' },
      role: { type: 'string', value: 'ROLE', help: 'owner | admin | member | viewer' },
      name: { type: 'string', value: 'NAME', help: 'display name' },
    },
    async run({ values: v, positionals: [account], io }) {
      const input = defined({ email: required(v, 'email', 'members add'), role: required(v, 'role', 'members add'), name: str(v, 'name') });
      const view = memberView(await withServices((ctx) => addMember(ctx, account!, input)));
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'members list',
    summary: 'List an account\'s members',
    args: ['account'],
    async run({ positionals: [account], io }) {
      const data = (await withServices((ctx) => listMembers(ctx, account!))).map(memberView);
      io.result({ data }, () =>
        io.table(data, [
          ['id', 'ID'],
          ['email', 'EMAIL'],
          ['name', 'NAME'],
          ['role', 'ROLE'],
          ['created_at', 'ADDED'],
        ]),
      );
    },
  },
  {
    name: 'members update',
    summary: 'Change a member\'s role or name (an account keeps at least one owner)',
    args: ['account', 'member'],
    options: {
      role: { type: 'string', value: 'ROLE', help: 'owner | admin | member | viewer' },
      name: { type: 'string', value: 'NAME', help: 'display name' },
    },
    async run({ values: v, positionals: [account, member], io }) {
      const input = defined({ role: str(v, 'role'), name: str(v, 'name') });
      if (Object.keys(input).length === 0) throw new UsageError('nothing to update: give --role or --name', 'members update');
      const view = memberView(await withServices((ctx) => updateMember(ctx, account!, member!, input)));
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'members remove',
    summary: 'Remove a member; the keys bound to them are revoked',
    args: ['account', 'member'],
    async run({ positionals: [account, member], io }) {
      await withServices((ctx) => removeMember(ctx, account!, member!));
      io.result({ ok: true, account_id: account, member_id: member }, () => io.line(`Removed member ${member} from ${account}; their keys are revoked.`));
    },
  },
];
