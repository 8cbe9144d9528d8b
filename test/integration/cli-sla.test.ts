// `surety sla …` and `surety rollups rebuild` as an operator runs them: child processes over a real
// SQLite file. A contract from a terms file, a report written as an export directory that
// `surety export verify` accepts (with report.json and report.html beside it), closing twice,
// and rebuilding rollups with progress.
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

function cliIn(dir: string) {
  return (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, SURETY_DATA_DIR: dir, NODE_COMPILE_CACHE: join(tmpdir(), 'surety-cli-test-compile-cache') };
      for (const k of ['DATABASE_URL', 'DATABASE_URL_FILE', 'SURETY_ADMIN_KEY', 'SURETY_ADMIN_KEY_FILE', 'LOG_LEVEL']) delete env[k];
      execFile(NODE, [join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
      });
    });
}

describe('surety sla (SQLite)', () => {
  let dir: string;
  let run: ReturnType<typeof cliIn>;
  let account: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'surety-cli-sla-'));
    run = cliIn(dir);
    const db = new SqliteDb(join(dir, 'surety.db'));
    await migrate(db);
    await db.close();
    const a = await run('accounts', 'create', '--name', 'Acme', '--kind', 'enterprise', '--json');
    assert.equal(a.code, 0, a.stderr);
    account = JSON.parse(a.stdout).id;
    const db2 = new SqliteDb(join(dir, 'surety.db'));
    const at = Date.UTC(2026, 0, 10, 8);
    await insertRows(db2, [
      ...Array.from({ length: 3 }, (_, i) => fakeRow({ account_id: account, started_at: at + i, outcome: 'ok', amount: 2_000_000_000n })),
      fakeRow({ account_id: account, started_at: at + 10, outcome: 'platform_error', amount: 0n }),
    ]);
    await db2.close();
    writeFileSync(join(dir, 'terms.json'), JSON.stringify({ term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99.9', credit_tiers: [{ below_percent: '99.999', credit_percent: '50' }] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('rollups rebuild, contract, report into an export directory that verifies, close twice', async () => {
    const rb = await run('rollups', 'rebuild', '--from', '2026-01-01T00:00:00Z', '--to', '2026-02-01T00:00:00Z', '--json');
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stderr, /rebuilding rollups: day 31\/31, 4 requests/);
    assert.deepEqual([JSON.parse(rb.stdout).days, JSON.parse(rb.stdout).requests], [31, 4]);

    const created = await run('sla', 'create', '--account', account, '--name', 'Gold', '--terms', join(dir, 'terms.json'), '--json');
    assert.equal(created.code, 0, created.stderr);
    const id = JSON.parse(created.stdout).id;
    const listed = await run('sla', 'contracts');
    assert.match(listed.stdout, new RegExp(`${id}\\s+${account}\\s+Gold`));

    const out = join(dir, 'jan');
    const rep = await run('sla', 'report', '--contract', id, '--period', '2026-01', '--out', out);
    assert.equal(rep.code, 0, rep.stderr);
    // One interval at 1/4 of 8928: 99.9972 %; below 99.999 → 50 % of $6.00.
    assert.match(rep.stdout, /availability 99\.9972 %/);
    assert.match(rep.stdout, /→ 3\.00 USD/);
    assert.match(rep.stdout, /measured in \d+ ms/);
    const ok = await run('export', 'verify', out);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /sla-intervals\/1, 8928 rows/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    assert.equal(manifest.totals.covered_spend, '6.00');
    assert.equal(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).credit.total, '3.00');
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<svg/);

    const closed = await run('sla', 'close', '--contract', id, '--period', '2026-01', '--json');
    assert.equal(closed.code, 0, closed.stderr);
    assert.deepEqual([JSON.parse(closed.stdout).created, JSON.parse(closed.stdout).credit], [true, '3.00']);
    const again = await run('sla', 'close', '--contract', id, '--period', '2026-01');
    assert.match(again.stdout, /already closed; nothing changed/);
    const bal = await run('balance', account, '--json');
    assert.equal(JSON.parse(bal.stdout).granted, '3.00');

    const bad = await run('sla', 'close', '--contract', id, '--period', '2026-1');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error VALIDATION: period/);
    const missing = await run('sla', 'report', '--period', '2026-01');
    assert.equal(missing.code, 2);
  });
});
