// Surety with every feature on (auth, limits, hold, metering, billing, logging) on a fresh
// embedded store, its channels pointing at the simulator given as argv[2]. With BENCH_DB and
// BENCH_REDIS (and BENCH_PREFIX): on that PostgreSQL schema with quotas shared through Redis;
// BENCH_JOIN=1 joins instances already set up there (no account, no key: the first one's serve).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/kernel/config/load.ts';
import { startSurety } from '../src/start.ts';
import { createAccount } from '../src/accounts/accounts.ts';
import { createKey } from '../src/accounts/keys.ts';
import { recordTopup } from '../src/billing/topups.ts';
import { withActor } from '../src/kernel/context.ts';

const simUrl = process.argv[2]!;
const dir = mkdtempSync(join(tmpdir(), 'surety-bench-'));
const catalog = join(dir, 'catalog.json');
writeFileSync(
  catalog,
  JSON.stringify({
    models: {
      'gpt-4o-mini': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '0.15', cached_input_per_mtok: '0.075', output_per_mtok: '0.60' } },
      // Served by an Anthropic channel: OpenAI-format requests to it are translated (the stream-xlate scenario).
      'claude-bench': { provider: 'anthropic', kind: 'chat', price: { input_per_mtok: '3', output_per_mtok: '15' } },
    },
    channels: [
      { name: 'bench-sim', provider: 'openai', base_url: simUrl, keys: ['sk-bench'], models: ['gpt-4o-mini'] },
      { name: 'bench-sim-anthropic', provider: 'anthropic', base_url: simUrl, keys: ['sk-bench'], models: ['claude-bench'] },
    ],
  }),
);
const shared = process.env.BENCH_DB ? { databaseUrl: process.env.BENCH_DB, redisUrl: process.env.BENCH_REDIS, redisPrefix: process.env.BENCH_PREFIX } : {};
const config = loadConfig(process.env, { dataDir: dir, port: 0, demo: 'false', logLevel: 'warn', adminKey: 'bench-admin-key-0123456789', secretKey: 'bench-secret-key-0123456789abcdef0123', configFile: catalog, ...shared });
const s = await startSurety(config, { handleSignals: true });
if (process.env.BENCH_JOIN) {
  process.stdout.write(`${JSON.stringify({ url: s.url })}\n`);
  await new Promise(() => {});
}
const ctx = withActor(s.rt, { type: 'operator', id: 'bench' });
const account = await createAccount(ctx, { name: 'bench' });
await recordTopup(ctx, account.id, { amount: '1000000.00', method: 'other', reference: 'bench' }, 'bench-topup');
// Limits on, generous enough never to refuse: the limiter still runs on every request.
const { secret } = await createKey(ctx, account.id, { name: 'bench', rpm: 10_000_000, tpm: 10_000_000, concurrency: 10_000, limits: { total: '1000000.00' } });
process.stdout.write(`${JSON.stringify({ url: s.url, key: secret })}\n`);
if (process.env.BENCH_MEM) {
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`rss ${(m.rss / 1e6).toFixed(0)} heapTotal ${(m.heapTotal / 1e6).toFixed(0)} heapUsed ${(m.heapUsed / 1e6).toFixed(0)} external ${(m.external / 1e6).toFixed(0)} arrayBuffers ${(m.arrayBuffers / 1e6).toFixed(0)}\n`);
  }, 1000).unref();
}
