// The SURETY_CONFIG catalog file, as startSurety (what `npm start` runs) applies it: channels,
// models with prices and group multipliers from a JSON file, applied at every start through the
// same services as the admin API. A valid file serves and prices requests at once (upstream keys
// written as env:NAME are read from the environment and never shown back); the same file again
// changes nothing; a changed price is a new price-book version; what the admin API added stays;
// a bad file stops the start with a ConfigError naming the file and the bad value, writing nothing.
// Real HTTP to a real simulator, real SQLite; nothing is mocked.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/kernel/config/load.ts';
import type { ConfigKey } from '../../src/kernel/config/schema.ts';
import { startSimulator, type Simulator } from '../../src/sim/server.ts';
import { startSurety, type Started } from '../../src/start.ts';
import { ADMIN_KEY, tokenCost, usd, type HttpRes } from '../helpers/gateway.ts';

const ENV_KEY_NAME = 'SURETY_TEST_CATALOG_FILE_UPSTREAM_KEY';
const ENV_KEY_VALUE = 'sk-from-the-environment-9f8e7d6c5b4a';
const LITERAL_KEY = 'sk-literal-in-the-file-0123456789';
const PROMPT = 'y'.repeat(40); // 10 tokens for the simulator

async function boot(dataDir: string, file: string, more: Partial<Record<ConfigKey, unknown>> = {}): Promise<Started> {
  const config = loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: 'false', dataDir, configFile: file, ...more });
  return startSurety(config, { handleSignals: false, simPort: 0 });
}

async function http(url: string, method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<HttpRes> {
  const r = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(/\/topups$/.test(path) ? { 'idempotency-key': `t-${Math.random()}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: r.status, headers: r.headers, text, body: parsed };
}

async function ok(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await http(url, method, path, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path} → ${r.status} ${r.text}`);
  return r.body;
}

/** Every table a catalog file may write, dumped from the SQLite file itself. */
function dump(dataDir: string): string {
  const db = new DatabaseSync(join(dataDir, 'surety.db'), { readOnly: true });
  try {
    return JSON.stringify(
      ['models', 'price_book', 'channels', 'group_multipliers', 'audit_log', 'accounts'].map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()),
      (_k, v) => (typeof v === 'bigint' ? String(v) : v),
    );
  } finally {
    db.close();
  }
}

describe('SURETY_CONFIG catalog file', () => {
  let sim: Simulator;
  let dir: string;
  let dataDir: string;
  let file: string;
  let s: Started | undefined;
  let url = '';
  let customer: { accountId: string; key: string };
  let vip: { accountId: string; key: string };
  let apiChannelId = '';
  let mainId = '';

  const catalog = (output = '2') => ({
    channels: [
      {
        name: 'file-main',
        provider: 'openai',
        base_url: `${sim.url}/v1`,
        keys: [`env:${ENV_KEY_NAME}`],
        models: ['house-chat'],
        model_map: { 'house-chat': 'gpt-4o' },
        priority: 10,
        endpoint_timeouts: { chat: { total_ms: 60_000 } },
      },
      // Only the required fields: the defaults must compare equal at the next start.
      { name: 'file-backup', provider: 'openai', base_url: `${sim.url}/`, keys: [LITERAL_KEY], models: ['house-chat'] },
    ],
    models: {
      'house-chat': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1', output_per_mtok: output } },
    },
    groups: { half: '0.5' },
  });
  const write = (content: unknown, path = file) => writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));

  const send = async (key: string) => {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'house-chat', messages: [{ role: 'user', content: PROMPT }], max_tokens: 50 }),
    });
    const body = (await r.json()) as any;
    assert.equal(r.status, 200, JSON.stringify(body));
    const gw = s!.gateway.gateway;
    while (gw.requestsInFlight > 0 || gw.writer.pending > 0) await gw.writer.flush();
    const row = await ok(url, 'GET', `/admin/v1/logs/${r.headers.get('x-request-id')}`);
    return { row, body, cost: r.headers.get('x-surety-cost') };
  };
  const houseChat = async () => (await ok(url, 'GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === 'house-chat');
  const catalogAudit = async () =>
    (await ok(url, 'GET', '/admin/v1/audit?limit=1000')).data.filter((a: { target_type: string }) => ['model', 'channel', 'group'].includes(a.target_type));
  const restart = async () => {
    await s?.stop();
    s = undefined;
    s = await boot(dataDir, file);
    url = s.url;
  };

  before(async () => {
    sim = await startSimulator({ host: '127.0.0.1', port: 0, quiet: true });
    dir = mkdtempSync(join(tmpdir(), 'surety-catalog-file-'));
    dataDir = join(dir, 'data');
    file = join(dir, 'catalog.json');
    process.env[ENV_KEY_NAME] = ENV_KEY_VALUE;
  });
  after(async () => {
    delete process.env[ENV_KEY_NAME];
    await s?.stop();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a valid file is applied at start: requests are served and priced from it; env: keys are resolved and never shown back', async () => {
    write(catalog());
    s = await boot(dataDir, file);
    url = s.url;

    const m = await houseChat();
    assert.equal(m.price_version, 1);
    assert.deepEqual(m.price, { input_per_mtok: '1', output_per_mtok: '2' });
    assert.deepEqual(m.channels, ['file-main', 'file-backup'], 'highest priority first');

    const a = await ok(url, 'POST', '/admin/v1/accounts', { name: 'file customer' });
    await ok(url, 'POST', `/admin/v1/accounts/${a.id}/topups`, { amount: '5.00', method: 'other', reference: 'r1' });
    customer = { accountId: a.id, key: (await ok(url, 'POST', `/admin/v1/accounts/${a.id}/keys`, { name: 'k' })).key };
    const b = await ok(url, 'POST', '/admin/v1/accounts', { name: 'half-price customer', group: 'half' });
    await ok(url, 'POST', `/admin/v1/accounts/${b.id}/topups`, { amount: '5.00', method: 'other', reference: 'r2' });
    vip = { accountId: b.id, key: (await ok(url, 'POST', `/admin/v1/accounts/${b.id}/keys`, { name: 'k' })).key };

    const channels = await ok(url, 'GET', '/admin/v1/channels');
    mainId = channels.data.find((c: { name: string }) => c.name === 'file-main').id;
    const { row, body, cost } = await send(customer.key);
    assert.equal(row.channel_id, mainId);
    assert.equal(row.upstream_model, 'gpt-4o', 'the model_map from the file');
    assert.equal(row.price_version, 1);
    const expected = tokenCost(body.usage.prompt_tokens, '1') + tokenCost(body.usage.completion_tokens, '2');
    assert.ok(expected > 0n);
    assert.equal(usd(row.amount), expected, 'priced from the file');
    assert.equal(cost, row.amount);
    // The upstream got the key from the environment, under the mapped name.
    const upstream = sim.requests().at(-1)!;
    assert.equal(upstream.key, ENV_KEY_VALUE);
    assert.equal(upstream.model, 'gpt-4o');

    // The group multiplier from the file: half price.
    const half = await send(vip.key);
    assert.equal(usd(half.row.amount) * 2n, expected);

    // Keys are never shown back: env: references as written, literal keys as a fingerprint.
    const listed = await http(url, 'GET', '/admin/v1/channels');
    const audit = await http(url, 'GET', '/admin/v1/audit?limit=1000');
    for (const text of [listed.text, audit.text]) {
      assert.ok(!text.includes(ENV_KEY_VALUE), 'the resolved env: key is never shown');
      assert.ok(!text.includes(LITERAL_KEY), 'a literal key is never shown');
    }
    assert.deepEqual(listed.body.data.find((c: { name: string }) => c.name === 'file-main').keys, [`env:${ENV_KEY_NAME}`]);
    assert.equal(listed.body.data.find((c: { name: string }) => c.name === 'file-backup').base_url, sim.url, 'a trailing slash is dropped');

    // Applied through the services, audited as the config-file operator.
    const rows = (await catalogAudit()).filter((x: { actor: string }) => x.actor === 'operator:config-file');
    assert.deepEqual(rows.map((x: { action: string; target_id: string }) => `${x.action} ${x.target_id}`).sort(), [
      `channel.create ${mainId}`,
      `channel.create ${listed.body.data.find((c: { name: string }) => c.name === 'file-backup').id}`,
      'group.multiplier half',
      'model.create house-chat',
    ].sort());

    // A channel made through the admin API, absent from the file.
    await ok(url, 'PUT', '/admin/v1/models/api-model', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '3' } });
    apiChannelId = (await ok(url, 'POST', '/admin/v1/channels', { name: 'api-made', provider: 'openai', base_url: sim.url, keys: ['sk-api-made-key-0000'], models: ['api-model'] })).id;
  });

  test('a restart with the same file changes nothing: no new price version, no catalog audit rows, the same channels', async () => {
    assert.ok(apiChannelId, 'the first test ran');
    const auditBefore = await catalogAudit();
    const channelsBefore = (await ok(url, 'GET', '/admin/v1/channels')).data.map((c: Record<string, unknown>) => ({ ...c, health: undefined }));
    const dbBefore = (await s!.stop(), dump(dataDir));
    s = undefined;
    s = await boot(dataDir, file);
    url = s.url;
    assert.equal(dump(dataDir), dbBefore, 'the start wrote nothing to the catalog, the price book or the audit log');
    assert.deepEqual(await catalogAudit(), auditBefore);
    assert.deepEqual((await ok(url, 'GET', '/admin/v1/channels')).data.map((c: Record<string, unknown>) => ({ ...c, health: undefined })), channelsBefore);
    const m = await houseChat();
    assert.equal(m.price_version, 1);
    assert.deepEqual((await ok(url, 'GET', '/admin/v1/models/house-chat/prices')).data.map((h: { version: number }) => h.version), [1]);
    const { row } = await send(customer.key);
    assert.equal(row.price_version, 1);
    assert.equal(row.channel_id, mainId);
  });

  test('a changed price in the file is a new price version at the next start; a channel made through the API survives', async () => {
    assert.ok(apiChannelId, 'the first test ran');
    const auditBefore = await catalogAudit();
    write(catalog('4'));
    await restart();
    const m = await houseChat();
    assert.equal(m.price_version, 2);
    assert.deepEqual(m.price, { input_per_mtok: '1', output_per_mtok: '4' });
    const history = (await ok(url, 'GET', '/admin/v1/models/house-chat/prices')).data;
    assert.deepEqual(history.map((h: { version: number }) => h.version), [2, 1]);
    assert.equal(history[0].created_by, 'operator:config-file');
    // Exactly one new catalog audit row: the model update. Channels and groups did not change.
    const added = (await catalogAudit()).slice(0, -auditBefore.length || undefined);
    assert.deepEqual(added.map((x: { action: string; target_id: string; actor: string }) => `${x.actor} ${x.action} ${x.target_id}`), ['operator:config-file model.update house-chat']);

    const { row, body } = await send(customer.key);
    assert.equal(row.price_version, 2);
    assert.equal(usd(row.amount), tokenCost(body.usage.prompt_tokens, '1') + tokenCost(body.usage.completion_tokens, '4'));

    const api = (await ok(url, 'GET', '/admin/v1/channels')).data.find((c: { name: string }) => c.name === 'api-made');
    assert.ok(api, 'the channel made through the admin API is kept');
    assert.equal(api.id, apiChannelId);
    assert.equal((await houseChat()).channels.length, 2);
    assert.ok((await ok(url, 'GET', '/admin/v1/models')).data.some((x: { id: string }) => x.id === 'api-model'), 'so is the model');
    await s!.stop();
    s = undefined;
  });

  test('a reload (SIGHUP) applies a changed file without a restart; a bad file changes nothing', async () => {
    await restart();
    write(catalog('6'));
    const applied = await s!.reloadCatalogFile();
    assert.deepEqual(applied, { models: 1, channels: 0, groups: 0 });
    assert.equal((await houseChat()).price_version, 3);
    const { row, body } = await send(customer.key);
    assert.equal(row.price_version, 3, 'the very next request is priced with the reloaded file');
    assert.equal(usd(row.amount), tokenCost(body.usage.prompt_tokens, '1') + tokenCost(body.usage.completion_tokens, '6'));
    write('{ "models": ');
    await assert.rejects(s!.reloadCatalogFile(), (e: Error) => e.name === 'ConfigError' && e.message.includes(file));
    assert.equal((await houseChat()).price_version, 3, 'a bad file changes nothing');
    write(catalog('4'));
    await s!.stop();
    s = undefined;
  });

  test('an invalid file stops the start with a ConfigError naming the file and the bad value; nothing is written', async () => {
    const bad = join(dir, 'bad-catalog.json');
    const good = catalog();
    const cases: Array<{ what: string; content: unknown; want: RegExp[] }> = [
      { what: 'bad JSON', content: '{"channels": [ {"name": "x",', want: [/is not valid JSON/] },
      {
        what: 'an unknown provider',
        content: { ...good, channels: [{ ...good.channels[0], provider: 'azure' }] },
        want: [/channels\.0\.provider: /],
      },
      {
        what: 'a price with an unknown field',
        content: { ...good, models: { 'house-chat': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1', ouptut_per_mtok: '2' } } } },
        want: [/models\.house-chat\.price: /, /ouptut_per_mtok/],
      },
      { what: 'duplicate channel names', content: { ...good, channels: [good.channels[0], { ...good.channels[1], name: 'file-main' }] }, want: [/channels: /, /file-main/, /twice/] },
      {
        what: 'a malformed amount',
        content: { ...good, models: { 'house-chat': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1e3' } } } },
        want: [/models\.house-chat\.price\.input_per_mtok: /],
      },
      {
        what: 'a model id the API would refuse',
        content: { ...good, models: { 'zz-first-ok': good.models['house-chat'], 'house chat': good.models['house-chat'] } },
        want: [/models\.house chat/],
      },
      { what: 'an unknown top-level section', content: { ...good, prices: {} }, want: [/prices/] },
      {
        what: 'a model written for an earlier version ("family")',
        content: { ...good, models: { 'house-chat': { family: 'openai', kind: 'chat', price: { input_per_mtok: '1' } } } },
        want: [/models\.house-chat\.provider: /, /"family" is now called "provider"/],
      },
    ];
    const before = dump(dataDir);
    const fresh = join(dir, 'never-created');
    for (const c of cases) {
      write(c.content, bad);
      for (const target of [dataDir, fresh]) {
        let err: unknown;
        try {
          const started = await boot(target, bad);
          await started.stop();
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof ConfigError, `${c.what}: expected a ConfigError, got ${String(err)}`);
        assert.ok(err.message.startsWith('SURETY_CONFIG: '), `${c.what}: ${err.message}`);
        assert.ok(err.message.includes(bad), `${c.what}: the file is named: ${err.message}`);
        for (const w of c.want) assert.match(err.message, w, c.what);
      }
      assert.equal(dump(dataDir), before, `${c.what}: nothing was written`);
      assert.ok(!existsSync(fresh), `${c.what}: no database was created`);
    }
    // A missing file is named too.
    await assert.rejects(boot(dataDir, join(dir, 'nope.json')), (e: unknown) => e instanceof ConfigError && /SURETY_CONFIG: cannot read .*nope\.json/.test(e.message));
    assert.equal(dump(dataDir), before);
  });

  test('a channel whose env: key names an unset variable serves nothing (no "undefined" key sent upstream) until it is set', async () => {
    const unsetDir = join(dir, 'unset-data');
    const unsetFile = join(dir, 'unset-catalog.json');
    const name = 'SURETY_TEST_CATALOG_FILE_NEVER_SET';
    delete process.env[name];
    write(
      {
        channels: [{ name: 'needs-env', provider: 'openai', base_url: sim.url, keys: [`env:${name}`], models: ['env-chat'] }],
        models: { 'env-chat': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1', output_per_mtok: '2' } } },
      },
      unsetFile,
    );
    const seen = sim.requests().length;
    let d = await boot(unsetDir, unsetFile);
    try {
      const a = await ok(d.url, 'POST', '/admin/v1/accounts', { name: 'env customer' });
      await ok(d.url, 'POST', `/admin/v1/accounts/${a.id}/topups`, { amount: '1.00', method: 'other', reference: 'r' });
      const key = (await ok(d.url, 'POST', `/admin/v1/accounts/${a.id}/keys`, { name: 'k' })).key;
      const ask = () =>
        fetch(`${d.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ model: 'env-chat', messages: [{ role: 'user', content: 'hi' }] }),
        });
      const r = await ask();
      const body = (await r.json()) as any;
      assert.equal(r.status, 503, JSON.stringify(body));
      assert.equal(body.error.code, 'NO_CHANNEL');
      assert.equal(sim.requests().length, seen, 'nothing was sent upstream');
      assert.deepEqual((await ok(d.url, 'GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === 'env-chat').channels, []);
      assert.equal((await ok(d.url, 'GET', `/admin/v1/accounts/${a.id}/balance`)).total, '1.00', 'not billed');

      // Set the variable and restart: the channel serves with it.
      await d.stop();
      process.env[name] = 'sk-now-set-0123456789';
      d = await boot(unsetDir, unsetFile);
      const ok2 = await fetch(`${d.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'env-chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(ok2.status, 200, await ok2.text());
      assert.equal(sim.requests().at(-1)!.key, 'sk-now-set-0123456789');
    } finally {
      delete process.env[name];
      await d.stop();
    }
  });

  test('with the demo on, a model in the file keeps its price and channels (the demo does not take it over)', async () => {
    const demoDir = join(dir, 'demo-data');
    const demoFile = join(dir, 'demo-catalog.json');
    write(
      {
        channels: [{ name: 'file-main', provider: 'openai', base_url: sim.url, keys: [LITERAL_KEY], models: ['gpt-4o-mini'] }],
        models: { 'gpt-4o-mini': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '0.20', output_per_mtok: '0.80' } } },
      },
      demoFile,
    );
    for (let i = 0; i < 2; i++) {
      const d = await boot(demoDir, demoFile, { demo: 'true' });
      try {
        assert.ok(d.sim, 'the demo simulator runs');
        const m = (await ok(d.url, 'GET', '/admin/v1/models')).data.find((x: { id: string }) => x.id === 'gpt-4o-mini');
        assert.deepEqual(m.price, { input_per_mtok: '0.20', output_per_mtok: '0.80' }, `start ${i + 1}: the file's price`);
        assert.equal(m.price_version, 1, `start ${i + 1}: one price version`);
        assert.deepEqual(m.channels, ['file-main'], `start ${i + 1}: the demo does not route the file's model to the simulator`);
        // The rest of the demo catalog is there.
        assert.ok((await ok(d.url, 'GET', '/admin/v1/models')).data.some((x: { id: string }) => x.id === 'claude-sonnet-5-5'));
      } finally {
        await d.stop();
      }
    }
  });
});
