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
  // The demo probes soon and often, so that its status page shows live statuses at once.
  const s = await startSurety(config, config.demo ? { status: { probes: { firstAfterMs: 5_000, maxEverySeconds: 60 } } } : {});
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(`Surety listening on ${s.url} (storage: ${s.rt.db.engine}${s.rt.db.engine === 'sqlite' ? `, ${config.dataDir}` : ''})`);
  if (s.adminKey) {
    out();
    out(`Operator key (shown once; set SURETY_ADMIN_KEY to choose your own):`);
    out(`  ${s.adminKey}`);
  } else if (s.demo && config.adminKey) {
    out();
    out('Operator key: the one in SURETY_ADMIN_KEY');
  }
  out(`Web console: ${s.url}/console (sign in with a key printed here)`);
  out(`Status page: ${s.url}/status`);
  if (s.sim) out(`\nDemo upstream simulator on ${s.sim.url} (models: gpt-4o-mini, claude-sonnet-5-5, gemini-2.5-flash, text-embedding-3-small, gpt-image-1, nano-banana-pro)`);
  if (s.demo) {
    const k = s.demo.customerKey;
    out();
    out(`Demo customer ${s.demo.accountId} ($25.00 paid + $5.00 bonus), key (shown once):`);
    out(`  ${k}`);
    out();
    out('Try it:');
    out(`  curl -s ${s.url}/v1/chat/completions -H "Authorization: Bearer ${k}" -H "Content-Type: application/json" \\`);
    out(`    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'`);
    out(`  curl -s ${s.url}/account/v1/balance -H "Authorization: Bearer ${k}"`);
    out(`  curl -s "${s.url}/account/v1/logs?limit=1" -H "Authorization: Bearer ${k}"`);
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
