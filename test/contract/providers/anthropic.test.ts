// The Anthropic module against recorded Messages API payloads (JSON and SSE) and error bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { billableUsage as billable } from '../../../src/providers/billable.ts';
import { anthropic } from '../../../src/providers/anthropic/index.ts';
import { delivered, failure, json, response, stream, streamCut } from './replay.ts';

const MESSAGES = { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Weather in San Francisco?' }] };

test('message: input excludes cache reads and writes; thinking tokens are part of output', () => {
  const r = response('anthropic', 'chat', 'message.json');
  assert.deepEqual(r.billable, billable({ input_tokens: 2095, cached_input_tokens: 2051, cache_write_tokens: 2051, output_tokens: 503, reasoning_tokens: 120 }));
  assert.deepEqual(r.delivered, delivered('The user wants the weather.' + "I'll look that up." + JSON.stringify({ location: 'San Francisco, CA' })));
  assert.equal(r.refused, false);
  assert.deepEqual(r.unknownUsage, [], 'web fetches are free; 5-minute writes are cache writes');
});

test('compaction: the compaction pass is outside the top-level counts and billed once', () => {
  const body = json('anthropic', 'message-compaction.json') as { usage: unknown };
  const r = anthropic.readResponse('chat', body, {});
  assert.equal(r.raw, body.usage);
  // top-level (23000 in / 1000 out) = the message pass; plus the compaction pass (180000 / 3500)
  assert.deepEqual(r.billable, billable({ input_tokens: 203_000, output_tokens: 4_500 }));
  assert.deepEqual(r.unknownUsage, []);
  assert.ok(r.delivered.text_bytes > 0, 'the compaction summary is delivered content');
});

test('compaction iterations of another model (advisor) are billed at this model and flagged', () => {
  const body = json('anthropic', 'message-compaction.json') as { usage: { iterations: object[] } };
  body.usage.iterations.push({ type: 'advisor_message', model: 'claude-opus-4-6', input_tokens: 5000, output_tokens: 300, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  const r = anthropic.readResponse('chat', body, {});
  // non-compaction passes 23000 + 5000 exceed the top-level 23000: their sum is billed, plus compaction
  assert.deepEqual(r.billable, billable({ input_tokens: 208_000, output_tokens: 4_800 }));
  assert.deepEqual(r.unknownUsage, ['iterations.advisor_message']);
});

test('web search, 1-hour cache writes and fast mode are billed as tokens and flagged (no price for them)', () => {
  const r = response('anthropic', 'chat', 'message-web-search.json');
  assert.deepEqual(r.billable, billable({ input_tokens: 10682, cache_write_tokens: 1500, output_tokens: 510 }));
  assert.deepEqual(r.unknownUsage, ['cache_creation.ephemeral_1h_input_tokens', 'server_tool_use.web_search_requests', 'speed=fast']);
});

test('refusal: stop_reason refusal, in JSON and in a stream alike', () => {
  const r = response('anthropic', 'chat', 'message-refusal.json');
  assert.equal(r.refused, true);
  assert.deepEqual(r.billable, billable({ input_tokens: 41, output_tokens: 2 }));
  const s = stream('anthropic', 'chat', 'stream-refusal.sse');
  assert.equal(s.refused, true);
  assert.equal(s.complete, true);
  assert.deepEqual(s.billable, billable({ input_tokens: 41, output_tokens: 2 }));
});

test("stream: message_delta's zero cache counts do not erase message_start's", () => {
  const s = stream('anthropic', 'chat', 'stream.sse');
  assert.deepEqual(s.billable, billable({ input_tokens: 25, cache_write_tokens: 1200, cached_input_tokens: 3000, output_tokens: 89, reasoning_tokens: 12 }));
  assert.deepEqual(s.delivered, delivered('Let me solve this.' + 'Hello' + '! 日本' + '{"location": "San Fra' + 'ncisco"}'));
  assert.equal(s.complete, true);
  assert.equal(s.refused, false);
  assert.deepEqual(s.unknownUsage, []);
  const raw = s.raw as { message_start: { cache_read_input_tokens: number }; message_delta: { cache_read_input_tokens: number } };
  assert.equal(raw.message_start.cache_read_input_tokens, 3000, 'raw keeps both usage objects verbatim');
  assert.equal(raw.message_delta.cache_read_input_tokens, 0);
});

test('stream with a server tool: the cumulative input of message_delta (search results) wins', () => {
  const s = stream('anthropic', 'chat', 'stream-web-search.sse');
  assert.deepEqual(s.billable, billable({ input_tokens: 10682, output_tokens: 510 }));
  assert.deepEqual(s.unknownUsage, ['server_tool_use.web_search_requests']);
  assert.equal(s.complete, true);
});

test('stream with compaction: the iterations of the final message_delta are billed', () => {
  const s = stream('anthropic', 'chat', 'stream-compaction.sse');
  assert.deepEqual(s.billable, billable({ input_tokens: 203_000, output_tokens: 4_500 }));
  assert.ok(s.delivered.text_bytes > 0);
});

test('stream cut by the client before message_delta: output estimated from what was delivered', () => {
  const s = streamCut('anthropic', 'chat', 'stream.sse', 9);
  assert.equal(s.complete, false);
  assert.deepEqual(s.delivered, delivered('Let me solve this.' + 'Hello' + '! 日本'));
  assert.equal(s.billable?.estimated, true);
  assert.equal(s.billable?.cached_input_tokens, 3000);
  assert.equal(s.billable?.output_tokens, Math.ceil(s.delivered.text_bytes / 4));
  assert.ok(anthropic.estimateUsage('chat', MESSAGES, s.delivered, {}).output_tokens > 0);
});

test('error bodies: each failure kind', () => {
  const table: Array<[number, string, string]> = [
    [400, 'error-400-credit-balance.json', 'out_of_credit'],
    [402, 'error-402-billing.json', 'out_of_credit'],
    [400, 'error-400-invalid.json', 'invalid_request'],
    [401, 'error-401-auth.json', 'upstream_auth'],
    [403, 'error-403-permission.json', 'upstream_auth'],
    [404, 'error-404-not-found.json', 'not_found'],
    [413, 'error-413-too-large.json', 'invalid_request'],
    [429, 'error-429-rate-limit.json', 'rate_limited'],
    [500, 'error-500-api.json', 'server_error'],
    [504, 'error-504-timeout.json', 'server_error'],
    [529, 'error-529-overloaded.json', 'overloaded'],
  ];
  for (const [status, name, kind] of table) assert.equal(failure('anthropic', status, name), kind, `${status} ${name}`);
});
