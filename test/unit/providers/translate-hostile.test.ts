// Hostile or malformed bodies and answers never break translation: a request is either translated
// or refused with an AppError (a 400 in the caller's shape), never a crash (a 500); any upstream
// answer or event, however wrong, is translated without throwing. Deterministic random shapes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../../src/kernel/errors.ts';
import { decodeRequest, encodeRequest, streamTranslator, translateResponse, type Dialect } from '../../../src/providers/translate/index.ts';

const VALUES: unknown[] = [
  null, 1, -1, 'x', '', true, [], {}, [1], [null], [{}], [{ type: 'text' }], [{ type: 'image_url' }], { type: 'x' }, [{ role: 'tool' }],
  [{ role: 'assistant', tool_calls: [{}] }], [{ role: 'user', content: [{ type: 'tool_result' }] }], [{ parts: [{ functionResponse: {} }] }],
  [{ parts: [null] }], [{ type: 'function_call' }], [{ type: 'message', role: 'user', content: 5 }], { parts: 'x' }, { format: { type: 'json_schema' } },
];
const REQUEST_KEYS = ['messages', 'contents', 'input', 'system', 'tools', 'tool_choice', 'response_format', 'stop', 'stop_sequences', 'generationConfig', 'systemInstruction', 'toolConfig', 'text', 'reasoning', 'output_config', 'thinking', 'max_tokens', 'temperature', 'metadata'];
const ANSWER_KEYS = ['choices', 'content', 'candidates', 'usage', 'usageMetadata', 'promptFeedback', 'stop_reason', 'delta', 'message', 'index'];
const CLIENTS: Dialect[] = ['openai', 'anthropic', 'gemini', 'responses'];
const UPSTREAMS = ['openai', 'anthropic', 'gemini'] as const;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function shape(rnd: () => number, keys: string[]): Record<string, unknown> {
  const o: Record<string, unknown> = { model: 'm' };
  for (const k of keys) if (rnd() < 0.3) o[k] = VALUES[Math.floor(rnd() * VALUES.length)];
  return o;
}

test('random request bodies: translated or refused with an AppError, in every direction', () => {
  const rnd = prng(7);
  let refused = 0;
  for (let i = 0; i < 1500; i++) {
    const body = shape(rnd, REQUEST_KEYS);
    for (const client of CLIENTS) {
      for (const target of UPSTREAMS) {
        try {
          encodeRequest(decodeRequest(client, body, rnd() < 0.5, target), target, 'up');
        } catch (e) {
          assert.ok(isAppError(e), `${client} → ${target} threw ${String(e)} on ${JSON.stringify(body)}`);
          assert.equal(e.status, 400);
          refused++;
        }
      }
    }
  }
  assert.ok(refused > 0, 'some shapes were refused');
});

test('random upstream answers and stream events: translated without throwing', () => {
  const rnd = prng(11);
  const ctx = { model: 'm', request: {}, requestId: 'r' };
  for (let i = 0; i < 800; i++) {
    const json = shape(rnd, ANSWER_KEYS);
    for (const upstream of UPSTREAMS) {
      for (const client of CLIENTS) {
        translateResponse(upstream, client, json, ctx);
        const tr = streamTranslator(upstream, client, ctx);
        for (const type of ['message_start', 'content_block_start', 'content_block_delta', 'message_delta', undefined]) {
          tr.feed(type ? { event: type, data: JSON.stringify({ type, ...json }) } : { data: JSON.stringify(json) });
        }
        tr.feed({ data: 'not json' });
        tr.feed({ data: '[DONE]' });
        tr.feed({ event: 'message_stop', data: '{"type":"message_stop"}' });
      }
    }
  }
});
