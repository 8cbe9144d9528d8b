import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NESTING, estimateTokens, estimateTokensFromBytes, nestingDeeperThan, requestTextOf } from '../../../src/providers/tokens.ts';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { Provider } from '../../../src/providers/provider.ts';
import type { Delivered, Endpoint, ImageRequestParams } from '../../../src/providers/types.ts';
import { inputTokens as openaiInputTokens, walkRequest as openaiWalk } from '../../../src/providers/openai/request.ts';
import { inputTokens as anthropicInputTokens, walkRequest as anthropicWalk } from '../../../src/providers/anthropic/request.ts';
import { inputTokens as geminiInputTokens, walkRequest as geminiWalk } from '../../../src/providers/gemini/request.ts';

// Token estimation, each provider's request text walk, and the request-side figures readRequest gives.

const WALKS = { openai: openaiWalk, anthropic: anthropicWalk, gemini: geminiWalk };
const INPUT = { openai: openaiInputTokens, anthropic: anthropicInputTokens, gemini: geminiInputTokens };
const requestText = (p: Provider, endpoint: Endpoint, body: unknown) => requestTextOf(WALKS[p], endpoint, body);
const estimateInputTokens = (p: Provider, endpoint: Endpoint, body: unknown) => INPUT[p](endpoint, body);
const LIMITS = { maxImages: 10 };
/** The facts readRequest gives for a valid body (operation as the gateway would pass it). */
const facts = (p: Provider, endpoint: Endpoint, body: Record<string, unknown>, operation = p === 'gemini' ? 'generateContent' : p === 'anthropic' ? 'messages' : endpoint === 'images' ? 'images.generations' : endpoint) =>
  PROVIDER_MODULES[p].readRequest(endpoint, operation as never, body, LIMITS);
const requestedMaxOutputTokens = (p: Provider, endpoint: Endpoint, body: Record<string, unknown>) => facts(p, endpoint, body).maxOutputTokens;
const imageRequestParams = (p: Provider, body: Record<string, unknown>) => facts(p, 'images', body).image;
const estimateUsage = (p: Provider, endpoint: Endpoint, body: unknown, delivered: Delivered = { images: 0, text_chars: 0, text_bytes: 0 }, image: ImageRequestParams = {}) =>
  PROVIDER_MODULES[p].estimateUsage(endpoint, body, delivered, image);

test('estimateTokens is ceil(UTF-8 bytes / 4)', () => {
  assert.equal(estimateTokens(''), 0);
  assert.equal(estimateTokens('abcd'), 1);
  assert.equal(estimateTokens('abcde'), 2);
  assert.equal(estimateTokens('日本'), 2); // 6 bytes
  assert.equal(estimateTokens('🙂'), 1); // 4 bytes
  assert.equal(estimateTokens('x'.repeat(10_240)), 2_560);
  assert.equal(estimateTokensFromBytes(0), 0);
  assert.equal(estimateTokensFromBytes(-3), 0);
  assert.equal(estimateTokensFromBytes(9), 3);
});

test('estimateTokens is cheap on 10 KB', () => {
  const text = 'The quick brown fox jumps over the lazy dog. 日本語のテキスト. '.repeat(160);
  for (let i = 0; i < 100; i++) estimateTokens(text + i);
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) estimateTokens(text + i);
  const perCall = (performance.now() - t0) / 1000;
  assert.ok(perCall < 0.2, `${perCall} ms per 10 KB`);
});

const openaiChatBody = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: [{ type: 'text', text: 'What is in this image?' }, { type: 'image_url', image_url: { url: 'https://example.invalid/a.png' } }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{"x":1}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
  ],
  tools: [{ type: 'function', function: { name: 'look', description: 'Look', parameters: { type: 'object' } } }],
  max_completion_tokens: 500,
  n: 2,
  stream: true,
  stream_options: { include_usage: true },
};

test('requestText: openai chat', () => {
  const t = requestText('openai', 'chat', openaiChatBody);
  assert.equal(
    t,
    ['You are terse.', 'What is in this image?', 'look', '{"x":1}', 'a cat', JSON.stringify(openaiChatBody.tools[0].function)].join('\n'),
  );
  assert.equal(estimateInputTokens('openai', 'chat', openaiChatBody), estimateTokens(t));
  assert.equal(requestedMaxOutputTokens('openai', 'chat', openaiChatBody), 1000);
  const minimal = { model: 'gpt-4o-mini', messages: [] };
  assert.equal(requestedMaxOutputTokens('openai', 'chat', { ...minimal, max_tokens: 7 }), 7);
  assert.equal(requestedMaxOutputTokens('openai', 'chat', minimal), undefined);
});

test('requestText: anthropic messages', () => {
  const body = {
    model: 'claude-sonnet-5-5',
    max_tokens: 1024,
    system: [{ type: 'text', text: 'Be nice.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18°C' }] }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
    ],
    tools: [{ name: 'get_weather', description: 'Get weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
  };
  const t = requestText('anthropic', 'chat', body);
  assert.equal(t, ['Be nice.', 'Weather in Paris?', '{"city":"Paris"}', '18°C', 'get_weather', 'Get weather', JSON.stringify(body.tools[0].input_schema)].join('\n'));
  assert.equal(requestText('anthropic', 'chat', { system: 'S', messages: [{ role: 'user', content: 'U' }] }), 'S\nU');
  assert.equal(estimateInputTokens('anthropic', 'chat', body), estimateTokens(t));
  assert.equal(requestedMaxOutputTokens('anthropic', 'chat', body), 1024);
});

test('requestText: gemini generateContent', () => {
  const body = {
    systemInstruction: { parts: [{ text: 'You are a cat.' }] },
    contents: [
      { role: 'user', parts: [{ text: 'Hello' }, { inlineData: { mimeType: 'image/jpeg', data: '/9j/4AAQ' } }] },
      { role: 'model', parts: [{ functionCall: { name: 'f', args: { a: 1 } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'f', response: { ok: true } } }] },
    ],
    tools: [{ functionDeclarations: [{ name: 'f', description: 'F' }] }],
    generationConfig: { maxOutputTokens: 256, candidateCount: 2, imageConfig: { aspectRatio: '16:9', imageSize: '4K' } },
  };
  const t = requestText('gemini', 'chat', body);
  assert.equal(
    t,
    ['You are a cat.', 'Hello', JSON.stringify({ name: 'f', args: { a: 1 } }), JSON.stringify({ name: 'f', response: { ok: true } }), JSON.stringify([{ name: 'f', description: 'F' }])].join('\n'),
  );
  assert.equal(requestedMaxOutputTokens('gemini', 'chat', body), 512);
  assert.deepEqual(imageRequestParams('gemini', body), { size: '4K' });
  assert.equal(estimateInputTokens('gemini', 'images', body), estimateTokens(t));
});

test('embeddings input: text and pre-tokenised arrays', () => {
  assert.equal(requestText('openai', 'embeddings', { input: 'hello world' }), 'hello world');
  assert.equal(requestText('openai', 'embeddings', { input: ['a', 'b'] }), 'a\nb');
  assert.equal(estimateInputTokens('openai', 'embeddings', { input: [1212, 318, 257, 1332] }), 4);
  assert.equal(estimateInputTokens('openai', 'embeddings', { input: [[1, 2, 3], [4, 5]] }), 5);
  assert.equal(requestedMaxOutputTokens('openai', 'embeddings', { model: 'text-embedding-3-small', input: 'x' }), 0);
  assert.equal(requestText('gemini', 'embeddings', { content: { parts: [{ text: 'What is life?' }] } }), 'What is life?');
  assert.equal(requestText('gemini', 'embeddings', { requests: [{ content: { parts: [{ text: 'a' }] } }, { content: { parts: [{ text: 'b' }] } }] }), 'a\nb');
});

test('image request parameters and prompts', () => {
  const body = { model: 'gpt-image-1', prompt: 'A cute baby sea otter', n: 2, size: '1024x1536', quality: 'high' };
  assert.deepEqual(imageRequestParams('openai', body), { n: 2, size: '1024x1536', quality: 'high' });
  assert.deepEqual(imageRequestParams('openai', { model: 'gpt-image-1', prompt: 'x' }), { n: 1 });
  assert.equal(requestText('openai', 'images', body), 'A cute baby sea otter');
  assert.equal(requestedMaxOutputTokens('openai', 'images', body), undefined);
  assert.equal(facts('openai', 'images', body).inputTokens, estimateTokens('A cute baby sea otter'));
});

test('estimateUsage marks the result estimated', () => {
  const u = estimateUsage('openai', 'chat', openaiChatBody, { images: 0, text_chars: 40, text_bytes: 41 });
  assert.equal(facts('openai', 'chat', openaiChatBody).inputTokens, u.input_tokens);
  assert.deepEqual(u, {
    input_tokens: estimateInputTokens('openai', 'chat', openaiChatBody),
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 11,
    reasoning_tokens: 0,
    images: 0,
    estimated: true,
  });
  const otter = { model: 'gpt-image-1', prompt: 'otter', n: 1, size: '1024x1024', quality: 'low' };
  const img = estimateUsage('openai', 'images', otter, { images: 3, text_chars: 0, text_bytes: 0 }, imageRequestParams('openai', otter));
  assert.equal(img.images, 1);
  assert.equal(img.image_size, '1024x1024');
  assert.equal(img.image_quality, 'low');
  assert.equal(img.estimated, true);
  assert.equal(estimateUsage('openai', 'embeddings', { input: 'abcdefgh' }).input_tokens, 2);
  assert.equal(estimateUsage('openai', 'chat', null).input_tokens, 0);
});

/** `levels` nested arrays, built without recursion. */
function deepArray(levels: number, leaf: unknown = 'x'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

test('nesting depth is measured without recursion, at any depth', () => {
  assert.equal(nestingDeeperThan('x', 0), false);
  assert.equal(nestingDeeperThan({ a: [1] }, 2), false);
  assert.equal(nestingDeeperThan({ a: [[1]] }, 2), true);
  assert.equal(nestingDeeperThan(deepArray(MAX_NESTING), MAX_NESTING), false);
  assert.equal(nestingDeeperThan(deepArray(MAX_NESTING + 1), MAX_NESTING), true);
  assert.equal(nestingDeeperThan(deepArray(100_000), MAX_NESTING), true);
});

test('estimation walks stop at absurd nesting instead of overflowing the stack', () => {
  // 100,000 tool results nested in each other: estimation counts the outer text and returns.
  let content: unknown = [{ type: 'text', text: 'deepest' }];
  for (let i = 0; i < 100_000; i++) content = [{ type: 'tool_result', tool_use_id: 't', content }];
  const body = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content }] };
  assert.equal(estimateInputTokens('anthropic', 'chat', body), 0);
  // A deep tool input cannot be serialised: it is not counted (readRequest refuses such a body first).
  const tool = { model: 'claude-sonnet-4-5', messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: { a: deepArray(100_000) } }] }] };
  assert.equal(estimateInputTokens('anthropic', 'chat', tool), 0);
});
