// The official SDKs (openai, @anthropic-ai/sdk, @google/genai) against a running Surety, with only
// the base URL and the key changed: every surface, streaming and not, errors raised as each SDK's
// own error class carrying our stable code, and every charged request found in the request log
// (by the request id the SDK exposes) with an amount computed here from the demo price table.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import { startTestGateway, tokenCost, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A 2×2 RGB PNG, built here so the upload does not depend on anything the gateway returned. */
function tinyPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return Buffer.concat([PNG_MAGIC, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

const REQ_ID = /^req_[0-9a-z]+$/;

describe('official SDKs against Surety', () => {
  let g: TestGateway;
  let c: Customer;
  let broke: Customer;
  let openai: OpenAI;
  let anthropic: Anthropic;
  let gemini: GoogleGenAI;

  before(async () => {
    g = await startTestGateway();
    c = await g.customer('10.00');
    broke = await g.customer('0');
    // Only the base URL and the key differ from a program written for the providers.
    openai = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: c.key, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: g.url, apiKey: c.key, maxRetries: 0 });
    gemini = new GoogleGenAI({ apiKey: c.key, httpOptions: { baseUrl: g.url } });
  });
  after(async () => {
    await g?.close();
  });

  /** The settled log row of a request: billed `ok` for this customer, amount as expected. */
  const charged = async (requestId: string | null | undefined, expect: { model: string; endpoint: string; stream: boolean; amount?: bigint }) => {
    assert.match(String(requestId), REQ_ID, 'the SDK exposes our request id');
    await g.settle();
    const row = await g.log(requestId!);
    assert.equal(row.id, requestId);
    assert.equal(row.account_id, c.accountId);
    assert.equal(row.key_id, c.keyId);
    assert.equal(row.outcome, 'ok', JSON.stringify(row));
    assert.equal(row.status, 200);
    assert.equal(row.model, expect.model);
    assert.equal(row.endpoint, expect.endpoint);
    assert.equal(row.stream, expect.stream);
    assert.ok(usd(row.amount) > 0n, `charged: ${row.amount}`);
    if (expect.amount !== undefined) assert.equal(usd(row.amount), expect.amount, `amount of ${expect.model}`);
    assert.match(row.tx_id, /^tx_/, 'the charge is a ledger transaction');
    return row;
  };

  describe('openai', () => {
    test('chat.completions.create: response, usage, request id, log row priced from the raw usage', async () => {
      const { data, request_id, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to the SDK test.' }] }).withResponse();
      assert.equal(response.status, 200);
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0]!.message.role, 'assistant');
      assert.ok((data.choices[0]!.message.content ?? '').length > 0);
      assert.equal(data.usage!.completion_tokens, 16);
      assert.equal((data as unknown as { _request_id: string })._request_id, request_id);
      const row = await charged(request_id, {
        model: 'gpt-4o-mini',
        endpoint: 'chat',
        stream: false,
        amount: tokenCost(data.usage!.prompt_tokens, '0.15') + tokenCost(data.usage!.completion_tokens, '0.60'),
      });
      assert.deepEqual(row.usage_raw, JSON.parse(JSON.stringify(data.usage)), 'raw usage kept verbatim');
      assert.equal(response.headers.get('x-surety-cost'), row.amount);
    });

    test('chat.completions.create stream: chunks arrive, the final chunk carries usage, billed once', async () => {
      const { data: stream, request_id } = await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Stream to me. [[sim:tokens=12]]' }], stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let text = '';
      let chunks = 0;
      let usage: OpenAI.CompletionUsage | null | undefined = null;
      let finish: string | null = null;
      for await (const chunk of stream) {
        chunks++;
        text += chunk.choices[0]?.delta?.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) {
          assert.equal(chunk.choices.length, 0, 'the usage chunk has no choices');
          usage = chunk.usage;
        }
      }
      assert.ok(chunks >= 12, `${chunks} chunks`);
      assert.equal(text.trim().split(/\s+/).length, 12);
      assert.equal(finish, 'stop');
      assert.ok(usage, 'final usage chunk');
      assert.equal(usage.completion_tokens, 12);
      const row = await charged(request_id, {
        model: 'gpt-4o-mini',
        endpoint: 'chat',
        stream: true,
        amount: tokenCost(usage.prompt_tokens, '0.15') + tokenCost(usage.completion_tokens, '0.60'),
      });
      assert.deepEqual(row.usage_raw, JSON.parse(JSON.stringify(usage)));
      assert.equal(row.usage_estimated, false);
      assert.ok(row.delivered.chunks > 0 && row.delivered.bytes > 0, JSON.stringify(row.delivered));
    });

    test('a stream without stream_options is still billed from upstream usage, not an estimate', async () => {
      const { data: stream, request_id } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'No usage asked.' }], stream: true }).withResponse();
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(text.trim().split(/\s+/).length, 16);
      const row = await charged(request_id, { model: 'gpt-4o-mini', endpoint: 'chat', stream: true });
      assert.equal(row.usage_estimated, false);
      assert.equal(row.usage_billable.output_tokens, 16);
    });

    test('embeddings.create (the SDK asks for base64 and decodes it)', async () => {
      const { data, request_id } = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'embed these words please' }).withResponse();
      assert.equal(data.data.length, 1);
      const v = data.data[0]!.embedding;
      assert.equal(v.length, 16);
      assert.ok(v.every((x) => Number.isFinite(x)));
      assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4, 'unit vector decoded from base64');
      await charged(request_id, { model: 'text-embedding-3-small', endpoint: 'embeddings', stream: false, amount: tokenCost(data.usage.prompt_tokens, '0.02') });
    });

    test('images.generate b64_json: a PNG, priced per image by size and quality', async () => {
      const { data, request_id } = await openai.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1024x1024', quality: 'low' }).withResponse();
      assert.equal(data.data!.length, 1);
      const png = Buffer.from(data.data![0]!.b64_json!, 'base64');
      assert.deepEqual(png.subarray(0, 8), PNG_MAGIC);
      const row = await charged(request_id, { model: 'gpt-image-1', endpoint: 'images.generations', stream: false, amount: 11_000_000n });
      assert.equal(row.delivered.images, 1);
    });

    test('images.edit: multipart upload through toFile', async () => {
      const image = await toFile(tinyPng(), 'input.png', { type: 'image/png' });
      const { data, request_id } = await openai.images.edit({ model: 'gpt-image-1', image, prompt: 'make it blue', size: '1024x1024', quality: 'high' }).withResponse();
      assert.equal(data.data!.length, 1);
      assert.deepEqual(Buffer.from(data.data![0]!.b64_json!, 'base64').subarray(0, 8), PNG_MAGIC);
      // The upstream saw the uploaded file (it counts image input tokens for it).
      assert.equal(data.usage!.input_tokens_details.image_tokens, 256);
      const row = await charged(request_id, { model: 'gpt-image-1', endpoint: 'images.edits', stream: false, amount: 167_000_000n });
      assert.equal(row.usage_raw.input_tokens_details.image_tokens, 256);
    });

    test('models.list and models.retrieve: every model, or only those a key may use', async () => {
      const ids = (await openai.models.list()).data.map((m) => m.id).sort();
      assert.deepEqual(ids, ['claude-sonnet-5-5', 'gemini-2.5-flash', 'gpt-4o-mini', 'gpt-image-1', 'nano-banana-pro', 'text-embedding-3-small']);
      const narrow = await g.customer('1.00', { models: ['gpt-4o-mini', 'gpt-image-1'] });
      const limited = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: narrow.key, maxRetries: 0 });
      assert.deepEqual((await limited.models.list()).data.map((m) => m.id).sort(), ['gpt-4o-mini', 'gpt-image-1']);
      const one = await openai.models.retrieve('text-embedding-3-small');
      assert.equal(one.id, 'text-embedding-3-small');
      assert.equal(one.object, 'model');
      const hidden = await limited.models.retrieve('text-embedding-3-small').catch((e: unknown) => e);
      assert.ok(hidden instanceof OpenAI.NotFoundError, String(hidden));
      assert.equal(hidden.code, 'UNKNOWN_MODEL');
    });

    test('errors: 401 AuthenticationError and 402 APIError carry our code and message', async () => {
      const bad = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'sk-sur-not-a-real-key', maxRetries: 0 });
      const e401 = await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      assert.ok(e401 instanceof OpenAI.AuthenticationError, String(e401));
      assert.equal(e401.status, 401);
      assert.equal(e401.code, 'KEY_INVALID');
      assert.equal(e401.type, 'authentication_error');
      assert.match(e401.requestID!, REQ_ID);

      const poor = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: broke.key, maxRetries: 0 });
      const e402 = await poor.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      assert.ok(e402 instanceof OpenAI.APIError, String(e402));
      assert.equal(e402.status, 402);
      assert.equal(e402.code, 'INSUFFICIENT_BALANCE');
      assert.match(e402.message, /0\.00 USD available/);
      await g.settle();
      const row = await g.log(e402.requestID!);
      assert.equal(row.outcome, 'insufficient_balance');
      assert.equal(row.amount, '0.00');
      assert.equal(row.account_id, broke.accountId);
      // A streaming call fails the same way, before any chunk.
      const es = await poor.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }).catch((e: unknown) => e);
      assert.ok(es instanceof OpenAI.APIError && es.status === 402 && es.code === 'INSUFFICIENT_BALANCE', String(es));
    });
  });

  describe('anthropic', () => {
    test('messages.create: response, request id, log row', async () => {
      const { data, request_id } = await anthropic.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 200, messages: [{ role: 'user', content: 'Hello Claude, via Surety.' }] }).withResponse();
      assert.equal(data.type, 'message');
      assert.equal(data.stop_reason, 'end_turn');
      const block = data.content[0]!;
      assert.ok(block.type === 'text' && block.text.length > 0);
      assert.equal((data as unknown as { _request_id: string })._request_id, request_id);
      const row = await charged(request_id, {
        model: 'claude-sonnet-5-5',
        endpoint: 'messages',
        stream: false,
        amount: tokenCost(data.usage.input_tokens, '3') + tokenCost(data.usage.output_tokens, '15'),
      });
      assert.deepEqual(row.usage_raw, JSON.parse(JSON.stringify(data.usage)));
    });

    test('messages.stream: text events and finalMessage usage; billed as streamed', async () => {
      const stream = anthropic.messages.stream({ model: 'claude-sonnet-5-5', max_tokens: 200, messages: [{ role: 'user', content: 'Stream it. [[sim:tokens=9]] [[sim:cache_write=40]]' }] });
      let text = '';
      stream.on('text', (t) => (text += t));
      const final = await stream.finalMessage();
      assert.equal(text.trim().split(/\s+/).length, 9);
      assert.equal(final.usage.output_tokens, 9);
      assert.equal(final.usage.cache_creation_input_tokens, 40);
      const { request_id } = await stream.withResponse();
      assert.equal(stream.request_id, request_id);
      const row = await charged(request_id, {
        model: 'claude-sonnet-5-5',
        endpoint: 'messages',
        stream: true,
        amount: tokenCost(final.usage.input_tokens, '3') + tokenCost(40, '3.75') + tokenCost(9, '15'),
      });
      assert.equal(row.usage_billable.cache_write_tokens, 40);
    });

    test('models.list and models.retrieve: every model the Messages API reaches (chat models of any family, translated), in Anthropic shape', async () => {
      const page = await anthropic.models.list();
      assert.deepEqual(page.data.map((m) => m.id).sort(), ['claude-sonnet-5-5', 'gemini-2.5-flash', 'gpt-4o-mini']);
      assert.equal(page.data[0]!.type, 'model');
      const one = await anthropic.models.retrieve('claude-sonnet-5-5');
      assert.equal(one.id, 'claude-sonnet-5-5');
      const missing = await anthropic.models.retrieve('claude-nonexistent').catch((e: unknown) => e);
      assert.ok(missing instanceof Anthropic.NotFoundError, String(missing));
    });

    test('errors: 401 AuthenticationError and 402 billing error carry our code', async () => {
      const bad = new Anthropic({ baseURL: g.url, apiKey: 'sk-sur-wrong', maxRetries: 0 });
      const e401 = await bad.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      assert.ok(e401 instanceof Anthropic.AuthenticationError, String(e401));
      assert.equal(e401.status, 401);
      const body401 = e401.error as { type: string; error: { type: string; code: string; message: string } };
      assert.equal(body401.type, 'error');
      assert.equal(body401.error.type, 'authentication_error');
      assert.equal(body401.error.code, 'KEY_INVALID');
      assert.match(e401.requestID!, REQ_ID);

      const poor = new Anthropic({ baseURL: g.url, apiKey: broke.key, maxRetries: 0 });
      const e402 = await poor.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      assert.ok(e402 instanceof Anthropic.APIError, String(e402));
      assert.equal(e402.status, 402);
      const body402 = e402.error as { error: { type: string; code: string; message: string } };
      assert.equal(body402.error.type, 'billing_error');
      assert.equal(body402.error.code, 'INSUFFICIENT_BALANCE');
      assert.match(e402.message, /available/);
      await g.settle();
      assert.equal((await g.log(e402.requestID!)).outcome, 'insufficient_balance');
      // The stream helper rejects with the same class.
      const es = await poor.messages.stream({ model: 'claude-sonnet-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage().catch((e: unknown) => e);
      assert.ok(es instanceof Anthropic.APIError && es.status === 402, String(es));
    });
  });

  describe('gemini (@google/genai)', () => {
    const requestIdOf = (r: { sdkHttpResponse?: { headers?: Record<string, string> } }) => r.sdkHttpResponse?.headers?.['x-request-id'];

    test('generateContent: text, usageMetadata, log row', async () => {
      const r = await gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello Gemini, through Surety.' });
      assert.ok((r.text ?? '').length > 0);
      const u = r.usageMetadata!;
      assert.equal(u.candidatesTokenCount, 16);
      const row = await charged(requestIdOf(r), {
        model: 'gemini-2.5-flash',
        endpoint: 'generateContent',
        stream: false,
        amount: tokenCost(u.promptTokenCount!, '0.30') + tokenCost(u.candidatesTokenCount!, '2.50'),
      });
      assert.equal(row.usage_raw.promptTokenCount, u.promptTokenCount);
      assert.equal(row.usage_raw.candidatesTokenCount, 16);
    });

    test('generateContentStream: chunks, the last with full usage', async () => {
      const stream = await gemini.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Stream please [[sim:tokens=7]]' });
      let text = '';
      let n = 0;
      let last: Awaited<ReturnType<typeof stream.next>>['value'] | undefined;
      for await (const chunk of stream) {
        n++;
        text += chunk.text ?? '';
        last = chunk;
      }
      assert.equal(n, 7);
      assert.equal(text.trim().split(/\s+/).length, 7);
      const u = last!.usageMetadata!;
      assert.equal(u.candidatesTokenCount, 7);
      await charged(requestIdOf(last!), {
        model: 'gemini-2.5-flash',
        endpoint: 'streamGenerateContent',
        stream: true,
        amount: tokenCost(u.promptTokenCount!, '0.30') + tokenCost(7, '2.50'),
      });
    });

    test('an image model (nano-banana-pro): inlineData PNG, relay price per image, upstream name recorded', async () => {
      const r = await gemini.models.generateContent({ model: 'nano-banana-pro', contents: 'a banana in space' });
      const parts = r.candidates![0]!.content!.parts!;
      const img = parts.find((p) => p.inlineData)?.inlineData;
      assert.ok(img, JSON.stringify(parts));
      assert.equal(img.mimeType, 'image/png');
      assert.deepEqual(Buffer.from(img.data!, 'base64').subarray(0, 8), PNG_MAGIC);
      const row = await charged(requestIdOf(r), { model: 'nano-banana-pro', endpoint: 'generateContent', stream: false, amount: 90_000_000n });
      assert.equal(row.upstream_model, 'gemini-3-pro-image-preview');
      assert.equal(row.delivered.images, 1);
    });

    test('the SDK default API version and an explicit v1beta both reach the gateway', async () => {
      const beta = new GoogleGenAI({ apiKey: c.key, httpOptions: { baseUrl: g.url, apiVersion: 'v1beta' } });
      const r = await beta.models.generateContent({ model: 'gemini-2.5-flash', contents: 'v1beta please' });
      await charged(requestIdOf(r), { model: 'gemini-2.5-flash', endpoint: 'generateContent', stream: false });
      const names: string[] = [];
      for await (const m of await gemini.models.list()) names.push(m.name!);
      // Every model generateContent reaches: Gemini's own and the chat models of the other families (translated).
      assert.deepEqual(names.sort(), ['models/claude-sonnet-5-5', 'models/gemini-2.5-flash', 'models/gpt-4o-mini', 'models/nano-banana-pro']);
      assert.equal((await gemini.models.get({ model: 'nano-banana-pro' })).name, 'models/nano-banana-pro');
    });

    test('errors: ApiError with status 401 / 402 and our reason', async () => {
      const reason = (e: ApiError) => (JSON.parse(e.message) as { error: { code: number; status: string; details: Array<{ reason: string }> } }).error;
      const bad = new GoogleGenAI({ apiKey: 'sk-sur-wrong-key', httpOptions: { baseUrl: g.url } });
      const e401 = await bad.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }).catch((e: unknown) => e);
      assert.ok(e401 instanceof ApiError, String(e401));
      assert.equal(e401.status, 401);
      assert.equal(reason(e401).status, 'UNAUTHENTICATED');
      assert.equal(reason(e401).details[0]!.reason, 'KEY_INVALID');

      const poor = new GoogleGenAI({ apiKey: broke.key, httpOptions: { baseUrl: g.url } });
      const e402 = await poor.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }).catch((e: unknown) => e);
      assert.ok(e402 instanceof ApiError, String(e402));
      assert.equal(e402.status, 402);
      assert.equal(reason(e402).details[0]!.reason, 'INSUFFICIENT_BALANCE');
      const es = await poor.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'hi' }).catch((e: unknown) => e);
      assert.ok(es instanceof ApiError && es.status === 402, String(es));
    });
  });

  test('the charges add up in the ledger: balance = top-up − sum of logged amounts', async () => {
    await g.settle();
    const rows = await g.logsOfKey(c.keyId);
    const sum = rows.reduce((s: bigint, r: { amount: string }) => s + usd(r.amount), 0n);
    // 12 billed requests above (model lists are not logged), plus the refused ones of this key: none.
    assert.equal(rows.filter((r: { outcome: string }) => r.outcome === 'ok').length, 12);
    assert.equal(rows.length, 12);
    const bal = await g.balance(c.accountId);
    assert.equal(usd(bal.paid) + usd(bal.granted), usd('10.00') - sum);
    assert.equal((await g.verify()).ok, true);
  });
});
