import { main } from './cli/main.ts';

// `npm start` is `surety start`: the gateway with the embedded store (or DATABASE_URL) and, on an
// empty database, a demo. The work and the output live in src/cli/start.ts.
void main(['start', ...process.argv.slice(2)]);
