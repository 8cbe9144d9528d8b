import { listAudit } from '../admin/views.ts';
import { int, limit, LIMIT_OPTION, str, withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'audit list',
    summary: 'Audit entries, newest first: who did what to which record, before and after',
    options: {
      account: { type: 'string', value: 'ID', help: 'only entries about this account' },
      action: { type: 'string', value: 'ACTION', help: 'e.g. topup.record, key.revoke, refund.approve' },
      'target-type': { type: 'string', value: 'TYPE', help: 'account, key, member, topup, refund, hold, …' },
      target: { type: 'string', value: 'ID', help: 'only entries about this record' },
      before: { type: 'string', value: 'ID', help: 'older than this entry id' },
      limit: LIMIT_OPTION,
    },
    async run({ values: v, io }) {
      const n = limit(v, 'audit list');
      const data = await withServices((_ctx, rt) =>
        listAudit(rt.db, { accountId: str(v, 'account'), action: str(v, 'action'), targetType: str(v, 'target-type'), targetId: str(v, 'target'), before: int(v, 'before')?.toString(), limit: n }),
      );
      io.result({ data }, () =>
        io.table(data, [
          ['id', 'ID'],
          ['at', 'AT'],
          ['actor', 'ACTOR'],
          ['action', 'ACTION'],
          ['target_type', 'TARGET'],
          ['target_id', 'TARGET ID'],
          ['account_id', 'ACCOUNT'],
        ]),
      );
    },
  },
];
