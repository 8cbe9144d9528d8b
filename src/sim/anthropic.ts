// Anthropic Messages API: JSON and SSE, plus count_tokens.

import { DEFAULT_COMPLETION_TOKENS, completionText, newId, promptTokens, tokenJson } from './content.ts';
import type { Exchange } from './exchange.ts';
import { toolCallOf, type SimToolCall } from './tools.ts';
import type { Directives } from './types.ts';
import { type Obj, int, textChars } from './util.ts';

/** Output tokens Claude "writes" before the refusal classifier stops it. */
const REFUSAL_TOKENS = 2;
const SIGNATURE = 'c2ltdWxhdGVkLXRoaW5raW5nLXNpZ25hdHVyZQ==';

function inputChars(body: Obj): number {
  return textChars(body.system) + textChars(body.messages);
}

export function countTokens(ex: Exchange, body: Obj): void {
  ex.sendJson(200, `{"input_tokens":${promptTokens(inputChars(body))}}`);
}

function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

export function messages(ex: Exchange, body: Obj, d: Readonly<Directives>): void {
  const model = ex.model !== '' ? ex.model : 'claude-sonnet-5-5';
  const p = promptTokens(inputChars(body));
  const cacheRead = d.cached;
  const cacheWrite = d.cacheWrite;
  const total = Math.max(p, cacheRead + cacheWrite);
  const input = total - cacheRead - cacheWrite;

  const refusal = d.moderation !== '';
  let reasoning = refusal ? 0 : d.reasoning;
  let n = d.tokens >= 0 ? d.tokens : DEFAULT_COMPLETION_TOKENS;
  let stopReason = 'end_turn';
  if (refusal) {
    n = Math.min(n, REFUSAL_TOKENS);
    stopReason = 'refusal';
  } else {
    const max = int(body.max_tokens);
    if (max !== undefined && max >= 0 && n + reasoning > max) {
      reasoning = Math.min(reasoning, max);
      n = max - reasoning;
      stopReason = 'max_tokens';
    }
  }
  const output = n + reasoning;
  const id = newId('msg_');
  const usage = {
    input_tokens: input,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: cacheWrite, ephemeral_1h_input_tokens: 0 },
    output_tokens: output,
    service_tier: 'standard',
  };

  const call = refusal ? null : toolCallOf('anthropic', body, d);
  if (call !== null) {
    toolUseAnswer(ex, body, d, call, { id, model, usage });
    return;
  }

  if (body.stream === true) {
    const start: Obj = {
      id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
    };
    if (!d.usageNone) start.usage = { ...usage, output_tokens: 1 };
    const frames: string[] = [frame('message_start', JSON.stringify({ type: 'message_start', message: start }))];
    let index = 0;
    let pinged = false;
    if (reasoning > 0) {
      frames.push(frame('content_block_start', `{"type":"content_block_start","index":${index},"content_block":{"type":"thinking","thinking":"","signature":""}}`));
      frames.push(frame('ping', '{"type": "ping"}'));
      pinged = true;
      const pre = `{"type":"content_block_delta","index":${index},"delta":{"type":"thinking_delta","thinking":`;
      for (let i = 0; i < reasoning; i++) frames.push(frame('content_block_delta', pre + tokenJson(i) + '}}'));
      frames.push(frame('content_block_delta', `{"type":"content_block_delta","index":${index},"delta":{"type":"signature_delta","signature":"${SIGNATURE}"}}`));
      frames.push(frame('content_block_stop', `{"type":"content_block_stop","index":${index}}`));
      index++;
    }
    frames.push(frame('content_block_start', `{"type":"content_block_start","index":${index},"content_block":{"type":"text","text":""}}`));
    if (!pinged) frames.push(frame('ping', '{"type": "ping"}'));
    const pre = `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":`;
    for (let i = 0; i < n; i++) frames.push(pre + tokenJson(i) + '}}\n\n');
    frames.push(frame('content_block_stop', `{"type":"content_block_stop","index":${index}}`));
    const delta = `{"type":"message_delta","delta":{"stop_reason":"${stopReason}","stop_sequence":null}`
      + (d.usageNone ? '}' : `,"usage":{"output_tokens":${output}}}`);
    frames.push(frame('message_delta', delta));
    frames.push(frame('message_stop', '{"type":"message_stop"}'));
    ex.sendStream(200, frames, d.chunkMs, d.cut, refusal ? 'moderation' : 'ok');
    return;
  }

  const content: Obj[] = [];
  if (reasoning > 0) content.push({ type: 'thinking', thinking: completionText(reasoning), signature: SIGNATURE });
  content.push({ type: 'text', text: completionText(n) });
  const res: Obj = {
    id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null,
  };
  if (!d.usageNone) res.usage = usage;
  const json = JSON.stringify(res);
  if (d.cut >= 0) ex.sendTruncatedJson(200, json);
  else ex.sendJson(200, json, refusal ? 'moderation' : 'ok');
}

/** A message that calls a tool (stop_reason "tool_use"), JSON or streamed with input_json_delta pieces. */
function toolUseAnswer(ex: Exchange, body: Obj, d: Readonly<Directives>, call: SimToolCall, m: { id: string; model: string; usage: Obj }): void {
  const output = promptTokens(call.json.length) + 4;
  const usage = { ...m.usage, output_tokens: output };
  const block = { type: 'tool_use', id: call.id, name: call.name, input: call.args };
  if (body.stream !== true) {
    const res: Obj = { id: m.id, type: 'message', role: 'assistant', model: m.model, content: [block], stop_reason: 'tool_use', stop_sequence: null };
    if (!d.usageNone) res.usage = usage;
    const json = JSON.stringify(res);
    if (d.cut >= 0) ex.sendTruncatedJson(200, json);
    else ex.sendJson(200, json, 'ok');
    return;
  }
  const start: Obj = { id: m.id, type: 'message', role: 'assistant', model: m.model, content: [], stop_reason: null, stop_sequence: null };
  if (!d.usageNone) start.usage = { ...usage, output_tokens: 1 };
  const half = Math.floor(call.json.length / 2);
  const piece = (s: string) => frame('content_block_delta', JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: s } }));
  const frames = [
    frame('message_start', JSON.stringify({ type: 'message_start', message: start })),
    frame('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: { ...block, input: {} } })),
    piece(''),
    piece(call.json.slice(0, half)),
    piece(call.json.slice(half)),
    frame('content_block_stop', '{"type":"content_block_stop","index":0}'),
    frame('message_delta', JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, ...(d.usageNone ? {} : { usage: { output_tokens: output } }) })),
    frame('message_stop', '{"type":"message_stop"}'),
  ];
  ex.sendStream(200, frames, d.chunkMs, d.cut, 'ok');
}
