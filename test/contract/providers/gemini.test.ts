// The Gemini module against recorded generateContent / streamGenerateContent payloads and error bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { billableUsage as billable } from '../../../src/providers/billable.ts';
import { gemini } from '../../../src/providers/gemini/index.ts';
import { delivered, failure, json, response, stream, streamCut } from './replay.ts';

const CONTENTS = { contents: [{ role: 'user', parts: [{ text: 'Tell me a story about a fox.' }] }] };

test('generate: cached content is inside the prompt count, tool-use prompt on top; thoughts are output', () => {
  const body = json('gemini', 'generate.json') as { usageMetadata: unknown };
  const r = gemini.readResponse('chat', body, {});
  assert.equal(r.raw, body.usageMetadata);
  // input = 20458 − 20000 + 100; output = 310 + 232
  assert.deepEqual(r.billable, billable({ input_tokens: 558, cached_input_tokens: 20000, output_tokens: 542, reasoning_tokens: 232 }));
  assert.deepEqual(r.delivered, delivered('**Comparing the two plans**\n\nI weighed cost against speed.' + '{"plan":"pro"}' + 'The Pro plan is cheaper per request.'));
  assert.equal(r.refused, false);
  assert.deepEqual(r.unknownUsage, []);
});

test('RECITATION is a refusal in JSON and in a stream alike', () => {
  const r = response('gemini', 'chat', 'generate-recitation.json');
  assert.equal(r.refused, true);
  assert.deepEqual(r.billable, billable({ input_tokens: 12, output_tokens: 7 }));
  const s = stream('gemini', 'chat', 'stream-recitation.sse');
  assert.equal(s.refused, true);
  assert.equal(s.complete, true);
  assert.deepEqual(s.billable, billable({ input_tokens: 12, output_tokens: 7 }));
});

test('a blocked prompt: refused, its prompt tokens reported; as a stream it is one complete chunk', () => {
  const r = response('gemini', 'chat', 'generate-blocked.json');
  assert.equal(r.refused, true);
  assert.deepEqual(r.billable, billable({ input_tokens: 9 }));
  const s = stream('gemini', 'chat', 'stream-blocked.sse');
  assert.equal(s.refused, true);
  assert.equal(s.complete, true);
  assert.deepEqual(s.billable, billable({ input_tokens: 9 }));
});

test('audio input is billed as input and flagged (priced apart by Google)', () => {
  const r = response('gemini', 'chat', 'generate-audio-input.json');
  assert.deepEqual(r.billable, billable({ input_tokens: 1510, output_tokens: 11 }));
  assert.deepEqual(r.unknownUsage, ['promptTokensDetails.AUDIO']);
});

test('an unknown usageMetadata field is listed', () => {
  const body = json('gemini', 'generate.json') as { usageMetadata: Record<string, unknown> };
  body.usageMetadata.serverToolUseCount = 2;
  assert.deepEqual(gemini.readResponse('chat', body, {}).unknownUsage, ['serverToolUseCount']);
});

test('image model: inline images delivered, IMAGE output tokens apart, size from the request', () => {
  const r = response('gemini', 'images', 'image.json', { size: '4K' });
  assert.deepEqual(r.delivered, delivered('Here is your nano banana.', 1));
  assert.deepEqual(r.billable, billable({ input_tokens: 12, output_tokens: 9, image_output_tokens: 1120, images: 1, image_size: '4k' }));
  assert.equal(r.refused, false);
  assert.deepEqual(r.unknownUsage, []);
});

test('image model: IMAGE_SAFETY with no image is a refusal; with an image delivered it is not', () => {
  const blocked = response('gemini', 'images', 'image-safety.json');
  assert.equal(blocked.refused, true);
  assert.deepEqual(blocked.billable, billable({ input_tokens: 14 }));
  const oneOfTwo = response('gemini', 'images', 'image-one-blocked.json');
  assert.equal(oneOfTwo.refused, false);
  assert.equal(oneOfTwo.billable?.images, 1);
});

test('stream: the last usageMetadata wins', () => {
  const s = stream('gemini', 'chat', 'stream.sse');
  assert.deepEqual(s.billable, billable({ input_tokens: 9, output_tokens: 130, reasoning_tokens: 120 }));
  assert.deepEqual(s.delivered, delivered('The quick brown fox jumps over the lazy dog.'));
  assert.equal(s.complete, true);
  assert.deepEqual(s.unknownUsage, []);
});

test('image stream: the inline image part is the delivered image', () => {
  const s = stream('gemini', 'images', 'stream-image.sse', { size: '2K' });
  assert.deepEqual(s.delivered, delivered('Here you go.', 1));
  assert.deepEqual(s.billable, billable({ input_tokens: 14, output_tokens: 4, image_output_tokens: 1120, images: 1, image_size: '2k' }));
});

test('stream cut by the client: the running usage is not final, output is estimated from what was delivered', () => {
  const s = streamCut('gemini', 'chat', 'stream.sse', 2);
  assert.equal(s.complete, false);
  assert.deepEqual(s.delivered, delivered('The quick brown fox'));
  assert.equal(s.billable?.estimated, true);
  assert.ok(gemini.estimateUsage('chat', CONTENTS, s.delivered, {}).output_tokens > 0);
  assert.ok(s.billable!.output_tokens >= Math.ceil(s.delivered.text_bytes / 4));
});

test('error bodies: each failure kind', () => {
  const table: Array<[number, string, string]> = [
    [400, 'error-400-api-key.json', 'upstream_auth'],
    [400, 'error-400-billing.json', 'out_of_credit'],
    [400, 'error-400-invalid.json', 'invalid_request'],
    [402, 'error-402-prepay.json', 'out_of_credit'],
    [403, 'error-403-permission.json', 'upstream_auth'],
    [404, 'error-404-model.json', 'not_found'],
    [429, 'error-429-quota.json', 'rate_limited'],
    [500, 'error-500-internal.json', 'server_error'],
    [503, 'error-503-overloaded.json', 'overloaded'],
    [504, 'error-504-deadline.json', 'server_error'],
  ];
  for (const [status, name, kind] of table) assert.equal(failure('gemini', status, name), kind, `${status} ${name}`);
});
