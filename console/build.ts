// `npm run console:build`: builds console/ with Vite into console/dist and records the hash of the
// sources it was built from (console/dist/.source-hash). console/dist is committed, so a fresh
// clone serves the console with `npm install && npm start`; test/unit/console/dist.test.ts fails
// when the sources changed without a rebuild.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';
import { sourceHash } from './source-hash.ts';

const root = import.meta.dirname;
await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
writeFileSync(join(root, 'dist', '.source-hash'), `${sourceHash()}\n`);
console.log(`console built into ${join(root, 'dist')} (sources ${sourceHash().slice(0, 12)})`);
