// Every outcome of the DESIGN table, produced by a real request through a real gateway (HTTP,
// SQLite, the in-process simulator with the demo catalog), and its billing checked against the
// ledger: the charge is exactly the price of the reported usage when billed, nothing otherwise;
// one log row per request; x-request-id is the row's id; the hold is released; the error is in the
// caller's API shape. verifyLedger passes at the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { big } from '../../src/storage/port.ts';
import { engines } from '../helpers/engines.ts';
import { simTokens, startTestGateway, tokenCost, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

type Provider = 'openai' | 'anthropic' | 'gemini';

interface Expect {
  /** HTTP status the client sees. */
  status: number;
  outcome: string;
  /** Status on the log row when it differs (499 for a cancel, 502 for a cut stream). */
  rowStatus?: number;
  /** The gateway's own error in the caller's shape, with this stable code. */
  error?: { protocol: Provider; code: string };
  /** Exact charge in nano-USD (0n = not billed). 'positive' = some charge, checked against the ledger. */
  amount: bigint | 'positive';
  /** Number of upstream attempts on the row. */
  attempts?: number;
}

interface Outcome {
  res: Response | null;
  text: string;
  row: any;
  amount: bigint;
}

let g: TestGateway;
let simUrl: string;
const funded = new Map<string, bigint>();

const CHAT = (content: string, extra: Record<string, unknown> = {}, model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user', content }], ...extra });
const CLAUDE = (content: string, extra: Record<string, unknown> = {}, model = 'claude-sonnet-5-5') => ({ model, max_tokens: 256, messages: [{ role: 'user', content }], ...extra });
const GEMINI = (text: string) => ({ contents: [{ role: 'user', parts: [{ text }] }] });

function post(path: string, key: string | null, body: unknown, opts: { headers?: Record<string, string>; raw?: string | Buffer; signal?: AbortSignal } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (key !== null && !headers['x-api-key'] && !headers['x-goog-api-key']) headers.authorization = `Bearer ${key}`;
  return fetch(g.url + path, { method: 'POST', headers, body: opts.raw ?? JSON.stringify(body), ...(opts.signal ? { signal: opts.signal } : {}) });
}
const chat = (key: string | null, body: unknown, opts?: Parameters<typeof post>[3]) => post('/v1/chat/completions', key, body, opts);
const messages = (key: string, body: unknown) => post('/v1/messages', null, body, { headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01' } });
const generate = (key: string, model: string, body: unknown, verb = 'generateContent', query = '') => post(`/v1beta/models/${model}:${verb}${query}`, null, body, { headers: { 'x-goog-api-key': key } });

async function customer(balance = '10.00', key: Record<string, unknown> = {}): Promise<Customer> {
  const c = await g.customer(balance, key);
  funded.set(c.accountId, balance === '0' ? 0n : usd(balance));
  return c;
}

function checkErrorShape(protocol: Provider, status: number, code: string, body: any, text: string): void {
  if (protocol === 'openai') {
    assert.equal(typeof body?.error?.message, 'string', text);
    assert.ok(body.error.message.length > 0);
    assert.equal(typeof body.error.type, 'string', text);
    assert.equal(body.error.code, code, text);
  } else if (protocol === 'anthropic') {
    assert.equal(body?.type, 'error', text);
    assert.equal(typeof body.error?.type, 'string', text);
    assert.equal(typeof body.error.message, 'string', text);
    assert.equal(body.error.code, code, text);
  } else {
    assert.equal(body?.error?.code, status, text);
    assert.equal(typeof body.error.message, 'string', text);
    assert.match(body.error.status, /^[A-Z_]+$/, text);
    assert.equal(body.error.details?.[0]?.reason, code, text);
  }
}

/**
 * Runs one request and checks everything every outcome must satisfy: one new log row, its id in
 * x-request-id, outcome and status, the error shape, the charge against the ledger (a journal
 * transaction referencing the request for exactly the row's amount, or none), and no hold left.
 */
async function expectOutcome(who: Customer | null, send: () => Promise<Response | null>, exp: Expect, consume?: (res: Response) => Promise<string>): Promise<Outcome> {
  await g.settle();
  const rowsBefore = await g.rowCount();
  const res = await send();
  const text = res ? (consume ? await consume(res) : await res.text()) : '';
  await g.settle();
  assert.equal(await g.rowCount(), rowsBefore + 1, 'exactly one log row per request');

  let row: any;
  if (res) {
    assert.equal(res.status, exp.status, `HTTP status: ${text.slice(0, 500)}`);
    const rid = res.headers.get('x-request-id');
    assert.match(rid ?? '', /^req_/, 'x-request-id header');
    row = await g.log(rid!);
    assert.equal(row.id, rid);
  } else {
    // The client went away before any answer: find the row by key.
    const rows = await g.logsOfKey(who!.keyId);
    row = rows[0];
  }
  assert.equal(row.outcome, exp.outcome, `outcome (row: ${JSON.stringify(row).slice(0, 800)})`);
  assert.equal(row.status, exp.rowStatus ?? exp.status, 'row status');
  if (exp.attempts !== undefined) assert.equal(row.attempts.length, exp.attempts, `attempts: ${JSON.stringify(row.attempts)}`);
  if (exp.error) {
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      assert.fail(`error body is not JSON: ${text.slice(0, 300)}`);
    }
    checkErrorShape(exp.error.protocol, exp.status, exp.error.code, body, text);
    assert.equal(row.error_code, exp.error.code);
  }

  const amount = usd(row.amount);
  if (exp.amount === 'positive') assert.ok(amount > 0n, `billed: ${row.amount}`);
  else assert.equal(amount, exp.amount, `charged ${row.amount} USD`);
  if (res && res.headers.get('x-surety-cost') !== null) assert.equal(usd(res.headers.get('x-surety-cost')!), amount, 'x-surety-cost = row amount');

  if (who) {
    assert.equal(row.account_id, who.accountId);
    assert.equal(row.key_id, who.keyId);
    const ledger = await g.ledger(who.accountId);
    const txs = row.tx_id === null ? [] : ledger.filter((t: any) => t.tx_id === row.tx_id);
    if (amount > 0n) {
      assert.equal(txs.length, 1, 'one usage transaction for the request');
      assert.equal(txs[0].kind, 'usage');
      assert.equal(txs[0].tx_id, row.tx_id, 'row points at its charge');
      assert.equal(usd(txs[0].amount), -amount, 'ledger moved exactly the row amount');
    } else {
      assert.equal(txs.length, 0, 'no ledger movement for an unbilled request');
      assert.equal(row.tx_id, null);
    }
    // Holds released, nothing pending, and the balance is the top-up minus every charge of the key.
    const mem = g.s.gateway.gateway.balances.snapshot(who.accountId);
    if (mem) {
      assert.equal(mem.held, 0n, 'in-memory hold released');
      assert.equal(mem.unflushed, 0n, 'every charge committed');
    }
    const charged = (await g.logsOfKey(who.keyId)).reduce((s: bigint, r: any) => s + usd(r.amount), 0n);
    const bal = await g.balance(who.accountId);
    assert.equal(bal.held, '0.00');
    assert.equal(usd(bal.total), funded.get(who.accountId)! - charged, 'balance = funded − charges');
    assert.equal(usd(bal.available), usd(bal.total), 'available = total (no hold, no credit line)');
    if (mem) assert.equal(mem.durable, usd(bal.total), 'in-memory durable balance follows the ledger');
  } else {
    assert.equal(amount, 0n);
    assert.equal(row.tx_id, null);
  }
  return { res, text, row, amount };
}

/** Reads an SSE response fully. */
const readAll = (res: Response) => res.text();

const PRICES = {
  mini: { in: '0.15', out: '0.60' },
  claude: { in: '3', out: '15' },
  flash: { in: '0.30', out: '2.50' },
};

describe('gateway outcomes (sqlite, real HTTP to the simulator)', () => {
  before(async () => {
    // A small body limit for the 413 case; a circuit breaker that never opens here (failover.test.ts covers it),
    // so that the many upstream failures below do not take the demo channels out.
    g = await startTestGateway({ config: { bodyLimitBytes: 65_536 }, gateway: { router: { failureThreshold: 1_000_000 } } });
    simUrl = g.s.sim!.url;
    const price = { input_per_mtok: PRICES.mini.in, output_per_mtok: PRICES.mini.out };
    await g.admin('PUT', '/admin/v1/models/slow-mini', { provider: 'openai', price });
    await g.admin('POST', '/admin/v1/channels', { name: 'slow', provider: 'openai', base_url: simUrl, keys: ['sk-slow'], models: ['slow-mini', 'capped-mini'], timeouts: { first_byte_ms: 300 } });
    // A model whose hold assumes 4 output tokens: the simulator's 16 cost more than was reserved.
    await g.admin('PUT', '/admin/v1/models/capped-mini', { provider: 'openai', price, default_max_output_tokens: 4 });
    await g.admin('PUT', '/admin/v1/models/broken-mini', { provider: 'openai', price });
    await g.admin('POST', '/admin/v1/channels', { name: 'misconfigured', provider: 'openai', base_url: simUrl, keys: ['bad-key-0123456789abcdef'], models: ['broken-mini'] });
    // Models whose price bills moderation refusals.
    await g.admin('PUT', '/admin/v1/models/mod-billed-mini', { provider: 'openai', price: { ...price, billed_on_moderation: true } });
    await g.admin('PUT', '/admin/v1/models/mod-billed-claude', { provider: 'anthropic', price: { input_per_mtok: PRICES.claude.in, output_per_mtok: PRICES.claude.out, billed_on_moderation: true } });
    await g.admin('PUT', '/admin/v1/models/mod-billed-banana', { provider: 'gemini', kind: 'images', price: { per_request: '0.01', per_image: { default: '0.08' }, billed_on_moderation: true } });
    await g.admin('POST', '/admin/v1/channels', { name: 'mod-openai', provider: 'openai', base_url: simUrl, keys: ['sk-m'], models: ['mod-billed-mini'] });
    await g.admin('POST', '/admin/v1/channels', { name: 'mod-anthropic', provider: 'anthropic', base_url: simUrl, keys: ['sk-ant-m'], models: ['mod-billed-claude'] });
    await g.admin('POST', '/admin/v1/channels', {
      name: 'mod-gemini', provider: 'gemini', base_url: `${simUrl}/v1beta`, keys: ['AIza-m'], models: ['mod-billed-banana'], model_map: { 'mod-billed-banana': 'gemini-3-pro-image-preview' },
    });
  });
  after(async () => {
    if (!g) return;
    await g.settle();
    const report = await g.verify();
    await g.close();
    assert.deepEqual(report.problems, [], 'verifyLedger');
    assert.ok(report.ok);
  });

  describe('ok: charged exactly the price of the reported usage', () => {
    test('OpenAI chat, JSON: 3 prompt + 16 completion tokens at $0.15/$0.60 per 1M', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('Hello there')), { status: 200, outcome: 'ok', amount: 3n * 150n + 16n * 600n, attempts: 1 });
      const body = JSON.parse(o.text);
      assert.equal(body.object, 'chat.completion');
      assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens], [3, 16]);
      assert.equal(o.amount, tokenCost(3, PRICES.mini.in) + tokenCost(16, PRICES.mini.out));
      assert.deepEqual(o.row.usage_raw, body.usage, 'raw usage kept verbatim');
      assert.equal(o.row.usage_billable.input_tokens, 3);
      assert.equal(o.row.usage_billable.output_tokens, 16);
      assert.equal(o.row.usage_estimated, false);
      assert.equal(o.row.price_version, 1);
      assert.equal(o.row.attempts[0].channel, o.row.channel_id);
      assert.equal(o.row.stream, false);
      assert.ok(usd(o.row.hold) >= o.amount, 'hold covered the charge');
    });

    test('OpenAI chat, streaming: usage from the final chunk (include_usage added by the gateway)', async () => {
      const c = await customer();
      const content = 'Stream me a short answer please';
      const prompt = simTokens(content);
      const o = await expectOutcome(c, () => chat(c.key, CHAT(content, { stream: true })), { status: 200, outcome: 'ok', amount: tokenCost(prompt, PRICES.mini.in) + tokenCost(16, PRICES.mini.out) }, readAll);
      assert.ok(o.text.includes('data: [DONE]'));
      const deltas = o.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).map((j) => j.choices?.[0]?.delta?.content ?? '').join('');
      assert.ok(deltas.startsWith('lorem ipsum'), deltas);
      assert.equal(o.row.stream, true);
      assert.equal(o.row.usage_raw.prompt_tokens, prompt);
      assert.equal(o.row.usage_estimated, false);
      assert.ok(o.row.first_byte_at);
    });

    test('Anthropic messages, JSON and streaming: $3/$15 per 1M', async () => {
      const c = await customer();
      const content = 'Bonjour Claude, how are you today?';
      const prompt = simTokens(content);
      const expected = tokenCost(prompt, PRICES.claude.in) + tokenCost(16, PRICES.claude.out);
      const o = await expectOutcome(c, () => messages(c.key, CLAUDE(content)), { status: 200, outcome: 'ok', amount: expected });
      const body = JSON.parse(o.text);
      assert.equal(body.type, 'message');
      assert.equal(body.usage.input_tokens, prompt);
      assert.equal(body.usage.output_tokens, 16);
      const s = await expectOutcome(c, () => messages(c.key, CLAUDE(content, { stream: true })), { status: 200, outcome: 'ok', amount: expected }, readAll);
      assert.ok(s.text.includes('event: message_stop'));
      assert.equal(s.row.stream, true);
    });

    test('Gemini generateContent and streamGenerateContent: $0.30/$2.50 per 1M', async () => {
      const c = await customer();
      const text = 'Explain Gemini pricing in one line';
      const prompt = simTokens(text);
      const expected = tokenCost(prompt, PRICES.flash.in) + tokenCost(16, PRICES.flash.out);
      const o = await expectOutcome(c, () => generate(c.key, 'gemini-2.5-flash', GEMINI(text)), { status: 200, outcome: 'ok', amount: expected });
      const body = JSON.parse(o.text);
      assert.equal(body.usageMetadata.promptTokenCount, prompt);
      assert.equal(body.usageMetadata.candidatesTokenCount, 16);
      const s = await expectOutcome(c, () => generate(c.key, 'gemini-2.5-flash', GEMINI(text), 'streamGenerateContent', '?alt=sse'), { status: 200, outcome: 'ok', amount: expected }, readAll);
      assert.ok(s.text.includes('"finishReason"'));
    });

    test('embeddings: $0.02 per 1M input tokens', async () => {
      const c = await customer();
      const input = 'embed this sentence for semantic search';
      const o = await expectOutcome(c, () => post('/v1/embeddings', c.key, { model: 'text-embedding-3-small', input }), { status: 200, outcome: 'ok', amount: tokenCost(simTokens(input), '0.02') });
      assert.equal(JSON.parse(o.text).data.length, 1);
      assert.equal(o.row.endpoint, 'embeddings');
    });

    test('no usage from the upstream ([[sim:usage=none]]): counted locally, the row says estimated', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:usage=none]] count it yourself')), { status: 200, outcome: 'ok', amount: 'positive' });
      assert.equal(JSON.parse(o.text).usage, undefined);
      assert.equal(o.row.usage_estimated, true);
      assert.equal(o.row.usage_raw, null);
      assert.ok(o.row.usage_billable.output_tokens > 0);
      const s = await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:usage=none]] count it yourself', { stream: true })), { status: 200, outcome: 'ok', amount: 'positive' }, readAll);
      assert.equal(s.row.usage_estimated, true);
    });

    test('a charge is exactly the price of its usage, also past its hold (never capped below it)', async () => {
      const c = await customer();
      // The model says 4 output tokens at most (the hold assumes so); the upstream answers 16.
      const o = await expectOutcome(c, () => chat(c.key, CHAT('Hello there', {}, 'capped-mini')), { status: 200, outcome: 'ok', amount: 'positive' });
      const full = tokenCost(3, PRICES.mini.in) + tokenCost(16, PRICES.mini.out);
      assert.equal(o.row.usage_billable.output_tokens, 16);
      assert.ok(usd(o.row.hold) < full, 'the hold was below the usage');
      assert.equal(o.amount, full, 'charged the usage, not the hold');
      assert.equal(o.row.delivered.over_hold, true);
    });

    test('images: gpt-image-1 1024x1024 low = $0.011; nano-banana-pro = $0.09 per delivered image', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => post('/v1/images/generations', c.key, { model: 'gpt-image-1', prompt: 'a red fox', size: '1024x1024', quality: 'low' }), { status: 200, outcome: 'ok', amount: 11_000_000n });
      assert.equal(JSON.parse(o.text).data.length, 1);
      assert.equal(o.row.delivered.images, 1);
      const b = await expectOutcome(c, () => generate(c.key, 'nano-banana-pro', GEMINI('a banana in space')), { status: 200, outcome: 'ok', amount: 90_000_000n });
      assert.equal(b.row.upstream_model, 'gemini-3-pro-image-preview', 'model-name mapping');
      assert.ok(JSON.parse(b.text).candidates[0].content.parts.some((p: any) => p.inlineData));
    });
  });

  describe('client_error: never billed', () => {
    test('unknown model (OpenAI, Anthropic, Gemini shapes), missing model', async () => {
      const c = await customer();
      await expectOutcome(c, () => chat(c.key, CHAT('hi', {}, 'gpt-9-imaginary')), { status: 404, outcome: 'client_error', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'UNKNOWN_MODEL' } });
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE('hi', {}, 'claude-imaginary')), { status: 404, outcome: 'client_error', amount: 0n, error: { protocol: 'anthropic', code: 'UNKNOWN_MODEL' } });
      assert.equal(JSON.parse(a.text).error.type, 'not_found_error');
      const gm = await expectOutcome(c, () => generate(c.key, 'gemini-imaginary', GEMINI('hi')), { status: 404, outcome: 'client_error', amount: 0n, error: { protocol: 'gemini', code: 'UNKNOWN_MODEL' } });
      assert.equal(JSON.parse(gm.text).error.status, 'NOT_FOUND');
      await expectOutcome(c, () => chat(c.key, { messages: [{ role: 'user', content: 'no model' }] }), { status: 400, outcome: 'client_error', amount: 0n, error: { protocol: 'openai', code: 'VALIDATION' } });
    });

    test('bad JSON and a body over SURETY_BODY_LIMIT_BYTES (413), logged against the key', async () => {
      const c = await customer();
      const bad = await expectOutcome(c, () => chat(c.key, null, { raw: '{"model": "gpt-4o-mini", "messages": [' }), { status: 400, outcome: 'client_error', amount: 0n, error: { protocol: 'openai', code: 'INVALID_JSON' } });
      assert.equal(bad.row.key_id, c.keyId);
      const big = JSON.stringify(CHAT('x'.repeat(70_000)));
      const large = await expectOutcome(c, () => chat(c.key, null, { raw: big }), { status: 413, outcome: 'client_error', amount: 0n, error: { protocol: 'openai', code: 'BODY_TOO_LARGE' } });
      assert.equal(large.row.attempts.length, 0);
      const anth = await expectOutcome(c, () => post('/v1/messages', null, null, { raw: JSON.stringify(CLAUDE('y'.repeat(70_000))), headers: { 'x-api-key': c.key, 'anthropic-version': '2023-06-01' } }), {
        status: 413, outcome: 'client_error', amount: 0n, error: { protocol: 'anthropic', code: 'BODY_TOO_LARGE' },
      });
      assert.equal(JSON.parse(anth.text).error.type, 'request_too_large');
    });

    test('upstream 400 is passed through, not retried, not billed', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:error=400]] bad params')), { status: 400, outcome: 'client_error', amount: 0n, attempts: 1 });
      assert.equal(JSON.parse(o.text).error.type, 'invalid_request_error', 'the upstream error body');
      assert.equal(o.row.error_code, 'UPSTREAM_REJECTED');
    });
  });

  describe('auth_error: never billed, nothing sent upstream', () => {
    test('missing, wrong, revoked and expired keys', async () => {
      const upstreamBefore = Number(g.s.sim!.stats().total);
      await expectOutcome(null, () => chat(null, CHAT('hi')), { status: 401, outcome: 'auth_error', amount: 0n, error: { protocol: 'openai', code: 'AUTH_REQUIRED' } });
      await expectOutcome(null, () => chat('sk-sur-not-a-real-key-0000000000000000000000', CHAT('hi')), { status: 401, outcome: 'auth_error', amount: 0n, error: { protocol: 'openai', code: 'KEY_INVALID' } });
      const a = await expectOutcome(null, () => messages('sk-sur-wrong', CLAUDE('hi')), { status: 401, outcome: 'auth_error', amount: 0n, error: { protocol: 'anthropic', code: 'KEY_INVALID' } });
      assert.equal(JSON.parse(a.text).error.type, 'authentication_error');
      const gm = await expectOutcome(null, () => post('/v1beta/models/gemini-2.5-flash:generateContent?key=sk-sur-wrong', null, GEMINI('hi')), { status: 401, outcome: 'auth_error', amount: 0n, error: { protocol: 'gemini', code: 'KEY_INVALID' } });
      assert.equal(JSON.parse(gm.text).error.status, 'UNAUTHENTICATED');

      const revoked = await customer();
      await g.admin('DELETE', `/admin/v1/accounts/${revoked.accountId}/keys/${revoked.keyId}`);
      // A revoked (or expired) key is still known: its row names the key and the account.
      await expectOutcome(revoked, () => chat(revoked.key, CHAT('hi')), { status: 401, outcome: 'auth_error', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'KEY_REVOKED' } });

      const expiring = await customer('10.00', { expires_at: new Date(Date.now() + 400).toISOString() });
      await expectOutcome(expiring, () => chat(expiring.key, CHAT('before expiry')), { status: 200, outcome: 'ok', amount: 'positive' });
      await sleep(450);
      await expectOutcome(expiring, () => chat(expiring.key, CHAT('after expiry')), { status: 401, outcome: 'auth_error', amount: 0n, error: { protocol: 'openai', code: 'KEY_EXPIRED' } });
      assert.equal(Number(g.s.sim!.stats().total), upstreamBefore + 1, 'only the valid request reached the upstream');
    });

    test('IP not in the allow-list; model not in the allow-list', async () => {
      const ip = await customer('10.00', { ips: ['10.20.0.0/16'] });
      await expectOutcome(ip, () => chat(ip.key, CHAT('hi')), { status: 403, outcome: 'auth_error', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'IP_NOT_ALLOWED' } });
      const local = await customer('10.00', { ips: ['127.0.0.0/8'] });
      await expectOutcome(local, () => chat(local.key, CHAT('hi')), { status: 200, outcome: 'ok', amount: 'positive' });
      const m = await customer('10.00', { models: ['gemini-2.5-flash'] });
      await expectOutcome(m, () => chat(m.key, CHAT('hi')), { status: 403, outcome: 'auth_error', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'MODEL_NOT_ALLOWED' } });
      await expectOutcome(m, () => generate(m.key, 'gemini-2.5-flash', GEMINI('hi')), { status: 200, outcome: 'ok', amount: 'positive' });
    });
  });

  describe('the account or key cannot pay; limits', () => {
    test('insufficient_balance: $0.0001 does not cover the worst case', async () => {
      const c = await customer('0.0001');
      const upstreamBefore = Number(g.s.sim!.stats().total);
      const o = await expectOutcome(c, () => chat(c.key, CHAT('hi')), { status: 402, outcome: 'insufficient_balance', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'INSUFFICIENT_BALANCE' } });
      assert.match(JSON.parse(o.text).error.message, /0\.0001 USD available/);
      assert.equal(Number(g.s.sim!.stats().total), upstreamBefore, 'not sent upstream');
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE('hi')), { status: 402, outcome: 'insufficient_balance', amount: 0n, error: { protocol: 'anthropic', code: 'INSUFFICIENT_BALANCE' } });
      assert.equal(JSON.parse(a.text).error.type, 'billing_error');
      // A small max_tokens makes the worst case fit: the same account can then pay.
      await expectOutcome(c, () => chat(c.key, CHAT('hi', { max_tokens: 20 })), { status: 200, outcome: 'ok', amount: 'positive' });
    });

    test('key_limit: a day limit below the hold', async () => {
      const c = await customer('10.00', { limits: { day: '0.001' } });
      await expectOutcome(c, () => chat(c.key, CHAT('hi')), { status: 402, outcome: 'key_limit', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'KEY_LIMIT_EXCEEDED' } });
      await expectOutcome(c, () => chat(c.key, CHAT('hi', { max_tokens: 50 })), { status: 200, outcome: 'ok', amount: 'positive' });
    });

    test('rate_limited: key rpm 1, the second request is refused with retry-after', async () => {
      const c = await customer('10.00', { rpm: 1 });
      await expectOutcome(c, () => chat(c.key, CHAT('first')), { status: 200, outcome: 'ok', amount: 'positive' });
      const o = await expectOutcome(c, () => chat(c.key, CHAT('second')), { status: 429, outcome: 'rate_limited', amount: 0n, attempts: 0, error: { protocol: 'openai', code: 'RATE_LIMITED' } });
      assert.ok(Number(o.res!.headers.get('retry-after')) >= 1);
    });
  });

  describe('client_cancelled: only what was delivered', () => {
    test('a stream aborted mid-way is billed for the delivered part only', async () => {
      const c = await customer();
      const content = '[[sim:chunk_ms=50]] [[sim:tokens=100]] tell me a long story';
      const prompt = simTokens(content);
      const full = tokenCost(prompt, PRICES.mini.in) + tokenCost(100, PRICES.mini.out);
      const ac = new AbortController();
      let received = '';
      const o = await expectOutcome(
        c,
        async () => {
          const res = await chat(c.key, CHAT(content, { stream: true }), { signal: ac.signal });
          assert.equal(res.status, 200);
          const reader = res.body!.getReader();
          const dec = new TextDecoder();
          try {
            while ((received.match(/"content":"[^"]/g) ?? []).length < 6) {
              const { value, done } = await reader.read();
              if (done) break;
              received += dec.decode(value);
            }
          } finally {
            ac.abort();
          }
          return null;
        },
        { status: 499, outcome: 'client_cancelled', amount: 'positive' },
      );
      assert.equal(o.row.error_code, 'CLIENT_CANCELLED');
      assert.ok(o.amount < full / 2n, `billed ${o.amount} nano-USD, the whole answer would cost ${full}`);
      assert.ok(o.amount >= tokenCost(prompt, PRICES.mini.in), 'the prompt was delivered upstream and is billed');
      assert.ok(o.row.usage_billable.output_tokens > 0 && o.row.usage_billable.output_tokens < 30, `output billed: ${o.row.usage_billable.output_tokens}`);
      assert.ok(o.row.delivered.chunks > 0);
      assert.ok(o.row.duration_ms < 3_000, 'the upstream stream was cancelled, not drained');
      // The upstream request was cancelled too: the simulator would otherwise stream for 5 s more.
      const until = Date.now() + 1_000;
      while (Number(g.s.sim!.stats().inFlight) > 0 && Date.now() < until) await sleep(10);
      assert.equal(Number(g.s.sim!.stats().inFlight), 0, 'the upstream stream was closed');
      assert.equal(g.s.sim!.requests().filter((r) => r.body.includes('tell me a long story')).length, 1, 'sent upstream once');
    });

    test('Anthropic and Gemini streams aborted mid-way bill the delivered output too (estimated), never 0 and never the whole', async () => {
      const cases: Array<{ path: string; headers: Record<string, string>; auth: string; body: (t: string) => unknown; price: { out: string } }> = [
        { path: '/v1/messages', headers: { 'anthropic-version': '2023-06-01' }, auth: 'x-api-key', body: (t: string) => CLAUDE(t, { stream: true, max_tokens: 200 }), price: PRICES.claude },
        { path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', headers: {}, auth: 'x-goog-api-key', body: (t: string) => GEMINI(t), price: PRICES.flash },
      ];
      for (const k of cases) {
        const c = await customer();
        const content = '[[sim:chunk_ms=40]] [[sim:tokens=120]] tell me a long story';
        const full = tokenCost(120, k.price.out);
        const ac = new AbortController();
        const o = await expectOutcome(
          c,
          async () => {
            const res = await post(k.path, null, k.body(content), { headers: { ...k.headers, [k.auth]: c.key }, signal: ac.signal });
            assert.equal(res.status, 200);
            const reader = res.body!.getReader();
            let chunks = 0;
            try {
              while (chunks < 6) {
                const { done } = await reader.read();
                if (done) break;
                chunks++;
              }
            } finally {
              ac.abort();
            }
            return null;
          },
          { status: 499, outcome: 'client_cancelled', amount: 'positive' },
        );
        const out = o.row.usage_billable.output_tokens;
        assert.ok(out > 0 && out < 120, `${k.path}: output billed ${out} of 120 tokens`);
        assert.equal(o.row.usage_billable.estimated, true);
        assert.ok(o.amount < full, `${k.path}: billed ${o.amount}, the whole answer's output alone would cost ${full}`);
      }
    });

    test('a JSON request aborted while the upstream thinks ([[sim:latency=2000]]) is billed 0', async () => {
      const c = await customer();
      const t0 = Date.now();
      const o = await expectOutcome(
        c,
        async () => {
          const ac = new AbortController();
          setTimeout(() => ac.abort(), 300);
          await assert.rejects(chat(c.key, CHAT('[[sim:latency=2000]] slow thought'), { signal: ac.signal }));
          return null;
        },
        { status: 499, outcome: 'client_cancelled', amount: 0n, attempts: 1 },
      );
      assert.equal(o.row.attempts[0].outcome, 'client_cancelled');
      assert.ok(Date.now() - t0 < 1_800, 'the gateway stopped waiting for the upstream');
    });
  });

  describe('upstream faults: never billed', () => {
    test('upstream_rate_limited: 429 on every channel', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:error=429]] busy')), { status: 429, outcome: 'upstream_rate_limited', amount: 0n, attempts: 2, error: { protocol: 'openai', code: 'UPSTREAM_RATE_LIMITED' } });
      assert.ok(o.res!.headers.get('retry-after'));
      assert.ok(o.row.attempts.every((a: any) => a.status === 429 && a.outcome === 'upstream_rate_limited'));
      // A lone channel (Claude) is retried once after its retry-after (1 s), then the caller gets its own 429 shape.
      const t0 = Date.now();
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:error=429]] busy')), { status: 429, outcome: 'upstream_rate_limited', amount: 0n, attempts: 2, error: { protocol: 'anthropic', code: 'UPSTREAM_RATE_LIMITED' } });
      assert.equal(JSON.parse(a.text).error.type, 'rate_limit_error');
      assert.ok(Date.now() - t0 >= 950, 'waited for retry-after before the second attempt');
    });

    test('upstream_moderation: OpenAI 400 content_policy_violation, Anthropic refusal, Gemini image PROHIBITED_CONTENT — not billed by default', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:moderation]] something bad')), { status: 400, outcome: 'upstream_moderation', amount: 0n, attempts: 1 });
      assert.equal(JSON.parse(o.text).error.code, 'content_policy_violation');
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:moderation]] something bad')), { status: 200, outcome: 'upstream_moderation', amount: 0n });
      assert.equal(JSON.parse(a.text).stop_reason, 'refusal');
      assert.equal(a.row.usage_raw.output_tokens, 2, 'raw usage kept even when not billed');
      const as = await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:moderation]] something bad', { stream: true })), { status: 200, outcome: 'upstream_moderation', amount: 0n }, readAll);
      assert.ok(as.text.includes('"stop_reason":"refusal"'));
      const b = await expectOutcome(c, () => generate(c.key, 'nano-banana-pro', GEMINI('[[sim:moderation]] forbidden image')), { status: 200, outcome: 'upstream_moderation', amount: 0n });
      const cand = JSON.parse(b.text).candidates[0];
      assert.equal(cand.finishReason, 'PROHIBITED_CONTENT');
      assert.equal(b.row.delivered.images, 0);
    });

    test('upstream_moderation: billed when the price says billed_on_moderation', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:moderation]] something bad', {}, 'mod-billed-mini')), { status: 400, outcome: 'upstream_moderation', amount: 'positive' });
      assert.equal(o.row.usage_estimated, true, 'no usage in an error body: estimated');
      const content = '[[sim:moderation]] something bad';
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE(content, {}, 'mod-billed-claude')), {
        status: 200, outcome: 'upstream_moderation', amount: tokenCost(simTokens(content), PRICES.claude.in) + tokenCost(2, PRICES.claude.out),
      });
      assert.equal(a.row.usage_estimated, false);
      await expectOutcome(c, () => generate(c.key, 'mod-billed-banana', GEMINI('[[sim:moderation]] forbidden image')), { status: 200, outcome: 'upstream_moderation', amount: 10_000_000n });
    });

    test('upstream_error: 500 after retries on every channel (OpenAI, Anthropic, Gemini shapes)', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:error=500]] boom')), { status: 502, outcome: 'upstream_error', amount: 0n, attempts: 2, error: { protocol: 'openai', code: 'UPSTREAM_ERROR' } });
      assert.equal(new Set(o.row.attempts.map((a: any) => a.channel)).size, 2, 'both channels tried');
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:error=500]] boom')), { status: 502, outcome: 'upstream_error', amount: 0n, error: { protocol: 'anthropic', code: 'UPSTREAM_ERROR' } });
      assert.equal(JSON.parse(a.text).error.type, 'api_error');
      await expectOutcome(c, () => generate(c.key, 'gemini-2.5-flash', GEMINI('[[sim:error=503]] boom')), { status: 502, outcome: 'upstream_error', amount: 0n, error: { protocol: 'gemini', code: 'UPSTREAM_ERROR' } });
    });

    test('upstream_error: connection reset, malformed body (JSON and streams)', async () => {
      const c = await customer();
      await expectOutcome(c, () => chat(c.key, CHAT('[[sim:reset]] rst')), { status: 502, outcome: 'upstream_error', amount: 0n, attempts: 2, error: { protocol: 'openai', code: 'UPSTREAM_ERROR' } });
      await expectOutcome(c, () => chat(c.key, CHAT('[[sim:malformed]] garbage')), { status: 502, outcome: 'upstream_error', amount: 0n, attempts: 2, error: { protocol: 'openai', code: 'UPSTREAM_ERROR' } });
      await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:malformed]] garbage')), { status: 502, outcome: 'upstream_error', amount: 0n, error: { protocol: 'anthropic', code: 'UPSTREAM_ERROR' } });
      // Streams: an unparsable frame, then the normal terminator. The client's SDK fails on the frame; nothing usable was delivered.
      const so = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:malformed]] garbage', { stream: true })), { status: 200, rowStatus: 502, outcome: 'upstream_error', amount: 0n, attempts: 1 }, readAll);
      assert.match(so.text, /"code":"UPSTREAM_ERROR"/, 'an error event follows');
      await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:malformed]] garbage', { stream: true })), { status: 200, rowStatus: 502, outcome: 'upstream_error', amount: 0n }, readAll);
      await expectOutcome(c, () => generate(c.key, 'gemini-2.5-flash', GEMINI('[[sim:malformed]] garbage'), 'streamGenerateContent', '?alt=sse'), { status: 200, rowStatus: 502, outcome: 'upstream_error', amount: 0n }, readAll);
    });

    test('upstream_error: a stream cut after 3 frames ends with an error event and is not billed', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:cut=3]] [[sim:tokens=50]] cut me', { stream: true })), { status: 200, rowStatus: 502, outcome: 'upstream_error', amount: 0n, attempts: 1 }, readAll);
      assert.ok(!o.text.includes('[DONE]'));
      assert.match(o.text, /data: \{"error":\{.*"code":"UPSTREAM_ERROR"/);
      assert.equal(o.row.error_code, 'UPSTREAM_STREAM_CUT');
      assert.ok(o.row.delivered.chunks > 0, 'something was forwarded before the cut');
      const a = await expectOutcome(c, () => messages(c.key, CLAUDE('[[sim:cut=3]] cut me', { stream: true })), { status: 200, rowStatus: 502, outcome: 'upstream_error', amount: 0n }, readAll);
      assert.ok(a.text.includes('event: error'));
      assert.ok(!a.text.includes('message_stop'));
    });

    test('upstream_error: HTTP 200 with no image ([[sim:images=0]]) is a 502 to the client, not billed', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => post('/v1/images/generations', c.key, { model: 'gpt-image-1', prompt: '[[sim:images=0]] nothing' }), { status: 502, outcome: 'upstream_error', amount: 0n, error: { protocol: 'openai', code: 'NOTHING_DELIVERED' } });
      assert.match(JSON.parse(o.text).error.message, /not billed/);
      assert.equal(o.row.attempts[0].error, 'no image delivered');
      const g = await expectOutcome(c, () => generate(c.key, 'nano-banana-pro', GEMINI('[[sim:images=0]] nothing')), { status: 502, outcome: 'upstream_error', amount: 0n, error: { protocol: 'gemini', code: 'NOTHING_DELIVERED' } });
      assert.equal(g.row.attempts[0].error, 'no image delivered');
    });

    test('upstream_timeout: [[sim:timeout]] on a channel with first_byte_ms 300', async () => {
      const c = await customer();
      const t0 = Date.now();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('[[sim:timeout]] never', {}, 'slow-mini')), { status: 504, outcome: 'upstream_timeout', amount: 0n, attempts: 1, error: { protocol: 'openai', code: 'UPSTREAM_TIMEOUT' } });
      assert.equal(o.row.attempts[0].status, 0, 'no answer at all');
      assert.ok(o.row.attempts[0].ms >= 290, `gave up after ${o.row.attempts[0].ms} ms`);
      assert.ok(Date.now() - t0 < 2_000, 'did not wait for the default 60 s');
    });

    test('platform_error: our upstream key is refused (401) — not billed, the key not leaked', async () => {
      const c = await customer();
      const o = await expectOutcome(c, () => chat(c.key, CHAT('hi', {}, 'broken-mini')), { status: 502, outcome: 'platform_error', amount: 0n, attempts: 1, error: { protocol: 'openai', code: 'UPSTREAM_ERROR' } });
      assert.equal(o.row.attempts[0].status, 401);
      assert.ok(!o.text.includes('bad-key'));
      assert.ok(!JSON.stringify(o.row).includes('bad-key-0123456789abcdef'), 'the upstream key is not in the log');
    });
  });
});

// The billing-critical subset on every engine (PostgreSQL when SURETY_TEST_DATABASE_URL is set):
// a charge, a failure that is not charged, and a concurrent burst whose charges add up exactly.
for (const engine of engines()) {
  describe(`billing on ${engine}`, () => {
    let gw: TestGateway;
    const revenue = async () => big((await gw.s.rt.db.get("SELECT balance FROM books WHERE code = 's:revenue'"))?.balance ?? 0);
    const req = (key: string, content: string, stream = false) =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(CHAT(content, stream ? { stream: true, max_tokens: 100 } : { max_tokens: 100 })),
      });

    before(async () => {
      gw = await startTestGateway({ engine, gateway: { router: { failureThreshold: 1_000_000 } } });
    });
    after(async () => {
      if (!gw) return;
      await gw.settle();
      const report = await gw.verify();
      await gw.close();
      assert.deepEqual(report.problems, [], 'verifyLedger');
    });

    test('ok is charged exactly; upstream_error is not charged', async () => {
      const c = await gw.customer('5.00');
      const r0 = await revenue();
      const ok = await req(c.key, 'Hello there');
      assert.equal(ok.status, 200);
      await ok.text();
      const bad = await req(c.key, '[[sim:error=500]] Hello there');
      assert.equal(bad.status, 502);
      await bad.text();
      await gw.settle();
      const okRow = await gw.log(ok.headers.get('x-request-id')!);
      const badRow = await gw.log(bad.headers.get('x-request-id')!);
      assert.equal(okRow.outcome, 'ok');
      assert.equal(usd(okRow.amount), 3n * 150n + 16n * 600n);
      assert.ok(okRow.tx_id);
      assert.equal(badRow.outcome, 'upstream_error');
      assert.equal(usd(badRow.amount), 0n);
      assert.equal(badRow.tx_id, null);
      assert.equal((await revenue()) - r0, 3n * 150n + 16n * 600n, 'revenue moved by exactly the one charge');
      const bal = await gw.balance(c.accountId);
      assert.equal(usd(bal.total), usd('5.00') - (3n * 150n + 16n * 600n));
      assert.equal(bal.held, '0.00');
      const ledger = await gw.ledger(c.accountId);
      assert.deepEqual(ledger.map((t: any) => t.kind), ['usage', 'topup']);
    });

    test('a burst of 100 concurrent requests: charges = sum of the rows = revenue movement = balance movement', async () => {
      const c = await gw.customer('5.00');
      const c2 = await gw.customer('5.00');
      const r0 = await revenue();
      const plan = Array.from({ length: 100 }, (_, i) => {
        const fail = i % 7 === 3;
        const content = `${fail ? '[[sim:error=500]] ' : ''}burst request number ${i} ${'x'.repeat(i % 13)}`;
        return { key: i % 2 ? c.key : c2.key, content, stream: i % 3 === 0, fail };
      });
      const results = await Promise.all(plan.map(async (p) => {
        const r = await req(p.key, p.content, p.stream);
        const text = await r.text();
        return { status: r.status, id: r.headers.get('x-request-id')!, text };
      }));
      await gw.settle();
      let expected = 0n;
      let rowsSum = 0n;
      for (const [i, p] of plan.entries()) {
        const res = results[i]!;
        // A failed stream is refused before any byte: a plain error.
        assert.equal(res.status, p.fail ? 502 : 200, `${p.content}: ${res.text.slice(0, 300)}`);
        const row = await gw.log(res.id);
        assert.equal(row.outcome, p.fail ? 'upstream_error' : 'ok');
        const want = p.fail ? 0n : tokenCost(simTokens(p.content), PRICES.mini.in) + tokenCost(16, PRICES.mini.out);
        assert.equal(usd(row.amount), want, `request ${i}: ${row.amount}`);
        expected += want;
        rowsSum += usd(row.amount);
      }
      assert.equal(rowsSum, expected);
      assert.equal((await revenue()) - r0, expected, 'revenue moved by exactly the sum of the charges');
      const b1 = await gw.balance(c.accountId);
      const b2 = await gw.balance(c2.accountId);
      assert.equal(usd('10.00') - usd(b1.total) - usd(b2.total), expected, 'customers paid exactly the sum');
      assert.equal(b1.held, '0.00');
      assert.equal(b2.held, '0.00');
      const charges = [...(await gw.ledger(c.accountId)), ...(await gw.ledger(c2.accountId))].filter((t: any) => t.kind === 'usage');
      assert.equal(charges.reduce((s: bigint, t: any) => s - usd(t.amount), 0n), expected);
      const rows = await gw.admin('GET', `/admin/v1/logs?account_id=${c.accountId}&limit=1000`);
      const rows2 = await gw.admin('GET', `/admin/v1/logs?account_id=${c2.accountId}&limit=1000`);
      assert.equal(rows.data.length + rows2.data.length, 100, 'one row per request');
      // Each usage transaction is exactly the sum of the billed rows pointing at it; every billed row points at one.
      const byTx = new Map<string, bigint>();
      for (const r of [...rows.data, ...rows2.data]) {
        if (usd(r.amount) === 0n) continue;
        assert.ok(r.tx_id, `billed row ${r.id} points at its usage transaction`);
        byTx.set(r.tx_id, (byTx.get(r.tx_id) ?? 0n) + usd(r.amount));
      }
      assert.equal(byTx.size, charges.length, 'no usage transaction without billed rows');
      for (const t of charges) assert.equal(-usd(t.amount), byTx.get(t.tx_id), `usage transaction ${t.tx_id} equals its rows`);
      for (const id of [c.accountId, c2.accountId]) {
        const mem = gw.s.gateway.gateway.balances.snapshot(id)!;
        assert.deepEqual([mem.held, mem.unflushed], [0n, 0n]);
      }
    });
  });
}
