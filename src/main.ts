import { main } from './cli/main.ts';

// `surety start` (`npm start` runs it as `bin/surety.js start`, which also caches the compiled
// modules): the gateway with the embedded store (or DATABASE_URL) and, on an empty database, a
// demo. The work and the output live in src/cli/start.ts.
void main(['start', ...process.argv.slice(2)]);
