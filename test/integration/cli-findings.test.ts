// `surety findings …` and `surety reimburse moderation` as an operator runs them: a child process
// over a real SQLite file seeded with known rows, checked through output, exit status and storage.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createAccount } from '../../src/accounts/accounts.ts';
import { putModel } from '../../src/catalog/index.ts';
import { saveProgrammeSettings } from '../../src/detection/settings.ts';
import { withActor } from '../../src/kernel/context.ts';
import { createRuntime } from '../../src/runtime.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { SqliteDb } from '../../src/storage/sqlite/db.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';
import { testConfig } from '../helpers/runtime.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
let dir: string;
let account: string;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, SURETY_DATA_DIR: dir, NODE_COMPILE_CACHE: join(tmpdir(), 'surety-cli-test-compile-cache') };
  for (const k of ['DATABASE_URL', 'DATABASE_URL_FILE', 'LOG_LEVEL']) delete env[k];
  return new Promise((resolve) => {
    execFile(NODE, [join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}
const json = async (...args: string[]) => {
  const r = await cli(...args, '--json');
  assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout);
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'surety-cli-findings-'));
  const db = new SqliteDb(join(dir, 'surety.db'));
  await migrate(db);
  const rt = await createRuntime(testConfig({ dataDir: dir }), { db });
  const op = withActor(rt, { type: 'operator', id: 'test' });
  await putModel(op, 'gpt-4o-mini', { provider: 'openai', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' } });
  account = (await createAccount(op, { name: 'cli findings' })).id;
  const t = Date.UTC(2026, 0, 10);
  const rows = [];
  for (let i = 0; i < 20; i++) rows.push(fakeRow({ account_id: account, started_at: t + i * 1000, ended_at: t + i * 1000 + 50, usage_billable: { input_tokens: 12, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 16, reasoning_tokens: 0, images: 0, estimated: false }, ...(i % 5 === 0 ? { outcome: 'upstream_error', status: 502 } : {}) }));
  rows.push(fakeRow({ account_id: account, model: 'mod-image', endpoint: 'images.generations', outcome: 'upstream_moderation', amount: 50_000_000n, hold_amount: 50_000_000n, tx_id: 'tx_x', started_at: t + 99_000, ended_at: t + 99_500, delivered: { images: 0 }, usage_billable: null }));
  await insertRows(db, rows);
  await saveProgrammeSettings(op, { moderation: { min_monthly_spend: '0', models: { 'mod-image': { percent: 50 } } } });
  await rt.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('findings scan, list, show, verify, reject and export from the command line', async () => {
  const scan = await cli('findings', 'scan', '--from', '2026-01-01T00:00:00Z', '--to', '2026-02-01T00:00:00Z');
  assert.equal(scan.code, 0, scan.stderr);
  assert.match(scan.stdout, /^Scanned 21 rows in [\d.]+ s \([\d,]+ rows\/s\): 5 findings, 5 new\.$/m);
  assert.match(scan.stderr, /scanned 21 rows/, 'progress on stderr');
  const again = await json('findings', 'scan', '--from', '2026-01-01T00:00:00Z', '--to', '2026-02-01T00:00:00Z');
  assert.deepEqual([again.findings, again.created], [5, 0], 'a second scan makes nothing new');
  const list = await json('findings', 'list', '--rule', 'billed_on_failure');
  assert.equal(list.data.length, 4);
  const other = await json('findings', 'list', '--rule', 'billed_nothing_delivered');
  assert.equal(other.data.length, 1, 'the billed refusal without an image');
  const show = await json('findings', 'show', list.data[0].id);
  assert.equal(show.evidence.outcome, 'upstream_error');
  assert.equal(show.stakes[show.request_ids[0]], '0.0000114');
  const v = await json('findings', 'verify', '--ids', `${list.data[0].id},${list.data[1].id}`);
  assert.equal(v.done.length, 2);
  const r = await json('findings', 'reject', '--rule', 'billed_on_failure', '--status', 'open', '--reason', 'replayed test traffic');
  assert.equal(r.done.length, 2);
  const out = join(dir, 'export');
  const ex = await json('findings', 'export', '--out', out, '--status', 'compensated');
  assert.equal(ex.rows, 2);
  assert.equal(ex.dataset, 'findings');
  assert.equal(ex.totals.compensated, '0.0000228');
  const verify = await cli('export', 'verify', out);
  assert.equal(verify.code, 0, verify.stdout);
  const bad = await cli('findings', 'list', '--status', 'nope');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error VALIDATION: status:/);
  const both = await cli('findings', 'verify', '--ids', 'x', '--rule', 'off_price');
  assert.equal(both.code, 1);
  assert.match(both.stderr, /give either --ids or filter options/);
});

test('reimburse moderation settles a month once: the second run replays', async () => {
  const first = await json('reimburse', 'moderation', '--month', '2026-01');
  assert.deepEqual(first.settlements.map((s: any) => [s.account_id, s.model, s.requests, s.amount, s.replayed]), [[account, 'mod-image', 1, '0.025', false]]);
  const second = await json('reimburse', 'moderation', '--month', '2026-01');
  assert.deepEqual(second.settlements.map((s: any) => [s.amount, s.replayed, s.credit_id]), [['0.025', true, first.settlements[0].credit_id]]);
  const credits = await json('credits', 'list', account);
  assert.deepEqual(credits.data.filter((c: any) => c.ref_type === 'moderation_settlement').map((c: any) => [c.kind, c.amount]), [['compensation', '0.025']]);
  const notOver = await cli('reimburse', 'moderation', '--month', '2999-01');
  assert.equal(notOver.code, 1);
  assert.match(notOver.stderr, /has not ended yet/);
});
