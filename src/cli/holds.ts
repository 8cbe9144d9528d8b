import { expireHolds } from '../billing/holds.ts';
import { withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'holds expire',
    summary: 'Void every open hold past its TTL now (a running gateway does this every few seconds)',
    details: 'Expired holds are released, never charged.',
    async run({ io }) {
      const expired = await withServices((_ctx, rt) => expireHolds(rt));
      io.result({ expired }, () => io.line(`Expired ${expired} hold${expired === 1 ? '' : 's'}.`));
    },
  },
];
