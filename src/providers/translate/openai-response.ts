/** OpenAI chat completions answers ⇄ the common form, and usage in OpenAI's terms. */
import { mapChatUsage } from '../openai/usage.ts';
import type { BillableUsage } from '../types.ts';
import { argsText, isObj, nowSeconds, type ChatResponse, type EncodeContext, type Finish, type Obj, type Part } from './ir.ts';

const FINISH_IN: Record<string, Finish> = { stop: 'stop', length: 'length', tool_calls: 'tool_calls', function_call: 'tool_calls', content_filter: 'content_filter' };

export function finishFromOpenAI(v: unknown): Finish {
  return (typeof v === 'string' && FINISH_IN[v]) || 'stop';
}

/**
 * Billable usage as OpenAI reports it: prompt_tokens counts every input token (cached and
 * cache-written included), completion_tokens every output token (reasoning included).
 */
export function openaiUsage(u: BillableUsage): Obj {
  const prompt = u.input_tokens + u.cached_input_tokens + u.cache_write_tokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.output_tokens,
    total_tokens: prompt + u.output_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_input_tokens, ...(u.cache_write_tokens ? { cache_write_tokens: u.cache_write_tokens } : {}) },
    completion_tokens_details: { reasoning_tokens: u.reasoning_tokens },
  };
}

export function decodeOpenAIResponse(json: Obj): ChatResponse {
  const choice = Array.isArray(json.choices) && isObj(json.choices[0]) ? json.choices[0] : {};
  const msg = isObj(choice.message) ? choice.message : {};
  const parts: Part[] = [];
  if (typeof msg.reasoning_content === 'string' && msg.reasoning_content !== '') parts.push({ type: 'thinking', text: msg.reasoning_content });
  if (typeof msg.content === 'string' && msg.content !== '') parts.push({ type: 'text', text: msg.content });
  if (typeof msg.refusal === 'string' && msg.refusal !== '') parts.push({ type: 'text', text: msg.refusal });
  if (Array.isArray(msg.tool_calls)) {
    for (const tc of msg.tool_calls) {
      if (isObj(tc) && isObj(tc.function)) parts.push({ type: 'tool_call', id: String(tc.id ?? ''), name: String(tc.function.name ?? ''), args: argsText(tc.function.arguments ?? '') });
    }
  }
  return { id: String(json.id ?? ''), model: String(json.model ?? ''), parts, finish: finishFromOpenAI(choice.finish_reason), usage: mapChatUsage(json.usage) };
}

export function encodeOpenAIResponse(r: ChatResponse, ctx: EncodeContext): Obj {
  const text = r.parts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('');
  const calls = r.parts.filter((p) => p.type === 'tool_call');
  const thinking = r.parts.filter((p) => p.type === 'thinking').map((p) => (p as { text: string }).text).join('');
  const message: Obj = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text, refusal: null };
  if (thinking) message.reasoning_content = thinking;
  if (calls.length > 0) message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }));
  const out: Obj = {
    id: `chatcmpl-${ctx.requestId}`,
    object: 'chat.completion',
    created: ctx.created ?? nowSeconds(),
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: r.finish }],
  };
  if (r.usage) out.usage = openaiUsage(r.usage);
  return out;
}
