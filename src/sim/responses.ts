// OpenAI Responses API: POST /v1/responses, JSON or the SSE event stream (response.created …
// response.output_text.delta … response.completed), usage with cached and reasoning tokens.

import { DEFAULT_COMPLETION_TOKENS, completionText, newId, nowSeconds, promptTokens, tokenText } from './content.ts';
import { openaiError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { toolCallOf } from './tools.ts';
import type { Directives } from './types.ts';
import { type Obj, int, textChars } from './util.ts';

function inputChars(body: Obj): number {
  return textChars(body.instructions) + textChars(body.input);
}

export function responses(ex: Exchange, body: Obj, d: Readonly<Directives>): void {
  if (d.moderation !== '') {
    ex.sendError(openaiError(400, 'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.', 'invalid_request_error', 'content_policy_violation', 'input'), 'moderation');
    return;
  }
  const model = ex.model !== '' ? ex.model : 'gpt-4o-mini';
  const cached = d.cached;
  const input = Math.max(promptTokens(inputChars(body)), cached);
  let n = d.tokens >= 0 ? d.tokens : DEFAULT_COMPLETION_TOKENS;
  let incomplete = false;
  const max = int(body.max_output_tokens);
  if (max !== undefined && max >= 0 && n + d.reasoning > max) {
    n = Math.max(0, max - d.reasoning);
    incomplete = true;
  }
  const call = toolCallOf('openai', body, d);
  if (call !== null) n = promptTokens(call.json.length) + 4;
  const output = n + d.reasoning;
  const usage = {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: d.reasoning },
    total_tokens: input + output,
  };
  const id = newId('resp_');
  const itemId = newId('msg_');
  const text = call === null ? completionText(n) : '';
  const part = { type: 'output_text', text, annotations: [] };
  const item: Obj = call === null
    ? { type: 'message', id: itemId, status: 'completed', role: 'assistant', content: [part] }
    : { type: 'function_call', id: newId('fc_'), call_id: call.id, name: call.name, arguments: call.json, status: 'completed' };
  const response = (status: string, out: unknown[], u: unknown): Obj => ({
    id, object: 'response', created_at: nowSeconds(), status, model, output: out,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    error: null, instructions: body.instructions ?? null, max_output_tokens: max ?? null, parallel_tool_calls: true,
    temperature: 1, top_p: 1, tool_choice: 'auto', tools: Array.isArray(body.tools) ? body.tools : [], usage: u,
  });
  const status = incomplete ? 'incomplete' : 'completed';
  if (body.stream !== true) {
    const json = JSON.stringify(response(status, [item], d.usageNone ? null : usage));
    if (d.cut >= 0) ex.sendTruncatedJson(200, json);
    else ex.sendJson(200, json, 'ok');
    return;
  }
  let seq = 0;
  const ev = (type: string, o: Obj) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...o })}\n\n`;
  const frames = [ev('response.created', { response: response('in_progress', [], null) }), ev('response.in_progress', { response: response('in_progress', [], null) })];
  if (call !== null) {
    frames.push(ev('response.output_item.added', { output_index: 0, item: { ...item, arguments: '', status: 'in_progress' } }));
    frames.push(ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: call.json }));
    frames.push(ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: call.json }));
  } else {
    frames.push(ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }));
    frames.push(ev('response.content_part.added', { item_id: itemId, output_index: 0, content_index: 0, part: { ...part, text: '' } }));
    for (let i = 0; i < n; i++) frames.push(ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta: tokenText(i), logprobs: [] }));
    frames.push(ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] }));
    frames.push(ev('response.content_part.done', { item_id: itemId, output_index: 0, content_index: 0, part }));
  }
  frames.push(ev('response.output_item.done', { output_index: 0, item }));
  frames.push(ev(incomplete ? 'response.incomplete' : 'response.completed', { response: response(status, [item], d.usageNone ? null : usage) }));
  ex.sendStream(200, frames, d.chunkMs, d.cut);
}
