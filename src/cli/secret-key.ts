import { readFileSync } from 'node:fs';
import { rotateSecretKey } from '../catalog/secret-rotation.ts';
import { UsageError, str, withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'secret-key rotate',
    summary: 'Re-encrypt every stored upstream key under a new SURETY_SECRET_KEY (read from --new-key-file or SURETY_NEW_SECRET_KEY)',
    options: { 'new-key-file': { type: 'string', value: 'PATH', help: 'file holding the new secret key (≥ 32 characters); else SURETY_NEW_SECRET_KEY' } },
    details: 'Runs with the current key (SURETY_SECRET_KEY or the data directory\'s secret.key). Then start every instance with SURETY_SECRET_KEY set to the new key; a start with the old one is refused. Running it again changes nothing.',
    async run({ io, values }) {
      const file = str(values, 'new-key-file');
      const secret = (file ? readFileSync(file, 'utf8') : (process.env.SURETY_NEW_SECRET_KEY ?? '')).trim();
      if (!secret) throw new UsageError('give the new key in --new-key-file PATH or SURETY_NEW_SECRET_KEY');
      const r = await withServices((ctx) => rotateSecretKey(ctx, secret));
      io.result({ channels: r.channels, keys: r.keys, key_id: r.keyId }, () => {
        io.line(`Re-encrypted ${r.keys} upstream key(s) of ${r.channels} channel(s) under the new key (key id ${r.keyId}).`);
        io.line('Now set SURETY_SECRET_KEY to the new key and restart every instance.');
      });
    },
  },
];
