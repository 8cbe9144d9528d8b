// Running usage totals in a stream that go down are marked (usageRegressed) for the
// implausible_usage rule; totals that only grow are not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamReader as anthropic } from '../../../src/providers/anthropic/stream.ts';
import { streamReader as gemini } from '../../../src/providers/gemini/stream.ts';

const ev = (data: unknown, event?: string) => ({ data: JSON.stringify(data), ...(event ? { event } : {}) });

test('Anthropic: a message_delta whose cumulative output_tokens is below the last one', () => {
  const feed = (outputs: number[]) => {
    const r = anthropic();
    r.feed(ev({ type: 'message_start', message: { usage: { input_tokens: 10, output_tokens: 1 } } }));
    r.feed(ev({ type: 'content_block_delta', delta: { type: 'text_delta', text: 'hello there' } }));
    outputs.forEach((o, i) => r.feed(ev({ type: 'message_delta', delta: i === outputs.length - 1 ? { stop_reason: 'end_turn' } : {}, usage: { output_tokens: o } })));
    r.feed(ev({ type: 'message_stop' }));
    return r.result();
  };
  assert.equal(feed([5, 9, 12]).usageRegressed, undefined);
  assert.equal(feed([9, 5]).usageRegressed, true);
});

test('Gemini: a usageMetadata running total below the previous chunk', () => {
  const feed = (counts: number[]) => {
    const r = gemini('chat', {});
    counts.forEach((c, i) => r.feed(ev({ candidates: [{ content: { parts: [{ text: 'x' }] }, ...(i === counts.length - 1 ? { finishReason: 'STOP' } : {}) }], usageMetadata: { promptTokenCount: 4, candidatesTokenCount: c, totalTokenCount: 4 + c } })));
    return r.result();
  };
  assert.equal(feed([1, 2, 3]).usageRegressed, undefined);
  assert.equal(feed([3, 2]).usageRegressed, true);
});
