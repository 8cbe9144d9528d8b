// The OpenAI Responses API in the OpenAI provider module: usage (cached and reasoning tokens),
// delivered content and refusals of a response object and of its event stream, in any chunking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import { billableUsage } from '../../../src/providers/billable.ts';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { StreamFacts } from '../../../src/providers/provider.ts';
import { SseParser } from '../../../src/providers/sse.ts';

const openai = PROVIDER_MODULES.openai;

// As OpenAI documents a response (API reference, "The response object"), trimmed.
const USAGE = { input_tokens: 328, input_tokens_details: { cached_tokens: 128 }, output_tokens: 52, output_tokens_details: { reasoning_tokens: 20 }, total_tokens: 380 };
const RESPONSE = {
  id: 'resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41',
  object: 'response',
  created_at: 1741476777,
  status: 'completed',
  model: 'gpt-4o-2024-08-06',
  output: [
    { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'Thinking.' }] },
    { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'In a peaceful grove', annotations: [] }] },
    { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{"a":1}', status: 'completed' },
  ],
  incomplete_details: null,
  usage: USAGE,
};

test('a response object: input includes cached tokens, output includes reasoning; raw kept verbatim', () => {
  const r = openai.readResponse('chat', RESPONSE, {});
  assert.equal(r.raw, RESPONSE.usage);
  assert.deepEqual(r.billable, billableUsage({ input_tokens: 200, cached_input_tokens: 128, output_tokens: 52, reasoning_tokens: 20 }));
  assert.equal(r.delivered.text_chars, 'Thinking.'.length + 'In a peaceful grove'.length + '{"a":1}'.length);
  assert.equal(r.refused, false);
  assert.deepEqual(r.unknownUsage, []);
  const filtered = openai.readResponse('chat', { ...RESPONSE, status: 'incomplete', incomplete_details: { reason: 'content_filter' } }, {});
  assert.equal(filtered.refused, true, 'a response cut by the content filter is a refusal');
  assert.deepEqual(openai.readResponse('chat', { ...RESPONSE, usage: { ...USAGE, audio_tokens: 3 } }, {}).unknownUsage, ['audio_tokens']);
});

const ev = (type: string, o: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
const STREAM = [
  ev('response.created', { sequence_number: 0, response: { ...RESPONSE, status: 'in_progress', output: [], usage: null } }),
  ev('response.output_item.added', { sequence_number: 1, output_index: 0, item: { type: 'message', id: 'msg_1', role: 'assistant', content: [] } }),
  ev('response.output_text.delta', { sequence_number: 2, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'In a ' }),
  ev('response.output_text.delta', { sequence_number: 3, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'peaceful grove' }),
  ev('response.output_text.done', { sequence_number: 4, item_id: 'msg_1', output_index: 0, content_index: 0, text: 'In a peaceful grove' }),
  ev('response.completed', { sequence_number: 5, response: RESPONSE }),
].join('');

function run(sse: string, size: number): StreamFacts {
  const reader = openai.streamReader('chat', {});
  const parser = new SseParser();
  const buf = Buffer.from(sse);
  for (let i = 0; i < buf.length; i += size) for (const e of parser.push(buf.subarray(i, i + size))) reader.feed(e);
  for (const e of parser.end()) reader.feed(e);
  return reader.result();
}

test('a Responses stream: deltas delivered, usage from response.completed, complete; the same in every chunking', () => {
  const whole = run(STREAM, STREAM.length);
  for (const size of [1, 5, 64]) assert.deepEqual(run(STREAM, size), whole);
  assert.equal(whole.complete, true);
  assert.deepEqual(whole.billable, billableUsage({ input_tokens: 200, cached_input_tokens: 128, output_tokens: 52, reasoning_tokens: 20 }));
  assert.equal(whole.delivered.text_chars, 'In a peaceful grove'.length);
  assert.equal(whole.malformed, 0);
});

test('a Responses stream cut before response.completed is not complete and has no final usage', () => {
  const cut = STREAM.slice(0, STREAM.indexOf('event: response.completed'));
  const s = run(cut, cut.length);
  assert.equal(s.complete, false);
  assert.equal(s.billable, null);
  assert.equal(s.delivered.text_chars, 'In a peaceful grove'.length);
});

test('Responses requests: input validated, max_output_tokens read, input text estimated; streams pass unfiltered', () => {
  const facts = openai.readRequest('chat', 'responses', { model: 'gpt-4o-mini', instructions: 'Be brief.', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello there' }] }], max_output_tokens: 300 }, { maxImages: 1 });
  assert.equal(facts.maxOutputTokens, 300);
  assert.equal(facts.inputTokens, Math.ceil(Buffer.byteLength('Be brief.\nHello there') / 4));
  assert.throws(() => openai.readRequest('chat', 'responses', { model: 'gpt-4o-mini' }, { maxImages: 1 }), /input: is required/);
  assert.throws(() => openai.readRequest('chat', 'responses', { model: 'gpt-4o-mini', input: 'x', max_output_tokens: 0 }, { maxImages: 1 }), /max_output_tokens/);
  assert.equal(openai.clientStreamFilter!('chat', { model: 'gpt-4o-mini', input: 'x', stream: true }), null);
  assert.equal(openai.path({ provider: 'openai', operation: 'responses', endpoint: 'chat', stream: true, upstreamModel: 'gpt-4o-mini' }), '/v1/responses');
  assert.equal(openai.rewrite({ model: 'gpt-4o-mini', input: 'x', stream: true }, { provider: 'openai', operation: 'responses', endpoint: 'chat', stream: true, upstreamModel: 'gpt-4o-mini' }), null, 'no stream_options added');
});
