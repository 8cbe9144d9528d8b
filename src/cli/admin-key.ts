import { rotateAdminKey } from '../accounts/operator-key.ts';
import { withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'admin-key rotate',
    summary: 'Replace the stored operator key and print the new one once (not with SURETY_ADMIN_KEY set)',
    details: 'The old key stops working when the gateway restarts; a running gateway keeps the key it started with.',
    async run({ io }) {
      const { key, fingerprint } = await withServices((ctx) => rotateAdminKey(ctx));
      io.result({ key, fingerprint }, () => {
        io.line('New operator key (shown once; store it now):');
        io.line(`  ${key}`);
        io.line('Restart the gateway for it to take effect; the previous key is then refused.');
      });
    },
  },
];
