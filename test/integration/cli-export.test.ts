// `surety export logs` and `surety export verify` as a user runs them: a child process over a real
// SQLite file, its files and manifest checked on disk, and verify failing (exit 3) on a damaged file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { migrate } from '../../src/storage/migrations.ts';
import { SqliteDb } from '../../src/storage/sqlite/db.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;

export function cliIn(dir: string) {
  return (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, SURETY_DATA_DIR: dir, NODE_COMPILE_CACHE: join(tmpdir(), 'surety-cli-test-compile-cache') };
      for (const k of ['DATABASE_URL', 'DATABASE_URL_FILE', 'SURETY_ADMIN_KEY', 'SURETY_ADMIN_KEY_FILE', 'LOG_LEVEL']) delete env[k];
      execFile(NODE, [join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
      });
    });
}

describe('surety export (SQLite)', () => {
  let dir: string;
  let run: ReturnType<typeof cliIn>;
  const t0 = Date.UTC(2026, 2, 1);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'surety-cli-export-'));
    run = cliIn(dir);
    const db = new SqliteDb(join(dir, 'surety.db'));
    await migrate(db);
    await insertRows(db, [
      fakeRow({ account_id: 'acct_a', started_at: t0 + 1000, amount: 1_500_000n, error: '=HYPERLINK("http://evil")' }),
      fakeRow({ account_id: 'acct_b', started_at: t0 + 2000, amount: 250_000_000n }),
      fakeRow({ account_id: 'acct_a', started_at: t0 + 3000, amount: 0n, outcome: 'platform_error', status: 500 }),
      fakeRow({ account_id: 'acct_a', started_at: t0 - 1000, amount: 7n }),
    ]);
    await db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('export logs writes CSV, NDJSON and a manifest that export verify accepts; a changed byte fails it', async () => {
    const out = join(dir, 'march');
    const r = await run('export', 'logs', '--out', out, '--from', new Date(t0).toISOString(), '--json');
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout);
    assert.equal(m.rows, 3);
    assert.deepEqual(m.totals, { amount: '0.2515' });
    assert.deepEqual(m.accounts.map((a: any) => [a.account_id, a.rows, a.sums.amount]), [['acct_a', 2, '0.0015'], ['acct_b', 1, '0.25']]);
    assert.deepEqual(m.files.map((f: any) => f.name), ['surety-logs.csv', 'surety-logs.ndjson']);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')), m);
    assert.match(readFileSync(join(out, 'surety-logs.csv'), 'utf8'), /'=HYPERLINK/);

    const ok = await run('export', 'verify', out);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /Export verified: request-log\/2, 3 rows/);

    const csv = join(out, 'surety-logs.csv');
    writeFileSync(csv, readFileSync(csv, 'utf8').replace('0.25', '0.35'));
    const bad = await run('export', 'verify', out, '--json');
    assert.equal(bad.code, 3);
    const report = JSON.parse(bad.stdout);
    assert.deepEqual(report.problems.map((p: any) => `${p.file}:${p.check}`).sort(), ['surety-logs.csv:accounts', 'surety-logs.csv:sha256']);

    const again = await run('export', 'logs', '--out', out);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error VALIDATION: --out: .* is not empty/m);
  });

  test('one format, the customer columns, and a bad filter named', async () => {
    const out = join(dir, 'customer');
    const r = await run('export', 'logs', '--out', out, '--format', 'ndjson', '--account', 'acct_b', '--customer', '--json');
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout);
    assert.equal(m.dataset, 'request-log.customer');
    assert.deepEqual(m.files.map((f: any) => f.name), ['surety-logs.ndjson']);
    assert.ok(!readFileSync(join(out, 'surety-logs.ndjson'), 'utf8').includes('ch_test'));
    assert.equal((await run('export', 'verify', out)).code, 0);
    const bad = await run('export', 'logs', '--out', join(dir, 'x'), '--from', 'yesterday');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error VALIDATION: from: /m);
  });
});
