// The catalog through the admin API on a running gateway: channels (keys never shown back, used
// and rotated upstream, model names mapped), models and their versioned prices (a change applies
// to the next request without restart, and each row is priced with the version it records),
// group multipliers, and validation errors that name the field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, tokenCost, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const UPSTREAM_KEYS = ['sk-upstream-first-0123456789', 'sk-upstream-second-0123456789'];
const PROMPT = 'x'.repeat(40);

describe('catalog admin', () => {
  let g: TestGateway;
  let c: Customer;
  let channelId: string;

  const send = async (cust: Customer, model: string, extra = '') => {
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${cust.key}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `${PROMPT}${extra}` }], max_tokens: 100 }),
    });
    const body = (await r.json()) as any;
    assert.equal(r.status, 200, JSON.stringify(body));
    await g.settle();
    return { row: await g.log(r.headers.get('x-request-id')!), cost: r.headers.get('x-surety-cost'), body };
  };
  /** The cost of a response's usage at these per-1M prices, computed here. */
  const expected = (input: string, output: string, usage: { prompt_tokens: number; completion_tokens: number }) => tokenCost(usage.prompt_tokens, input) + tokenCost(usage.completion_tokens, output);
  const expectValidation = (r: { status: number; body: any; text: string }, field: string) => {
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'VALIDATION', r.text);
    assert.equal(r.body.error.field, field, r.text);
    assert.ok(r.body.error.message.includes(`${field}:`), r.body.error.message);
  };

  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(async () => {
    await g?.close();
  });

  test('POST /admin/v1/channels: created, upstream keys never shown back, used and rotated without restart', async () => {
    await g.admin('PUT', '/admin/v1/models/house-chat', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1', output_per_mtok: '2' } });
    const r = await g.adminRaw('POST', '/admin/v1/channels', {
      name: 'house',
      provider: 'openai',
      base_url: `${g.s.sim!.url}/v1`,
      keys: UPSTREAM_KEYS,
      models: ['house-chat'],
      model_map: { 'house-chat': 'gpt-4o' },
    });
    assert.equal(r.status, 201, r.text);
    channelId = r.body.id;
    assert.match(channelId, /^ch_/);
    assert.equal(r.body.provider, 'openai');
    assert.deepEqual(r.body.models, ['house-chat']);
    const listed = await g.adminRaw('GET', '/admin/v1/channels');
    const audit = await g.adminRaw('GET', '/admin/v1/audit?limit=1000');
    for (const text of [r.text, listed.text, audit.text]) {
      for (const k of UPSTREAM_KEYS) assert.ok(!text.includes(k), 'an upstream key is never shown back');
    }
    assert.ok(listed.body.data.some((ch: { id: string; keys: string[] }) => ch.id === channelId && ch.keys.length === 2));

    // Serves at once; the upstream gets the mapped model name and the channel's keys in turn.
    const rows = [];
    for (let i = 0; i < 3; i++) rows.push((await send(c, 'house-chat', ` #${i}`)).row);
    assert.ok(rows.every((row) => row.channel_id === channelId && row.upstream_model === 'gpt-4o' && row.model === 'house-chat'));
    const seen = g.s.sim!.requests().slice(-3);
    assert.deepEqual(seen.map((q) => q.model), ['gpt-4o', 'gpt-4o', 'gpt-4o']);
    assert.deepEqual(seen.map((q) => q.key), [UPSTREAM_KEYS[0], UPSTREAM_KEYS[1], UPSTREAM_KEYS[0]]);
  });

  test('PUT /admin/v1/models/:id prices: GET shows them with price_version; a change bumps the version and prices the next request, no restart', async () => {
    const v1 = (await g.admin('GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === 'house-chat');
    assert.equal(v1.price_version, 1);
    assert.deepEqual(v1.price, { input_per_mtok: '1', output_per_mtok: '2' });
    assert.deepEqual(v1.channels, ['house']);
    const first = await send(c, 'house-chat');
    assert.equal(first.row.price_version, 1);
    assert.equal(first.body.usage.prompt_tokens, 10);
    assert.equal(usd(first.row.amount), expected('1', '2', first.body.usage));
    assert.equal(first.cost, first.row.amount);

    // The same price again is not a new version.
    const same = await g.admin('PUT', '/admin/v1/models/house-chat', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1', output_per_mtok: '2' } });
    assert.equal(same.price_version, 1);

    const put = await g.admin('PUT', '/admin/v1/models/house-chat', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '10', output_per_mtok: '20' } });
    assert.equal(put.price_version, 2);
    const v2 = (await g.admin('GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === 'house-chat');
    assert.equal(v2.price_version, 2);
    assert.deepEqual(v2.price, { input_per_mtok: '10', output_per_mtok: '20' });
    const next = await send(c, 'house-chat');
    assert.equal(next.row.price_version, 2);
    assert.equal(usd(next.row.amount), expected('10', '20', next.body.usage));
    assert.equal(usd(next.row.amount), 10n * usd(first.row.amount));

    const history = (await g.admin('GET', '/admin/v1/models/house-chat/prices')).data;
    assert.deepEqual(history.map((h: { version: number }) => h.version), [2, 1]);
    assert.deepEqual(history[1].price, { input_per_mtok: '1', output_per_mtok: '2' });
  });

  test('a request in flight across a price change is priced with the version its row records', async () => {
    const slow = send(c, 'house-chat', ' [[sim:latency=300]]');
    const until = Date.now() + 2000;
    while (g.s.gateway.gateway.requestsInFlight < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    const put = await g.admin('PUT', '/admin/v1/models/house-chat', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '100', output_per_mtok: '200' } });
    assert.equal(put.price_version, 3);
    const { row, body } = await slow;
    assert.equal(row.price_version, 2, 'admitted under version 2');
    assert.equal(usd(row.amount), expected('10', '20', body.usage), 'and priced with version 2');
    const after3 = await send(c, 'house-chat');
    assert.equal(after3.row.price_version, 3);
    assert.equal(usd(after3.row.amount), expected('100', '200', after3.body.usage));
  });

  test('PUT /admin/v1/groups/:name multiplier: an account in the group pays half, then a quarter', async () => {
    const vip = await g.customer('5.00', {}, { group: 'half' });
    const base = await send(c, 'house-chat');
    const full = (await send(vip, 'house-chat')).row;
    assert.equal(full.amount, base.row.amount, 'no multiplier set yet: full price');
    const set = await g.admin('PUT', '/admin/v1/groups/half', { multiplier: '0.5' });
    assert.deepEqual(set, { group: 'half', multiplier: '0.5' });
    const half = await send(vip, 'house-chat');
    assert.equal(usd(half.row.amount) * 2n, usd(base.row.amount));
    assert.equal(half.cost, half.row.amount);
    assert.equal((await send(c, 'house-chat')).row.amount, base.row.amount, 'other groups unchanged');
    await g.admin('PUT', '/admin/v1/groups/half', { multiplier: '0.25' });
    assert.equal(usd((await send(vip, 'house-chat')).row.amount) * 4n, usd(base.row.amount));
    // Moving an account into the group applies to its next request.
    const mover = await g.customer('5.00');
    assert.equal((await send(mover, 'house-chat')).row.amount, base.row.amount);
    await g.admin('PATCH', `/admin/v1/accounts/${mover.accountId}`, { group: 'half' });
    assert.equal(usd((await send(mover, 'house-chat')).row.amount) * 4n, usd(base.row.amount));
    // The ledger charged exactly what the rows say.
    const rows = await g.logsOfKey(vip.keyId);
    const charged = rows.reduce((s: bigint, r: { amount: string }) => s + usd(r.amount), 0n);
    const bal = await g.balance(vip.accountId);
    assert.equal(usd(bal.total), usd('5.00') - charged);
  });

  test('changing and disabling a channel applies to the next request', async () => {
    const unmapped = await g.admin('PATCH', `/admin/v1/channels/${channelId}`, { model_map: {} });
    assert.deepEqual(unmapped.model_map, {});
    assert.equal((await send(c, 'house-chat')).row.upstream_model, 'house-chat');
    await g.admin('PATCH', `/admin/v1/channels/${channelId}`, { enabled: false });
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.key}` },
      body: JSON.stringify({ model: 'house-chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = (await r.json()) as any;
    assert.equal(r.status, 503, JSON.stringify(body));
    assert.equal(body.error.code, 'NO_CHANNEL');
    await g.admin('PATCH', `/admin/v1/channels/${channelId}`, { enabled: true });
    assert.equal((await send(c, 'house-chat')).row.channel_id, channelId);
  });

  test('validation errors are 400 and name the field; nothing is created', async () => {
    const before = (await g.admin('GET', '/admin/v1/channels')).data.length;
    const ch = { name: 'bad', provider: 'openai', base_url: 'http://127.0.0.1:1', keys: ['k'], models: ['house-chat'] };
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, provider: 'azure' }), 'provider');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, base_url: 'not a url' }), 'base_url');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, base_url: 'ftp://example.com' }), 'base_url');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, keys: [] }), 'keys');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, base: 'x' }), 'base');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, keys: ['env:'] }), 'keys.0');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, keys: ['k', 'env:OPENAI-KEY'] }), 'keys.1');
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', { ...ch, keys: ['enc:v1:0123abcd:AAAA'] }), 'keys.0');
    const { name: _n, ...noName } = ch;
    expectValidation(await g.adminRaw('POST', '/admin/v1/channels', noName), 'name');
    assert.equal((await g.admin('GET', '/admin/v1/channels')).data.length, before);
    const dup = await g.adminRaw('POST', '/admin/v1/channels', { ...ch, name: 'house' });
    assert.equal(dup.status, 409, dup.text);

    const model = { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1' } };
    expectValidation(await g.adminRaw('PUT', '/admin/v1/models/new-model', { ...model, price: { input_per_mtok: '1', ouptut_per_mtok: '2' } }), 'price.ouptut_per_mtok');
    expectValidation(await g.adminRaw('PUT', '/admin/v1/models/new-model', { ...model, price: { input_per_mtok: 1 } }), 'price.input_per_mtok');
    expectValidation(await g.adminRaw('PUT', '/admin/v1/models/new-model', { ...model, price: { input_per_mtok: '-1' } }), 'price.input_per_mtok');
    expectValidation(await g.adminRaw('PUT', '/admin/v1/models/new-model', { ...model, price: { per_image: { '1024x1024': '0.1' } } }), 'price.per_image');
    expectValidation(await g.adminRaw('PUT', '/admin/v1/models/new-model', { ...model, provider: 'mistral' }), 'provider');
    // The field's old name is not silently ignored: the error says what it is called now.
    const { provider: _p, ...noProvider } = model;
    const old = await g.adminRaw('PUT', '/admin/v1/models/new-model', { ...noProvider, family: 'openai' });
    expectValidation(old, 'provider');
    assert.match(old.body.error.message, /"family"/);
    expectValidation(await g.adminRaw('PUT', '/admin/v1/models/new model', model), 'id');
    expectValidation(await g.adminRaw('PUT', '/admin/v1/groups/half', { multiplier: 'half' }), 'multiplier');
    const models = (await g.admin('GET', '/admin/v1/models')).data.map((m: { id: string }) => m.id);
    assert.ok(!models.includes('new-model') && !models.includes('new model'));
    // A price that failed validation did not touch the live one.
    const hc = (await g.admin('GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === 'house-chat');
    assert.equal(hc.price_version, 3);
    // The operator routes need the operator key.
    const anon = await fetch(`${g.url}/admin/v1/models/house-chat`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.key}` }, body: JSON.stringify(model) });
    assert.equal(anon.status, 403, 'a customer key on an operator route is forbidden');
  });

  /** A chat request for `model`; the status and error code, and its log row when it has one. */
  const ask = async (cust: Customer, model: string) => {
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${cust.key}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }], max_tokens: 20 }),
    });
    const body = (await r.json()) as any;
    await g.settle();
    return { status: r.status, code: body.error?.code as string | undefined, row: await g.log(r.headers.get('x-request-id')!) };
  };
  const channelNamed = async (name: string) => (await g.admin('GET', '/admin/v1/channels')).data.find((ch: { name: string }) => ch.name === name);
  const modelNamed = async (id: string) => (await g.admin('GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === id);
  const auditOf = async (id: string) => (await g.admin('GET', `/admin/v1/audit?target_id=${id}&limit=100`)).data.map((a: { action: string }) => a.action);

  test('a channel whose env: key is unset is created and listed as usable: false with the reason, and never used', async () => {
    const name = 'SURETY_TEST_CATALOG_NEVER_SET';
    delete process.env[name];
    const created = await g.adminRaw('POST', '/admin/v1/channels', {
      name: 'needs-env', provider: 'openai', base_url: g.s.sim!.url, keys: [`env:${name}`], models: ['house-chat'], priority: 100,
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.enabled, true);
    assert.equal(created.body.usable, false);
    assert.equal(created.body.unusable_reason, `environment variable ${name} is not set`);
    const listed = await channelNamed('needs-env');
    assert.deepEqual([listed.usable, listed.unusable_reason, listed.health.state], [false, `environment variable ${name} is not set`, 'closed']);
    const house = await channelNamed('house');
    assert.deepEqual([house.usable, house.unusable_reason], [true, null]);
    // Highest priority, yet never used: the request goes to the usable channel.
    assert.equal((await ask(c, 'house-chat')).row.channel_id, channelId);
    assert.deepEqual((await modelNamed('house-chat')).channels, ['house']);

    const disabled = await g.admin('PATCH', '/admin/v1/channels/needs-env', { enabled: false });
    assert.deepEqual([disabled.usable, disabled.unusable_reason], [false, 'disabled by the operator (enabled: false)']);
    const keyed = await g.admin('PATCH', '/admin/v1/channels/needs-env', { enabled: true, keys: ['sk-now-a-real-key-0000'], models: ['nothing-yet'] });
    assert.deepEqual([keyed.usable, keyed.unusable_reason, keyed.keys], [true, null, ['…0000']]);
  });

  test('renaming a channel to a name in use is 409 CONFLICT and changes nothing', async () => {
    const r = await g.adminRaw('PATCH', '/admin/v1/channels/needs-env', { name: 'house' });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.body.error.code, 'CONFLICT');
    assert.ok(await channelNamed('needs-env'));
  });

  test('DELETE /admin/v1/channels/{id}: audited, gone from the data plane at once; a model left without channels is NO_CHANNEL', async () => {
    await g.admin('PUT', '/admin/v1/models/lonely-chat', { provider: 'openai', price: { input_per_mtok: '1', output_per_mtok: '1' } });
    const ch = await g.admin('POST', '/admin/v1/channels', { name: 'lonely', provider: 'openai', base_url: g.s.sim!.url, keys: [UPSTREAM_KEYS[0]], models: ['lonely-chat'] });
    assert.equal((await ask(c, 'lonely-chat')).row.channel_id, ch.id);

    const del = await g.adminRaw('DELETE', `/admin/v1/channels/${ch.id}`);
    assert.equal(del.status, 200, del.text);
    assert.equal(del.body.deleted, true);
    assert.equal(del.body.id, ch.id);
    assert.ok(!del.text.includes(UPSTREAM_KEYS[0]!), 'the key is not shown back');
    assert.equal(await channelNamed('lonely'), undefined);
    assert.deepEqual((await modelNamed('lonely-chat')).channels, []);
    const after = await ask(c, 'lonely-chat');
    assert.deepEqual([after.status, after.code, after.row.amount], [503, 'NO_CHANNEL', '0.00']);
    assert.deepEqual(await auditOf(ch.id), ['channel.delete', 'channel.create']);

    // By name too; an unknown one is 404 and deletes nothing.
    assert.equal((await g.adminRaw('DELETE', '/admin/v1/channels/needs-env')).status, 200);
    const missing = await g.adminRaw('DELETE', `/admin/v1/channels/${ch.id}`);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'NOT_FOUND']);
    const left = (await g.admin('GET', '/admin/v1/channels')).data.map((x: { name: string }) => x.name);
    assert.ok(left.includes('house') && !left.includes('lonely') && !left.includes('needs-env'), left.join());
  });

  test('DELETE /admin/v1/models/{id}: UNKNOWN_MODEL at once, not billed; price book kept and continued; channels keep the name', async () => {
    const price = (input: string) => ({ provider: 'openai', price: { input_per_mtok: input, output_per_mtok: '1' } });
    await g.admin('PUT', '/admin/v1/models/brief-chat', price('1'));
    await g.admin('PUT', '/admin/v1/models/brief-chat', price('2'));
    const ch = await g.admin('POST', '/admin/v1/channels', { name: 'brief', provider: 'openai', base_url: g.s.sim!.url, keys: [UPSTREAM_KEYS[1]], models: ['brief-chat'] });
    assert.equal((await ask(c, 'brief-chat')).row.price_version, 2);

    const del = await g.adminRaw('DELETE', '/admin/v1/models/brief-chat');
    assert.equal(del.status, 200, del.text);
    assert.deepEqual([del.body.id, del.body.deleted, del.body.price_version], ['brief-chat', true, 2]);
    assert.equal(await modelNamed('brief-chat'), undefined);
    const balance = (await g.balance(c.accountId)).total;
    const gone = await ask(c, 'brief-chat');
    assert.deepEqual([gone.status, gone.code, gone.row.outcome], [404, 'UNKNOWN_MODEL', 'client_error']);
    assert.equal((await g.balance(c.accountId)).total, balance, 'not billed');
    assert.deepEqual((await g.admin('GET', '/admin/v1/models/brief-chat/prices')).data.map((h: { version: number }) => h.version), [2, 1]);
    assert.deepEqual((await channelNamed('brief')).models, ['brief-chat'], 'the channel keeps the name');
    assert.deepEqual(await auditOf('brief-chat'), ['model.delete', 'model.update', 'model.create']);

    // Created again: the next version (never a second version 1), served by the channel that kept the name.
    const again = await g.admin('PUT', '/admin/v1/models/brief-chat', price('1'));
    assert.equal(again.price_version, 3);
    assert.deepEqual(again.channels, ['brief']);
    const row = (await ask(c, 'brief-chat')).row;
    assert.deepEqual([row.price_version, row.channel_id], [3, ch.id]);
    assert.deepEqual((await g.admin('GET', '/admin/v1/models/brief-chat/prices')).data.map((h: { version: number }) => h.version), [3, 2, 1]);

    const missing = await g.adminRaw('DELETE', '/admin/v1/models/never-was');
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'NOT_FOUND']);
  });

  test('GET /admin/v1/models/{id}/prices of a model that never existed is 404 NOT_FOUND', async () => {
    const r = await g.adminRaw('GET', '/admin/v1/models/no-such-model/prices');
    assert.equal(r.status, 404, r.text);
    assert.equal(r.body.error.code, 'NOT_FOUND');
  });

  test('GET /admin/v1/groups lists the multipliers set', async () => {
    const groups = (await g.admin('GET', '/admin/v1/groups')).data;
    assert.deepEqual(groups.map((x: { group: string; multiplier: string }) => [x.group, x.multiplier]), [['half', '0.25']]);
  });

  test('every catalog route is in the README route table', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const routes = g.s.app.routes.specs.filter((x) => x.tag === 'catalog').map((x) => `${x.method} ${x.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    assert.ok(routes.length >= 10);
    assert.deepEqual(routes.filter((r) => !readme.includes(`| \`${r}\` |`)), []);
  });
});
