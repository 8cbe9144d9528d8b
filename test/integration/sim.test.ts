import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { parseSimArgs } from '../../src/sim/cli.ts';
import { type Simulator, startSimulator } from '../../src/sim/server.ts';

// Most tests run against one simulator at timeScale 0.001 (1 simulated second = 1 real ms).
let sim: Simulator;
let U: string;

before(async () => {
  sim = await startSimulator({ port: 0, timeScale: 0.001, quiet: true });
  U = sim.url;
});
after(async () => {
  await sim.close();
});

const OAI = { 'content-type': 'application/json', authorization: 'Bearer sk-test' };
const ANT = { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };
const GEM = { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-test' };

const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function post(path: string, headers: Record<string, string>, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(U + path, { method: 'POST', headers, body: JSON.stringify(body), ...init });
}

function chat(content: string, extra: Record<string, unknown> = {}, model = 'gpt-4o-mini'): Promise<Response> {
  return post('/v1/chat/completions', OAI, { model, messages: [{ role: 'user', content }], ...extra });
}
function claude(content: string, extra: Record<string, unknown> = {}, model = 'claude-sonnet-5-5'): Promise<Response> {
  return post('/v1/messages', ANT, { model, max_tokens: 1024, messages: [{ role: 'user', content }], ...extra });
}
function gem(model: string, text: string, verb = 'generateContent', query = '', extra: Record<string, unknown> = {}): Promise<Response> {
  return post(`/v1beta/models/${model}:${verb}${query}`, GEM, { contents: [{ role: 'user', parts: [{ text }] }], ...extra });
}

interface SseEvent { event: string | null; data: string }
function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === '') continue;
    let event: string | null = null;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    out.push({ event, data: data.join('\n') });
  }
  return out;
}

const json = (r: Response): Promise<any> => r.json() as Promise<any>;

const tokensOf = (s: string): number => Math.max(1, Math.ceil(s.length / 4));

// ------------------------------------------------------------------ OpenAI

test('openai chat JSON: shape, usage, deterministic text', async () => {
  const content = 'Write a haiku about gateways that bill honestly.';
  const r = await chat(content);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.match(r.headers.get('x-request-id') ?? '', /^req_/);
  assert.equal(r.headers.get('x-sim-simulated-ms'), '0');
  const j = await json(r);
  assert.equal(j.object, 'chat.completion');
  assert.match(j.id, /^chatcmpl-/);
  assert.equal(j.model, 'gpt-4o-mini');
  assert.equal(j.choices.length, 1);
  assert.equal(j.choices[0].message.role, 'assistant');
  assert.equal(j.choices[0].finish_reason, 'stop');
  const text: string = j.choices[0].message.content;
  assert.equal(text.trim().split(' ').length, 16);
  assert.ok(text.startsWith('lorem ipsum dolor '));
  assert.equal(j.usage.prompt_tokens, tokensOf(content));
  assert.equal(j.usage.completion_tokens, 16);
  assert.equal(j.usage.total_tokens, tokensOf(content) + 16);
  assert.equal(j.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(j.usage.completion_tokens_details.reasoning_tokens, 0);
  // content parts and system messages all count as input text
  const r2 = await post('/v1/chat/completions', OAI, {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'abcdefgh' },
      { role: 'user', content: [{ type: 'text', text: 'ijklmnop' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
    ],
  });
  assert.equal((await json(r2)).usage.prompt_tokens, 4);
});

test('openai chat max_tokens truncates with finish_reason length', async () => {
  const j = await json(await chat('hi', { max_completion_tokens: 5 }));
  assert.equal(j.choices[0].finish_reason, 'length');
  assert.equal(j.usage.completion_tokens, 5);
  assert.equal(j.choices[0].message.content, 'lorem ipsum dolor sit amet ');
});

test('openai chat SSE with include_usage: chunks, usage chunk with empty choices, [DONE]', async () => {
  const content = 'stream please [[sim:tokens=5]]';
  const r = await chat(content, { stream: true, stream_options: { include_usage: true } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = parseSse(await r.text());
  assert.equal(events.at(-1)?.data, '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
  for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, 'lorem ipsum dolor sit amet ');
  // role chunk + 5 token chunks + finish chunk + usage chunk
  assert.equal(chunks.length, 8);
  assert.equal(chunks[6].choices[0].finish_reason, 'stop');
  assert.equal(chunks[6].usage, null);
  const last = chunks[7];
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, tokensOf(content));
  assert.equal(last.usage.completion_tokens, 5);
  assert.equal(last.usage.total_tokens, tokensOf(content) + 5);
  assert.equal(last.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(last.usage.completion_tokens_details.reasoning_tokens, 0);
});

test('openai chat SSE without include_usage has no usage at all', async () => {
  const raw = await (await chat('x [[sim:tokens=3]]', { stream: true })).text();
  assert.ok(!raw.includes('"usage"'));
  const events = parseSse(raw);
  assert.equal(events.length, 1 + 3 + 1 + 1);
  assert.equal(events.at(-1)?.data, '[DONE]');
});

test('openai embeddings: float and base64, dimensions, usage, determinism', async () => {
  const r = await post('/v1/embeddings', OAI, { model: 'text-embedding-3-small', input: ['hello world', 'another one!'] });
  assert.equal(r.status, 200);
  const j = await json(r);
  assert.equal(j.object, 'list');
  assert.equal(j.data.length, 2);
  assert.equal(j.data[1].index, 1);
  assert.equal(j.data[0].object, 'embedding');
  assert.equal(j.data[0].embedding.length, 16);
  const norm = Math.sqrt(j.data[0].embedding.reduce((s: number, x: number) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-5);
  assert.notDeepEqual(j.data[0].embedding, j.data[1].embedding);
  assert.equal(j.usage.prompt_tokens, Math.ceil(('hello world'.length + 'another one!'.length) / 4));
  assert.equal(j.usage.total_tokens, j.usage.prompt_tokens);

  const b = await json(await post('/v1/embeddings', OAI, {
    model: 'text-embedding-3-small', input: 'hello world', dimensions: 64, encoding_format: 'base64',
  }));
  const buf = Buffer.from(b.data[0].embedding, 'base64');
  assert.equal(buf.length, 64 * 4);
  const again = await json(await post('/v1/embeddings', OAI, { model: 'text-embedding-3-small', input: 'hello world', dimensions: 64 }));
  const f = new Float32Array(buf.buffer, buf.byteOffset, 64);
  assert.ok(Math.abs(f[3] - again.data[0].embedding[3]) < 1e-6);
});

test('openai images/generations: b64_json default, n, size, quality, gpt-image usage', async () => {
  const prompt = 'a lighthouse at dusk';
  const r = await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt, n: 2, size: '1536x1024', quality: 'high' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-sim-image-size'), '1536x1024');
  const j = await json(r);
  assert.equal(j.data.length, 2);
  assert.equal(j.data[0].url, undefined);
  assert.deepEqual(Buffer.from(j.data[0].b64_json, 'base64').subarray(0, 8), PNG_SIG);
  assert.equal(j.size, '1536x1024');
  assert.equal(j.quality, 'high');
  assert.equal(j.output_format, 'png');
  assert.equal(j.usage.input_tokens, tokensOf(prompt));
  assert.deepEqual(j.usage.input_tokens_details, { text_tokens: tokensOf(prompt), image_tokens: 0 });
  assert.equal(j.usage.output_tokens, 2 * 6208);
  assert.equal(j.usage.total_tokens, tokensOf(prompt) + 2 * 6208);
});

test('openai images/generations: response_format url is fetchable; dall-e defaults to url without usage', async () => {
  const j = await json(await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt: 'p', response_format: 'url' }));
  assert.equal(j.data.length, 1);
  assert.ok(j.data[0].url.startsWith(U + '/_sim/image.png'));
  const img = await fetch(j.data[0].url);
  assert.equal(img.headers.get('content-type'), 'image/png');
  assert.deepEqual(Buffer.from(await img.arrayBuffer()).subarray(0, 8), PNG_SIG);
  const d = await json(await post('/v1/images/generations', OAI, { model: 'dall-e-3', prompt: 'p' }));
  assert.ok(typeof d.data[0].url === 'string');
  assert.equal(d.usage, undefined);
});

test('openai images/edits: multipart prompt, model, input images, directives', async () => {
  const form = new FormData();
  form.append('model', 'gpt-image-1');
  form.append('prompt', 'put a hat on it [[sim:images=3]]');
  form.append('image[]', new Blob([Buffer.from('fakepng1')], { type: 'image/png' }), 'a.png');
  form.append('image[]', new Blob([Buffer.from('fakepng2')], { type: 'image/png' }), 'b.png');
  form.append('size', '1024x1024');
  form.append('quality', 'low');
  const r = await fetch(U + '/v1/images/edits', { method: 'POST', headers: { authorization: 'Bearer sk-test' }, body: form });
  assert.equal(r.status, 200);
  const j = await json(r);
  assert.equal(j.data.length, 3);
  const text = tokensOf('put a hat on it [[sim:images=3]]');
  assert.deepEqual(j.usage.input_tokens_details, { text_tokens: text, image_tokens: 2 * 256 });
  assert.equal(j.usage.output_tokens, 3 * 272);
  const rec = sim.requests().at(-1);
  assert.equal(rec?.path, '/v1/images/edits');
  assert.equal(rec?.model, 'gpt-image-1');
});

test('models: OpenAI, Anthropic (by anthropic-version header) and Gemini shapes', async () => {
  const o = await json(await fetch(U + '/v1/models', { headers: OAI }));
  assert.equal(o.object, 'list');
  const ids = o.data.map((m: { id: string }) => m.id);
  for (const id of ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'gpt-image-1', 'claude-sonnet-5-5', 'claude-haiku-4-5', 'gemini-2.5-flash', 'gemini-3-pro-image-preview']) {
    assert.ok(ids.includes(id), id);
  }
  assert.equal(o.data[0].object, 'model');
  const a = await json(await fetch(U + '/v1/models', { headers: ANT }));
  assert.equal(a.data[0].type, 'model');
  assert.equal(a.has_more, false);
  const g = await json(await fetch(U + '/v1beta/models', { headers: GEM }));
  assert.ok(g.models.some((m: { name: string }) => m.name === 'models/gemini-2.5-flash'));
  const one = await json(await fetch(U + '/v1beta/models/gemini-2.5-flash?key=k'));
  assert.equal(one.name, 'models/gemini-2.5-flash');
});

// ------------------------------------------------------------------ Anthropic

test('anthropic messages JSON: content, usage fields, stop_reason', async () => {
  const content = 'Explain idempotency keys.';
  const r = await post('/v1/messages', ANT, {
    model: 'claude-haiku-4-5', max_tokens: 100, system: 'You are terse.', messages: [{ role: 'user', content }],
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('request-id') ?? '', /^req_/);
  const j = await json(r);
  assert.equal(j.type, 'message');
  assert.equal(j.role, 'assistant');
  assert.match(j.id, /^msg_/);
  assert.equal(j.content[0].type, 'text');
  assert.equal(j.content[0].text.trim().split(' ').length, 16);
  assert.equal(j.stop_reason, 'end_turn');
  assert.equal(j.usage.input_tokens, tokensOf('You are terse.' + content));
  assert.equal(j.usage.output_tokens, 16);
  assert.equal(j.usage.cache_creation_input_tokens, 0);
  assert.equal(j.usage.cache_read_input_tokens, 0);
});

test('anthropic messages SSE: exact event sequence and usage', async () => {
  const content = 'count to three [[sim:tokens=3]]';
  const r = await claude(content, { stream: true });
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const raw = await r.text();
  const events = parseSse(raw);
  assert.deepEqual(events.map((e) => e.event), [
    'message_start', 'content_block_start', 'ping',
    'content_block_delta', 'content_block_delta', 'content_block_delta',
    'content_block_stop', 'message_delta', 'message_stop',
  ]);
  for (const e of events) assert.equal(JSON.parse(e.data).type, e.event);
  const start = JSON.parse(events[0].data);
  assert.equal(start.message.usage.input_tokens, tokensOf(content));
  assert.equal(start.message.usage.cache_read_input_tokens, 0);
  const text = events.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta.text).join('');
  assert.equal(text, 'lorem ipsum dolor ');
  const delta = JSON.parse(events[7].data);
  assert.equal(delta.delta.stop_reason, 'end_turn');
  assert.equal(delta.usage.output_tokens, 3);
});

test('anthropic errors: 529 overloaded_error and 429 rate_limit_error with retry-after', async () => {
  const r = await claude('x [[sim:error=529]]');
  assert.equal(r.status, 529);
  assert.deepEqual(Object.keys(await json(r)).sort(), ['error', 'request_id', 'type']);
  const r2 = await claude('x [[sim:error=429]] [[sim:retry_after=7]]');
  assert.equal(r2.status, 429);
  assert.equal(r2.headers.get('retry-after'), '7');
  const j = await json(r2);
  assert.equal(j.type, 'error');
  assert.equal(j.error.type, 'rate_limit_error');
  const r3 = await claude('x [[sim:error=529]]');
  assert.equal((await json(r3)).error.type, 'overloaded_error');
});

// ------------------------------------------------------------------ Gemini

test('gemini generateContent JSON', async () => {
  const text = 'Why is the sky blue?';
  const r = await post('/v1beta/models/gemini-2.5-flash:generateContent', GEM, {
    systemInstruction: { parts: [{ text: 'Be brief.' }] },
    contents: [{ role: 'user', parts: [{ text }] }],
  });
  assert.equal(r.status, 200);
  const j = await json(r);
  assert.equal(j.candidates[0].content.role, 'model');
  assert.equal(j.candidates[0].content.parts[0].text.trim().split(' ').length, 16);
  assert.equal(j.candidates[0].finishReason, 'STOP');
  const p = tokensOf('Be brief.' + text);
  assert.equal(j.usageMetadata.promptTokenCount, p);
  assert.equal(j.usageMetadata.candidatesTokenCount, 16);
  assert.equal(j.usageMetadata.totalTokenCount, p + 16);
  assert.equal(j.usageMetadata.thoughtsTokenCount, undefined);
  assert.equal(j.modelVersion, 'gemini-2.5-flash');
});

test('gemini streamGenerateContent?alt=sse: CRLF frames, last carries full usageMetadata', async () => {
  const text = 'stream [[sim:tokens=4]] [[sim:reasoning=7]]';
  const r = await gem('gemini-2.5-flash', text, 'streamGenerateContent', '?alt=sse');
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const raw = await r.text();
  assert.ok(raw.endsWith('}\r\n\r\n'));
  const frames = parseSse(raw).map((e) => JSON.parse(e.data));
  assert.equal(frames.length, 4);
  assert.equal(frames.map((f) => f.candidates[0].content.parts[0].text).join(''), 'lorem ipsum dolor sit ');
  for (const f of frames.slice(0, -1)) {
    assert.equal(f.candidates[0].finishReason, undefined);
    assert.equal(f.usageMetadata.candidatesTokenCount, undefined);
  }
  const last = frames.at(-1);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  assert.equal(last.usageMetadata.promptTokenCount, tokensOf(text));
  assert.equal(last.usageMetadata.candidatesTokenCount, 4);
  assert.equal(last.usageMetadata.thoughtsTokenCount, 7);
  assert.equal(last.usageMetadata.totalTokenCount, tokensOf(text) + 4 + 7);
});

test('gemini streamGenerateContent without alt=sse streams a JSON array', async () => {
  const r = await gem('gemini-2.5-flash', 'x [[sim:tokens=2]]', 'streamGenerateContent');
  const arr = JSON.parse(await r.text());
  assert.ok(Array.isArray(arr));
  assert.equal(arr.length, 2);
  assert.equal(arr[1].usageMetadata.candidatesTokenCount, 2);
});

test('gemini image model: inlineData PNG parts, images=N, images=0, image tokens', async () => {
  const j = await json(await gem('gemini-3-pro-image-preview', 'a red fox'));
  const parts = j.candidates[0].content.parts;
  assert.equal(parts.length, 1);
  assert.equal(parts[0].inlineData.mimeType, 'image/png');
  assert.deepEqual(Buffer.from(parts[0].inlineData.data, 'base64').subarray(0, 8), PNG_SIG);
  assert.equal(j.usageMetadata.candidatesTokenCount, 1120);

  const r2 = await gem('gemini-2.5-flash-image', 'two foxes [[sim:images=2]]', 'generateContent', '', {
    generationConfig: { imageConfig: { imageSize: '2K' } },
  });
  assert.equal(r2.headers.get('x-sim-image-size'), '2K');
  const j2 = await json(r2);
  assert.equal(j2.candidates[0].content.parts.filter((p: { inlineData?: unknown }) => p.inlineData).length, 2);
  assert.equal(j2.usageMetadata.candidatesTokenCount, 2 * 1290);

  const j0 = await json(await gem('gemini-3-pro-image-preview', 'nothing [[sim:images=0]]'));
  assert.equal(j0.candidates[0].content.parts.some((p: { inlineData?: unknown }) => p.inlineData), false);
  assert.equal(typeof j0.candidates[0].content.parts[0].text, 'string');

  const s = await gem('gemini-3-pro-image-preview', 'a fox', 'streamGenerateContent', '?alt=sse');
  const frames = parseSse(await s.text()).map((e) => JSON.parse(e.data));
  assert.ok(frames.at(-1).candidates[0].content.parts[0].inlineData);
  assert.equal(frames.at(-1).usageMetadata.candidatesTokenCount, 1120);
});

test('gemini moderation: image model 200 + PROHIBITED_CONTENT without image; text model promptFeedback', async () => {
  const r = await gem('gemini-3-pro-image-preview', 'forbidden [[sim:moderation]]');
  assert.equal(r.status, 200);
  const j = await json(r);
  assert.equal(j.candidates[0].finishReason, 'PROHIBITED_CONTENT');
  assert.equal(JSON.stringify(j).includes('inlineData'), false);
  assert.equal(j.usageMetadata.candidatesTokenCount, 0);
  const j2 = await json(await gem('gemini-2.5-flash-image', 'forbidden [[sim:moderation=SAFETY]]'));
  assert.equal(j2.candidates[0].finishReason, 'SAFETY');
  const t = await gem('gemini-2.5-flash', 'forbidden [[sim:moderation]]');
  assert.equal(t.status, 200);
  const tj = await json(t);
  assert.equal(tj.promptFeedback.blockReason, 'SAFETY');
  assert.equal(tj.candidates, undefined);
});

test('gemini errors in Google shape', async () => {
  const r = await gem('gemini-2.5-flash', 'x [[sim:error=429]]');
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.deepEqual((await json(r)).error.status, 'RESOURCE_EXHAUSTED');
  const r2 = await gem('gemini-2.5-flash', 'x [[sim:error=503]]');
  const j2 = await json(r2);
  assert.deepEqual([j2.error.code, j2.error.status], [503, 'UNAVAILABLE']);
});

// ------------------------------------------------------------------ auth

test('auth: missing key and keys starting with "bad" are 401 in each protocol shape', async () => {
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  const o = await fetch(U + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(o.status, 401);
  const oj = await json(o);
  assert.equal(oj.error.type, 'invalid_request_error');
  const ob = await fetch(U + '/v1/chat/completions', { method: 'POST', headers: { authorization: 'Bearer bad-key-123' }, body });
  assert.equal(ob.status, 401);
  assert.equal((await json(ob)).error.code, 'invalid_api_key');

  const a = await fetch(U + '/v1/messages', { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body });
  assert.equal(a.status, 401);
  assert.deepEqual((await json(a)).error.type, 'authentication_error');
  const ab = await fetch(U + '/v1/messages', { method: 'POST', headers: { 'x-api-key': 'badkey' }, body });
  assert.equal(ab.status, 401);

  const gbody = JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] });
  const g = await fetch(U + '/v1beta/models/gemini-2.5-flash:generateContent', { method: 'POST', body: gbody });
  assert.equal(g.status, 401);
  assert.equal((await json(g)).error.status, 'UNAUTHENTICATED');
  const gb = await fetch(U + '/v1beta/models/gemini-2.5-flash:generateContent?key=bad1', { method: 'POST', body: gbody });
  assert.equal(gb.status, 401);
  const gk = await fetch(U + '/v1beta/models/gemini-2.5-flash:generateContent?key=good1', { method: 'POST', body: gbody });
  assert.equal(gk.status, 200);
  assert.equal(sim.requests().at(-1)?.key, 'good1');
  assert.equal((await fetch(U + '/v1/models')).status, 401);
});

// ------------------------------------------------------------------ directives

test('directive error=N in OpenAI shape, 429 with retry-after', async () => {
  const r = await chat('x [[sim:error=500]]');
  assert.equal(r.status, 500);
  const j = await json(r);
  assert.equal(j.error.type, 'server_error');
  assert.ok('param' in j.error && 'code' in j.error);
  const r2 = await chat('x [[sim:error=429]]');
  assert.equal(r2.status, 429);
  assert.equal(r2.headers.get('retry-after'), '1');
  assert.equal((await json(r2)).error.code, 'rate_limit_exceeded');
  // errors also apply before a stream starts
  const r3 = await chat('x [[sim:error=503]]', { stream: true });
  assert.equal(r3.status, 503);
  assert.match(r3.headers.get('content-type') ?? '', /^application\/json/);
});

test('directive timeout: never answers; the request is released when the client aborts', async () => {
  const t0 = Date.now();
  await assert.rejects(
    post('/v1/chat/completions', OAI,
      { model: 'timeout-model', messages: [{ role: 'user', content: 'x [[sim:timeout]]' }] }, { signal: AbortSignal.timeout(150) }),
    (e: Error) => e.name === 'TimeoutError',
  );
  assert.ok(Date.now() - t0 >= 140);
  // in-flight drops back to zero once the client is gone
  const deadline = Date.now() + 2000;
  let inFlight = -1;
  while (Date.now() < deadline) {
    inFlight = (await json(await fetch(U + '/_sim/stats'))).inFlight;
    if (inFlight === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(inFlight, 0);
});

test('directive latency delays the first byte (scaled) and is reported unscaled', async () => {
  const t0 = performance.now();
  const r = await chat('x [[sim:latency=150000]]'); // 150 s simulated = 150 ms at 0.001
  const dt = performance.now() - t0;
  assert.equal(r.status, 200);
  assert.ok(dt >= 140, `took ${dt}`);
  assert.equal(r.headers.get('x-sim-simulated-ms'), '150000');
});

test('directive chunk_ms paces the stream', async () => {
  const t0 = performance.now();
  const r = await chat('x [[sim:tokens=10]] [[sim:chunk_ms=15000]]', { stream: true });
  const events = parseSse(await r.text());
  const dt = performance.now() - t0;
  // frames: role + 10 tokens + finish + [DONE] = 13 → 12 gaps of 15 ms
  assert.equal(events.length, 13);
  assert.ok(dt >= 12 * 15 - 10, `took ${dt}`);
  assert.equal(r.headers.get('x-sim-simulated-ms'), String(12 * 15000));
});

test('directive tokens=N sets completion length in every protocol', async () => {
  const o = await json(await chat('x [[sim:tokens=40]]'));
  assert.equal(o.usage.completion_tokens, 40);
  assert.equal(o.choices[0].message.content.trim().split(' ').length, 40);
  const a = await json(await claude('x [[sim:tokens=0]]'));
  assert.equal(a.usage.output_tokens, 0);
  const g = await json(await gem('gemini-2.5-flash', 'x [[sim:tokens=9]]'));
  assert.equal(g.usageMetadata.candidatesTokenCount, 9);
});

test('directive cut=N destroys the stream without the terminating events', async () => {
  const r = await chat('x [[sim:tokens=10]] [[sim:cut=3]]', { stream: true });
  assert.equal(r.status, 200);
  const reader = r.body!.getReader();
  let got = '';
  await assert.rejects(async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += Buffer.from(value).toString();
    }
  });
  assert.equal(parseSse(got).length, 3);
  assert.ok(!got.includes('[DONE]'));

  const a = await claude('x [[sim:cut=2]]', { stream: true });
  await assert.rejects(a.text());
  const g = await gem('gemini-2.5-flash', 'x [[sim:cut=5]]', 'streamGenerateContent', '?alt=sse');
  await assert.rejects(g.text());
  // non-streaming: truncated JSON body
  const j = await chat('x [[sim:cut=0]]');
  await assert.rejects(j.text());
});

test('directive reset destroys the connection before any response', async () => {
  await assert.rejects(chat('x [[sim:reset]]'), TypeError);
  await assert.rejects(gem('gemini-2.5-flash', 'x [[sim:reset]]'), TypeError);
  // the simulator is still fine afterwards
  assert.equal((await chat('ok')).status, 200);
});

test('directive malformed: 200, right content-type, unparsable body', async () => {
  const r = await chat('x [[sim:malformed]]');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  await assert.rejects(json(r), SyntaxError);
  const s = await chat('x [[sim:malformed]]', { stream: true });
  assert.match(s.headers.get('content-type') ?? '', /^text\/event-stream/);
  const ev = parseSse(await s.text());
  assert.throws(() => JSON.parse(ev[0].data), SyntaxError);
  const a = await claude('x [[sim:malformed]]');
  await assert.rejects(json(a), SyntaxError);
  const g = await gem('gemini-2.5-flash', 'x [[sim:malformed]]');
  await assert.rejects(json(g), SyntaxError);
});

test('directive moderation: OpenAI 400s, Anthropic refusal', async () => {
  const o = await chat('x [[sim:moderation]]');
  assert.equal(o.status, 400);
  assert.equal((await json(o)).error.code, 'content_policy_violation');
  const i = await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt: 'x [[sim:moderation]]' });
  assert.equal(i.status, 400);
  const ij = await json(i);
  assert.equal(ij.error.code, 'moderation_blocked');
  const d3 = await post('/v1/images/generations', OAI, { model: 'dall-e-3', prompt: 'x [[sim:moderation]]' });
  assert.equal((await json(d3)).error.code, 'content_policy_violation');

  const a = await claude('x [[sim:moderation]]');
  assert.equal(a.status, 200);
  const aj = await json(a);
  assert.equal(aj.stop_reason, 'refusal');
  assert.equal(aj.usage.output_tokens, 2);
  const as = parseSse(await (await claude('x [[sim:moderation]]', { stream: true })).text());
  const md = JSON.parse(as.find((e) => e.event === 'message_delta')!.data);
  assert.equal(md.delta.stop_reason, 'refusal');
  assert.equal(as.at(-1)?.event, 'message_stop');
});

test('directive images=N and images=0 on OpenAI', async () => {
  const j = await json(await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt: 'x [[sim:images=4]]', n: 1 }));
  assert.equal(j.data.length, 4);
  const r0 = await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt: 'x [[sim:images=0]]' });
  assert.equal(r0.status, 200);
  const j0 = await json(r0);
  assert.deepEqual(j0.data, []);
  assert.equal(j0.usage.output_tokens, 0);
});

test('directive slow_image uses the time scale: 320 s simulated = 320 ms at 0.001', async () => {
  const t0 = performance.now();
  const r = await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt: 'x [[sim:slow_image=320]]' });
  const dt = performance.now() - t0;
  assert.equal(r.status, 200);
  assert.ok(dt >= 310, `took ${dt}`);
  assert.ok(dt < 3000, `took ${dt}`);
  assert.equal(r.headers.get('x-sim-simulated-ms'), '320000');
  const t1 = performance.now();
  const g = await gem('gemini-3-pro-image-preview', 'x [[sim:slow_image=100]]');
  assert.ok(performance.now() - t1 >= 95);
  assert.equal(g.headers.get('x-sim-simulated-ms'), '100000');
});

test('directive usage=none omits usage everywhere', async () => {
  const o = await json(await chat('x [[sim:usage=none]]'));
  assert.equal(o.usage, undefined);
  const os = await (await chat('x [[sim:usage=none]]', { stream: true, stream_options: { include_usage: true } })).text();
  assert.ok(!os.includes('"usage":{'));
  assert.ok(os.endsWith('data: [DONE]\n\n'));
  const a = await json(await claude('x [[sim:usage=none]]'));
  assert.equal(a.usage, undefined);
  const as = await (await claude('x [[sim:usage=none]]', { stream: true })).text();
  assert.ok(!as.includes('"usage"'));
  const g = await json(await gem('gemini-2.5-flash', 'x [[sim:usage=none]]'));
  assert.equal(g.usageMetadata, undefined);
  const e = await json(await post('/v1/embeddings', OAI, { model: 'm', input: 'x [[sim:usage=none]]' }));
  assert.equal(e.usage, undefined);
  const i = await json(await post('/v1/images/generations', OAI, { model: 'gpt-image-1', prompt: 'x [[sim:usage=none]]' }));
  assert.equal(i.usage, undefined);
});

test('directive cached=N in each protocol (and cache_write for Anthropic)', async () => {
  const content = 'x'.repeat(400) + ' [[sim:cached=64]]';
  const p = tokensOf(content);
  const o = await json(await chat(content));
  assert.equal(o.usage.prompt_tokens, p);
  assert.equal(o.usage.prompt_tokens_details.cached_tokens, 64);
  const a = await json(await claude(content + ' [[sim:cache_write=10]]'));
  assert.equal(a.usage.cache_read_input_tokens, 64);
  assert.equal(a.usage.cache_creation_input_tokens, 10);
  assert.equal(a.usage.input_tokens + 64 + 10, tokensOf(content + ' [[sim:cache_write=10]]'));
  const as = parseSse(await (await claude(content, { stream: true })).text());
  assert.equal(JSON.parse(as[0].data).message.usage.cache_read_input_tokens, 64);
  const g = await json(await gem('gemini-2.5-flash', content));
  assert.equal(g.usageMetadata.cachedContentTokenCount, 64);
  assert.equal(g.usageMetadata.promptTokenCount, p);
});

test('directive reasoning=N adds reasoning tokens', async () => {
  const o = await json(await chat('x [[sim:reasoning=30]] [[sim:tokens=4]]'));
  assert.equal(o.usage.completion_tokens, 34);
  assert.equal(o.usage.completion_tokens_details.reasoning_tokens, 30);
  const a = await json(await claude('x [[sim:reasoning=30]] [[sim:tokens=4]]'));
  assert.deepEqual(a.content.map((c: { type: string }) => c.type), ['thinking', 'text']);
  assert.equal(a.usage.output_tokens, 34);
  const as = parseSse(await (await claude('x [[sim:reasoning=3]] [[sim:tokens=2]]', { stream: true })).text());
  const types = as.filter((e) => e.event === 'content_block_start').map((e) => JSON.parse(e.data).content_block.type);
  assert.deepEqual(types, ['thinking', 'text']);
  assert.equal(JSON.parse(as.find((e) => e.event === 'message_delta')!.data).usage.output_tokens, 5);
});

// ------------------------------------------------------------------ time scale

test('timeScale: the same directive is slow at 0.2 and fast at 0.001', async () => {
  const slow = await startSimulator({ port: 0, timeScale: 0.2, quiet: true });
  try {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x [[sim:latency=1000]]' }] });
    const t0 = performance.now();
    const r = await fetch(slow.url + '/v1/chat/completions', { method: 'POST', headers: OAI, body });
    await r.text();
    const slowDt = performance.now() - t0;
    assert.ok(slowDt >= 190, `took ${slowDt}`);
    assert.equal(r.headers.get('x-sim-simulated-ms'), '1000');
    const t1 = performance.now();
    await (await fetch(U + '/v1/chat/completions', { method: 'POST', headers: OAI, body })).text();
    const fastDt = performance.now() - t1;
    assert.ok(fastDt < slowDt / 2, `fast ${fastDt} vs slow ${slowDt}`);
  } finally {
    await slow.close();
  }
});

// ------------------------------------------------------------------ control plane

async function setFaults(faults: unknown): Promise<Response> {
  return fetch(U + '/_sim/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults }) });
}

test('faults: deterministic error_rate per model, model filter, DELETE clears', async () => {
  const set = await setFaults([{ model: 'flaky-model', error_rate: 0.5, status: 503 }]);
  assert.equal(set.status, 200);
  assert.equal((await json(set)).faults.length, 1);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await chat('x', {}, 'flaky-model');
    statuses.push(r.status);
    if (r.status === 503) assert.equal((await json(r)).error.type, 'server_error');
    else await r.text();
  }
  assert.deepEqual(statuses, [200, 503, 200, 503, 200, 503]);
  // other models are untouched
  assert.equal((await chat('x', {}, 'gpt-4o-mini')).status, 200);
  // error_rate 0.25 with "*": every 4th request of each model, counted per model; status per protocol shape
  await setFaults([{ model: '*', error_rate: 0.25, status: 529 }]);
  const a: number[] = [];
  for (let i = 0; i < 4; i++) a.push((await claude('x', {}, 'claude-x')).status);
  assert.deepEqual(a, [200, 200, 200, 529]);
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push((await gem('gemini-x', 'x')).status);
  assert.deepEqual(g, [200, 200, 200, 529]);
  const del = await fetch(U + '/_sim/faults', { method: 'DELETE' });
  assert.deepEqual(await json(del), { faults: [] });
  assert.equal((await chat('x', {}, 'flaky-model')).status, 200);
});

test('faults: from/to window, timeout and reset modes, validation', async () => {
  const now = Date.now();
  await setFaults([{ model: 'win-model', error_rate: 1, status: 500, from: now + 60_000 }]);
  assert.equal((await chat('x', {}, 'win-model')).status, 200);
  await setFaults([{ model: 'win-model', error_rate: 1, status: 500, from: now - 1000, to: now + 60_000 }]);
  assert.equal((await chat('x', {}, 'win-model')).status, 500);
  await setFaults([{ model: 'win-model', error_rate: 1, status: 500, to: now - 1 }]);
  assert.equal((await chat('x', {}, 'win-model')).status, 200);

  await setFaults([{ model: 'reset-model', mode: 'reset' }]);
  await assert.rejects(chat('x', {}, 'reset-model'), TypeError);
  await setFaults([{ model: 'hang-model', mode: 'timeout' }]);
  await assert.rejects(
    post('/v1/chat/completions', OAI, { model: 'hang-model', messages: [] }, { signal: AbortSignal.timeout(100) }),
    (e: Error) => e.name === 'TimeoutError',
  );

  const bad = await setFaults([{ model: 'x', error_rate: 2 }]);
  assert.equal(bad.status, 400);
  assert.match((await json(bad)).error, /error_rate/);
  // the invalid schedule did not replace the valid one
  assert.equal((await json(await fetch(U + '/_sim/faults'))).faults[0].model, 'hang-model');
  await fetch(U + '/_sim/faults', { method: 'DELETE' });
});

test('control: stats, requests?limit, reset; Simulator API mirrors it', async () => {
  await fetch(U + '/_sim/reset', { method: 'POST' });
  await chat('first request body', {}, 'stats-a');
  await chat('second', {}, 'stats-a');
  await claude('third', {}, 'stats-b');
  const s = await json(await fetch(U + '/_sim/stats'));
  assert.equal(s.total, 3);
  assert.equal(s.inFlight, 0);
  assert.equal(s.byPath['/v1/chat/completions'], 2);
  assert.equal(s.byPath['/v1/messages'], 1);
  assert.equal(s.byModel['stats-a'], 2);
  assert.equal(s.byModel['stats-b'], 1);
  assert.equal(s.byStatus['200'], 3);

  const q = await json(await fetch(U + '/_sim/requests?limit=2'));
  assert.equal(q.requests.length, 2);
  assert.equal(q.requests[0].model, 'stats-a');
  assert.equal(q.requests[1].model, 'stats-b');
  assert.equal(q.requests[1].key, 'sk-ant-test');
  assert.equal(q.requests[1].method, 'POST');
  assert.equal(q.requests[1].path, '/v1/messages');
  assert.equal(q.requests[1].status, 200);
  assert.ok(q.requests[1].body.includes('third'));
  assert.ok(Math.abs(q.requests[1].time - Date.now()) < 10_000);
  const long = 'y'.repeat(500);
  await chat(long);
  assert.equal(sim.requests().at(-1)?.body.length, 200);

  sim.setFaults([{ model: 'api-model', status: 502 }]);
  assert.equal((await chat('x', {}, 'api-model')).status, 502);
  sim.reset();
  assert.equal(sim.requests().length, 0);
  assert.equal((await chat('x', {}, 'api-model')).status, 200);
  const after = await json(await fetch(U + '/_sim/stats'));
  assert.equal(after.total, 1);
});

const settle = <T>(p: Promise<T>): Promise<T | Error> => p.then((v) => v, (e: Error) => e);

test('close() ends open sockets, including [[sim:timeout]] ones, promptly', async () => {
  const s = await startSimulator({ port: 0, quiet: true });
  const pending = settle(fetch(s.url + '/v1/chat/completions', {
    method: 'POST', headers: OAI, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: '[[sim:timeout]]' }] }),
  }));
  const pending2 = settle(fetch(s.url + '/v1/chat/completions', {
    method: 'POST', headers: OAI, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: '[[sim:latency=600000]]' }] }),
  }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(s.stats().inFlight, 2);
  const t0 = performance.now();
  await s.close();
  assert.ok(performance.now() - t0 < 1000);
  assert.ok((await pending) instanceof Error);
  assert.ok((await pending2) instanceof Error);
});

test('unknown route is 404 in the protocol shape', async () => {
  const r = await post('/v1/nope', OAI, {});
  assert.equal(r.status, 404);
  assert.ok((await json(r)).error.message.includes('/v1/nope'));
  const g = await fetch(U + '/v1beta/models/x:frobnicate?key=k', { method: 'POST', body: '{}' });
  assert.equal(g.status, 404);
  assert.equal((await json(g)).error.status, 'NOT_FOUND');
});

// ------------------------------------------------------------------ CLI

test('cli: argument parsing', () => {
  assert.deepEqual(parseSimArgs(['--port', '0', '--host', '0.0.0.0', '--time-scale=0.01']), {
    port: 0, host: '0.0.0.0', timeScale: 0.01, help: false,
  });
  assert.throws(() => parseSimArgs(['--port', 'x']), /--port/);
  assert.throws(() => parseSimArgs(['--frob']), /unknown option/);
});

test('cli: prints the URL, serves, and exits cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, ['src/sim/cli.ts', '--port', '0', '--time-scale', '0.001'], {
    cwd: new URL('../../', import.meta.url),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /http:\/\/[^\s]+/.exec(out);
      if (m) resolve(m[0]);
    });
    child.once('exit', () => reject(new Error('exited early: ' + out)));
  });
  const r = await fetch(url + '/v1/chat/completions', { method: 'POST', headers: OAI, body: JSON.stringify({ model: 'm', messages: [] }) });
  assert.equal(r.status, 200);
  await r.text();
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});
