import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { billableUsage } from '../../../src/providers/billable.ts';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { Provider, StreamFacts } from '../../../src/providers/provider.ts';
import { SseParser } from '../../../src/providers/sse.ts';
import type { Endpoint, ImageRequestParams } from '../../../src/providers/types.ts';

// streamReader of each provider module, fed through the SSE parser in every chunking.

const billable = billableUsage;

function run(provider: Provider, endpoint: Endpoint, sse: string, chunkSize = 0, request: ImageRequestParams = {}): StreamFacts {
  const buf = Buffer.from(sse);
  const parser = new SseParser();
  const acc = PROVIDER_MODULES[provider].streamReader(endpoint, request);
  const size = chunkSize > 0 ? chunkSize : buf.length;
  for (let i = 0; i < buf.length; i += size) for (const ev of parser.push(buf.subarray(i, i + size))) acc.feed(ev);
  for (const ev of parser.end()) acc.feed(ev);
  return acc.result();
}

/** The result must not depend on how the bytes were chunked. */
function runAllChunkings(provider: Provider, endpoint: Endpoint, sse: string, request: ImageRequestParams = {}): StreamFacts {
  const whole = run(provider, endpoint, sse, 0, request);
  for (const size of [1, 2, 3, 7, 13, 64, 1000]) assert.deepEqual(run(provider, endpoint, sse, size, request), whole, `chunk size ${size}`);
  return whole;
}

const sseData = (objs: unknown[]): string => objs.map((o) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`).join('');

// ----- OpenAI chat completions, stream_options.include_usage -----

const chunk = (delta: object, finish: string | null = null) => ({
  id: 'chatcmpl-123',
  object: 'chat.completion.chunk',
  created: 1694268190,
  model: 'gpt-4o-mini',
  system_fingerprint: 'fp_44709d6fcb',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  usage: null,
});

const openaiStream = sseData([
  chunk({ role: 'assistant', content: '', refusal: null }),
  chunk({ content: 'Hello' }),
  chunk({ content: ' wörld' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
  chunk({}, 'stop'),
  {
    id: 'chatcmpl-123',
    object: 'chat.completion.chunk',
    created: 1694268190,
    model: 'gpt-4o-mini',
    choices: [],
    usage: {
      prompt_tokens: 1200,
      completion_tokens: 40,
      total_tokens: 1240,
      prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 16, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
  },
  '[DONE]',
]);

test('openai stream: usage from the final chunk, delivered text counted', () => {
  const r = runAllChunkings('openai', 'chat', openaiStream);
  assert.deepEqual(r.billable, billable({ input_tokens: 176, cached_input_tokens: 1024, output_tokens: 40, reasoning_tokens: 16 }));
  assert.deepEqual(r.raw, {
    prompt_tokens: 1200,
    completion_tokens: 40,
    total_tokens: 1240,
    prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 16, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  });
  assert.equal(r.delivered.text_chars, 5 + 6 + 5 + 2);
  assert.equal(r.delivered.text_bytes, 5 + 7 + 5 + 2);
  assert.equal(r.complete, true);
});

test('openai stream without include_usage, or cut: null billable, text still counted', () => {
  const noUsage = sseData([chunk({ content: 'Hi' }), chunk({}, 'stop'), '[DONE]']);
  const r = runAllChunkings('openai', 'chat', noUsage);
  assert.equal(r.raw, null);
  assert.equal(r.billable, null);
  assert.equal(r.delivered.text_chars, 2);
  assert.equal(r.complete, true);
  const cut = openaiStream.slice(0, openaiStream.indexOf('"usage":{'));
  const c = run('openai', 'chat', cut);
  assert.equal(c.billable, null);
  assert.equal(c.complete, false);
  // garbage events are ignored
  const g = run('openai', 'chat', 'data: not json\n\ndata: {"choices":"x"}\n\n' + openaiStream);
  assert.equal(g.billable?.output_tokens, 40);
});

// ----- OpenAI images streaming (gpt-image-1, partial_images) -----

test('openai images stream: completed events are delivered images with usage', () => {
  const usage = { total_tokens: 4260, input_tokens: 100, output_tokens: 4160, input_tokens_details: { text_tokens: 100, image_tokens: 0 } };
  const sse =
    'event: image_generation.partial_image\n' +
    `data: ${JSON.stringify({ type: 'image_generation.partial_image', b64_json: 'QUJD', created_at: 1620000000, size: '1024x1024', quality: 'high', background: 'opaque', output_format: 'png', partial_image_index: 0 })}\n\n` +
    'event: image_generation.completed\n' +
    `data: ${JSON.stringify({ type: 'image_generation.completed', b64_json: 'QUJDREVG', created_at: 1620000000, size: '1024x1024', quality: 'high', background: 'opaque', output_format: 'png', usage })}\n\n`;
  const r = runAllChunkings('openai', 'images', sse, { n: 1, quality: 'auto' });
  assert.deepEqual(r.raw, usage);
  assert.deepEqual(r.delivered, { images: 1, text_chars: 0, text_bytes: 0 });
  assert.deepEqual(
    r.billable,
    billable({ images: 1, image_size: '1024x1024', image_quality: 'high', input_tokens: 100, image_input_tokens: 0, image_output_tokens: 4160 }),
  );
  assert.equal(r.complete, true);
  const partialOnly = run('openai', 'images', sse.slice(0, sse.indexOf('event: image_generation.completed')));
  assert.equal(partialOnly.billable, null);
  assert.equal(partialOnly.delivered.images, 0);
});

// ----- Anthropic messages streaming -----

const anthropicStream = [
  ['message_start', { type: 'message_start', message: { id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-5-5', stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, cache_creation_input_tokens: 1200, cache_read_input_tokens: 3000, output_tokens: 1 } } }],
  ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me solve this.' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3h' } }],
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ['ping', { type: 'ping' }],
  ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hello' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: '! 日本' } }],
  ['content_block_stop', { type: 'content_block_stop', index: 1 }],
  ['content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: {} } }],
  ['content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"location": "San Fra' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: 'ncisco"}' } }],
  ['content_block_stop', { type: 'content_block_stop', index: 2 }],
  ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 89 } }],
  ['message_stop', { type: 'message_stop' }],
] as const;

const anthropicSse = (events: ReadonlyArray<readonly [string, object]>): string =>
  events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('');

test('anthropic stream: message_start usage + cumulative message_delta output', () => {
  const r = runAllChunkings('anthropic', 'chat', anthropicSse(anthropicStream));
  assert.deepEqual(r.billable, billable({ input_tokens: 25, cache_write_tokens: 1200, cached_input_tokens: 3000, output_tokens: 89 }));
  assert.deepEqual(r.raw, { message_start: anthropicStream[0][1].message.usage, message_delta: { output_tokens: 89 } });
  assert.equal(r.delivered.text_chars, 18 + 5 + 4 + 21 + 8);
  assert.equal(r.complete, true);
});

test('anthropic stream: several message_delta events keep the latest totals, not their sum', () => {
  const events = [
    ...anthropicStream.slice(0, 14),
    ['message_delta', { type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 40 } }] as const,
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 30, cache_creation_input_tokens: 1200, cache_read_input_tokens: 3000, output_tokens: 95, server_tool_use: { web_search_requests: 1 } } }] as const,
    ['message_stop', { type: 'message_stop' }] as const,
  ];
  const r = runAllChunkings('anthropic', 'chat', anthropicSse(events));
  assert.deepEqual(r.billable, billable({ input_tokens: 30, cache_write_tokens: 1200, cached_input_tokens: 3000, output_tokens: 95 }));
});

test('anthropic stream: null fields in message_delta do not erase message_start counts', () => {
  const events = [
    anthropicStream[0],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: null, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 12 } }] as const,
  ];
  const r = run('anthropic', 'chat', anthropicSse(events));
  assert.deepEqual(r.billable, billable({ input_tokens: 25, cache_write_tokens: 1200, cached_input_tokens: 3000, output_tokens: 12 }));
  assert.equal(r.complete, false);
});

test('anthropic stream cut before message_delta: output estimated from delivered text', () => {
  const r = run('anthropic', 'chat', anthropicSse(anthropicStream.slice(0, 9)));
  assert.equal(r.complete, false);
  assert.equal(r.billable?.estimated, true);
  assert.equal(r.billable?.input_tokens, 25);
  assert.equal(r.billable?.output_tokens, Math.ceil((18 + 5 + 8) / 4)); // "! 日本" is 8 bytes
  assert.deepEqual(r.raw, { message_start: anthropicStream[0][1].message.usage, message_delta: null });
  const none = run('anthropic', 'chat', 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n');
  assert.equal(none.billable, null);
  assert.equal(none.raw, null);
});

// ----- Gemini streamGenerateContent?alt=sse -----

const geminiChunks = [
  { candidates: [{ content: { parts: [{ text: 'The' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 }, modelVersion: 'gemini-2.5-flash' },
  { candidates: [{ content: { parts: [{ text: ' quick brown fox' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 4, thoughtsTokenCount: 120, totalTokenCount: 133 }, modelVersion: 'gemini-2.5-flash' },
  { candidates: [{ content: { parts: [{ text: ' jumps.' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 7, thoughtsTokenCount: 120, totalTokenCount: 136, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 9 }] }, modelVersion: 'gemini-2.5-flash' },
];
const geminiSse = geminiChunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');

test('gemini stream: the last usageMetadata wins', () => {
  const r = runAllChunkings('gemini', 'chat', geminiSse);
  assert.deepEqual(r.raw, geminiChunks[2].usageMetadata);
  assert.deepEqual(r.billable, billable({ input_tokens: 9, output_tokens: 127, reasoning_tokens: 120 }));
  assert.equal(r.delivered.text_chars, 3 + 16 + 7);
  assert.equal(r.complete, true);
  // Cut before a finishReason: running totals, not final — marked estimated (output already above the delivered estimate).
  const cut = run('gemini', 'chat', geminiChunks.slice(0, 2).map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join(''));
  assert.deepEqual(cut.billable, billable({ input_tokens: 9, output_tokens: 124, reasoning_tokens: 120, estimated: true }));
  assert.equal(cut.complete, false);
});

test('gemini image model stream: inline image parts are delivered images', () => {
  const chunks = [
    { candidates: [{ content: { parts: [{ text: 'Here you go.' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 14, totalTokenCount: 14 } },
    { candidates: [{ content: { parts: [{ inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo'.repeat(1000) } }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 14, candidatesTokenCount: 1124, totalTokenCount: 1138, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }, { modality: 'TEXT', tokenCount: 4 }] } },
  ];
  const sse = chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');
  const r = runAllChunkings('gemini', 'images', sse, { size: '2K' });
  assert.deepEqual(r.delivered, { images: 1, text_chars: 12, text_bytes: 12 });
  assert.deepEqual(r.billable, billable({ input_tokens: 14, output_tokens: 4, image_output_tokens: 1120, images: 1, image_size: '2k' }));
});

test('streams without usage give null billable for every provider', () => {
  assert.equal(run('gemini', 'chat', 'data: {"candidates":[{"content":{"parts":[{"text":"x"}]}}]}\n\n').billable, null);
  assert.equal(run('anthropic', 'chat', '').billable, null);
  assert.equal(run('openai', 'chat', '').billable, null);
});

// ----- A stream cancelled by the client after 50 chunks: the same for every provider -----

const WORD = ' fox';
const FIFTY = 50;
const cancelled: Record<Provider, { endpoint: Endpoint; body: unknown; events: (i: number) => string }> = {
  openai: {
    endpoint: 'chat',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell a long story.' }] },
    events: (i) => sseData([chunk({ content: `${WORD}${i}` })]),
  },
  anthropic: {
    endpoint: 'chat',
    body: { model: 'claude-sonnet-4-5', max_tokens: 4096, messages: [{ role: 'user', content: 'Tell a long story.' }] },
    events: (i) =>
      anthropicSse(
        i === 0
          ? [anthropicStream[0], ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }], ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `${WORD}${i}` } }]]
          : [['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `${WORD}${i}` } }]],
      ),
  },
  gemini: {
    endpoint: 'chat',
    body: { contents: [{ role: 'user', parts: [{ text: 'Tell a long story.' }] }] },
    // Real chunks carry running usage; before the last one it is mostly the prompt.
    events: (i) => `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: `${WORD}${i}` }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 } })}\r\n\r\n`,
  },
};

test('a stream cancelled after 50 chunks: delivered text counted and output estimated from it, for every provider', () => {
  let text = '';
  for (let i = 0; i < FIFTY; i++) text += `${WORD}${i}`;
  const bytes = Buffer.byteLength(text);
  for (const provider of ['openai', 'anthropic', 'gemini'] as const) {
    const c = cancelled[provider];
    let sse = '';
    for (let i = 0; i < FIFTY; i++) sse += c.events(i);
    const r = run(provider, c.endpoint, sse);
    assert.equal(r.complete, false, provider);
    assert.deepEqual(r.delivered, { images: 0, text_chars: text.length, text_bytes: bytes }, provider);
    const estimate = PROVIDER_MODULES[provider].estimateUsage(c.endpoint, c.body, r.delivered, {});
    assert.equal(estimate.output_tokens, Math.ceil(bytes / 4), provider);
    assert.ok(estimate.output_tokens > 0 && estimate.input_tokens > 0, provider);
    // What the upstream reported so far is not final: never below the delivered estimate, and marked.
    if (r.billable !== null) {
      assert.equal(r.billable.estimated, true, provider);
      assert.ok(r.billable.output_tokens >= estimate.output_tokens, provider);
    }
  }
});
