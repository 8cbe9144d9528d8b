import { test } from 'node:test';
import assert from 'node:assert/strict';
import { billableUsage } from '../../../src/providers/billable.ts';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { Provider, ResponseFacts } from '../../../src/providers/provider.ts';
import type { Endpoint, ImageRequestParams } from '../../../src/providers/types.ts';

// readResponse of each provider module on JSON responses (shapes from each API reference).

const billable = billableUsage;
const read = (p: Provider, endpoint: Endpoint, json: unknown, image: ImageRequestParams = {}): ResponseFacts => PROVIDER_MODULES[p].readResponse(endpoint, json, image);

// ----- OpenAI chat completions (shapes from the API reference) -----

const openaiChat = {
  id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
  object: 'chat.completion',
  created: 1741570283,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'The image shows a wooden boardwalk.', refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: {
    prompt_tokens: 2006,
    completion_tokens: 300,
    total_tokens: 2306,
    prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_fc9f1d7035',
};

test('openai chat: prompt_tokens includes cached tokens', () => {
  const r = read('openai', 'chat', openaiChat);
  assert.equal(r.raw, openaiChat.usage); // verbatim, same object
  assert.deepEqual(r.billable, billable({ input_tokens: 86, cached_input_tokens: 1920, output_tokens: 300 }));
  assert.deepEqual(r.delivered, { images: 0, text_chars: 35, text_bytes: 35 });
});

test('openai chat: reasoning tokens are inside completion_tokens', () => {
  const body = {
    id: 'chatcmpl-o3',
    object: 'chat.completion',
    model: 'o3-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Première réponse' }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: 1486,
      completion_tokens: 651,
      total_tokens: 2137,
      prompt_tokens_details: { cached_tokens: 1408, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 512, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
  };
  const r = read('openai', 'chat', body);
  assert.deepEqual(r.billable, billable({ input_tokens: 78, cached_input_tokens: 1408, output_tokens: 651, reasoning_tokens: 512 }));
  assert.equal(r.delivered.text_chars, 16);
  assert.equal(r.delivered.text_bytes, 18); // è and é are 2 bytes each
});

test('openai chat: tool calls and refusals count as delivered text; no details is fine', () => {
  const body = {
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_abc123', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        finish_reason: 'tool_calls',
      },
      { index: 1, message: { role: 'assistant', content: null, refusal: "I can't help." }, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 },
  };
  const r = read('openai', 'chat', body);
  assert.deepEqual(r.billable, billable({ input_tokens: 82, output_tokens: 17 }));
  assert.equal(r.delivered.text_chars, 16 + 13);
});

test('openai chat: missing or malformed usage gives null billable', () => {
  const noUsage = { ...openaiChat, usage: undefined };
  const r = read('openai', 'chat', noUsage);
  assert.equal(r.raw, null);
  assert.equal(r.billable, null);
  assert.equal(r.delivered.text_chars, 35);
  assert.equal(read('openai', 'chat', { ...openaiChat, usage: null }).billable, null);
  assert.equal(read('openai', 'chat', { ...openaiChat, usage: { total_tokens: 5 } }).billable, null);
  assert.equal(read('openai', 'chat', { ...openaiChat, usage: { prompt_tokens: '12' } }).billable, null);
  assert.equal(read('openai', 'chat', null).billable, null);
  assert.equal(read('openai', 'chat', 'oops').billable, null);
  assert.equal(read('openai', 'chat', [openaiChat]).billable, null);
  // an error body
  const err = read('openai', 'chat', { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } });
  assert.deepEqual(err, { raw: null, billable: null, delivered: { images: 0, text_chars: 0, text_bytes: 0 }, refused: false, unknownUsage: [] });
  // inconsistent numbers are clamped, never negative
  const odd = read('openai', 'chat', { usage: { prompt_tokens: 10, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens_details: { reasoning_tokens: 9 } } });
  assert.deepEqual(odd.billable, billable({ input_tokens: 0, cached_input_tokens: 10, output_tokens: 3, reasoning_tokens: 3 }));
  const neg = read('openai', 'chat', { usage: { prompt_tokens: -5, completion_tokens: 2.5 } });
  assert.equal(neg.billable, null);
});

// ----- OpenAI embeddings -----

test('openai embeddings: input = prompt_tokens', () => {
  const body = {
    object: 'list',
    data: [{ object: 'embedding', embedding: [0.0023064255, -0.009327292, -0.0028842222], index: 0 }],
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 8, total_tokens: 8 },
  };
  const r = read('openai', 'embeddings', body);
  assert.equal(r.raw, body.usage);
  assert.deepEqual(r.billable, billable({ input_tokens: 8 }));
  assert.equal(read('openai', 'embeddings', { ...body, usage: undefined }).billable, null);
});

// ----- OpenAI images -----

const gptImageResponse = {
  created: 1713833628,
  background: 'opaque',
  output_format: 'png',
  size: '1024x1024',
  quality: 'high',
  data: [{ b64_json: 'iVBORw0KGgoAAAANSUhEUgAA' }, { b64_json: 'iVBORw0KGgoAAAANSUhEUgBB' }],
  usage: {
    total_tokens: 8420,
    input_tokens: 100,
    output_tokens: 8320,
    input_tokens_details: { text_tokens: 60, image_tokens: 40 },
  },
};

test('openai images: delivered images, reported size/quality, token split', () => {
  const r = read('openai', 'images', gptImageResponse, { n: 2, size: 'auto', quality: 'auto' });
  assert.equal(r.raw, gptImageResponse.usage);
  assert.deepEqual(r.delivered, { images: 2, text_chars: 0, text_bytes: 0 });
  assert.deepEqual(
    r.billable,
    billable({ images: 2, image_size: '1024x1024', image_quality: 'high', input_tokens: 60, image_input_tokens: 40, image_output_tokens: 8320 }),
  );
});

test('openai images: output_tokens_details split text and image output', () => {
  const body = { ...gptImageResponse, usage: { ...gptImageResponse.usage, output_tokens_details: { text_tokens: 20, image_tokens: 8300 } } };
  const r = read('openai', 'images', body);
  assert.equal(r.billable?.output_tokens, 20);
  assert.equal(r.billable?.image_output_tokens, 8300);
});

test('openai images (dall-e style, no usage): billable from delivered images, capped at n', () => {
  const body = { created: 1713833628, data: [{ url: 'https://example.invalid/a.png', revised_prompt: 'A cat' }, { url: '' }, { b64_json: 'AAAA' }] };
  const r = read('openai', 'images', body, { n: 1, size: '1024x1024', quality: 'HD' });
  assert.equal(r.raw, null);
  assert.equal(r.delivered.images, 2); // the empty url is not an image
  assert.deepEqual(r.billable, billable({ images: 1, image_size: '1024x1024', image_quality: 'hd' }));
  // nothing delivered, no usage: nothing billable
  assert.equal(read('openai', 'images', { created: 1, data: [] }).billable, null);
});

// ----- Anthropic messages -----

test('anthropic: input_tokens excludes cache reads and writes', () => {
  const body = {
    id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-5-5',
    content: [
      { type: 'thinking', thinking: 'Let me think.', signature: 'EqQBCgIYAhIM' },
      { type: 'text', text: 'Hi! My name is Claude.' },
      { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { location: 'San Francisco, CA' } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: {
      input_tokens: 2095,
      cache_creation_input_tokens: 2051,
      cache_read_input_tokens: 1800,
      cache_creation: { ephemeral_5m_input_tokens: 2051, ephemeral_1h_input_tokens: 0 },
      output_tokens: 503,
      service_tier: 'standard',
    },
  };
  const r = read('anthropic', 'chat', body);
  assert.equal(r.raw, body.usage);
  assert.deepEqual(r.billable, billable({ input_tokens: 2095, cached_input_tokens: 1800, cache_write_tokens: 2051, output_tokens: 503 }));
  assert.equal(r.delivered.text_chars, 13 + 22 + JSON.stringify({ location: 'San Francisco, CA' }).length);
});

test('anthropic: older responses without cache fields; missing usage', () => {
  const body = { type: 'message', content: [{ type: 'text', text: 'Hello' }], usage: { input_tokens: 12, output_tokens: 6 } };
  assert.deepEqual(read('anthropic', 'chat', body).billable, billable({ input_tokens: 12, output_tokens: 6 }));
  const nulls = { ...body, usage: { input_tokens: 12, output_tokens: 6, cache_creation_input_tokens: null, cache_read_input_tokens: null } };
  assert.deepEqual(read('anthropic', 'chat', nulls).billable, billable({ input_tokens: 12, output_tokens: 6 }));
  assert.equal(read('anthropic', 'chat', { ...body, usage: undefined }).billable, null);
  const err = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
  assert.equal(read('anthropic', 'chat', err).billable, null);
  assert.equal(read('anthropic', 'embeddings', body).billable, null);
});

// ----- Gemini generateContent -----

test('gemini: thoughts are billed as output', () => {
  const body = {
    candidates: [{ content: { parts: [{ text: 'Hello! How can I help?' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: {
      promptTokenCount: 8,
      candidatesTokenCount: 120,
      totalTokenCount: 1180,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 8 }],
      thoughtsTokenCount: 1052,
    },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'mAitaLmkHPPlz7IPvtfUqQ4',
  };
  const r = read('gemini', 'chat', body);
  assert.equal(r.raw, body.usageMetadata);
  assert.deepEqual(r.billable, billable({ input_tokens: 8, output_tokens: 1172, reasoning_tokens: 1052 }));
  assert.equal(r.delivered.text_chars, 22);
});

test('gemini: promptTokenCount includes cached content; tool-use prompt is input', () => {
  const body = {
    candidates: [
      {
        content: { parts: [{ text: 'thinking summary', thought: true }, { functionCall: { name: 'lookup', args: { q: 'x' } } }], role: 'model' },
        finishReason: 'STOP',
      },
    ],
    usageMetadata: {
      promptTokenCount: 20458,
      candidatesTokenCount: 310,
      totalTokenCount: 21100,
      cachedContentTokenCount: 20000,
      toolUsePromptTokenCount: 100,
      thoughtsTokenCount: 232,
      cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 20000 }],
    },
  };
  const r = read('gemini', 'chat', body);
  assert.deepEqual(r.billable, billable({ input_tokens: 558, cached_input_tokens: 20000, output_tokens: 542, reasoning_tokens: 232 }));
  assert.equal(r.delivered.text_chars, 16 + JSON.stringify({ q: 'x' }).length);
});

test('gemini: zero-valued fields are omitted on the wire; blocked prompt; missing usage', () => {
  const blocked = { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 } };
  assert.deepEqual(read('gemini', 'chat', blocked).billable, billable({ input_tokens: 9 }));
  const none = { candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: 'STOP' }] };
  const r = read('gemini', 'chat', none);
  assert.equal(r.raw, null);
  assert.equal(r.billable, null);
  assert.equal(r.delivered.text_chars, 1);
  assert.equal(read('gemini', 'chat', { usageMetadata: {} }).billable, null);
});

test('gemini image model: inline images delivered, image output tokens split by modality', () => {
  const body = {
    candidates: [
      {
        content: {
          parts: [
            { text: 'Here is your nano banana.' },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUgAABAAAAAQACAIAAADwf7zU' } },
          ],
          role: 'model',
        },
        finishReason: 'STOP',
        index: 0,
      },
    ],
    usageMetadata: {
      promptTokenCount: 12,
      candidatesTokenCount: 1299,
      totalTokenCount: 1311,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12 }],
      candidatesTokensDetails: [
        { modality: 'IMAGE', tokenCount: 1290 },
        { modality: 'TEXT', tokenCount: 9 },
      ],
    },
    modelVersion: 'gemini-3-pro-image-preview',
  };
  const r = read('gemini', 'images', body, { size: '4K' });
  assert.deepEqual(r.delivered, { images: 1, text_chars: 25, text_bytes: 25 });
  assert.deepEqual(r.billable, billable({ input_tokens: 12, output_tokens: 9, image_output_tokens: 1290, images: 1, image_size: '4k' }));
  // refused on content policy: no image, usage still reported
  const refused = {
    candidates: [{ finishReason: 'IMAGE_SAFETY', index: 0 }],
    usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
  };
  const rr = read('gemini', 'images', refused);
  assert.deepEqual(rr.billable, billable({ input_tokens: 12 }));
  assert.equal(rr.delivered.images, 0);
  // a non-image inline part is not an image
  const pdf = { candidates: [{ content: { parts: [{ inlineData: { mimeType: 'application/pdf', data: 'JVBERi0' } }] } }] };
  assert.equal(read('gemini', 'images', pdf).delivered.images, 0);
});

test('gemini embeddings: usage only when the upstream reports it', () => {
  assert.equal(read('gemini', 'embeddings', { embedding: { values: [0.1, 0.2] } }).billable, null);
  assert.deepEqual(
    read('gemini', 'embeddings', { embedding: { values: [0.1] }, usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 } }).billable,
    billable({ input_tokens: 7 }),
  );
});
