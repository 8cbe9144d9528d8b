// readRequest of each provider: the fields Surety reads are validated (400 VALIDATION naming the
// field, before any hold); what the real APIs accept is accepted; the rest passes through untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../../src/kernel/errors.ts';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { Operation, Provider, RequestFacts } from '../../../src/providers/provider.ts';
import type { Endpoint } from '../../../src/providers/types.ts';

const LIMITS = { maxImages: 10 };

interface Case {
  endpoint: Endpoint;
  operation: Operation;
  body: Record<string, unknown>;
  form?: boolean;
}

/** A copy to compare with, for bodies shallow enough to copy (the 100,000-deep ones are not). */
function copyOf(body: Record<string, unknown>): unknown {
  try {
    return structuredClone(body);
  } catch {
    return undefined;
  }
}

function read(p: Provider, c: Case): RequestFacts {
  const copy = copyOf(c.body);
  const facts = PROVIDER_MODULES[p].readRequest(c.endpoint, c.operation, c.body, LIMITS, c.form);
  if (copy !== undefined) assert.deepEqual(c.body, copy, 'the body passes through untouched');
  return facts;
}

function refuses(p: Provider, c: Case, field: string): void {
  assert.throws(
    () => read(p, c),
    (e: unknown) => e instanceof AppError && e.code === 'VALIDATION' && e.status === 400 && e.details?.field === field && e.message.startsWith(`${field}: `),
    `${p} ${c.operation} → 400 naming ${field}`,
  );
}

/** `levels` nested arrays around a leaf, built without recursion. */
function deep(levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

// ---------------- OpenAI ----------------

const chat = (body: Record<string, unknown>): Case => ({ endpoint: 'chat', operation: 'chat', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...body } });
const embed = (body: Record<string, unknown>): Case => ({ endpoint: 'embeddings', operation: 'embeddings', body: { model: 'text-embedding-3-small', ...body } });
const image = (body: Record<string, unknown>): Case => ({ endpoint: 'images', operation: 'images.generations', body: { model: 'gpt-image-1', prompt: 'an otter', ...body } });
const edit = (form: Record<string, string>): Case => ({ endpoint: 'images', operation: 'images.edits', body: { model: 'gpt-image-1', prompt: 'add a hat', ...form }, form: true });

test('openai chat: the fuzz corpus is refused, naming the field', () => {
  const table: Array<[Case, string]> = [
    [chat({ messages: 'hello' }), 'messages'],
    [chat({ messages: undefined }), 'messages'],
    [chat({ messages: [5] }), 'messages.0'],
    [chat({ messages: [{ role: 'user', content: 5 }] }), 'messages.0.content'],
    [chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, 'b'] }] }), 'messages.0.content.1'],
    [chat({ messages: [{ role: 'assistant', content: null, tool_calls: 'f()' }] }), 'messages.0.tool_calls'],
    [chat({ max_tokens: 1e308 }), 'max_tokens'],
    [chat({ max_tokens: -5 }), 'max_tokens'],
    [chat({ max_tokens: 0 }), 'max_tokens'],
    [chat({ max_tokens: 2.5 }), 'max_tokens'],
    [chat({ max_tokens: '100' }), 'max_tokens'],
    [chat({ max_completion_tokens: 10_000_001 }), 'max_completion_tokens'],
    [chat({ stream: 'yes' }), 'stream'],
    [chat({ stream: 1 }), 'stream'],
    [chat({ n: 0 }), 'n'],
    [chat({ n: 129 }), 'n'],
    [chat({ n: '2' }), 'n'],
    [chat({ model: undefined }), 'model'],
    [chat({ model: 5 }), 'model'],
    [chat({ model: '' }), 'model'],
    [chat({ model: 'm'.repeat(201) }), 'model'],
    [chat({ tools: { type: 'function' } }), 'tools'],
    [chat({ stream_options: 'include_usage' }), 'stream_options'],
    [chat({ messages: deep(100_000, { role: 'user', content: 'deep' }) }), 'messages'],
    [chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x', extra: deep(200, 1) }] }] }), 'messages'],
  ];
  for (const [c, field] of table) refuses('openai', c, field);
});

test('openai chat: what the API accepts is accepted', () => {
  const ok = read('openai', chat({
    messages: [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://example.invalid/a.png' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
    ],
    max_completion_tokens: 10_000_000,
    n: 128,
    stream: true,
    stream_options: { include_usage: false },
    temperature: 'not ours to check',
  }));
  assert.equal(ok.model, 'gpt-4o-mini');
  assert.equal(ok.stream, true);
  assert.equal(ok.maxOutputTokens, 10_000_000 * 128);
  assert.deepEqual(ok.image, {});
  assert.ok(ok.inputTokens > 0);
  const nulls = read('openai', chat({ max_tokens: null, n: null, stream: null }));
  assert.equal(nulls.stream, false);
  assert.equal(nulls.maxOutputTokens, undefined);
  assert.equal(read('openai', chat({ max_tokens: 7, n: 2 })).maxOutputTokens, 14);
  assert.equal(read('openai', chat({ max_completion_tokens: 5, max_tokens: 9 })).maxOutputTokens, 5);
  assert.equal(read('openai', chat({ model: 'm'.repeat(200) })).model?.length, 200);
  // The body is nesting level 1: a field may nest 127 more levels, not 128.
  assert.ok(read('openai', chat({ metadata: deep(127, 1) })));
  refuses('openai', chat({ metadata: deep(128, 1) }), 'metadata');
});

test('openai embeddings: input shapes', () => {
  for (const input of ['hello', ['a', 'b'], [1212, 318, 257], [[1, 2, 3], [4, 5]]]) assert.equal(read('openai', embed({ input })).maxOutputTokens, 0);
  assert.equal(read('openai', embed({ input: [[1, 2, 3], [4, 5]] })).inputTokens, 5);
  refuses('openai', embed({ input: [['a', 'b'], ['c']] }), 'input.0');
  refuses('openai', embed({ input: ['a', 1] }), 'input.0');
  refuses('openai', embed({ input: 5 }), 'input');
  refuses('openai', embed({}), 'input');
  refuses('openai', embed({ input: [-1] }), 'input.0');
});

test('openai images: n is an integer from 1 to the model limit', () => {
  assert.deepEqual(read('openai', image({ n: 3, size: '1024x1024', quality: 'high' })).image, { n: 3, size: '1024x1024', quality: 'high' });
  assert.deepEqual(read('openai', image({})).image, { n: 1 });
  assert.equal(read('openai', image({ n: 10 })).image.n, 10);
  for (const n of ['3', 1e20, 0, 11, 2.5, -1]) refuses('openai', image({ n }), 'n');
  refuses('openai', image({ prompt: undefined }), 'prompt');
  refuses('openai', image({ prompt: ['a'] }), 'prompt');
  refuses('openai', image({ size: 1024 }), 'size');
  refuses('openai', image({ quality: true }), 'quality');
});

test('openai image edits (multipart): n read from the form the same way', () => {
  assert.deepEqual(read('openai', edit({ n: '3' })).image, { n: 3 });
  assert.deepEqual(read('openai', edit({ n: '3', size: '1024x1536' })).image, { n: 3, size: '1024x1536' });
  assert.equal(read('openai', edit({ stream: 'true' })).stream, true);
  assert.equal(read('openai', edit({})).image.n, 1);
  for (const n of ['1.5', '1e20', 'x', '0', '11', '', ' 3', '-1', '99999999999999999999']) refuses('openai', edit({ n }), 'n');
  refuses('openai', edit({ stream: 'yes' }), 'stream');
  refuses('openai', { ...edit({}), body: { prompt: 'p' } }, 'model');
});

// ---------------- Anthropic ----------------

const messages = (body: Record<string, unknown>): Case => ({
  endpoint: 'chat',
  operation: 'messages',
  body: { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }], ...body },
});

test('anthropic: the fuzz corpus is refused, naming the field', () => {
  const table: Array<[Case, string]> = [
    [messages({ messages: 'hello' }), 'messages'],
    [messages({ messages: undefined }), 'messages'],
    [messages({ messages: [[]] }), 'messages.0'],
    [messages({ messages: [{ role: 'user', content: 5 }] }), 'messages.0.content'],
    [messages({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, 7] }] }), 'messages.0.content.1'],
    [messages({ system: 5 }), 'system'],
    [messages({ system: ['be nice'] }), 'system.0'],
    [messages({ tools: 'get_weather' }), 'tools'],
    [messages({ max_tokens: 1e308 }), 'max_tokens'],
    [messages({ max_tokens: -5 }), 'max_tokens'],
    [messages({ stream: 'yes' }), 'stream'],
    [messages({ model: 42 }), 'model'],
    [messages({ messages: [{ role: 'user', content: deep(100_000, { type: 'text', text: 'x' }) }] }), 'messages'],
  ];
  for (const [c, field] of table) refuses('anthropic', c, field);
});

test('anthropic: system as a string or as blocks, content as a string or as blocks', () => {
  const blocks = read('anthropic', messages({
    system: [{ type: 'text', text: 'Be nice.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather?' }] }, { role: 'assistant', content: 'Sunny.' }],
    stream: true,
  }));
  assert.equal(blocks.stream, true);
  assert.equal(blocks.maxOutputTokens, 1024);
  assert.equal(blocks.model, 'claude-sonnet-4-5');
  const plain = read('anthropic', messages({ system: 'Be nice.', max_tokens: undefined }));
  assert.equal(plain.maxOutputTokens, undefined);
  assert.equal(plain.stream, false);
  assert.ok(plain.inputTokens > 0);
});

// ---------------- Gemini ----------------

const generate = (body: Record<string, unknown>, operation: Operation = 'generateContent', endpoint: Endpoint = 'chat'): Case => ({
  endpoint,
  operation,
  body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], ...body },
});

test('gemini: the fuzz corpus is refused, naming the field', () => {
  const table: Array<[Case, string]> = [
    [generate({ contents: 5 }), 'contents'],
    [generate({ contents: undefined }), 'contents'],
    [generate({ contents: [5] }), 'contents.0'],
    [generate({ contents: [{ role: 'user', parts: 'hi' }] }), 'contents.0.parts'],
    [generate({ contents: [{ role: 'user', parts: ['hi'] }] }), 'contents.0.parts.0'],
    [generate({ systemInstruction: 'be nice' }), 'systemInstruction'],
    [generate({ system_instruction: { parts: 'be nice' } }), 'system_instruction.parts'],
    [generate({ tools: {} }), 'tools'],
    [generate({ generationConfig: 'fast' }), 'generationConfig'],
    [generate({ generationConfig: { maxOutputTokens: 1e308 } }), 'generationConfig.maxOutputTokens'],
    [generate({ generationConfig: { maxOutputTokens: -5 } }), 'generationConfig.maxOutputTokens'],
    [generate({ generation_config: { max_output_tokens: '100' } }), 'generation_config.max_output_tokens'],
    [generate({ generationConfig: { candidateCount: 0 } }), 'generationConfig.candidateCount'],
    [generate({ generationConfig: { imageConfig: { imageSize: 4 } } }, 'generateContent', 'images'), 'generationConfig.imageConfig.imageSize'],
    [generate({ contents: deep(100_000, {}) }), 'contents'],
  ];
  for (const [c, field] of table) refuses('gemini', c, field);
});

test('gemini: camelCase and snake_case alike; stream by method; the model is in the path', () => {
  const camel = read('gemini', generate({ generationConfig: { maxOutputTokens: 256, candidateCount: 2 }, systemInstruction: { parts: [{ text: 'Be a cat.' }] } }));
  assert.equal(camel.maxOutputTokens, 512);
  assert.equal(camel.stream, false);
  assert.equal(camel.model, undefined);
  const snake = read('gemini', generate({ generation_config: { max_output_tokens: 100, candidate_count: 3 }, system_instruction: { parts: [{ text: 'Be a dog.' }] } }, 'streamGenerateContent'));
  assert.equal(snake.maxOutputTokens, 300);
  assert.equal(snake.stream, true);
  const img = read('gemini', generate({ generationConfig: { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '4K' } } }, 'generateContent', 'images'));
  assert.deepEqual(img.image, { size: '4K' });
  assert.equal(img.maxOutputTokens, undefined);
  assert.equal(read('gemini', generate({ contents: [{ role: 'user' }] })).inputTokens, 0, 'a content without parts is accepted (the API decides)');
});
