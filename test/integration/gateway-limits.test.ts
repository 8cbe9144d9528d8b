// Limits and key rules on the data plane, against the simulator: per-key and per-account RPM and
// TPM, per-key concurrency, model and IP allow-lists, key spend limits (day, month, total — the
// total surviving a restart on the same data directory), expiry, revocation, the body size limit,
// unknown models; every refusal in the caller's own API shape with a stable code, logged, unbilled.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/kernel/config/load.ts';
import { startSurety, type Started } from '../../src/start.ts';
import { ADMIN_KEY, startTestGateway, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

type Provider = 'openai' | 'anthropic' | 'gemini';

interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

const BODY_LIMIT = 8192;
const FLAT_MODEL = 'flat-cent';

/** One chat request in a protocol's own wire format, with its own way of sending the key. */
async function call(base: string, protocol: Provider, key: string | null, text: string, opts: { model?: string; raw?: string; contentType?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  let url: string;
  let body: unknown;
  if (protocol === 'openai') {
    url = `${base}/v1/chat/completions`;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    body = { model: opts.model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: text }] };
  } else if (protocol === 'anthropic') {
    url = `${base}/v1/messages`;
    if (key !== null) headers['x-api-key'] = key;
    headers['anthropic-version'] = '2023-06-01';
    body = { model: opts.model ?? 'claude-sonnet-5-5', max_tokens: 100, messages: [{ role: 'user', content: text }] };
  } else {
    url = `${base}/v1beta/models/${opts.model ?? 'gemini-2.5-flash'}:generateContent`;
    if (key !== null) headers['x-goog-api-key'] = key;
    body = { contents: [{ role: 'user', parts: [{ text }] }] };
  }
  const r = await fetch(url, { method: 'POST', headers, body: opts.raw ?? JSON.stringify(body) });
  const t = await r.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(t);
  } catch {
    parsed = t;
  }
  return { status: r.status, headers: r.headers, body: parsed, text: t };
}

/** Asserts an error in the protocol's own shape, with our stable code in the protocol's code slot. */
function expectProviderError(r: Res, protocol: Provider, status: number, code: string, kind: string): void {
  assert.equal(r.status, status, `${protocol}: expected ${status} ${code}, got ${r.status} ${r.text}`);
  assert.match(String(r.headers.get('x-request-id')), /^req_/);
  if (protocol === 'openai') {
    assert.equal(r.body.error.code, code, r.text);
    assert.equal(r.body.error.type, kind, r.text);
    assert.equal(typeof r.body.error.message, 'string');
    assert.ok('param' in r.body.error);
  } else if (protocol === 'anthropic') {
    assert.equal(r.body.type, 'error', r.text);
    assert.equal(r.body.error.type, kind, r.text);
    assert.equal(r.body.error.code, code, r.text);
    assert.equal(r.body.request_id, r.headers.get('x-request-id'));
    assert.equal(r.headers.get('request-id'), r.headers.get('x-request-id'));
  } else {
    assert.equal(r.body.error.code, status, r.text);
    assert.equal(r.body.error.status, kind, r.text);
    assert.equal(r.body.error.details[0].reason, code, r.text);
  }
  assert.ok(String(r.body.error.message).length > 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The flat-priced model ($0.01 per request, no token price: the worst case is the price) on the demo OpenAI channel. */
async function addFlatModel(admin: (m: string, p: string, b?: unknown) => Promise<any>): Promise<void> {
  await admin('PUT', `/admin/v1/models/${FLAT_MODEL}`, { provider: 'openai', kind: 'chat', price: { per_request: '0.01' } });
  const ch = (await admin('GET', '/admin/v1/channels')).data.find((c: { name: string }) => c.name === 'sim-openai');
  await admin('PATCH', `/admin/v1/channels/${ch.id}`, { models: [...ch.models, FLAT_MODEL] });
}

describe('limits and key rules', () => {
  let g: TestGateway;
  const ok = async (key: string, text = 'hello', protocol: Provider = 'openai', model?: string) => {
    const r = await call(g.url, protocol, key, text, model ? { model } : {});
    assert.equal(r.status, 200, r.text);
    return r;
  };
  const row = async (r: Res) => {
    await g.settle();
    return g.log(r.headers.get('x-request-id')!);
  };
  /** A refused request: logged with its outcome and status, nothing charged. */
  const refusedRow = async (r: Res, outcome: string, c?: Customer) => {
    const l = await row(r);
    assert.equal(l.outcome, outcome, JSON.stringify(l));
    assert.equal(l.status, r.status);
    assert.equal(l.amount, '0.00');
    assert.equal(l.tx_id, null);
    assert.deepEqual(l.attempts, [], 'never sent upstream');
    if (c) {
      assert.equal(l.account_id, c.accountId);
      assert.equal(l.key_id, c.keyId);
    }
    return l;
  };

  before(async () => {
    g = await startTestGateway({ config: { bodyLimitBytes: BODY_LIMIT } });
    await addFlatModel(g.admin);
  });
  after(async () => {
    await g?.close();
  });

  test('key RPM: a sliding minute; the request over it is 429 rate_limited with retry-after, other keys unaffected', async () => {
    const c = await g.customer('5.00', { rpm: 3 });
    const other = await g.admin('POST', `/admin/v1/accounts/${c.accountId}/keys`, { name: 'sibling' });
    for (let i = 0; i < 3; i++) await ok(c.key);
    const r = await call(g.url, 'openai', c.key, 'one too many');
    expectProviderError(r, 'openai', 429, 'RATE_LIMITED', 'rate_limit_error');
    // 3 in any minute: a place frees when the first of the three is a minute old.
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(ra) && ra >= 50 && ra <= 60, `retry-after ${ra}`);
    await refusedRow(r, 'rate_limited', c);
    // The same key through another API is the same bucket, refused in that API's shape.
    expectProviderError(await call(g.url, 'anthropic', c.key, 'hi'), 'anthropic', 429, 'RATE_LIMITED', 'rate_limit_error');
    expectProviderError(await call(g.url, 'gemini', c.key, 'hi'), 'gemini', 429, 'RATE_LIMITED', 'RESOURCE_EXHAUSTED');
    await ok(other.key);
  });

  test('key TPM: tokens actually used (output included) drain the bucket; the next request waits', async () => {
    const c = await g.customer('5.00', { tpm: 60 });
    // A short prompt passes the estimate; 100 output tokens overdraw the minute's 60.
    const first = await ok(c.key, 'write a lot [[sim:tokens=100]]');
    assert.equal(first.body.usage.completion_tokens, 100);
    const r = await call(g.url, 'openai', c.key, 'hi');
    expectProviderError(r, 'openai', 429, 'RATE_LIMITED', 'rate_limit_error');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    await refusedRow(r, 'rate_limited', c);
    // The control: the same two requests under a roomy TPM both pass.
    const roomy = await g.customer('5.00', { tpm: 100_000 });
    await ok(roomy.key, 'write a lot [[sim:tokens=100]]');
    await ok(roomy.key, 'hi');
  });

  test('account RPM and TPM are shared by all keys of the account and apply without restart', async () => {
    const c = await g.customer('5.00');
    const k2 = (await g.admin('POST', `/admin/v1/accounts/${c.accountId}/keys`, { name: 'second' })).key as string;
    await ok(c.key);
    await g.admin('PATCH', `/admin/v1/accounts/${c.accountId}`, { rpm: 2 });
    await ok(c.key);
    await ok(k2);
    const r = await call(g.url, 'openai', c.key, 'hi');
    expectProviderError(r, 'openai', 429, 'RATE_LIMITED', 'rate_limit_error');
    assert.match(r.body.error.message, /account/);
    expectProviderError(await call(g.url, 'openai', k2, 'hi'), 'openai', 429, 'RATE_LIMITED', 'rate_limit_error');
    // Lifted: passes at once.
    await g.admin('PATCH', `/admin/v1/accounts/${c.accountId}`, { rpm: null });
    await ok(k2);

    await g.admin('PATCH', `/admin/v1/accounts/${c.accountId}`, { tpm: 50 });
    await ok(c.key, 'long answer [[sim:tokens=80]]');
    const t = await call(g.url, 'anthropic', k2, 'hi');
    expectProviderError(t, 'anthropic', 429, 'RATE_LIMITED', 'rate_limit_error');
    assert.match(t.body.error.message, /account/);
    await refusedRow(t, 'rate_limited');
  });

  test('per-key concurrency: two in flight allowed, the third refused at once, a slot frees when one ends', async () => {
    const c = await g.customer('5.00', { concurrency: 2 });
    const slow = [call(g.url, 'openai', c.key, 'slow one [[sim:latency=500]]'), call(g.url, 'openai', c.key, 'slow two [[sim:latency=500]]')];
    const until = Date.now() + 2000;
    while (g.s.gateway.gateway.requestsInFlight < 2 && Date.now() < until) await sleep(5);
    const third = await call(g.url, 'openai', c.key, 'third [[sim:latency=500]]');
    assert.equal(g.s.gateway.gateway.requestsInFlight, 2, 'refused while the first two still wait on the upstream');
    expectProviderError(third, 'openai', 429, 'CONCURRENCY_LIMITED', 'rate_limit_error');
    assert.equal(third.headers.get('retry-after'), '1', 'a 429 says when to retry');
    const done = await Promise.all(slow);
    assert.deepEqual(done.map((r) => r.status), [200, 200]);
    await refusedRow(third, 'rate_limited', c);
    // The slots are given back when the requests end.
    await ok(c.key);
  });

  test('model allow-list: listed models pass, others are 403 model_not_allowed in each shape', async () => {
    const c = await g.customer('5.00', { models: ['gpt-4o-mini'] });
    await ok(c.key);
    const a = await call(g.url, 'anthropic', c.key, 'hi');
    expectProviderError(a, 'anthropic', 403, 'MODEL_NOT_ALLOWED', 'permission_error');
    await refusedRow(a, 'auth_error', c);
    expectProviderError(await call(g.url, 'gemini', c.key, 'hi'), 'gemini', 403, 'MODEL_NOT_ALLOWED', 'PERMISSION_DENIED');
    expectProviderError(await call(g.url, 'openai', c.key, 'hi', { model: FLAT_MODEL }), 'openai', 403, 'MODEL_NOT_ALLOWED', 'permission_error');
    // Widened: applies at once.
    await g.admin('PATCH', `/admin/v1/accounts/${c.accountId}/keys/${c.keyId}`, { models: ['gpt-4o-mini', 'claude-sonnet-5-5'] });
    await ok(c.key, 'hi', 'anthropic');
  });

  test('IP allow-list (CIDR): 127.0.0.1/32 allowed, 10.0.0.0/8 refused', async () => {
    const inside = await g.customer('5.00', { ips: ['127.0.0.1/32'] });
    const r = await ok(inside.key);
    assert.equal((await row(r)).client_ip, '127.0.0.1');
    const outside = await g.customer('5.00', { ips: ['10.0.0.0/8', '192.168.0.0/16'] });
    const refused = await call(g.url, 'openai', outside.key, 'hi');
    expectProviderError(refused, 'openai', 403, 'IP_NOT_ALLOWED', 'permission_error');
    assert.match(refused.body.error.message, /127\.0\.0\.1/);
    const l = await refusedRow(refused, 'auth_error', outside);
    assert.equal(l.client_ip, '127.0.0.1');
    expectProviderError(await call(g.url, 'anthropic', outside.key, 'hi'), 'anthropic', 403, 'IP_NOT_ALLOWED', 'permission_error');
    // Without SURETY_TRUST_PROXY a forwarded-for header is not believed.
    const spoofed = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${outside.key}`, 'x-forwarded-for': '10.1.2.3' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(spoofed.status, 403);
    await g.admin('PATCH', `/admin/v1/accounts/${outside.accountId}/keys/${outside.keyId}`, { ips: ['10.0.0.0/8', '127.0.0.0/8'] });
    await ok(outside.key);
  });

  test('key spend limits per day and per month: requests pass until the next would exceed, then 402 key_limit', async () => {
    for (const period of ['day', 'month'] as const) {
      const c = await g.customer('5.00', { limits: { [period]: '0.02' } });
      await ok(c.key, 'one', 'openai', FLAT_MODEL);
      await ok(c.key, 'two', 'openai', FLAT_MODEL);
      const r = await call(g.url, 'openai', c.key, 'three', { model: FLAT_MODEL });
      expectProviderError(r, 'openai', 402, 'KEY_LIMIT_EXCEEDED', 'insufficient_quota');
      assert.match(r.body.error.message, new RegExp(period));
      await refusedRow(r, 'key_limit', c);
      const bal = await g.balance(c.accountId);
      assert.equal(bal.total, '4.98', 'only the two admitted requests were charged');
    }
    // Anthropic's shape for the same refusal.
    const c = await g.customer('5.00', { limits: { total: '0.000001' } });
    expectProviderError(await call(g.url, 'anthropic', c.key, 'hi'), 'anthropic', 402, 'KEY_LIMIT_EXCEEDED', 'billing_error');
  });

  test('key expiry: works until expires_at, then 401 key_expired in each shape', async () => {
    const expires = Date.now() + 1500;
    const c = await g.customer('5.00', { expires_at: new Date(expires).toISOString() });
    await ok(c.key);
    await sleep(expires - Date.now() + 20);
    for (const p of ['openai', 'anthropic', 'gemini'] as const) {
      const r = await call(g.url, p, c.key, 'hi');
      expectProviderError(r, p, 401, 'KEY_EXPIRED', p === 'openai' ? 'authentication_error' : p === 'anthropic' ? 'authentication_error' : 'UNAUTHENTICATED');
      if (p === 'openai') await refusedRow(r, 'auth_error', c);
    }
  });

  test('revocation takes effect on the very next request', async () => {
    const c = await g.customer('5.00');
    await ok(c.key);
    await g.admin('DELETE', `/admin/v1/accounts/${c.accountId}/keys/${c.keyId}`);
    const r = await call(g.url, 'openai', c.key, 'hi');
    expectProviderError(r, 'openai', 401, 'KEY_REVOKED', 'authentication_error');
    await refusedRow(r, 'auth_error', c);
    expectProviderError(await call(g.url, 'gemini', c.key, 'hi'), 'gemini', 401, 'KEY_REVOKED', 'UNAUTHENTICATED');
  });

  test('body size limit: 413 in the caller\'s shape, logged as client_error; a body just under passes', async () => {
    const c = await g.customer('5.00');
    const big = 'x'.repeat(BODY_LIMIT);
    const r = await call(g.url, 'openai', c.key, big);
    expectProviderError(r, 'openai', 413, 'BODY_TOO_LARGE', 'invalid_request_error');
    const l = await refusedRow(r, 'client_error', c);
    assert.equal(l.error_code, 'BODY_TOO_LARGE');
    expectProviderError(await call(g.url, 'anthropic', c.key, big), 'anthropic', 413, 'BODY_TOO_LARGE', 'request_too_large');
    expectProviderError(await call(g.url, 'gemini', c.key, big), 'gemini', 413, 'BODY_TOO_LARGE', 'INVALID_ARGUMENT');
    await ok(c.key, 'x'.repeat(BODY_LIMIT - 200));
  });

  test('unknown model: 404 in each shape, logged with the name asked for, not billed', async () => {
    const c = await g.customer('5.00');
    const r = await call(g.url, 'openai', c.key, 'hi', { model: 'gpt-9-imaginary' });
    expectProviderError(r, 'openai', 404, 'UNKNOWN_MODEL', 'invalid_request_error');
    const l = await refusedRow(r, 'client_error', c);
    assert.equal(l.model, 'gpt-9-imaginary');
    expectProviderError(await call(g.url, 'anthropic', c.key, 'hi', { model: 'claude-imaginary' }), 'anthropic', 404, 'UNKNOWN_MODEL', 'not_found_error');
    expectProviderError(await call(g.url, 'gemini', c.key, 'hi', { model: 'gemini-imaginary' }), 'gemini', 404, 'UNKNOWN_MODEL', 'NOT_FOUND');
    // Chat models of another provider are translated (translate-*.test.ts); a model no translation reaches is not.
    expectProviderError(await call(g.url, 'anthropic', c.key, 'hi', { model: 'text-embedding-3-small' }), 'anthropic', 404, 'UNKNOWN_MODEL', 'not_found_error');
  });

  test('other refusals keep stable codes in every shape: no key, bad key, bad JSON, wrong content type', async () => {
    const c = await g.customer('5.00');
    for (const p of ['openai', 'anthropic', 'gemini'] as const) {
      const auth = p === 'openai' ? 'authentication_error' : p === 'anthropic' ? 'authentication_error' : 'UNAUTHENTICATED';
      const invalid = p === 'gemini' ? 'INVALID_ARGUMENT' : 'invalid_request_error';
      expectProviderError(await call(g.url, p, null, 'hi'), p, 401, 'AUTH_REQUIRED', auth);
      expectProviderError(await call(g.url, p, 'sk-sur-nope', 'hi'), p, 401, 'KEY_INVALID', auth);
      expectProviderError(await call(g.url, p, c.key, '', { raw: '{"model": ' }), p, 400, 'INVALID_JSON', invalid);
      const t = await call(g.url, p, c.key, '', { raw: 'model=x', contentType: 'text/plain' });
      assert.equal(t.status, 415, t.text);
      expectProviderError(t, p, 415, 'UNSUPPORTED_MEDIA_TYPE', p === 'gemini' ? 'UNKNOWN' : p === 'anthropic' ? 'api_error' : 'invalid_request_error');
    }
    await g.settle();
    const rows = await g.logsOfKey(c.keyId);
    assert.equal(rows.length, 6, 'bad JSON and wrong type are logged against the key that sent them');
    assert.ok(rows.every((r: { outcome: string; amount: string }) => r.outcome === 'client_error' && r.amount === '0.00'));
  });

  test('refused requests never reach the ledger', async () => {
    await g.settle();
    const report = await g.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    const logs = await g.admin('GET', '/admin/v1/logs?limit=1000');
    const refused = logs.data.filter((r: { outcome: string }) => r.outcome !== 'ok');
    assert.ok(refused.length >= 25, `${refused.length} refusals logged`);
    assert.ok(refused.every((r: { amount: string; tx_id: string | null }) => r.amount === '0.00' && r.tx_id === null));
  });
});

describe('key total spend limit across a restart on the same data directory', () => {
  let dir: string;
  let s: Started | null = null;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'surety-limit-'));
  });
  after(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => startSurety(loadConfig({}, { dataDir: dir, port: 0, logLevel: 'silent', adminKey: ADMIN_KEY }), { handleSignals: false, simPort: 0 });
  const adminOf = (url: string) => async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (/\/topups$/.test(path)) headers['idempotency-key'] = `t-${path}`;
    const r = await fetch(url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${text}`);
    return JSON.parse(text);
  };

  test('a total limit lets N requests through, then key_limit — also after a restart; raising it lets one more through', async () => {
    s = await start();
    let admin = adminOf(s.url);
    await addFlatModel(admin);
    const acct = await admin('POST', '/admin/v1/accounts', { name: 'limited' });
    await admin('POST', `/admin/v1/accounts/${acct.id}/topups`, { amount: '1.00', method: 'other', reference: 'r' });
    const key = await admin('POST', `/admin/v1/accounts/${acct.id}/keys`, { name: 'capped', limits: { total: '0.03' } });
    const flat = (url: string) => call(url, 'openai', key.key, 'pay per request', { model: FLAT_MODEL });
    for (let i = 0; i < 3; i++) assert.equal((await flat(s.url)).status, 200);
    const fourth = await flat(s.url);
    expectProviderError(fourth, 'openai', 402, 'KEY_LIMIT_EXCEEDED', 'insufficient_quota');
    assert.match(fourth.body.error.message, /total/);
    await s.stop();
    s = null;

    // Same data directory: the spend is read back from storage, not from memory.
    s = await start();
    admin = adminOf(s.url);
    const again = await flat(s.url);
    expectProviderError(again, 'openai', 402, 'KEY_LIMIT_EXCEEDED', 'insufficient_quota');
    await admin('PATCH', `/admin/v1/accounts/${acct.id}/keys/${key.id}`, { limits: { total: '0.04' } });
    assert.equal((await flat(s.url)).status, 200, 'one more cent of room, one more request');
    expectProviderError(await flat(s.url), 'openai', 402, 'KEY_LIMIT_EXCEEDED', 'insufficient_quota');
    await s.gateway.gateway.writer.flush();
    const bal = await admin('GET', `/admin/v1/accounts/${acct.id}/balance`);
    assert.equal(usd(bal.total), usd('0.96'), 'four requests of one cent were charged, none of the refused');
  });
});
