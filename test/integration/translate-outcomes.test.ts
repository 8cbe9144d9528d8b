// Translation keeps every outcome's meaning and answers errors in the caller's API: a cut stream
// is upstream_error (not billed) with an error event in the caller's stream shape; the upstream's
// refusals and rejections come back in the caller's error shape with its message; what cannot be
// translated is a 400 naming the parameter, before anything is sent upstream. Token counting:
// upstream counts where the model's API has one, an estimate otherwise, never billed, rate-limited.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, simTokens, type Customer, type TestGateway } from '../helpers/gateway.ts';

describe('translation: outcomes, errors, refusals, token counting', () => {
  let g: TestGateway;
  let c: Customer;

  before(async () => {
    g = await startTestGateway();
    c = await g.customer('10.00');
  });
  after(async () => {
    await g?.close();
  });

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(g.url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.key}`, ...headers }, body: JSON.stringify(body) });
    const text = await r.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // a stream
    }
    return { status: r.status, headers: r.headers, text, json };
  };
  const row = async (res: { headers: Headers }) => {
    await g.settle();
    return g.log(res.headers.get('x-request-id')!);
  };
  const simCount = () => g.s.sim!.requests().length;

  test('a cut stream, translated, is upstream_error: the caller gets its own error event and is not billed', async () => {
    const r = await post('/v1/chat/completions', { model: 'claude-sonnet-5-5', stream: true, messages: [{ role: 'user', content: 'Cut me [[sim:tokens=10]] [[sim:cut=5]]' }] });
    assert.equal(r.status, 200);
    assert.match(r.text, /"content":"lorem "/, 'chunks went out before the cut');
    assert.doesNotMatch(r.text, /\[DONE\]/);
    const last = r.text.trim().split('\n\n').at(-1)!;
    assert.equal(JSON.parse(last.slice('data: '.length)).error.code, 'UPSTREAM_ERROR', 'an OpenAI-shaped error event ends it');
    const l = await row(r);
    assert.equal(l.outcome, 'upstream_error');
    assert.equal(l.error_code, 'UPSTREAM_STREAM_CUT');
    assert.equal(l.upstream_provider, 'anthropic');
    assert.equal(l.amount, '0.00');

    const a = await post('/v1/messages', { model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Cut [[sim:tokens=10]] [[sim:cut=4]]' }] });
    assert.match(a.text, /event: content_block_delta/);
    assert.match(a.text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/, 'an Anthropic error event ends it');
    assert.doesNotMatch(a.text, /message_stop/);
    assert.equal((await row(a)).outcome, 'upstream_error');
  });

  test("the upstream's rejection comes back in the caller's error shape, with its message; not billed", async () => {
    const r = await post('/v1/chat/completions', { model: 'claude-sonnet-5-5', messages: [{ role: 'user', content: 'Bad [[sim:error=400]]' }] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'UPSTREAM_REJECTED');
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.ok(r.json.error.message.length > 0 && !r.json.error.message.includes('UPSTREAM_REJECTED'));
    const l = await row(r);
    assert.equal(l.outcome, 'client_error');
    assert.equal(l.amount, '0.00');

    const a = await post('/v1/messages', { model: 'gemini-2.5-flash', max_tokens: 50, messages: [{ role: 'user', content: 'Bad [[sim:error=400]]' }] });
    assert.equal(a.status, 400);
    assert.equal(a.json.type, 'error');
    assert.equal(a.json.error.type, 'invalid_request_error');
    assert.equal(a.json.error.code, 'UPSTREAM_REJECTED');
  });

  test('upstream failures are our own errors in the caller shape (Gemini google.rpc.Status for a Gemini caller)', async () => {
    const r = await post('/v1beta/models/claude-sonnet-5-5:generateContent', { contents: [{ role: 'user', parts: [{ text: 'Boom [[sim:error=500]]' }] }] });
    assert.equal(r.status, 502);
    assert.equal(r.json.error.status, 'UNAVAILABLE');
    assert.equal(r.json.error.details[0].reason, 'UPSTREAM_ERROR');
    assert.equal((await row(r)).outcome, 'upstream_error');
  });

  test('refusals keep their meaning: Claude refusal → content_filter; an OpenAI content-policy error → the Anthropic caller’s 400', async () => {
    const r = await post('/v1/chat/completions', { model: 'claude-sonnet-5-5', messages: [{ role: 'user', content: 'Refuse [[sim:moderation]]' }] });
    assert.equal(r.status, 200);
    assert.equal(r.json.choices[0].finish_reason, 'content_filter');
    const l = await row(r);
    assert.equal(l.outcome, 'upstream_moderation');
    assert.equal(l.amount, '0.00', 'refusals are not billed by default');

    const a = await post('/v1/messages', { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Refuse [[sim:moderation]]' }] });
    assert.equal(a.status, 400);
    assert.equal(a.json.error.code, 'UPSTREAM_MODERATION');
    assert.match(a.json.error.message, /safety system/, "the upstream's own message");
    assert.equal((await row(a)).outcome, 'upstream_moderation');
  });

  test('max tokens: the length stop maps (OpenAI length ⇄ Anthropic max_tokens ⇄ Gemini MAX_TOKENS)', async () => {
    const r = await post('/v1/chat/completions', { model: 'claude-sonnet-5-5', max_tokens: 3, messages: [{ role: 'user', content: 'Long [[sim:tokens=10]]' }] });
    assert.equal(r.json.choices[0].finish_reason, 'length');
    assert.equal(r.json.usage.completion_tokens, 3);
    const a = await post('/v1/messages', { model: 'gemini-2.5-flash', max_tokens: 2, messages: [{ role: 'user', content: 'Long [[sim:tokens=10]]' }] });
    assert.equal(a.json.stop_reason, 'max_tokens');
    const gm = await post('/v1beta/models/gpt-4o-mini:generateContent', { contents: [{ role: 'user', parts: [{ text: 'Long [[sim:tokens=10]]' }] }], generationConfig: { maxOutputTokens: 4 } });
    assert.equal(gm.json.candidates[0].finishReason, 'MAX_TOKENS');
    assert.equal(gm.json.usageMetadata.candidatesTokenCount, 4);
  });

  test('what cannot be translated is a 400 naming the parameter, in the caller shape, and nothing goes upstream', async () => {
    const before = simCount();
    const cases: Array<[string, unknown, string]> = [
      ['/v1/chat/completions', { model: 'claude-sonnet-5-5', logprobs: true, messages: [{ role: 'user', content: 'x' }] }, 'logprobs'],
      ['/v1/chat/completions', { model: 'gemini-2.5-flash', n: 2, messages: [{ role: 'user', content: 'x' }] }, 'n'],
      ['/v1/chat/completions', { model: 'claude-sonnet-5-5', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'x' }] }, 'response_format'],
      ['/v1/messages', { model: 'gpt-4o-mini', max_tokens: 10, top_k: 5, messages: [{ role: 'user', content: 'x' }] }, 'top_k'],
      ['/v1/messages', { model: 'gpt-4o-mini', max_tokens: 10, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: [{ role: 'user', content: 'x' }] }, 'tools.0.type=web_search_20250305'],
      ['/v1beta/models/gpt-4o-mini:generateContent', { contents: [{ role: 'user', parts: [{ text: 'x' }] }], generationConfig: { candidateCount: 2 } }, 'generationConfig.candidateCount'],
      ['/v1beta/models/claude-sonnet-5-5:generateContent', { contents: [{ role: 'user', parts: [{ text: 'x' }] }], tools: [{ googleSearch: {} }] }, 'tools.0.googleSearch'],
    ];
    for (const [path, body, field] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, 400, `${path} ${field}: ${r.text}`);
      const code = r.json.error.code === 400 ? r.json.error.details[0].reason : r.json.error.code;
      assert.equal(code, 'TRANSLATION_UNSUPPORTED', r.text);
      assert.ok(r.json.error.message.startsWith(`${field}:`), r.json.error.message);
      assert.equal((await row(r)).outcome, 'client_error');
    }
    // The Responses API translates statelessly: a stored conversation or a built-in tool cannot.
    const stateful = await post('/v1/responses', { model: 'claude-sonnet-5-5', input: 'x', previous_response_id: 'resp_1' });
    assert.equal(stateful.status, 400);
    assert.equal(stateful.json.error.code, 'TRANSLATION_UNSUPPORTED');
    assert.ok(stateful.json.error.message.startsWith('previous_response_id:'), stateful.json.error.message);
    const builtin = await post('/v1/responses', { model: 'gemini-2.5-flash', input: 'x', tools: [{ type: 'web_search' }] });
    assert.ok(builtin.json.error.message.startsWith('tools.0.type=web_search:'), builtin.json.error.message);
    const embed = await post('/v1/embeddings', { model: 'gemini-2.5-flash', input: 'x' });
    assert.equal(embed.status, 404, 'a chat model cannot embed, whatever the API');
    assert.equal(simCount(), before, 'nothing was sent upstream');
  });

  test('a Gemini caller without alt=sse gets a JSON array, translated from an Anthropic stream', async () => {
    const r = await post('/v1beta/models/claude-sonnet-5-5:streamGenerateContent', { contents: [{ role: 'user', parts: [{ text: 'Array please [[sim:tokens=3]]' }] }] }, { 'x-goog-api-key': c.key });
    assert.ok(Array.isArray(r.json), r.text);
    assert.equal(r.json.map((x: any) => x.candidates[0].content.parts.map((p: any) => p.text ?? '').join('')).join(''), 'lorem ipsum dolor ');
    assert.equal(r.json.at(-1).candidates[0].finishReason, 'STOP');
    assert.equal(r.json.at(-1).usageMetadata.candidatesTokenCount, 3);
  });

  describe('token counting', () => {
    test('Anthropic count_tokens for Claude (upstream), Gemini (upstream, translated) and GPT (estimated); not billed, not logged', async () => {
      const anthropic = new Anthropic({ baseURL: g.url, apiKey: c.key, maxRetries: 0 });
      const text = 'How many tokens are in this sentence, please?';
      await g.settle();
      const rowsBefore = await g.rowCount();
      const balBefore = await g.balance(c.accountId);
      const claude = await anthropic.messages.countTokens({ model: 'claude-sonnet-5-5', messages: [{ role: 'user', content: text }] }).withResponse();
      assert.equal(claude.data.input_tokens, simTokens(text), "the simulator's Anthropic count");
      assert.equal(claude.response.headers.get('x-surety-token-count'), 'upstream');
      const gem = await anthropic.messages.countTokens({ model: 'gemini-2.5-flash', system: 'Be brief.', messages: [{ role: 'user', content: text }] }).withResponse();
      assert.equal(gem.data.input_tokens, simTokens(text + 'Be brief.'), "Gemini's countTokens of the translated request");
      assert.equal(gem.response.headers.get('x-surety-token-count'), 'upstream');
      const gpt = await anthropic.messages.countTokens({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] }).withResponse();
      assert.equal(gpt.data.input_tokens, Math.ceil(Buffer.byteLength(text) / 4), 'ceil(bytes / 4): OpenAI has no count endpoint');
      assert.equal(gpt.response.headers.get('x-surety-token-count'), 'estimated');
      const genai = new GoogleGenAI({ apiKey: c.key, httpOptions: { baseUrl: g.url } });
      const viaGemini = await genai.models.countTokens({ model: 'claude-sonnet-5-5', contents: text });
      assert.equal(viaGemini.totalTokens, simTokens(text), "Anthropic's count_tokens of the translated request");
      await g.settle();
      assert.equal(await g.rowCount(), rowsBefore, 'not logged as model calls');
      assert.deepEqual(await g.balance(c.accountId), balBefore, 'not billed');
    });

    test('count_tokens is rate-limited like any call, and refuses unknown or forbidden models in the caller shape', async () => {
      const slow = await g.customer('1.00', { rpm: 1, models: ['claude-sonnet-5-5'] });
      const call = (model: string) => fetch(`${g.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': slow.key, 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
      assert.equal((await call('claude-sonnet-5-5')).status, 200);
      const limited = await call('claude-sonnet-5-5');
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      const body = (await limited.json()) as { type: string; error: { code: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.code, 'RATE_LIMITED');
      assert.equal(((await (await call('gpt-4o-mini')).json()) as { error: { code: string } }).error.code, 'MODEL_NOT_ALLOWED');
    });
  });

  test('the model lists and the catalog say which APIs reach each model', async () => {
    const ant = await fetch(`${g.url}/v1/models`, { headers: { 'x-api-key': c.key, 'anthropic-version': '2023-06-01' } });
    const ids = ((await ant.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id).sort();
    assert.deepEqual(ids, ['claude-sonnet-5-5', 'gemini-2.5-flash', 'gpt-4o-mini']);
    const oai = (await (await fetch(`${g.url}/v1/models`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { data: Array<{ id: string; apis: string[] }> };
    assert.deepEqual(oai.data.find((m) => m.id === 'claude-sonnet-5-5')!.apis, ['openai.chat', 'openai.responses', 'anthropic.messages', 'gemini.generateContent']);
    assert.deepEqual(oai.data.find((m) => m.id === 'text-embedding-3-small')!.apis, ['openai.embeddings']);
    const admin = (await g.admin('GET', '/admin/v1/models')).data.find((m: { id: string }) => m.id === 'gpt-4o-mini');
    assert.deepEqual(admin.apis, ['openai.chat', 'openai.responses', 'anthropic.messages', 'gemini.generateContent']);
  });
});

// The row's upstream API is a column of its own (migration 9) on both engines, and in the export.
for (const engine of engines()) {
  test(`${engine}: a translated request's row records the caller's and the upstream's API`, async () => {
    const g = await startTestGateway({ engine });
    try {
      const c = await g.customer('1.00');
      const r = await fetch(`${g.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': c.key, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'gemini-2.5-flash', max_tokens: 20, messages: [{ role: 'user', content: 'hi [[sim:tokens=2]]' }] }),
      });
      assert.equal(r.status, 200);
      await g.settle();
      const row = await g.log(r.headers.get('x-request-id')!);
      assert.deepEqual([row.provider, row.upstream_provider, row.outcome], ['anthropic', 'gemini', 'ok']);
      const csv = await g.adminRaw('GET', `/admin/v1/logs?format=csv&key_id=${c.keyId}`);
      assert.equal(csv.status, 200);
      const [head, line] = csv.text.trim().split('\n');
      const col = head!.split(',').indexOf('upstream_provider');
      assert.ok(col > 0, head);
      assert.equal(line!.split(',')[col], 'gemini');
    } finally {
      await g.close();
    }
  });
}
