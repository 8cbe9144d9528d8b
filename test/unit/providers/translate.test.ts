// Translation between the chat APIs, pinned mapping by mapping: requests in every direction,
// recorded provider answers (test/contract/providers/fixtures) into each caller's shape, and
// recorded streams into each caller's event sequence, whatever their chunking.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import { isAppError } from '../../../src/kernel/errors.ts';
import type { Provider } from '../../../src/providers/provider.ts';
import { SseParser } from '../../../src/providers/sse.ts';
import { decodeRequest, encodeRequest, streamTranslator, translateResponse, upstreamErrorMessage, type ClientEvent, type Dialect } from '../../../src/providers/translate/index.ts';

const fixture = (p: Provider, name: string) => readFileSync(new URL(`../../contract/providers/fixtures/${p}/${name}`, import.meta.url), 'utf8');
const ctx = { model: 'the-model', request: {}, requestId: 'req_1', created: 1_790_000_000 };
const translate = (client: Dialect, upstream: Provider, body: Record<string, unknown>, stream = false) => encodeRequest(decodeRequest(client, body, stream, upstream), upstream, 'up-model');

/** Refused with TRANSLATION_UNSUPPORTED (or VALIDATION) naming `field`. */
function refuses(fn: () => unknown, field: string, code = 'TRANSLATION_UNSUPPORTED'): void {
  assert.throws(fn, (e: unknown) => isAppError(e) && e.code === code && e.details?.field === field && e.message.startsWith(`${field}:`));
}

const PNG = 'iVBORw0KGgo=';
const OPENAI_CHAT = {
  model: 'claude-x',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'What is here?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }, { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{"where":"here"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
    { role: 'user', content: 'And now?' },
  ],
  max_tokens: 256,
  temperature: 0.2,
  top_p: 0.9,
  stop: 'END',
  tools: [{ type: 'function', function: { name: 'look', description: 'Look around', parameters: { type: 'object', properties: { where: { type: 'string' } } } } }],
  tool_choice: 'required',
  parallel_tool_calls: false,
  response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } }, strict: true } },
  reasoning_effort: 'high',
  user: 'u-42',
  stream: true,
  stream_options: { include_usage: true },
};

test('OpenAI chat → Anthropic Messages: system, turns, images, tool calls and results, stop, limits, tools, JSON schema, effort', () => {
  assert.deepEqual(translate('openai', 'anthropic', OPENAI_CHAT, true), {
    model: 'up-model',
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'What is here?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }, { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'look', input: { where: 'here' } }] },
      // The tool result leads the user turn it was merged into.
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'a cat' }, { type: 'text', text: 'And now?' }] },
    ],
    max_tokens: 256,
    system: 'Be brief.',
    stream: true,
    temperature: 0.2,
    top_p: 0.9,
    stop_sequences: ['END'],
    tools: [{ name: 'look', description: 'Look around', input_schema: { type: 'object', properties: { where: { type: 'string' } } } }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    output_config: { format: { type: 'json_schema', schema: { type: 'object', properties: { a: { type: 'string' } } } }, effort: 'high' },
    metadata: { user_id: 'u-42' },
  });
});

test('OpenAI chat → Gemini: contents and roles, inline and file images, function calls and responses by name, generationConfig', () => {
  assert.deepEqual(translate('openai', 'gemini', OPENAI_CHAT, true), {
    contents: [
      { role: 'user', parts: [{ text: 'What is here?' }, { inlineData: { mimeType: 'image/png', data: PNG } }, { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.jpg' } }] },
      { role: 'model', parts: [{ functionCall: { name: 'look', args: { where: 'here' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'look', response: { result: 'a cat' } } }, { text: 'And now?' }] },
    ],
    systemInstruction: { parts: [{ text: 'Be brief.' }] },
    tools: [{ functionDeclarations: [{ name: 'look', description: 'Look around', parametersJsonSchema: { type: 'object', properties: { where: { type: 'string' } } } }] }],
    toolConfig: { functionCallingConfig: { mode: 'ANY' } },
    generationConfig: {
      maxOutputTokens: 256,
      temperature: 0.2,
      topP: 0.9,
      stopSequences: ['END'],
      responseMimeType: 'application/json',
      responseJsonSchema: { type: 'object', properties: { a: { type: 'string' } } },
      thinkingConfig: { thinkingBudget: 24576 },
    },
  });
});

const ANTHROPIC_MESSAGES = {
  model: 'gpt-x',
  system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
  max_tokens: 100,
  stop_sequences: ['STOP'],
  temperature: 0.7,
  messages: [
    { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/webp', data: PNG } }, { type: 'text', text: 'Weather?' }] },
    { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 'sig' }, { type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Oslo' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '12C' }] }] },
  ],
  tools: [{ name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
  tool_choice: { type: 'tool', name: 'weather' },
  metadata: { user_id: 'u-7' },
  stream: false,
};

test('Anthropic Messages → OpenAI chat: system blocks, thinking dropped, tool_use and tool_result as tool_calls and a tool message', () => {
  assert.deepEqual(translate('anthropic', 'openai', ANTHROPIC_MESSAGES), {
    model: 'up-model',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/webp;base64,${PNG}` } }, { type: 'text', text: 'Weather?' }] },
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: '12C' },
    ],
    max_completion_tokens: 100,
    temperature: 0.7,
    stop: ['STOP'],
    tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    tool_choice: { type: 'function', function: { name: 'weather' } },
    user: 'u-7',
  });
});

test('Anthropic Messages → Gemini, and Gemini → OpenAI and → Anthropic (calls matched to responses by name)', () => {
  const g = translate('anthropic', 'gemini', ANTHROPIC_MESSAGES) as { contents: unknown[]; toolConfig: unknown };
  assert.deepEqual(g.contents[2], { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { result: '12C' } } }] });
  assert.deepEqual(g.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } });
  const gemini = {
    systemInstruction: { parts: [{ text: 'Be kind.' }] },
    contents: [
      { role: 'user', parts: [{ text: 'Price?' }] },
      { role: 'model', parts: [{ text: 'thinking…', thought: true }, { functionCall: { name: 'get_price', args: { plan: 'pro' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_price', response: { usd: 5 } } }] },
    ],
    tools: [{ functionDeclarations: [{ name: 'get_price', parameters: { type: 'OBJECT', properties: { plan: { type: 'STRING' } } } }] }],
    generationConfig: { maxOutputTokens: 50, topK: 3, responseMimeType: 'application/json' },
    safetySettings: [{ category: 'HARM_CATEGORY_HATE_SPEECH', threshold: 'BLOCK_NONE' }],
  };
  const o = translate('gemini', 'openai', { ...gemini, generationConfig: { maxOutputTokens: 50, responseMimeType: 'application/json' } }) as Record<string, unknown>;
  assert.deepEqual(o.messages, [
    { role: 'system', content: 'Be kind.' },
    { role: 'user', content: 'Price?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_0_get_price', type: 'function', function: { name: 'get_price', arguments: '{"plan":"pro"}' } }] },
    { role: 'tool', tool_call_id: 'call_0_get_price', content: '{"usd":5}' },
  ]);
  assert.deepEqual(o.tools, [{ type: 'function', function: { name: 'get_price', parameters: { type: 'object', properties: { plan: { type: 'string' } } } } }], 'OpenAPI types as JSON Schema');
  assert.deepEqual(o.response_format, { type: 'json_object' });
  refuses(() => translate('gemini', 'openai', gemini), 'generationConfig.topK', 'TRANSLATION_UNSUPPORTED');
  refuses(() => translate('gemini', 'anthropic', gemini), 'generationConfig.responseMimeType');
  const a = translate('gemini', 'anthropic', { ...gemini, generationConfig: { maxOutputTokens: 50, topK: 3 } }) as Record<string, unknown>;
  assert.equal(a.top_k, 3);
  assert.deepEqual((a.messages as unknown[])[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_0_get_price', content: '{"usd":5}' }] });
});

test('unmappable parameters are refused naming them; documented ones are dropped', () => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
  refuses(() => translate('openai', 'anthropic', { ...base, logit_bias: { '1': 2 } }), 'logit_bias');
  refuses(() => translate('openai', 'anthropic', { ...base, n: 3 }), 'n');
  refuses(() => translate('openai', 'anthropic', { ...base, seed: 1 }), 'seed');
  refuses(() => translate('openai', 'anthropic', { ...base, temperature: 1.5 }), 'temperature');
  refuses(() => translate('openai', 'gemini', { ...base, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), 'messages.0.content.0.type=input_audio');
  refuses(() => translate('openai', 'gemini', { ...base, some_new_param: 1 }), 'some_new_param');
  refuses(() => translate('anthropic', 'openai', { ...base, max_tokens: 5, mcp_servers: [{}] }), 'mcp_servers');
  refuses(() => translate('openai', 'gemini', { ...base, messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }), 'messages', 'VALIDATION');
  // Dropped: store, metadata, service_tier (OpenAI); cache_control, service_tier (Anthropic); safetySettings (Gemini).
  assert.deepEqual(translate('openai', 'anthropic', { ...base, store: true, metadata: { a: '1' }, service_tier: 'auto' }), { model: 'up-model', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }], max_tokens: 8192 });
});

/** The client events of a recorded upstream stream, fed in chunks of `size` bytes. */
function replay(upstream: Provider, client: Dialect, sse: string, size: number, request: Record<string, unknown> = {}): ClientEvent[] {
  const tr = streamTranslator(upstream, client, { ...ctx, request });
  const parser = new SseParser();
  const buf = Buffer.from(sse);
  const out: ClientEvent[] = [];
  for (let i = 0; i < buf.length; i += size) for (const ev of parser.push(buf.subarray(i, i + size))) out.push(...tr.feed(ev));
  for (const ev of parser.end()) out.push(...tr.feed(ev));
  return out;
}
function stream(upstream: Provider, client: Dialect, name: string, request: Record<string, unknown> = {}): ClientEvent[] {
  const sse = fixture(upstream, name);
  const whole = replay(upstream, client, sse, sse.length, request);
  for (const size of [1, 7, 64]) assert.deepEqual(replay(upstream, client, sse, size, request), whole, `chunks of ${size}`);
  return whole;
}
const datas = (evs: ClientEvent[]) => evs.map((e) => (e.data === '[DONE]' ? '[DONE]' : JSON.parse(e.data)));

test('recorded Anthropic answer → OpenAI chat completion: text, tool call, finish, usage with cache and reasoning', () => {
  const out = translateResponse('anthropic', 'openai', JSON.parse(fixture('anthropic', 'message.json')), ctx) as any;
  assert.equal(out.object, 'chat.completion');
  assert.equal(out.model, 'the-model');
  assert.deepEqual(out.choices[0].message, {
    role: 'assistant',
    content: "I'll look that up.",
    refusal: null,
    reasoning_content: 'The user wants the weather.',
    tool_calls: [{ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA"}' } }],
  });
  assert.equal(out.choices[0].finish_reason, 'tool_calls');
  // input 2095 + cache read 2051 + cache write 2051 = 6197 prompt tokens.
  assert.deepEqual(out.usage, {
    prompt_tokens: 6197,
    completion_tokens: 503,
    total_tokens: 6700,
    prompt_tokens_details: { cached_tokens: 2051, cache_write_tokens: 2051 },
    completion_tokens_details: { reasoning_tokens: 120 },
  });
});

test('recorded OpenAI and Gemini answers → Anthropic messages and Gemini responses', () => {
  const a = translateResponse('openai', 'anthropic', JSON.parse(fixture('openai', 'chat.json')), ctx) as any;
  assert.deepEqual(a.content, [{ type: 'text', text: 'The image shows a wooden boardwalk extending through a lush green marshland.' }]);
  assert.equal(a.stop_reason, 'end_turn');
  assert.deepEqual(a.usage, { input_tokens: 1117, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 46 });
  const g = translateResponse('gemini', 'anthropic', JSON.parse(fixture('gemini', 'generate.json')), ctx) as any;
  assert.deepEqual(g.content.map((b: { type: string }) => b.type), ['thinking', 'tool_use', 'text']);
  assert.deepEqual(g.content[1].input, { plan: 'pro' });
  assert.equal(g.stop_reason, 'tool_use');
  // prompt 20458 − cached 20000 + tool-use prompt 100 = 558 uncached input; output = 310 candidates + 232 thoughts.
  assert.deepEqual(g.usage, { input_tokens: 558, cache_creation_input_tokens: 0, cache_read_input_tokens: 20000, output_tokens: 542, output_tokens_details: { thinking_tokens: 232 } });
  const og = translateResponse('openai', 'gemini', JSON.parse(fixture('openai', 'chat.json')), ctx) as any;
  assert.equal(og.candidates[0].finishReason, 'STOP');
  assert.deepEqual(og.usageMetadata, { promptTokenCount: 1117, candidatesTokenCount: 46, totalTokenCount: 1163 });
  const refusal = translateResponse('anthropic', 'openai', JSON.parse(fixture('anthropic', 'message-refusal.json')), ctx) as any;
  assert.equal(refusal.choices[0].finish_reason, 'content_filter');
  const blocked = translateResponse('gemini', 'openai', JSON.parse(fixture('gemini', 'generate-blocked.json')), ctx) as any;
  assert.equal(blocked.choices[0].finish_reason, 'content_filter');
});

test('recorded Anthropic stream → OpenAI chunks: role, reasoning and text deltas, finish, the usage chunk only when asked, [DONE]', () => {
  const evs = datas(stream('anthropic', 'openai', 'stream.sse', { stream_options: { include_usage: true } }));
  assert.deepEqual(evs[0].choices[0].delta, { role: 'assistant', content: '' });
  assert.ok(evs.every((e) => e === '[DONE]' || e.object === 'chat.completion.chunk'));
  const text = evs.map((e) => (e === '[DONE]' ? '' : (e.choices[0]?.delta?.content ?? ''))).join('');
  assert.ok(text.startsWith('Hello! 日本'), text);
  assert.equal(evs.at(-1), '[DONE]');
  const usage = evs.at(-2);
  assert.deepEqual(usage.choices, []);
  assert.equal(usage.usage.prompt_tokens, 25 + 1200 + 3000);
  assert.equal(usage.usage.prompt_tokens_details.cached_tokens, 3000);
  assert.ok(evs.some((e) => e !== '[DONE]' && e.choices[0]?.finish_reason));
  const noUsage = datas(stream('anthropic', 'openai', 'stream.sse'));
  assert.ok(noUsage.every((e) => e === '[DONE]' || e.choices.length === 1), 'no usage chunk unless include_usage');
});

test('recorded OpenAI and Gemini streams → the Anthropic event sequence', () => {
  for (const [upstream, name] of [['openai', 'chat-stream.sse'], ['gemini', 'stream.sse']] as const) {
    const evs = stream(upstream, 'anthropic', name);
    const types = evs.map((e) => e.event);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.equal(types.at(-2), 'message_delta');
    assert.ok(types.includes('content_block_start') && types.includes('content_block_delta') && types.includes('content_block_stop'), `${upstream}: ${types.join(',')}`);
    for (const e of evs) assert.equal(JSON.parse(e.data).type, e.event, 'data.type names the event');
    const delta = JSON.parse(evs.at(-2)!.data);
    assert.ok(typeof delta.delta.stop_reason === 'string');
    assert.ok(delta.usage.output_tokens > 0 && delta.usage.input_tokens > 0, JSON.stringify(delta.usage));
    // Blocks open and close in order.
    let open = -1;
    for (const e of evs) {
      const d = JSON.parse(e.data);
      if (e.event === 'content_block_start') assert.equal(d.index, ++open);
      if (e.event === 'content_block_stop') assert.equal(d.index, open);
    }
  }
  const gem = stream('gemini', 'anthropic', 'stream.sse');
  assert.deepEqual(JSON.parse(gem.at(-2)!.data).usage, { input_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 130, output_tokens_details: { thinking_tokens: 120 } });
});

test('OpenAI tool-call deltas → Anthropic tool_use with input_json_delta, and → one Gemini functionCall at the end', () => {
  const chunk = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'g', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const sse = [
    chunk({ role: 'assistant', content: null }),
    chunk({ tool_calls: [{ index: 0, id: 'call_9', type: 'function', function: { name: 'f', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
    chunk({}, 'tool_calls'),
    `data: ${JSON.stringify({ id: 'c', choices: [], usage: { prompt_tokens: 10, completion_tokens: 5 } })}\n\n`,
    'data: [DONE]\n\n',
  ].join('');
  const a = stream2(sse, 'anthropic');
  assert.deepEqual(a.filter((e) => e.event === 'content_block_start').map((e) => JSON.parse(e.data).content_block), [{ type: 'tool_use', id: 'call_9', name: 'f', input: {} }]);
  assert.equal(a.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta.partial_json).join(''), '{"a":1}');
  assert.equal(JSON.parse(a.at(-2)!.data).delta.stop_reason, 'tool_use');
  const g = stream2(sse, 'gemini');
  assert.equal(g.length, 1, 'Gemini delivers whole function calls: one chunk at the end');
  const last = JSON.parse(g[0]!.data);
  assert.deepEqual(last.candidates[0].content.parts, [{ functionCall: { id: 'call_9', name: 'f', args: { a: 1 } } }]);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  assert.deepEqual(last.usageMetadata, { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 });
});

function stream2(sse: string, client: Provider): ClientEvent[] {
  return replay('openai', client, sse, sse.length);
}

test('a stream cut before its end marker is not closed by the translator (the gateway ends it with an error event)', () => {
  const sse = fixture('anthropic', 'stream.sse');
  const cut = sse.slice(0, sse.indexOf('event: message_delta'));
  const evs = replay('anthropic', 'openai', cut, cut.length, { stream_options: { include_usage: true } });
  assert.ok(evs.length > 2);
  assert.ok(!evs.some((e) => e.data === '[DONE]'));
});

test("upstream error bodies: each API's error.message", () => {
  assert.equal(upstreamErrorMessage(fixture('anthropic', 'error-400-invalid.json')), JSON.parse(fixture('anthropic', 'error-400-invalid.json')).error.message);
  assert.equal(upstreamErrorMessage(fixture('openai', 'error-400-content-policy.json')), JSON.parse(fixture('openai', 'error-400-content-policy.json')).error.message);
  assert.equal(upstreamErrorMessage(fixture('gemini', 'error-400-invalid.json')), JSON.parse(fixture('gemini', 'error-400-invalid.json')).error.message);
  assert.equal(upstreamErrorMessage('<html>bad gateway</html>'), null);
});

test('Responses API requests → Anthropic, and a recorded Anthropic stream → the Responses event sequence', () => {
  const body = {
    model: 'claude-x',
    instructions: 'Be brief.',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'Weather?' }, { type: 'input_image', image_url: `data:image/png;base64,${PNG}` }] },
      { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '12C' },
    ],
    tools: [{ type: 'function', name: 'weather', parameters: { type: 'object' } }],
    text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object' } } },
    max_output_tokens: 99,
    store: false,
  };
  assert.deepEqual(translate('responses', 'anthropic', body), {
    model: 'up-model',
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Oslo' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '12C' }] },
    ],
    max_tokens: 99,
    system: 'Be brief.',
    tools: [{ name: 'weather', input_schema: { type: 'object' } }],
    output_config: { format: { type: 'json_schema', schema: { type: 'object' } } },
  });
  refuses(() => translate('responses', 'gemini', { model: 'm', input: 'x', previous_response_id: 'r' }), 'previous_response_id');
  refuses(() => translate('responses', 'anthropic', { model: 'm', input: 'x', text: { format: { type: 'json_object' } } }), 'text.format');

  const evs = stream('anthropic', 'responses', 'stream.sse');
  const types = evs.map((e) => e.event);
  assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
  assert.equal(types.at(-1), 'response.completed');
  const seqs = evs.map((e) => JSON.parse(e.data).sequence_number);
  assert.deepEqual(seqs, seqs.map((_, i) => i), 'sequence numbers count up');
  const final = JSON.parse(evs.at(-1)!.data).response;
  assert.deepEqual(final.output.map((o: { type: string }) => o.type), ['reasoning', 'message', 'function_call']);
  assert.ok(final.output_text.startsWith('Hello! 日本'));
  assert.deepEqual(final.usage, { input_tokens: 4225, input_tokens_details: { cached_tokens: 3000 }, output_tokens: 89, output_tokens_details: { reasoning_tokens: 12 }, total_tokens: 4314 });
  const added = evs.filter((e) => e.event === 'response.output_item.added').length;
  assert.equal(added, evs.filter((e) => e.event === 'response.output_item.done').length, 'every item opened is closed');
});
