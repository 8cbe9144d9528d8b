// The upstream side of each module: base URLs, paths, headers, body rewriting, failure kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { UpstreamCall } from '../../../src/providers/provider.ts';

const { openai, anthropic, gemini } = PROVIDER_MODULES;

const call = (c: Partial<UpstreamCall>): UpstreamCall => ({ provider: 'openai', operation: 'chat', endpoint: 'chat', stream: false, upstreamModel: 'gpt-4o-mini', ...c });

test('base URLs with or without the version segment', () => {
  assert.equal(openai.normaliseBaseUrl('https://api.openai.com/v1/'), 'https://api.openai.com');
  assert.equal(openai.normaliseBaseUrl('https://proxy.example/openai'), 'https://proxy.example/openai');
  assert.equal(anthropic.normaliseBaseUrl('https://api.anthropic.com/v1'), 'https://api.anthropic.com');
  for (const v of ['', '/v1', '/v1beta', '/v1alpha', '/v1beta/']) assert.equal(gemini.normaliseBaseUrl(`https://generativelanguage.googleapis.com${v}`), 'https://generativelanguage.googleapis.com');
});

test('paths', () => {
  assert.equal(openai.path(call({})), '/v1/chat/completions');
  assert.equal(openai.path(call({ operation: 'embeddings', endpoint: 'embeddings' })), '/v1/embeddings');
  assert.equal(openai.path(call({ operation: 'images.generations', endpoint: 'images' })), '/v1/images/generations');
  assert.equal(openai.path(call({ operation: 'images.edits', endpoint: 'images' })), '/v1/images/edits');
  assert.equal(anthropic.path(call({ provider: 'anthropic', operation: 'messages' })), '/v1/messages');
  const g = call({ provider: 'gemini', operation: 'generateContent', upstreamModel: 'gemini-3-pro-image-preview' });
  assert.equal(gemini.path(g), '/v1beta/models/gemini-3-pro-image-preview:generateContent');
  assert.equal(gemini.path({ ...g, operation: 'streamGenerateContent', stream: true }), '/v1beta/models/gemini-3-pro-image-preview:streamGenerateContent?alt=sse');
  assert.equal(gemini.path({ ...g, upstreamModel: 'tuned/a b' }), '/v1beta/models/tuned%2Fa%20b:generateContent');
});

test('headers: our key; Anthropic version and beta headers of the client pass through', () => {
  assert.deepEqual(openai.headers('sk-up', { authorization: 'Bearer sk-sur-client' }), { authorization: 'Bearer sk-up' });
  assert.deepEqual(anthropic.headers('sk-ant', {}), { 'x-api-key': 'sk-ant', 'anthropic-version': '2023-06-01' });
  assert.deepEqual(anthropic.headers('sk-ant', { 'anthropic-version': '2024-01-01', 'anthropic-beta': ['compact-2026-01-12', 'context-1m-2025-08-07'] }), {
    'x-api-key': 'sk-ant',
    'anthropic-version': '2024-01-01',
    'anthropic-beta': 'compact-2026-01-12,context-1m-2025-08-07',
  });
  assert.deepEqual(gemini.headers('AIza-up', { 'x-goog-api-key': 'sk-sur-client' }), { 'x-goog-api-key': 'AIza-up' });
});

test('rewrite: the upstream model name, include_usage on OpenAI chat streams, never the client body itself', () => {
  const body = { model: 'gpt-4o-mini', messages: [], stream: true };
  assert.equal(openai.rewrite({ ...body, stream: false }, call({})), null, 'nothing to change: the client bytes are forwarded');
  const streamed = openai.rewrite(body, call({ stream: true }));
  assert.deepEqual(streamed, { ...body, stream_options: { include_usage: true } });
  assert.deepEqual(body, { model: 'gpt-4o-mini', messages: [], stream: true }, 'the input is not mutated');
  assert.equal(openai.rewrite({ ...body, stream_options: { include_usage: true } }, call({ stream: true })), null);
  assert.deepEqual(openai.rewrite({ ...body, stream_options: { include_obfuscation: false } }, call({ stream: true, upstreamModel: 'gpt-4o-mini-2024-07-18' })), {
    ...body,
    model: 'gpt-4o-mini-2024-07-18',
    stream_options: { include_obfuscation: false, include_usage: true },
  });
  assert.deepEqual(openai.rewrite({ model: 'img', prompt: 'x', stream: true }, call({ operation: 'images.generations', endpoint: 'images', stream: true, upstreamModel: 'img' })), null);
  assert.equal(anthropic.rewrite({ model: 'claude' }, call({ upstreamModel: 'claude' })), null);
  assert.deepEqual(anthropic.rewrite({ model: 'claude' }, call({ upstreamModel: 'claude-sonnet-4-5-20250929' })), { model: 'claude-sonnet-4-5-20250929' });
  assert.equal(gemini.rewrite({ contents: [] }, call({ upstreamModel: 'other' })), null);
});

test('classifyStatus by status alone, for every provider', () => {
  const table: Array<[number, string]> = [
    [429, 'rate_limited'], [402, 'out_of_credit'], [503, 'overloaded'], [529, 'overloaded'], [500, 'server_error'], [502, 'server_error'],
    [504, 'server_error'], [408, 'server_error'], [401, 'upstream_auth'], [403, 'upstream_auth'], [404, 'not_found'], [400, 'invalid_request'],
    [413, 'invalid_request'], [422, 'invalid_request'],
  ];
  for (const m of [openai, anthropic, gemini]) for (const [status, kind] of table) assert.equal(m.classifyStatus(status, ''), kind, `${m.name} ${status}`);
  // A body cut at 4 KiB is still classified by what it shows.
  assert.equal(openai.classifyStatus(429, '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insuff'), 'out_of_credit');
  assert.equal(anthropic.classifyStatus(400, '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}'), 'invalid_request');
  assert.equal(openai.classifyStatus(400, 'Your request was rejected as a result of our safety system.'), 'moderation');
});
