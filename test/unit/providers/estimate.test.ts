import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  estimateInputTokens,
  estimateTokens,
  estimateTokensFromBytes,
  estimateUsage,
  imageRequestParams,
  requestedMaxOutputTokens,
  requestText,
} from '../../../src/providers/estimate.ts';

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
  assert.equal(requestedMaxOutputTokens('openai', 'chat', { max_tokens: 7 }), 7);
  assert.equal(requestedMaxOutputTokens('openai', 'chat', {}), undefined);
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
  assert.equal(requestedMaxOutputTokens('openai', 'embeddings', {}), 0);
  assert.equal(requestText('gemini', 'embeddings', { content: { parts: [{ text: 'What is life?' }] } }), 'What is life?');
  assert.equal(requestText('gemini', 'embeddings', { requests: [{ content: { parts: [{ text: 'a' }] } }, { content: { parts: [{ text: 'b' }] } }] }), 'a\nb');
});

test('image request parameters and prompts', () => {
  const body = { model: 'gpt-image-1', prompt: 'A cute baby sea otter', n: 2, size: '1024x1536', quality: 'high' };
  assert.deepEqual(imageRequestParams('openai', body), { n: 2, size: '1024x1536', quality: 'high' });
  assert.deepEqual(imageRequestParams('openai', { prompt: 'x' }), { n: 1 });
  assert.equal(requestText('openai', 'images', body), 'A cute baby sea otter');
  assert.equal(requestedMaxOutputTokens('openai', 'images', body), undefined);
});

test('estimateUsage marks the result estimated', () => {
  const u = estimateUsage('openai', 'chat', openaiChatBody, { images: 0, text_chars: 40, text_bytes: 41 });
  assert.deepEqual(u, {
    input_tokens: estimateInputTokens('openai', 'chat', openaiChatBody),
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 11,
    reasoning_tokens: 0,
    images: 0,
    estimated: true,
  });
  const img = estimateUsage('openai', 'images', { prompt: 'otter', n: 1, size: '1024x1024', quality: 'low' }, { images: 3, text_chars: 0, text_bytes: 0 });
  assert.equal(img.images, 1);
  assert.equal(img.image_size, '1024x1024');
  assert.equal(img.image_quality, 'low');
  assert.equal(img.estimated, true);
  assert.equal(estimateUsage('openai', 'embeddings', { input: 'abcdefgh' }).input_tokens, 2);
  assert.equal(estimateUsage('openai', 'chat', null).input_tokens, 0);
});
