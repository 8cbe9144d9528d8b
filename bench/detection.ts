// `npm run bench -- detection`: the abnormal-billing scan rate over BENCH_DETECTION_ROWS (default
// 1,000,000) request-log rows on SQLite (DESIGN budget: ≥ 500,000 rows/s). The rows are a mix like
// real traffic: 94 % charged answers of three models, 4 % failures not charged, and 2 % of wrong
// charges of every kind the rules look for. Prints one JSON line; no assertions (numbers, not tests).
// BENCH_DETECTION_ENGINE=postgres runs it on PostgreSQL instead (BENCH_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/test), in a fresh schema dropped afterwards, ANALYZEd after the
// rows are inserted (BENCH_DETECTION_ANALYZE=0: not, as a log filled faster than autovacuum analyses it).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccount } from '../src/accounts/accounts.ts';
import { putModel } from '../src/catalog/index.ts';
import { scanWindow } from '../src/detection/scanner.ts';
import { saveDetectionSettings } from '../src/detection/settings.ts';
import { withActor } from '../src/kernel/context.ts';
import { loadConfig } from '../src/kernel/config/load.ts';
import { createRuntime } from '../src/runtime.ts';
import { migrate } from '../src/storage/migrations.ts';
import { SqliteDb } from '../src/storage/sqlite/db.ts';
import { PostgresDb } from '../src/storage/postgres/db.ts';
import type { Db } from '../src/storage/port.ts';
import type { RequestRow } from '../src/requests/schema.ts';
import { fakeRow, insertRows } from '../test/helpers/request-rows.ts';

const N = Number(process.env.BENCH_DETECTION_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_DETECTION_RUNS ?? 3);
const ENGINE = process.env.BENCH_DETECTION_ENGINE ?? 'sqlite';
if (ENGINE !== 'sqlite' && ENGINE !== 'postgres') throw new Error(`BENCH_DETECTION_ENGINE: sqlite or postgres, not ${ENGINE}`);
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'surety-bench-detection-'));
// PostgreSQL: a schema of its own (search_path through the connection string), dropped at the end.
const schema = ENGINE === 'postgres' ? `bench_detection_${randomBytes(6).toString('hex')}` : null;
async function admin(sql: string): Promise<void> {
  const a = new PostgresDb(PG_URL, { max: 1 });
  try {
    await a.run(sql);
  } finally {
    await a.close();
  }
}
let db: Db;
if (schema) {
  await admin(`CREATE SCHEMA ${schema}`);
  const u = new URL(PG_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  db = new PostgresDb(u.toString());
} else db = new SqliteDb(join(dir, 'surety.db'));
await migrate(db);
const rt = await createRuntime(loadConfig({}, { logLevel: 'silent', demo: 'false', dataDir: dir }), { db });
const op = withActor(rt, { type: 'operator', id: 'bench' });
await putModel(op, 'gpt-4o-mini', { provider: 'openai', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' } });
await putModel(op, 'nano-banana-pro', { provider: 'gemini', kind: 'images', price: { per_image: { default: '0.09' } } });
await saveDetectionSettings(op, { scan_lag_seconds: 0 });
const accounts: string[] = [];
for (let i = 0; i < 50; i++) accounts.push((await createAccount(op, { name: `bench ${i}` })).id);

const T0 = Date.UTC(2026, 10, 1);
const usage = (i: number, o: number) => ({ input_tokens: i, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: o, reasoning_tokens: 0, images: 0, estimated: false });
function row(i: number): RequestRow {
  const started = T0 + i * 3;
  const account = accounts[i % accounts.length]!;
  const base = { account_id: account, started_at: started, first_byte_at: started + 40, ended_at: started + 90, duration_ms: 90 };
  const k = i % 100;
  const inTok = 200 + (i % 700);
  const outTok = 50 + (i % 300);
  const chatAmount = BigInt(inTok * 150 + outTok * 600);
  const chat = { ...base, usage_billable: usage(inTok, outTok), usage_raw: { prompt_tokens: inTok, completion_tokens: outTok, total_tokens: inTok + outTok }, amount: chatAmount, hold_amount: chatAmount * 4n, delivered: { images: 0, text_chars: outTok * 4, text_bytes: outTok * 4 } };
  const img = { ...base, model: 'nano-banana-pro', endpoint: 'images.generations', provider: 'gemini', usage_billable: { ...usage(0, 0), images: 1 }, usage_raw: null, amount: 90_000_000n, hold_amount: 90_000_000n, duration_ms: 40_000 + (i % 50_000), delivered: { images: 1, text_chars: 0, text_bytes: 0 } };
  if (k < 60) return fakeRow(chat);
  if (k < 94) return fakeRow(k < 80 ? img : { ...chat, client_ref: `sdk-${i}` });
  if (k < 98) return fakeRow({ ...chat, outcome: 'upstream_error', status: 502, amount: 0n, usage_billable: null, delivered: { images: 0, text_chars: 0 } });
  // 2 % wrong charges: on a failure, after the timeout, nothing delivered, off price.
  if (k === 98) return fakeRow(Math.floor(i / 100) % 2 ? { ...chat, outcome: 'platform_error', status: 500 } : { ...img, duration_ms: 320_000 });
  return fakeRow(Math.floor(i / 100) % 2 ? { ...img, delivered: { images: 0, text_chars: 0 } } : { ...chat, amount: chatAmount + 100n });
}

const t0 = performance.now();
for (let i = 0; i < N; i += 50_000) {
  const part: RequestRow[] = [];
  for (let j = i; j < Math.min(N, i + 50_000); j++) part.push(row(j));
  await insertRows(db, part, 10_000);
  process.stderr.write(`\rrows inserted: ${Math.min(N, i + 50_000).toLocaleString('en')} / ${N.toLocaleString('en')}`);
}
process.stderr.write(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
// Fresh statistics for the planner, as autovacuum would have gathered on a log filled over time.
if (schema && process.env.BENCH_DETECTION_ANALYZE !== '0') await db.run('ANALYZE');

const results: Array<Record<string, number>> = [];
for (let r = 0; r < RUNS; r++) {
  // A fresh findings table each run: the scan writes them all again.
  await db.run('DELETE FROM findings');
  const cpu0 = process.cpuUsage();
  const s = await scanWindow(rt, 0, T0 + N * 3 + 1_000_000, { onProgress: (p) => process.stderr.write(`\rrun ${r + 1}: ${p.rows.toLocaleString('en')} rows scanned, ${p.judged.toLocaleString('en')} judged by the rules`) });
  process.stderr.write('\n');
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  results.push({ run: r + 1, seconds: +(s.ms / 1000).toFixed(3), cpu_seconds: +cpuS.toFixed(3), rows_per_s: Math.round(N / (s.ms / 1000)), rows_per_cpu_s: Math.round(N / cpuS), rows_scanned: s.rows, judged_by_rules: s.judged, findings: s.findings });
}
const median = (k: 'rows_per_s' | 'rows_per_cpu_s') => [...results].sort((a, b) => a[k] - b[k])[Math.floor(results.length / 2)]![k];
// Wall-clock rate, and the rate per CPU-second of the scanning process (what the scan costs,
// whatever else the machine is doing: on a shared, loaded machine the wall clock mostly measures the others).
// The findings of the last run per rule: a faster scan must find exactly what a slower one did.
const byRule = Object.fromEntries((await db.all('SELECT rule, COUNT(*) AS n FROM findings GROUP BY rule ORDER BY rule')).map((r) => [String(r.rule), Number(r.n)]));
process.stdout.write(`${JSON.stringify({ bench: 'abnormal-billing scan', engine: ENGINE, rows: N, budget_rows_per_s: 500_000, median_rows_per_s: median('rows_per_s'), median_rows_per_cpu_s: median('rows_per_cpu_s'), load_average: loadavg().map((x) => +x.toFixed(1)), findings_by_rule: byRule, runs: results })}\n`);
await rt.close();
rmSync(dir, { recursive: true, force: true });
if (schema) await admin(`DROP SCHEMA ${schema} CASCADE`);
