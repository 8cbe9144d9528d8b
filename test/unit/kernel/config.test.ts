// Configuration: validated once, frozen, bad values named by their environment variable, secrets
// from the environment or a file and never printed. Plus /healthz and /readyz on every engine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig, redactedConfig } from '../../../src/kernel/config/load.ts';
import { engines } from '../../helpers/engines.ts';
import { createTestApp, type TestApp } from '../../helpers/runtime.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const NODE = process.execPath;

function configError(env: Record<string, string>, overrides: Record<string, unknown> = {}): string {
  try {
    loadConfig(env, overrides);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.message;
  }
  assert.fail(`configuration ${JSON.stringify(env)} was accepted`);
}

describe('configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'surety-config-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('defaults', () => {
    const c = loadConfig({});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8787);
    assert.equal(c.dataDir, './data');
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.adminKey, undefined);
    assert.equal(c.spendOrder, 'granted_first');
    assert.equal(c.refundWindowDays, 30);
    assert.equal(c.balanceExpiryDays, 0, 'balance expiry is off by default');
    assert.equal(c.defaultCreditLine, '0');
    assert.equal(c.holdTtlSeconds, 900);
  });

  test('SMTP: a URL with its sender, hidden in errors and logs; a bad or incomplete one stops the start', () => {
    const c = loadConfig({ SMTP_URL: 'smtp://u:p%40ss@mail.example.test:587', SMTP_FROM: 'Acme status <status@acme.test>', SMTP_REQUIRE_TLS: '1', SURETY_PUBLIC_URL: 'https://status.acme.test' });
    assert.equal(c.smtpUrl, 'smtp://u:p%40ss@mail.example.test:587');
    assert.equal(c.smtpRequireTls, true);
    assert.equal(c.smtpTlsRejectUnauthorized, true, 'certificates are checked by default');
    assert.equal(redactedConfig(c).smtpUrl, '(set)');
    assert.throws(() => loadConfig({ SMTP_URL: 'smtp://u:secret@mail.example.test' }), (e: Error) => e instanceof ConfigError && /SMTP_FROM/.test(e.message));
    assert.throws(() => loadConfig({ SMTP_URL: 'http://u:secret@mail.example.test', SMTP_FROM: 'a@b.test' }), (e: Error) => e instanceof ConfigError && /SMTP_URL=\(hidden\)/.test(e.message) && !e.message.includes('secret'));
    assert.throws(() => loadConfig({ SMTP_URL: 'smtp://mail.example.test', SMTP_FROM: 'not an address' }), /SMTP_FROM/);
    assert.throws(() => loadConfig({ SURETY_PUBLIC_URL: 'ftp://x.test' }), /SURETY_PUBLIC_URL/);
  });

  test('values from the environment are parsed to their types', () => {
    const c = loadConfig({ PORT: '9000', HOST: '0.0.0.0', SURETY_SPEND_ORDER: 'paid_first', SURETY_TRUST_PROXY: 'yes', SURETY_REFUND_FEE_PCT_CARD: '2.5', SURETY_BALANCE_EXPIRY_DAYS: '365', DATABASE_URL: 'postgresql://u@h/db', SURETY_DATA_DIR: '' });
    assert.equal(c.port, 9000);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.spendOrder, 'paid_first');
    assert.equal(c.trustProxy, true);
    assert.equal(c.refundFeePctCard, 2.5);
    assert.equal(c.balanceExpiryDays, 365);
    assert.equal(c.databaseUrl, 'postgresql://u@h/db');
    assert.equal(c.dataDir, './data', 'an empty variable means the default');
  });

  test('a bad value stops loading with a message naming the variable and the problem', () => {
    assert.match(configError({ PORT: 'abc' }), /PORT="abc": .*number/);
    assert.match(configError({ PORT: '70000' }), /PORT="70000"/);
    assert.match(configError({ PORT: '80.5' }), /PORT/);
    assert.match(configError({ SURETY_SPEND_ORDER: 'x' }), /SURETY_SPEND_ORDER="x": .*(granted_first|paid_first)/);
    assert.match(configError({ SURETY_HOLD_TTL_SECONDS: '0' }), /SURETY_HOLD_TTL_SECONDS/);
    assert.match(configError({ SURETY_REFUND_FEE_PCT_CARD: '101' }), /SURETY_REFUND_FEE_PCT_CARD/);
    assert.match(configError({ SURETY_REFUND_WINDOW_DAYS: '-1' }), /SURETY_REFUND_WINDOW_DAYS/);
    assert.match(configError({ SURETY_DEFAULT_CREDIT_LINE: '-5' }), /SURETY_DEFAULT_CREDIT_LINE="-5": .*USD/);
    assert.match(configError({ SURETY_DEFAULT_CREDIT_LINE: '1e3' }), /SURETY_DEFAULT_CREDIT_LINE/);
    assert.match(configError({ SURETY_TRUST_PROXY: 'maybe' }), /SURETY_TRUST_PROXY/);
    assert.match(configError({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    // Every bad variable is named at once, not only the first.
    const both = configError({ PORT: 'abc', SURETY_SPEND_ORDER: 'x' });
    assert.match(both, /PORT/);
    assert.match(both, /SURETY_SPEND_ORDER/);
    // Unknown settings are refused too.
    assert.match(configError({}, { portt: 1 }), /portt/);
  });

  test('secret values are never shown, not even when they are wrong', () => {
    const m = configError({ DATABASE_URL: 'mysql://root:hunter2@db.internal/prod' });
    assert.match(m, /DATABASE_URL=\(hidden\): must be a postgres:\/\/ URL/);
    assert.ok(!m.includes('hunter2') && !m.includes('db.internal'), m);
    const k = configError({ SURETY_ADMIN_KEY: 'tiny-secret' });
    assert.match(k, /SURETY_ADMIN_KEY=\(hidden\): must be at least 16 characters/);
    assert.ok(!k.includes('tiny-secret'), k);
  });

  test('secrets from SURETY_ADMIN_KEY_FILE and DATABASE_URL_FILE; the environment wins; a missing file is named', () => {
    const keyFile = join(dir, 'admin-key');
    writeFileSync(keyFile, '  sa-from-file-0123456789abcdef\n');
    const urlFile = join(dir, 'db-url');
    writeFileSync(urlFile, 'postgres://app:s3cret@db/surety\n');
    const c = loadConfig({ SURETY_ADMIN_KEY_FILE: keyFile, DATABASE_URL_FILE: urlFile });
    assert.equal(c.adminKey, 'sa-from-file-0123456789abcdef');
    assert.equal(c.databaseUrl, 'postgres://app:s3cret@db/surety');
    assert.equal(loadConfig({ SURETY_ADMIN_KEY: 'sa-from-env-0123456789abcdef', SURETY_ADMIN_KEY_FILE: keyFile }).adminKey, 'sa-from-env-0123456789abcdef');
    // Only secrets are read from files.
    const portFile = join(dir, 'port');
    writeFileSync(portFile, '1234');
    assert.equal(loadConfig({ PORT_FILE: portFile }).port, 8787);
    const missing = configError({ SURETY_ADMIN_KEY_FILE: join(dir, 'nope') });
    assert.match(missing, /SURETY_ADMIN_KEY_FILE: cannot read/);
    // A bad secret from a file is hidden like one from the environment.
    writeFileSync(keyFile, 'short-file-key');
    const bad = configError({ SURETY_ADMIN_KEY_FILE: keyFile });
    assert.match(bad, /SURETY_ADMIN_KEY=\(hidden\)/);
    assert.ok(!bad.includes('short-file-key'));
  });

  test('redactedConfig masks secrets; the config is frozen', () => {
    const c = loadConfig({ SURETY_ADMIN_KEY: 'sa-very-secret-admin-key-1234', DATABASE_URL: 'postgres://app:s3cret@db/surety', PORT: '9999' });
    const r = redactedConfig(c);
    assert.equal(r.adminKey, '(set)');
    assert.equal(r.databaseUrl, '(set)');
    assert.equal(r.port, 9999);
    const text = JSON.stringify(r);
    assert.ok(!text.includes('sa-very-secret') && !text.includes('s3cret'), text);
    assert.equal(c.adminKey, 'sa-very-secret-admin-key-1234', 'redacting does not change the config');
    assert.equal(redactedConfig(loadConfig({})).adminKey, undefined);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { port: number }).port = 1;
    }, TypeError);
    assert.equal(c.port, 9999);
  });

  test('the logger redacts secrets wherever they are logged', () => {
    const script = `
      import { createLogger } from ${JSON.stringify(join(ROOT, 'src/runtime.ts'))};
      import { loadConfig } from ${JSON.stringify(join(ROOT, 'src/kernel/config/load.ts'))};
      const config = loadConfig({ SURETY_ADMIN_KEY: 'sa-logged-secret-0123456789', DATABASE_URL: 'postgres://u:pw-logged@h/db', LOG_LEVEL: 'info' });
      const log = createLogger(config);
      log.info({ config }, 'boot');
      log.info({ req: { authorization: 'Bearer sk-sur-logged' } }, 'request');
    `;
    const r = spawnSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"msg":"boot"/);
    assert.match(r.stdout, /"msg":"request"/);
    for (const s of ['sa-logged-secret', 'pw-logged', 'sk-sur-logged']) assert.ok(!r.stdout.includes(s), `${s} was logged: ${r.stdout}`);
  });

  test('`npm start` with a bad value exits non-zero naming the variable, and prints no secret', () => {
    const r = spawnSync(NODE, [join(ROOT, 'src/main.ts')], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? '', PORT: 'abc', DATABASE_URL: 'mysql://root:hunter2@db/prod', SURETY_DATA_DIR: join(dir, 'data') },
    });
    assert.equal(r.status, 2, 'a bad configuration exits 2 (README)');
    assert.match(r.stderr, /^error CONFIG: /);
    assert.match(r.stderr, /PORT="abc"/);
    assert.match(r.stderr, /DATABASE_URL=\(hidden\)/);
    assert.ok(!(r.stdout + r.stderr).includes('hunter2'));
    assert.doesNotMatch(r.stdout, /listening/);
  });

  test('`npm start` with a bad SURETY_SPEND_ORDER on SQLite stops before anything is written', () => {
    const data = join(dir, 'spend-order-data');
    const r = spawnSync(NODE, [join(ROOT, 'src/main.ts')], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? '', PORT: '0', SURETY_SIM_PORT: '0', SURETY_SPEND_ORDER: 'x', SURETY_DATA_DIR: data },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error CONFIG: invalid configuration:\n {2}SURETY_SPEND_ORDER="x": .*granted_first.*paid_first/);
    assert.equal(r.stdout, '', 'no banner, no key printed');
    assert.ok(!existsSync(data), 'no data directory or database was created');
  });
});

for (const engine of engines()) {
  describe(`health endpoints (${engine})`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(async () => {
      await t?.close();
    });

    test('/healthz is 200 while the process is up; /readyz 200 with storage, 503 once it is gone', async () => {
      const h = await t.req('GET', '/healthz');
      assert.equal(h.status, 200);
      assert.deepEqual(h.body, { status: 'ok' });
      const r = await t.req('GET', '/readyz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ready', storage: engine });
      await t.rt.db.close();
      const down = await t.req('GET', '/readyz');
      assert.equal(down.status, 503);
      assert.equal(down.body.error.code, 'STORAGE_UNAVAILABLE');
      assert.match(down.body.error.message, /Storage is not reachable/);
      assert.equal((await t.req('GET', '/healthz')).status, 200, 'the process is still up');
    });
  });
}
