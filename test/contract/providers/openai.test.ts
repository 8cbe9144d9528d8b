// The OpenAI module against recorded OpenAI payloads (JSON and SSE) and error bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { billableUsage as billable } from '../../../src/providers/billable.ts';
import { openai } from '../../../src/providers/openai/index.ts';
import { delivered, failure, json, response, stream, streamCut } from './replay.ts';

test('chat: prompt_tokens includes cached tokens; every usage field is known', () => {
  const r = response('openai', 'chat', 'chat.json');
  assert.deepEqual(r.billable, billable({ input_tokens: 1117, output_tokens: 46 }));
  assert.deepEqual(r.delivered, delivered('The image shows a wooden boardwalk extending through a lush green marshland.'));
  assert.equal(r.refused, false);
  assert.deepEqual(r.unknownUsage, []);
  assert.deepEqual(r.raw, (json('openai', 'chat.json') as { usage: unknown }).usage);
});

test('chat (GPT-5.6): cache_write_tokens are cache writes, not input', () => {
  const body = json('openai', 'chat-cache-write.json') as { usage: unknown };
  const r = openai.readResponse('chat', body, {});
  assert.equal(r.raw, body.usage, 'raw usage is kept verbatim (same object)');
  // input = prompt − cached − cache_write = 12000 − 4096 − 6144
  assert.deepEqual(r.billable, billable({ input_tokens: 1760, cached_input_tokens: 4096, cache_write_tokens: 6144, output_tokens: 850, reasoning_tokens: 640 }));
  assert.deepEqual(r.unknownUsage, []);
});

test('chat with audio output: audio tokens are billed as output and flagged (no audio price)', () => {
  const r = response('openai', 'chat', 'chat-audio.json');
  assert.deepEqual(r.billable, billable({ input_tokens: 17, output_tokens: 181 }));
  assert.deepEqual(r.unknownUsage, ['completion_tokens_details.audio_tokens']);
});

test('chat: a usage field OpenAI does not document is listed, and the known counts still billed', () => {
  const body = json('openai', 'chat.json') as { usage: Record<string, unknown> };
  body.usage = { ...body.usage, cost: 0.00012, prompt_tokens_details: { cached_tokens: 0, video_tokens: 12 } };
  const r = openai.readResponse('chat', body, {});
  assert.deepEqual(r.unknownUsage, ['cost', 'prompt_tokens_details.video_tokens']);
  assert.deepEqual(r.billable, billable({ input_tokens: 1117, output_tokens: 46 }));
});

test('chat: content_filter is a refusal, in JSON and in a stream alike', () => {
  const r = response('openai', 'chat', 'chat-content-filter.json');
  assert.equal(r.refused, true);
  assert.deepEqual(r.billable, billable({ input_tokens: 28 }));
  const s = stream('openai', 'chat', 'chat-stream-content-filter.sse');
  assert.equal(s.refused, true);
  assert.equal(s.complete, true);
  assert.deepEqual(s.billable, billable({ input_tokens: 31 }));
});

test('chat stream: usage from the include_usage chunk, cache writes included', () => {
  const s = stream('openai', 'chat', 'chat-stream.sse');
  assert.deepEqual(s.billable, billable({ input_tokens: 128, cached_input_tokens: 1024, cache_write_tokens: 2048, output_tokens: 12 }));
  assert.deepEqual(s.delivered, delivered('Hello from the stream.'));
  assert.equal(s.complete, true);
  assert.equal(s.refused, false);
  assert.equal(s.malformed, 0);
  assert.deepEqual(s.unknownUsage, []);
});

test('chat stream cut by the client: no usage yet; output is estimated from what was delivered', () => {
  const s = streamCut('openai', 'chat', 'chat-stream.sse', 4);
  assert.equal(s.complete, false);
  assert.equal(s.billable, null);
  assert.deepEqual(s.delivered, delivered('Hello from the stream'));
  const est = openai.estimateUsage('chat', { messages: [{ role: 'user', content: 'Say hello' }] }, s.delivered, {});
  assert.equal(est.output_tokens, Math.ceil(21 / 4));
  assert.equal(est.estimated, true);
});

test('the usage-only chunk is hidden from a client that did not ask for it', () => {
  const usageChunk = '{"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}';
  const keep = openai.clientStreamFilter!('chat', { stream: true })!;
  assert.equal(keep(usageChunk), false, 'hidden from a client that did not ask for usage');
  assert.equal(openai.clientStreamFilter!('chat', { stream: true, stream_options: { include_usage: true } }), null, 'a client that asked gets the bytes as they came');
  assert.equal(keep('{"choices":[{"index":0,"delta":{"content":"\\"choices\\":[]"}}],"usage":null}'), true);
  assert.equal(openai.clientStreamFilter!('images', { stream: true }), null);
});

test('embeddings: input = prompt_tokens', () => {
  const r = response('openai', 'embeddings', 'embeddings.json');
  assert.deepEqual(r.billable, billable({ input_tokens: 8 }));
  assert.deepEqual(r.unknownUsage, []);
});

test('images: delivered images up to n, reported size/quality, tokens split by details', () => {
  const r = response('openai', 'images', 'images.json', { n: 2, size: 'auto', quality: 'auto' });
  assert.equal(r.delivered.images, 3);
  assert.deepEqual(
    r.billable,
    billable({ images: 2, image_size: '1024x1024', image_quality: 'high', input_tokens: 60, image_input_tokens: 40, output_tokens: 0, image_output_tokens: 12480 }),
  );
  assert.deepEqual(r.unknownUsage, []);
  assert.equal(response('openai', 'images', 'images.json', { n: 3 }).billable?.images, 3);
});

test('images: n read from a multipart form bills what was delivered up to n, as JSON n does', () => {
  const delivered3 = json('openai', 'images.json');
  const form = openai.readRequest('images', 'images.edits', { model: 'gpt-image-1', prompt: 'add a hat', n: '2' }, { maxImages: 10 }, true);
  assert.equal(openai.readResponse('images', delivered3, form.image).billable?.images, 2);
  const body = openai.readRequest('images', 'images.generations', { model: 'gpt-image-1', prompt: 'otters', n: 3 }, { maxImages: 10 });
  assert.equal(openai.readResponse('images', delivered3, body.image).billable?.images, 3);
  assert.throws(() => openai.readRequest('images', 'images.generations', { model: 'gpt-image-1', prompt: 'otters', n: '3' }, { maxImages: 10 }), /n: must be an integer/);
});

test('images stream: the completed event is the delivered image, partial images are previews', () => {
  const s = stream('openai', 'images', 'images-stream.sse', { n: 1 });
  assert.deepEqual(s.billable, billable({ images: 1, image_size: '1024x1024', image_quality: 'high', input_tokens: 100, image_input_tokens: 0, image_output_tokens: 4160 }));
  assert.equal(s.complete, true);
  const cut = streamCut('openai', 'images', 'images-stream.sse', 1, { n: 1 });
  assert.equal(cut.billable, null);
  assert.equal(cut.delivered.images, 0);
});

test('error bodies: each failure kind', () => {
  const table: Array<[number, string, string]> = [
    [429, 'error-429-insufficient-quota.json', 'out_of_credit'],
    [429, 'error-429-rate-limit.json', 'rate_limited'],
    [401, 'error-401-invalid-key.json', 'upstream_auth'],
    [403, 'error-403-region.json', 'upstream_auth'],
    [404, 'error-404-model.json', 'not_found'],
    [400, 'error-400-content-policy.json', 'moderation'],
    [400, 'error-400-moderation-blocked.json', 'moderation'],
    [400, 'error-400-context-length.json', 'invalid_request'],
    [500, 'error-500-server.json', 'server_error'],
    [503, 'error-503-overloaded.json', 'overloaded'],
    [408, 'error-500-server.json', 'server_error'],
  ];
  for (const [status, name, kind] of table) assert.equal(failure('openai', status, name), kind, `${status} ${name}`);
});
