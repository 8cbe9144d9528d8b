// `npm run bench -- writer` (or `node bench/writer.ts`): the request-log writer's CPU per row on SQLite (the gateway's thread).
// BENCH_WRITER_ROWS (default 50,000) synthetic rows — BENCH_WRITER_ACCOUNTS (default 20) accounts, 5 models, 3 channels, a mix of
// outcomes, 90 % charged — are pushed through a LogWriter in batches of BENCH_WRITER_BATCH (default
// 100; the gateway's group commit makes batches of what settles within SURETY_FLUSH_MS), each batch
// flushed before the next. Prints one JSON line: CPU µs per row (process.cpuUsage, push to
// commit) and wall time. BENCH_WRITER_SRC points at another tree's src/ to measure it the same
// way (e.g. the commit before a change). No assertions: numbers, not tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fakeRow } from '../test/helpers/request-rows.ts';

const N = Number(process.env.BENCH_WRITER_ROWS ?? 50_000);
const B = Number(process.env.BENCH_WRITER_BATCH ?? 100);
const src = resolve(process.env.BENCH_WRITER_SRC ?? new URL('../src', import.meta.url).pathname);
const { SqliteDb } = await import(join(src, 'storage/sqlite/db.ts'));
const { migrate } = await import(join(src, 'storage/migrations.ts'));
const { createRuntime } = await import(join(src, 'runtime.ts'));
const { loadConfig } = await import(join(src, 'kernel/config/load.ts'));
const { withActor } = await import(join(src, 'kernel/context.ts'));
const { createAccount } = await import(join(src, 'accounts/accounts.ts'));
const { LogWriter } = await import(join(src, 'requests/writer.ts'));

const dir = mkdtempSync(join(tmpdir(), 'surety-bench-writer-'));
const db = new SqliteDb(join(dir, 'surety.db'));
await migrate(db);
const rt = await createRuntime(loadConfig({}, { logLevel: 'silent', demo: 'false', dataDir: dir }), { db });
const op = withActor(rt, { type: 'operator', id: 'bench' });
const accounts: string[] = [];
const ACCOUNTS = Number(process.env.BENCH_WRITER_ACCOUNTS ?? 20);
for (let i = 0; i < ACCOUNTS; i++) accounts.push((await createAccount(op, { name: `bench ${i}`, credit_line: '1000000' })).id);
const money = { committed() {}, dropped() {} };
const writer = new LogWriter(rt, money, { flushMs: 3_600_000, maxBatch: B * 2 });

const MODELS = ['gpt-4o-mini', 'claude-sonnet-5-5', 'gemini-2.5-flash', 'gpt-image-1', 'nano-banana-pro'];
const OUTCOMES = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'upstream_error', 'client_error', 'platform_error'] as const;
const T0 = Date.now() - 600_000;
const rows = Array.from({ length: N }, (_, i) => {
  const started = T0 + Math.floor((i * 600_000) / N);
  const outcome = OUTCOMES[i % OUTCOMES.length]!;
  const charged = outcome === 'ok';
  return fakeRow({
    account_id: accounts[i % accounts.length]!, key_id: null, model: MODELS[i % MODELS.length]!, channel_id: `ch_${i % 3}`, outcome,
    started_at: started, first_byte_at: started + 200 + (i % 50), ended_at: started + 400, duration_ms: 400, amount: charged ? 11_400n : 0n,
  });
});

const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < N; i += B) {
  for (const r of rows.slice(i, i + B)) writer.push(r);
  await writer.flush();
}
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
if (writer.stats.failures > 0 || writer.stats.flushed !== N) throw new Error(`writer: ${JSON.stringify(writer.stats)}`);
console.log(JSON.stringify({ src, rows: N, batch: B, cpu_us_per_row: Math.round(((cpu.user + cpu.system) / N) * 10) / 10, wall_ms: Math.round(wall) }));
await db.close();
rmSync(dir, { recursive: true, force: true });
