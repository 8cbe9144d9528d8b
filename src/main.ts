import { ConfigError, loadConfig } from './config/load.ts';
import { startSurety } from './start.ts';

// `npm start`: the gateway with the embedded store (or DATABASE_URL) and, on an empty database, a demo.
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`surety: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
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

main().catch((e) => {
  process.stderr.write(`surety: failed to start: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
