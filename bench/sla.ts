// The SLA report budget (DESIGN "Budgets": an SLA report over 10 million log rows ≤ 10 s on
// SQLite). Fills a fresh SQLite database with BENCH_SLA_ROWS request-log rows (default 10,000,000)
// of ONE account over one month (the worst case: every row is the report's), builds the per-minute
// rollups from them as `surety rollups rebuild` does (the gateway's writer keeps them as it writes),
// then times the month's report — request-based and time-based, BENCH_SLA_RUNS times each (median)
// — and the period close. Prints a table and writes .bench/sla.json. No assertions: numbers.
//
//   node bench/sla.ts            or   npm run bench -- sla
// BENCH_SLA_DB=path keeps the database there and, when it already holds the rows, measures again
// without refilling it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDb } from '../src/storage/sqlite/db.ts';
import { migrate } from '../src/storage/migrations.ts';
import { createRuntime } from '../src/runtime.ts';
import { loadConfig } from '../src/kernel/config/load.ts';
import { withActor } from '../src/kernel/context.ts';
import { createAccount } from '../src/accounts/accounts.ts';
import { createContract } from '../src/contracts/contracts.ts';
import { contractReport } from '../src/contracts/service.ts';
import { closePeriod } from '../src/contracts/close.ts';
import { noIncidents } from '../src/contracts/support.ts';
import { rebuildRollups } from '../src/requests/rollups.ts';

const ROWS = Number(process.env.BENCH_SLA_ROWS ?? 10_000_000);
const RUNS = Number(process.env.BENCH_SLA_RUNS ?? 5);
const FROM = Date.UTC(2026, 10, 1);
const TO = Date.UTC(2026, 11, 1);
const CHUNK = 500_000;

const keep = process.env.BENCH_SLA_DB;
const dir = keep ?? mkdtempSync(join(tmpdir(), 'surety-bench-sla-'));
const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const db = new SqliteDb(join(dir, 'surety.db'));
  await migrate(db);
  const rt = await createRuntime(loadConfig({}, { logLevel: 'silent', demo: 'false', dataDir: dir }), { db });
  rt.now = () => Date.UTC(2026, 11, 2);
  const op = withActor(rt, { type: 'operator', id: 'bench' });
  const prior = await db.get<{ id: string }>("SELECT id FROM accounts WHERE name = 'bench enterprise'");
  const reuse = prior !== undefined && Number((await db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM request_log'))!.n) === ROWS;
  const account = prior?.id ?? (await createAccount(op, { name: 'bench enterprise', kind: 'enterprise' })).id;

  // Rows generated inside SQLite (a recursive sequence), spread evenly over November: four models,
  // two keys, about 0.3 % platform errors, 1 % client errors, 0.1 % moderation refusals.
  let t0 = performance.now();
  for (let start = 0; start < (reuse ? 0 : ROWS); start += CHUNK) {
    const n = Math.min(CHUNK, ROWS - start);
    db.exec(`WITH RECURSIVE seq(i) AS (SELECT ${start} UNION ALL SELECT i + 1 FROM seq WHERE i < ${start + n - 1})
INSERT INTO request_log (id, account_id, key_id, endpoint, provider, model, started_at, ended_at, duration_ms, stream, status, outcome, usage_estimated, hold_amount, amount)
SELECT printf('req_bench_%010d', i), '${account}', CASE i % 2 WHEN 0 THEN 'key_a' ELSE 'key_b' END, 'chat', 'openai',
  CASE i % 4 WHEN 0 THEN 'gpt-4o-mini' WHEN 1 THEN 'claude-sonnet-4-5' WHEN 2 THEN 'gemini-2.5-flash' ELSE 'gpt-image-1' END,
  ${FROM} + (i * ${TO - FROM}) / ${ROWS}, ${FROM} + (i * ${TO - FROM}) / ${ROWS} + 350, 350, 0,
  CASE WHEN i % 331 = 0 THEN 500 WHEN i % 100 = 7 THEN 400 ELSE 200 END,
  CASE WHEN i % 331 = 0 THEN 'platform_error' WHEN i % 100 = 7 THEN 'client_error' WHEN i % 1000 = 3 THEN 'upstream_moderation' ELSE 'ok' END,
  0, 20000, CASE WHEN i % 331 = 0 OR i % 100 = 7 OR i % 1000 = 3 THEN 0 ELSE 11400 END
FROM seq`);
    log(`rows: ${start + n} / ${ROWS} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const fill = (performance.now() - t0) / 1000;

  t0 = performance.now();
  const rebuilt = reuse
    ? { rollups: Number((await db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM request_rollups'))!.n) }
    : await rebuildRollups(db, FROM, TO, (done, total) => {
        if (done % 5 === 0 || done === total) log(`rollups: day ${done} / ${total}`);
      });
  const rebuild = (performance.now() - t0) / 1000;

  const terms = (metric: Record<string, unknown>) => ({
    term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99.9', metric, exclusions: { beta_models: ['gpt-image-1'] },
    credit_tiers: [{ below_percent: '99.9', credit_percent: '10' }, { below_percent: '99', credit_percent: '25' }],
  });
  const results: Record<string, number[]> = { request: [], time: [] };
  const figures: Record<string, unknown> = {};
  for (const metric of ['request', 'time'] as const) {
    const c = await createContract(op, { account_id: account, name: `bench ${metric}`, terms: terms(metric === 'request' ? { type: 'request' } : { type: 'time', threshold_percent: '1', min_requests: 10 }) });
    for (let i = 0; i < RUNS; i++) {
      const s = performance.now();
      const r = await contractReport(op, c.id, { period: '2026-11' }, noIncidents);
      results[metric]!.push((performance.now() - s) / 1000);
      const v = r.view as { availability: string; counts: { eligible: number; failed: number }; credit: { total: string } };
      figures[metric] = { availability: v.availability, eligible: v.counts.eligible, failed: v.counts.failed, credit: v.credit.total };
    }
    if (metric === 'request' && !reuse) {
      const s = performance.now();
      await closePeriod(op, c.id, '2026-11', noIncidents);
      results.close = [(performance.now() - s) / 1000];
    }
  }
  const out = {
    at: new Date().toISOString(),
    rows: ROWS,
    rollup_rows: rebuilt.rollups,
    fill_seconds: fill,
    rollups_rebuild_seconds: rebuild,
    report_seconds_request_based: median(results.request!),
    report_seconds_time_based: median(results.time!),
    close_seconds: results.close?.[0],
    runs: results,
    figures,
  };
  const lines = [
    '',
    `SLA report over ${ROWS.toLocaleString('en-US')} log rows of one account (SQLite; ${rebuilt.rollups.toLocaleString('en-US')} rollup rows):`,
    '',
    '| step | seconds | budget |',
    '| --- | ---: | --- |',
    ...(reuse ? ['| (database reused from BENCH_SLA_DB: not refilled) | | |'] : [
      `| fill the request log (bench setup) | ${fill.toFixed(1)} | — |`,
      `| rollups rebuilt from the log (\`surety rollups rebuild\`) | ${rebuild.toFixed(1)} | — (the writer keeps them as it writes) |`,
    ]),
    `| month report, request-based (median of ${RUNS}; all: ${results.request!.map((x) => x.toFixed(2)).join(', ')}) | ${out.report_seconds_request_based.toFixed(2)} | ≤ 10 ${out.report_seconds_request_based <= 10 ? '✓' : '✗'} |`,
    `| month report, time-based (median of ${RUNS}; all: ${results.time!.map((x) => x.toFixed(2)).join(', ')}) | ${out.report_seconds_time_based.toFixed(2)} | ≤ 10 ${out.report_seconds_time_based <= 10 ? '✓' : '✗'} |`,
    ...(out.close_seconds === undefined ? [] : [`| close the month (report + snapshot + credit) | ${out.close_seconds.toFixed(2)} | — |`]),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync('.bench', { recursive: true });
  writeFileSync('.bench/sla.json', `${JSON.stringify(out, null, 2)}\n`);
  await rt.close();
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
