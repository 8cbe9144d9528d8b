// The outcome policy: every outcome, for every provider, streamed and not. Attempts are read by the
// real provider modules from realistic payloads, then judged; refusals map from their error codes;
// billing follows the outcome table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERRORS, type ErrorCode } from '../../../src/kernel/errors.ts';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import { PROVIDERS, type Provider } from '../../../src/providers/provider.ts';
import { createSseParser } from '../../../src/providers/sse.ts';
import type { BillableUsage, Endpoint } from '../../../src/providers/types.ts';
import { OUTCOMES, type Outcome } from '../../../src/requests/outcomes.ts';
import { billableUsage, exhausted, judgeAttempt, outcomeOfRefusal, type AttemptResult } from '../../../src/requests/policy.ts';

// ---- payloads per provider: an answer, a refusal, and a stream of each ----

const OK: Record<Provider, unknown> = {
  openai: { id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } },
  anthropic: { id: 'm', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hello!' }], stop_reason: 'end_turn', usage: { input_tokens: 9, output_tokens: 3 } },
  gemini: { candidates: [{ content: { role: 'model', parts: [{ text: 'Hello!' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 3, totalTokenCount: 12 } },
};
const REFUSED: Record<Provider, unknown> = {
  openai: { choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null }, finish_reason: 'content_filter' }], usage: { prompt_tokens: 9, completion_tokens: 0 } },
  anthropic: { type: 'message', content: [], stop_reason: 'refusal', usage: { input_tokens: 9, output_tokens: 0 } },
  gemini: { candidates: [{ content: { parts: [] }, finishReason: 'SAFETY' }], usageMetadata: { promptTokenCount: 9 } },
};
const sse = (events: Array<{ event?: string; data: unknown }>) => events.map((e) => `${e.event ? `event: ${e.event}\n` : ''}data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`).join('');
const STREAM_OK: Record<Provider, string> = {
  openai: sse([
    { data: { choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' } }] } },
    { data: { choices: [{ index: 0, delta: { content: 'lo!' }, finish_reason: 'stop' }] } },
    { data: { choices: [], usage: { prompt_tokens: 9, completion_tokens: 3 } } },
    { data: '[DONE]' },
  ]),
  anthropic: sse([
    { event: 'message_start', data: { type: 'message_start', message: { usage: { input_tokens: 9, output_tokens: 1 } } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello!' } } },
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ]),
  gemini: sse([
    { data: { candidates: [{ content: { parts: [{ text: 'Hel' }] } }] } },
    { data: { candidates: [{ content: { parts: [{ text: 'lo!' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 3 } } },
  ]),
};
const STREAM_REFUSED: Record<Provider, string> = {
  openai: sse([{ data: { choices: [{ index: 0, delta: {}, finish_reason: 'content_filter' }] } }, { data: '[DONE]' }]),
  anthropic: sse([
    { event: 'message_start', data: { type: 'message_start', message: { usage: { input_tokens: 9, output_tokens: 0 } } } },
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'refusal' }, usage: { output_tokens: 0 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ]),
  gemini: sse([{ data: { candidates: [{ content: { parts: [] }, finishReason: 'SAFETY' }], usageMetadata: { promptTokenCount: 9 } } }]),
};
/** The first events of the stream only: no end marker. */
const cut = (s: string) => s.split('\n\n').slice(0, 1).join('\n\n') + '\n\n';

function read(provider: Provider, endpoint: Endpoint, json: unknown): AttemptResult {
  return { kind: 'response', status: 200, endpoint, facts: PROVIDER_MODULES[provider].readResponse(endpoint, json, {}) };
}
function stream(provider: Provider, endpoint: Endpoint, text: string, extra: Partial<{ broken: { timeout: boolean; detail: string }; clientGone: boolean }> = {}): AttemptResult {
  const reader = PROVIDER_MODULES[provider].streamReader(endpoint, {});
  const p = createSseParser();
  for (const ev of [...p.push(Buffer.from(text)), ...p.end()]) reader.feed(ev);
  return { kind: 'stream', endpoint, facts: reader.result(), broken: extra.broken ?? null, clientGone: extra.clientGone ?? false };
}
const outcome = (r: AttemptResult) => judgeAttempt(r).outcome;

describe('every outcome of an upstream attempt, per provider, streamed and not', () => {
  for (const provider of PROVIDERS) {
    const api = PROVIDER_MODULES[provider];
    test(`${provider}: ok is delivered; a refusal is upstream_moderation, the same streamed and not`, () => {
      assert.deepEqual([outcome(read(provider, 'chat', OK[provider])), judgeAttempt(read(provider, 'chat', OK[provider])).next], ['ok', 'deliver']);
      assert.equal(outcome(stream(provider, 'chat', STREAM_OK[provider])), 'ok');
      assert.equal(outcome(read(provider, 'chat', REFUSED[provider])), 'upstream_moderation');
      assert.equal(outcome(stream(provider, 'chat', STREAM_REFUSED[provider])), 'upstream_moderation');
    });
    test(`${provider}: a stream cut before its end, broken or malformed is upstream_error (a timeout: upstream_timeout), never retried`, () => {
      const c = judgeAttempt(stream(provider, 'chat', cut(STREAM_OK[provider])));
      assert.deepEqual([c.outcome, c.next, c.code], ['upstream_error', 'end', 'UPSTREAM_STREAM_CUT']);
      assert.equal(outcome(stream(provider, 'chat', STREAM_OK[provider], { broken: { timeout: true, detail: 'UND_ERR_BODY_TIMEOUT' } })), 'upstream_timeout');
      assert.equal(outcome(stream(provider, 'chat', STREAM_OK[provider], { broken: { timeout: false, detail: 'reset' } })), 'upstream_error');
      assert.equal(outcome(stream(provider, 'chat', `data: {not json\n\n${STREAM_OK[provider]}`)), 'upstream_error');
    });
    test(`${provider}: the client leaving is client_cancelled, streamed or not`, () => {
      assert.equal(outcome(stream(provider, 'chat', cut(STREAM_OK[provider]), { clientGone: true })), 'client_cancelled');
      assert.equal(outcome({ kind: 'transport', timeout: false, clientGone: true, detail: 'aborted' }), 'client_cancelled');
    });
    test(`${provider}: upstream failures by status, classified by the provider module`, () => {
      const st = (status: number, body = '{}'): AttemptResult => ({ kind: 'status', status, failure: api.classifyStatus(status, body), detail: '' });
      const cases: Array<[number, string, Outcome, 'retry' | 'deliver']> = [
        [500, '{}', 'upstream_error', 'retry'],
        [503, '{}', 'upstream_error', 'retry'],
        [429, '{}', 'upstream_rate_limited', 'retry'],
        [401, '{}', 'platform_error', 'retry'],
        [403, '{}', 'platform_error', 'retry'],
        [404, '{}', 'platform_error', 'retry'],
        [400, '{"error":{"message":"messages: field required"}}', 'client_error', 'deliver'],
      ];
      for (const [status, body, o, next] of cases) {
        const v = judgeAttempt(st(status, body));
        assert.deepEqual([v.outcome, v.next], [o, next], `${provider} ${status}`);
      }
      assert.equal(outcome({ kind: 'malformed', status: 200 }), 'upstream_error');
      assert.equal(outcome({ kind: 'transport', timeout: true, clientGone: false, detail: 'headers timeout' }), 'upstream_timeout');
      assert.equal(outcome({ kind: 'transport', timeout: false, clientGone: false, detail: 'ECONNRESET' }), 'upstream_error');
    });
  }

  test('openai: 429 insufficient_quota is the platform out of credit: fail over, take the channel out', () => {
    const body = '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}';
    const v = judgeAttempt({ kind: 'status', status: 429, failure: PROVIDER_MODULES.openai.classifyStatus(429, body), detail: '' });
    assert.deepEqual([v.outcome, v.next, v.outOfCredit], ['platform_error', 'retry', true]);
  });

  test('gemini: RECITATION is a refusal streamed and not (one classification)', () => {
    const json = { candidates: [{ content: { parts: [] }, finishReason: 'RECITATION' }], usageMetadata: { promptTokenCount: 9 } };
    assert.equal(outcome(read('gemini', 'chat', json)), 'upstream_moderation');
    assert.equal(outcome(stream('gemini', 'chat', sse([{ data: json }]))), 'upstream_moderation');
  });

  test('images: a 200 without an image is upstream_error (NOTHING_DELIVERED), retried when not streamed', () => {
    const v = judgeAttempt(read('openai', 'images', { created: 1, data: [] }));
    assert.deepEqual([v.outcome, v.next, v.code], ['upstream_error', 'retry', 'NOTHING_DELIVERED']);
    const g = judgeAttempt(read('gemini', 'images', OK.gemini));
    assert.deepEqual([g.outcome, g.code], ['upstream_error', 'NOTHING_DELIVERED']);
    const s = judgeAttempt(stream('gemini', 'images', STREAM_OK.gemini));
    assert.deepEqual([s.outcome, s.next, s.code], ['upstream_error', 'end', 'NOTHING_DELIVERED']);
  });

  test('no attempt possible: NO_CHANNEL (upstream_error), or the deadline (upstream_timeout)', () => {
    assert.deepEqual([exhausted(null, false).outcome, exhausted(null, false).code], ['upstream_error', 'NO_CHANNEL']);
    assert.deepEqual([exhausted(null, true).outcome, exhausted(null, true).code], ['upstream_timeout', 'UPSTREAM_TIMEOUT']);
  });
});

describe('refusals before any upstream call', () => {
  test('every error code maps to the outcome that says whose fault it was', () => {
    const expected: Partial<Record<ErrorCode, Outcome>> = {
      KEY_INVALID: 'auth_error', KEY_REVOKED: 'auth_error', KEY_EXPIRED: 'auth_error', AUTH_REQUIRED: 'auth_error', ACCOUNT_SUSPENDED: 'auth_error',
      IP_NOT_ALLOWED: 'auth_error', MODEL_NOT_ALLOWED: 'auth_error', INSUFFICIENT_BALANCE: 'insufficient_balance', KEY_LIMIT_EXCEEDED: 'key_limit',
      RATE_LIMITED: 'rate_limited', CONCURRENCY_LIMITED: 'rate_limited', VALIDATION: 'client_error', INVALID_JSON: 'client_error', UNKNOWN_MODEL: 'client_error',
      BODY_TOO_LARGE: 'client_error', UNSUPPORTED_MEDIA_TYPE: 'client_error', STORAGE_UNAVAILABLE: 'platform_error', SHUTTING_DOWN: 'platform_error', CLUSTER_UNAVAILABLE: 'platform_error', INTERNAL: 'platform_error',
    };
    for (const [code, o] of Object.entries(expected)) assert.equal(outcomeOfRefusal(code as ErrorCode), o, code);
    // Every code maps to a known outcome, and only the platform's own are platform_error.
    for (const code of Object.keys(ERRORS) as ErrorCode[]) assert.ok(outcomeOfRefusal(code) in OUTCOMES);
  });
});

describe('what is billed', () => {
  const reported: BillableUsage = { input_tokens: 100, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 500, reasoning_tokens: 0, images: 0, estimated: false };
  const estimate: BillableUsage = { ...reported, output_tokens: 40, estimated: true };
  const facts = (outcome: Outcome, more: Partial<Parameters<typeof billableUsage>[0]> = {}) =>
    billableUsage({ outcome, reported, delivered: { images: 0, text_chars: 160, text_bytes: 160 }, reachedClient: true, final: true, estimate: () => estimate, billedOnModeration: false, cancelledPolicy: 'delivered', ...more });

  test('only the outcomes the table bills are billed', () => {
    for (const o of Object.keys(OUTCOMES) as Outcome[]) {
      const b = facts(o);
      if (OUTCOMES[o].billed === 'no') assert.equal(b, null, o);
    }
    assert.deepEqual(facts('ok'), reported);
    assert.deepEqual(facts('ok', { reported: null }), estimate, 'estimated when the upstream reported nothing');
  });

  test('a refusal is billed only under a model policy that says so', () => {
    assert.equal(facts('upstream_moderation'), null);
    assert.deepEqual(facts('upstream_moderation', { billedOnModeration: true }), reported);
  });

  test('a cancelled request: output only as far as delivered — for every provider alike; nothing when nothing reached the client or the policy is none', () => {
    const cancelled = facts('client_cancelled', { final: false })!;
    assert.equal(cancelled.output_tokens, 40, 'a cut stream: its reported output is not final');
    assert.equal(cancelled.input_tokens, 100, 'input as reported');
    assert.equal(cancelled.estimated, true);
    assert.equal(facts('client_cancelled', { final: false, reported: { ...reported, output_tokens: 0 } })!.output_tokens, 40, 'a stream whose usage so far says 0 output (Gemini) is still billed what it delivered');
    assert.equal(facts('client_cancelled', { reachedClient: false }), null);
    assert.equal(facts('client_cancelled', { cancelledPolicy: 'none' }), null);
  });
});
