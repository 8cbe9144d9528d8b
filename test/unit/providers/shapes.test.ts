// Each API's own shapes: error bodies (so official SDKs raise their own error classes with our
// stable code inside), model lists and the request-id headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { ModelListing } from '../../../src/providers/provider.ts';

const { openai, anthropic, gemini } = PROVIDER_MODULES;

test('errorBody: OpenAI {error:{message,type,param,code}}, type by status', () => {
  const types: Array<[number, string]> = [
    [400, 'invalid_request_error'], [401, 'authentication_error'], [402, 'insufficient_quota'], [403, 'permission_error'],
    [404, 'invalid_request_error'], [413, 'invalid_request_error'], [429, 'rate_limit_error'], [409, 'invalid_request_error'],
    [500, 'server_error'], [502, 'server_error'], [503, 'server_error'], [504, 'server_error'],
  ];
  for (const [status, type] of types) {
    assert.deepEqual(openai.errorBody(status, 'SOME_CODE', 'What went wrong.', 'req_1'), { error: { message: 'What went wrong.', type, param: null, code: 'SOME_CODE' } }, String(status));
  }
});

test('errorBody: Anthropic {type:"error",error:{type,message,code},request_id}, type by status', () => {
  const types: Array<[number, string]> = [
    [400, 'invalid_request_error'], [401, 'authentication_error'], [402, 'billing_error'], [403, 'permission_error'],
    [404, 'not_found_error'], [413, 'request_too_large'], [429, 'rate_limit_error'], [500, 'api_error'],
    [502, 'api_error'], [503, 'overloaded_error'], [504, 'api_error'], [409, 'api_error'],
  ];
  for (const [status, type] of types) {
    assert.deepEqual(
      anthropic.errorBody(status, 'SOME_CODE', 'What went wrong.', 'req_1'),
      { type: 'error', error: { type, message: 'What went wrong.', code: 'SOME_CODE' }, request_id: 'req_1' },
      String(status),
    );
  }
});

test('errorBody: Gemini google.rpc.Status with our code as the ErrorInfo reason', () => {
  const statuses: Array<[number, string]> = [
    [400, 'INVALID_ARGUMENT'], [401, 'UNAUTHENTICATED'], [402, 'FAILED_PRECONDITION'], [403, 'PERMISSION_DENIED'],
    [404, 'NOT_FOUND'], [413, 'INVALID_ARGUMENT'], [429, 'RESOURCE_EXHAUSTED'], [500, 'INTERNAL'],
    [502, 'UNAVAILABLE'], [503, 'UNAVAILABLE'], [504, 'DEADLINE_EXCEEDED'], [409, 'UNKNOWN'],
  ];
  for (const [status, s] of statuses) {
    assert.deepEqual(
      gemini.errorBody(status, 'SOME_CODE', 'What went wrong.', 'req_1'),
      { error: { code: status, message: 'What went wrong.', status: s, details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SOME_CODE', domain: 'surety' }] } },
      String(status),
    );
  }
});

const MODELS: ModelListing[] = [
  { id: 'gpt-4o-mini', provider: 'openai', updatedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678), apis: ['openai.chat', 'openai.responses'] },
  { id: 'claude-sonnet-4-5', provider: 'anthropic', updatedAt: Date.UTC(2026, 1, 3), apis: ['anthropic.messages'] },
];

test('model lists in each API shape', () => {
  assert.deepEqual(openai.modelList(MODELS), {
    object: 'list',
    data: [
      { id: 'gpt-4o-mini', object: 'model', created: Math.floor(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000), owned_by: 'openai', apis: ['openai.chat', 'openai.responses'] },
      { id: 'claude-sonnet-4-5', object: 'model', created: Date.UTC(2026, 1, 3) / 1000, owned_by: 'anthropic', apis: ['anthropic.messages'] },
    ],
  });
  assert.deepEqual(anthropic.modelList(MODELS), {
    data: [
      { type: 'model', id: 'gpt-4o-mini', display_name: 'gpt-4o-mini', created_at: '2026-01-02T03:04:05.678Z' },
      { type: 'model', id: 'claude-sonnet-4-5', display_name: 'claude-sonnet-4-5', created_at: '2026-02-03T00:00:00.000Z' },
    ],
    has_more: false,
    first_id: 'gpt-4o-mini',
    last_id: 'claude-sonnet-4-5',
  });
  assert.deepEqual(anthropic.modelList([]), { data: [], has_more: false, first_id: null, last_id: null });
  assert.deepEqual(gemini.modelList(MODELS.slice(0, 1)), {
    models: [{ name: 'models/gpt-4o-mini', displayName: 'gpt-4o-mini', supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'] }],
  });
  assert.deepEqual(gemini.modelEntry(MODELS[1]!), { name: 'models/claude-sonnet-4-5', displayName: 'claude-sonnet-4-5', supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'] });
});

test('request id headers: Anthropic SDKs read request-id', () => {
  assert.deepEqual(openai.requestIdHeaders('req_1'), { 'x-request-id': 'req_1' });
  assert.deepEqual(anthropic.requestIdHeaders('req_1'), { 'x-request-id': 'req_1', 'request-id': 'req_1' });
  assert.deepEqual(gemini.requestIdHeaders('req_1'), { 'x-request-id': 'req_1' });
});
