// The `surety` CLI as a user runs it: a child process over a real SQLite file (and PostgreSQL
// when SURETY_TEST_DATABASE_URL is set), checked through its output, its exit status and the
// database itself.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openTestDb } from '../helpers/engines.ts';
import { sha256Hex } from '../../src/kernel/ids.ts';
import { MIGRATIONS } from '../../src/storage/migrations.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Node's compile cache makes the many short CLI runs here cheaper.
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: join(tmpdir(), 'surety-cli-test-compile-cache'), ...extra };
  // The CLI must act on the store under test, never on one the environment happens to name.
  for (const k of ['DATABASE_URL', 'DATABASE_URL_FILE', 'SURETY_ADMIN_KEY', 'SURETY_ADMIN_KEY_FILE', 'LOG_LEVEL']) if (!(k in extra)) delete env[k];
  return env;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(NODE, [join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: baseEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function json<T = Record<string, unknown>>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('surety CLI on SQLite', () => {
  let dir: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => cli(args, env);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'surety-cli-'));
    env = { SURETY_DATA_DIR: dir };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  let accountId = '';

  test('migrate applies every migration once, then nothing', async () => {
    const first = json<{ engine: string; applied: number[]; version: number }>(await run('migrate', '--json'));
    assert.equal(first.engine, 'sqlite');
    assert.deepEqual(first.applied, ALL_VERSIONS);
    assert.equal(first.version, Math.max(...ALL_VERSIONS));
    const again = json<{ applied: number[] }>(await run('migrate', '--json'));
    assert.deepEqual(again.applied, []);
    const human = await run('migrate');
    assert.equal(human.code, 0);
    assert.match(human.stdout, /up to date at version \d+/);
    assert.ok(existsSync(join(dir, 'surety.db')));
  });

  test('accounts create returns the account; list shows it', async () => {
    const a = json<{ id: string; name: string; kind: string; status: string }>(await run('accounts', 'create', '--name', 'Acme Corp', '--kind', 'enterprise', '--json'));
    assert.match(a.id, /^acct_/);
    assert.equal(a.name, 'Acme Corp');
    assert.equal(a.kind, 'enterprise');
    assert.equal(a.status, 'active');
    accountId = a.id;
    const table = await run('accounts', 'list');
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+NAME\s+KIND/m);
    assert.match(table.stdout, new RegExp(`${a.id}\\s+Acme Corp\\s+enterprise\\s+active`));
  });

  test('topup records the payment and bonus, through the service and its audit trail', async () => {
    const t = json<{ id: string; amount: string; bonus: string; idempotency_key: string; replayed: boolean }>(
      await run('topup', accountId, '--amount', '100.00', '--method', 'bank_transfer', '--reference', 'INV-7', '--bonus', '10.00', '--json'),
    );
    assert.match(t.id, /^top_/);
    assert.equal(t.amount, '100.00');
    assert.equal(t.bonus, '10.00');
    assert.equal(t.replayed, false);
    assert.ok(t.idempotency_key.length > 10, 'a generated idempotency key is printed');

    const db = new DatabaseSync(join(dir, 'surety.db'), { readOnly: true });
    try {
      const row = db.prepare("SELECT actor_type, actor_id, account_id FROM audit_log WHERE action = 'topup.record'").get() as Record<string, unknown>;
      assert.deepEqual({ ...row }, { actor_type: 'operator', actor_id: 'operator:cli', account_id: accountId });
    } finally {
      db.close();
    }

    // Replaying with the printed key moves nothing; the same key with another amount is a conflict.
    const replay = json<{ id: string; replayed: boolean }>(
      await run('topup', accountId, '--amount', '100.00', '--method', 'bank_transfer', '--reference', 'INV-7', '--bonus', '10.00', '--idempotency-key', t.idempotency_key, '--json'),
    );
    assert.equal(replay.id, t.id);
    assert.equal(replay.replayed, true);
    const conflict = await run('topup', accountId, '--amount', '200.00', '--method', 'bank_transfer', '--reference', 'INV-7', '--idempotency-key', t.idempotency_key);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /^error IDEMPOTENCY_CONFLICT: /m);
  });

  test('balance shows the buckets as decimal strings', async () => {
    const b = json<Record<string, string>>(await run('balance', accountId, '--json'));
    assert.equal(b.paid, '100.00');
    assert.equal(b.granted, '10.00');
    assert.equal(b.total, '110.00');
    assert.equal(b.available, '110.00');
    const human = await run('balance', accountId);
    assert.match(human.stdout, /^paid\s+100\.00$/m);
    assert.match(human.stdout, /^granted\s+10\.00$/m);
  });

  test('ledger verify passes on a sound ledger', async () => {
    const r = await run('ledger', 'verify', '--json');
    const report = json<{ ok: boolean; problems: unknown[]; checked: Record<string, number> }>(r);
    assert.equal(report.ok, true);
    assert.deepEqual(report.problems, []);
    assert.equal(report.checked.transactions, 1);
    const human = await run('ledger', 'verify');
    assert.equal(human.code, 0);
    assert.match(human.stdout, /every invariant holds/);
  });

  test('ledger verify fails with exit 3 and names the broken book after the balance is corrupted', async () => {
    const book = `c:${accountId}:paid`;
    const db = new DatabaseSync(join(dir, 'surety.db'));
    try {
      const changed = db.prepare('UPDATE books SET balance = balance + 1000000000 WHERE code = ?').run(book);
      assert.equal(Number(changed.changes), 1);
    } finally {
      db.close();
    }
    const r = await run('ledger', 'verify', '--json');
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: Array<{ check: string; subject: string; detail: string }> };
    assert.equal(report.ok, false);
    const p = report.problems.find((x) => x.check === 'materialised_balances');
    assert.ok(p, JSON.stringify(report.problems));
    assert.equal(p.subject, book);
    assert.match(p.detail, /materialised 101\.00 USD, entries sum to 100\.00 USD/);

    const human = await run('ledger', 'verify');
    assert.equal(human.code, 3);
    assert.match(human.stdout, /FAILED/);
    assert.match(human.stdout, /FAIL\s+materialised_balances/);
    assert.ok(human.stdout.includes(book));
  });

  test('errors: AppError exits 1 with its code, bad usage and bad configuration exit 2', async () => {
    const missing = await run('balance', 'acct_nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error NOT_FOUND: account acct_nope not found$/m);

    const badAmount = await run('topup', accountId, '--amount', '1e3', '--method', 'card');
    assert.equal(badAmount.code, 1);
    assert.match(badAmount.stderr, /^error VALIDATION: amount: .*exponent/m);

    const usage = await run('topup', accountId, '--method', 'card');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^error USAGE: --amount is required/m);

    const unknown = await run('accounts', 'frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown subcommand/);

    const config = await cli(['balance', accountId], { ...env, SURETY_HOLD_TTL_SECONDS: '0' });
    assert.equal(config.code, 2);
    assert.match(config.stderr, /^error CONFIG: .*\n\s+SURETY_HOLD_TTL_SECONDS="0"/m);
  });

  test('keys create prints the secret once and stores only its hash; revoke is audited', async () => {
    const k = json<{ id: string; key: string; status: string; limits: { month: string } }>(
      await run('keys', 'create', accountId, '--name', 'CI', '--models', 'gpt-4o-mini', '--limit-month', '50.00', '--json'),
    );
    assert.match(k.key, /^sk-sur-/);
    assert.equal(k.limits.month, '50.00');
    const db = new DatabaseSync(join(dir, 'surety.db'), { readOnly: true });
    try {
      const row = db.prepare('SELECT hash FROM api_keys WHERE id = ?').get(k.id) as { hash: string };
      assert.equal(row.hash, sha256Hex(k.key));
    } finally {
      db.close();
    }
    const list = await run('keys', 'list', accountId);
    assert.ok(!list.stdout.includes(k.key), 'the secret is never shown again');
    const revoked = json<{ status: string }>(await run('keys', 'revoke', accountId, k.id, '--json'));
    assert.equal(revoked.status, 'revoked');
    const audit = json<{ data: Array<{ action: string; actor: string }> }>(await run('audit', 'list', '--target', k.id, '--json'));
    assert.deepEqual(audit.data.map((a) => [a.action, a.actor]), [['key.revoke', 'operator:cli'], ['key.create', 'operator:cli']]);
  });

  test('admin-key rotate stores the new key\'s hash, and refuses when SURETY_ADMIN_KEY is set', async () => {
    const r = json<{ key: string }>(await run('admin-key', 'rotate', '--json'));
    assert.match(r.key, /^sa-sur-/);
    const db = new DatabaseSync(join(dir, 'surety.db'), { readOnly: true });
    try {
      const row = db.prepare("SELECT value FROM settings WHERE name = 'admin_key_hash'").get() as { value: string };
      assert.equal(row.value, sha256Hex(r.key));
    } finally {
      db.close();
    }
    const refused = await cli(['admin-key', 'rotate'], { ...env, SURETY_ADMIN_KEY: 'an-operator-key-from-the-environment' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error CONFLICT: SURETY_ADMIN_KEY is set/m);
  });

  test('codes generate, then codes batches lists the batch with its redeemed count', async () => {
    const made = json<{ id: string; codes: string[] }>(await run('codes', 'generate', '--count', '2', '--amount', '3.00', '--note', 'cli batch', '--json'));
    json(await run('codes', 'redeem', accountId, made.codes[0]!, '--json'));
    const listed = json<{ data: Array<{ id: string; count: number; redeemed: number; note: string }> }>(await run('codes', 'batches', '--json'));
    assert.deepEqual(listed.data.map((x) => [x.id, x.count, x.redeemed, x.note]), [[made.id, 2, 1, 'cli batch']]);
    const table = await run('codes', 'batches');
    assert.equal(table.code, 0);
    assert.match(table.stdout, new RegExp(`${made.id}\\s+3\\.00\\s+2\\s+1\\s+paid`));
  });

  test('help lists every command group; --help prints a command\'s options', async () => {
    const help = await run('--help');
    assert.equal(help.code, 0);
    for (const c of ['start', 'migrate', 'sim', 'accounts create', 'keys create', 'members add', 'topup', 'balance', 'ledger verify', 'ledger show', 'refunds approve', 'codes generate', 'holds expire', 'admin-key rotate']) {
      assert.ok(help.stdout.includes(`surety ${c}`), `help lists ${c}`);
    }
    const topup = await run('topup', '--help');
    assert.equal(topup.code, 0);
    assert.match(topup.stdout, /--idempotency-key KEY/);
  });
});

const PG = process.env.SURETY_TEST_DATABASE_URL;

describe('surety CLI on PostgreSQL', { skip: PG ? false : 'SURETY_TEST_DATABASE_URL is not set' }, () => {
  test('migrate reaches the latest version through DATABASE_URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'surety-cli-pg-'));
    // A schema of its own: never the shared database's public schema.
    const tdb = await openTestDb('postgres', { migrate: false });
    await tdb.db.close();
    try {
      const r = json<{ engine: string; applied: number[]; version: number; target: string }>(await cli(['migrate', '--json'], { SURETY_DATA_DIR: dir, DATABASE_URL: tdb.url! }));
      assert.deepEqual(r.applied, ALL_VERSIONS, 'every migration applied to the fresh schema');
      assert.equal(r.engine, 'postgres');
      assert.equal(r.version, Math.max(...ALL_VERSIONS));
      assert.ok(!r.target.includes('@'), 'credentials are never printed');
      assert.ok(!existsSync(join(dir, 'surety.db')), 'no SQLite file when DATABASE_URL is set');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await tdb.dispose();
    }
  });
});
