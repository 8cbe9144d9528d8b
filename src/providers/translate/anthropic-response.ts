/** Anthropic Messages answers ⇄ the common form, and usage in Anthropic's terms. */
import { mapUsage } from '../anthropic/usage.ts';
import type { BillableUsage } from '../types.ts';
import { argsObject, argsText, isObj, type ChatResponse, type EncodeContext, type Finish, type Obj, type Part } from './ir.ts';

const FINISH_IN: Record<string, Finish> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

export function finishFromAnthropic(v: unknown): Finish {
  return (typeof v === 'string' && FINISH_IN[v]) || 'stop';
}

export function anthropicStop(f: Finish, stopSequence: string | null | undefined): string {
  if (f === 'stop') return stopSequence ? 'stop_sequence' : 'end_turn';
  return f === 'length' ? 'max_tokens' : f === 'tool_calls' ? 'tool_use' : 'refusal';
}

/** Billable usage as Anthropic reports it: input_tokens excludes cache reads and writes. */
export function anthropicUsage(u: BillableUsage | null): Obj {
  if (!u) return { input_tokens: 0, output_tokens: 0 };
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_write_tokens,
    cache_read_input_tokens: u.cached_input_tokens,
    output_tokens: u.output_tokens,
    ...(u.reasoning_tokens ? { output_tokens_details: { thinking_tokens: u.reasoning_tokens } } : {}),
  };
}

export function decodeAnthropicResponse(json: Obj): ChatResponse {
  const parts: Part[] = [];
  if (Array.isArray(json.content)) {
    for (const b of json.content) {
      if (!isObj(b)) continue;
      if (b.type === 'text' && typeof b.text === 'string') parts.push({ type: 'text', text: b.text });
      else if (b.type === 'thinking' && typeof b.thinking === 'string') parts.push({ type: 'thinking', text: b.thinking });
      else if (b.type === 'tool_use') parts.push({ type: 'tool_call', id: String(b.id ?? ''), name: String(b.name ?? ''), args: argsText(b.input ?? {}) });
    }
  }
  return {
    id: String(json.id ?? ''),
    model: String(json.model ?? ''),
    parts,
    finish: finishFromAnthropic(json.stop_reason),
    stopSequence: typeof json.stop_sequence === 'string' ? json.stop_sequence : null,
    usage: mapUsage(json.usage),
  };
}

export function encodeAnthropicResponse(r: ChatResponse, ctx: EncodeContext): Obj {
  const content: Obj[] = [];
  for (const p of r.parts) {
    if (p.type === 'text') content.push({ type: 'text', text: p.text });
    else if (p.type === 'thinking') content.push({ type: 'thinking', thinking: p.text, signature: '' });
    else if (p.type === 'tool_call') content.push({ type: 'tool_use', id: p.id, name: p.name, input: argsObject(p.args) });
  }
  return {
    id: `msg_${ctx.requestId}`,
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content,
    stop_reason: anthropicStop(r.finish, r.stopSequence),
    stop_sequence: r.stopSequence ?? null,
    usage: anthropicUsage(r.usage),
  };
}
