import type { Command } from './framework.ts';
import { cliConfig, defined, str } from './framework.ts';

/**
 * `npm start` / `surety start`: the gateway with the embedded store (or DATABASE_URL) and, on an
 * empty database, a demo. Prints where it listens and, once, the keys it generated.
 * Returns when listening; the server then runs until SIGTERM/SIGINT (graceful close).
 */
export async function runStart(overrides: { host?: string; port?: string } = {}): Promise<void> {
  const config = cliConfig(defined(overrides));
  // Loaded here so the other commands do not pay for the HTTP stack.
  const { startSurety } = await import('../start.ts');
  const s = await startSurety(config);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(`Surety listening on ${s.url} (storage: ${s.rt.db.engine}${s.rt.db.engine === 'sqlite' ? `, ${config.dataDir}` : ''})`);
  if (s.adminKey) {
    out();
    out(`Operator key (shown once; set SURETY_ADMIN_KEY to choose your own):`);
    out(`  ${s.adminKey}`);
  }
  if (s.demo) {
    out();
    out(`Demo customer ${s.demo.accountId}, key (shown once):`);
    out(`  ${s.demo.customerKey}`);
    out(`  curl -s ${s.url}/account/v1/balance -H "Authorization: Bearer ${s.demo.customerKey}"`);
  }
}

export const commands: Command[] = [
  {
    name: 'start',
    summary: 'Run the gateway (same as npm start): HTTP on HOST:PORT, migrations applied, demo on an empty database',
    options: {
      host: { type: 'string', value: 'HOST', help: 'listen address (default HOST or 127.0.0.1)' },
      port: { type: 'string', value: 'PORT', help: 'listen port (default PORT or 8787)' },
    },
    details: 'Every setting is an environment variable (see README); --host and --port override HOST and PORT.',
    async run({ values: v }) {
      await runStart({ host: str(v, 'host'), port: str(v, 'port') });
    },
  },
];
