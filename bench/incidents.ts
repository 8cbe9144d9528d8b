// Incident preview and export over a million log rows on SQLite (DESIGN "Budgets": preview over
// 1 million rows ≤ 2 s). Run by `npm run bench` after the gateway figures, or alone:
// `node bench/incidents.ts` (BENCH_INCIDENT_ROWS to change the size). A fresh SQLite file gets
// BENCH_INCIDENT_ROWS rows inside the incident's window (every one of them scanned: the scope is
// every model) and a fifth as many outside it, over 1,000 accounts and a realistic outcome mix.
// Prints one JSON line of figures last. No assertions: numbers, not tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../src/kernel/config/load.ts';
import { withActor } from '../src/kernel/context.ts';
import { exportManifest, writeExportDir } from '../src/kernel/export.ts';
import { createRuntime } from '../src/runtime.ts';
import { migrate } from '../src/storage/migrations.ts';
import { SqliteDb } from '../src/storage/sqlite/db.ts';
import { declareIncident } from '../src/incidents/index.ts';
import { previewIncident } from '../src/incidents/reissue.ts';
import { INCIDENT_SCOPE_DATASETS, scopeRows } from '../src/incidents/export.ts';
import { channelIds, selection } from '../src/incidents/scope.ts';

const N = Number(process.env.BENCH_INCIDENT_ROWS ?? 1_000_000);
const T0 = Date.UTC(2026, 0, 1);
const SPAN = 24 * 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'surety-bench-incidents-'));
const db = new SqliteDb(join(dir, 'surety.db'));

/** Rows generated inside SQLite (a recursive CTE): [first, last) spread evenly over [from, from + span). */
function fill(first: number, last: number, from: number, span: number): void {
  db.exec(`WITH RECURSIVE s(i) AS (SELECT ${first} UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ${last})
    INSERT INTO request_log (id, account_id, key_id, endpoint, provider, model, channel_id, attempts, started_at, ended_at, duration_ms, stream, status, outcome, usage_billable, price_version, hold_amount, amount)
    SELECT printf('req_%012d', i), printf('acct_%04d', i % 1000), printf('key_%04d', i % 1000), CASE WHEN i % 50 = 0 THEN 'images' ELSE 'chat' END, 'openai',
      CASE i % 10 WHEN 0 THEN 'claude-sonnet-4-5' WHEN 1 THEN 'gemini-2.5-flash' WHEN 2 THEN 'gpt-image-1' ELSE 'gpt-4o-mini' END, 'ch_' || (i % 3),
      '[{"channel":"ch_0","status":200,"outcome":"ok","ms":120}]', ${from} + (i - ${first}) * ${span} / ${last - first}, ${from} + (i - ${first}) * ${span} / ${last - first} + 120, 120, 0,
      CASE WHEN i % 20 = 7 THEN 502 WHEN i % 33 = 5 THEN 400 ELSE 200 END,
      CASE WHEN i % 20 = 7 THEN 'platform_error' WHEN i % 33 = 5 THEN 'client_error' WHEN i % 41 = 3 THEN 'upstream_error' ELSE 'ok' END,
      '{"input_tokens":12,"output_tokens":16}', 1, 20000,
      CASE WHEN i % 20 = 7 OR i % 33 = 5 OR i % 41 = 3 THEN 0 ELSE 11400 + (i % 7) * 1000 END
    FROM s`);
}

const ms = (t: number) => Math.round((performance.now() - t) * 10) / 10;
/** Wall and CPU milliseconds of `fn` (on a shared machine the CPU time says what an idle one would take). */
async function timed<T>(figures: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const c0 = process.cpuUsage();
  const t = performance.now();
  const out = await fn();
  const c = process.cpuUsage(c0);
  figures[`${name}_ms`] = ms(t);
  figures[`${name}_cpu_ms`] = Math.round((c.user + c.system) / 100) / 10;
  return out;
}

try {
  await migrate(db);
  let t = performance.now();
  const step = 250_000;
  for (let i = 0; i < N; i += step) fill(i, Math.min(N, i + step), T0, SPAN);
  fill(N, N + Math.floor(N / 5), T0 + SPAN, SPAN);
  db.exec('ANALYZE');
  process.stderr.write(`incidents bench: ${N + Math.floor(N / 5)} rows written in ${ms(t)} ms\n`);

  const rt = await createRuntime(loadConfig({}, { demo: 'false', logLevel: 'silent' }), { db, log: pino({ level: 'silent' }) });
  rt.now = () => T0 + 3 * SPAN;
  const op = withActor(rt, { type: 'operator', id: 'bench' });
  const inc = await declareIncident(op, { title: 'bench', attribution: 'platform', window_start: new Date(T0).toISOString(), window_end: new Date(T0 + SPAN).toISOString() });
  const figures: Record<string, number> = { rows_in_window: N, load_average_1m: Math.round(loadavg()[0]! * 10) / 10, cores: availableParallelism() };
  // The first preview reads a cold file; the same one again, warm.
  for (const [name, outcome] of [['preview_charged_cold', 'charged'], ['preview_charged', 'charged'], ['preview_failed', 'failed'], ['preview_all', 'all']] as const) {
    const p = await timed(figures, name, () => previewIncident(op, inc.id, { outcome }));
    figures[`${name}_requests`] = p.lines.reduce((n, l) => n + l.requests, 0);
    figures[`${name}_accounts`] = p.lines.length;
  }
  const scoped = await declareIncident(op, { title: 'bench scoped', attribution: 'platform', scope: { models: ['gpt-4o-mini'] }, window_start: new Date(T0).toISOString(), window_end: new Date(T0 + SPAN).toISOString() });
  await timed(figures, 'preview_one_model', () => previewIncident(op, scoped.id));

  const s = selection(inc, 'charged', rt.now(), { channelIds: await channelIds(db) });
  const m = await timed(figures, 'export_manifest_csv', () => exportManifest(INCIDENT_SCOPE_DATASETS.operator, scopeRows(db, inc.id, s, 'operator'), [{ name: 'x.csv', format: 'csv' }], s.describe));
  figures.export_rows = m.rows;
  const w = await timed(figures, 'export_dir_csv_ndjson', () => writeExportDir(join(dir, 'export'), 'scope', INCIDENT_SCOPE_DATASETS.operator, ['csv', 'ndjson'], scopeRows(db, inc.id, s, 'operator'), s.describe));
  figures.export_rows_per_s = Math.round(w.rows / (figures.export_dir_csv_ndjson_ms! / 1000));
  await rt.close();
  process.stdout.write(`${JSON.stringify({ bench: 'incidents', engine: 'sqlite', ...figures })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
