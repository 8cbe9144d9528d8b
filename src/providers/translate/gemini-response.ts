/** Gemini generateContent answers ⇄ the common form, and usage in Gemini's terms. */
import { mapUsage } from '../gemini/usage.ts';
import type { BillableUsage } from '../types.ts';
import { argsObject, argsText, callId, isObj, type ChatResponse, type EncodeContext, type Finish, type Obj, type Part } from './ir.ts';

const BLOCKED = new Set(['SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'RECITATION', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

export function finishFromGemini(v: unknown, hasCalls: boolean): Finish {
  if (v === 'MAX_TOKENS') return 'length';
  if (typeof v === 'string' && BLOCKED.has(v)) return 'content_filter';
  return hasCalls ? 'tool_calls' : 'stop';
}

export function geminiFinish(f: Finish): string {
  return f === 'length' ? 'MAX_TOKENS' : f === 'content_filter' ? 'SAFETY' : 'STOP';
}

/** Billable usage as Gemini reports it: promptTokenCount includes cached tokens; thoughts apart from candidates. */
export function geminiUsage(u: BillableUsage): Obj {
  const prompt = u.input_tokens + u.cached_input_tokens + u.cache_write_tokens;
  const candidates = u.output_tokens - u.reasoning_tokens;
  const out: Obj = { promptTokenCount: prompt, candidatesTokenCount: candidates, totalTokenCount: prompt + u.output_tokens };
  if (u.cached_input_tokens) out.cachedContentTokenCount = u.cached_input_tokens;
  if (u.reasoning_tokens) out.thoughtsTokenCount = u.reasoning_tokens;
  return out;
}

/** Parts of the first candidate (text, thought summaries, function calls) in the common form. */
export function geminiParts(json: Obj): { parts: Part[]; finishReason: unknown } {
  const c = Array.isArray(json.candidates) && isObj(json.candidates[0]) ? json.candidates[0] : {};
  const parts: Part[] = [];
  const raw = isObj(c.content) && Array.isArray(c.content.parts) ? c.content.parts : [];
  for (const p of raw) {
    if (!isObj(p)) continue;
    if (typeof p.text === 'string') parts.push(p.thought === true ? { type: 'thinking', text: p.text } : { type: 'text', text: p.text });
    else if (isObj(p.functionCall)) {
      const fc = p.functionCall;
      parts.push({ type: 'tool_call', id: typeof fc.id === 'string' && fc.id !== '' ? fc.id : callId(), name: String(fc.name ?? ''), args: argsText(fc.args ?? {}) });
    }
  }
  return { parts, finishReason: c.finishReason };
}

export function decodeGeminiResponse(json: Obj): ChatResponse {
  const { parts, finishReason } = geminiParts(json);
  const blocked = isObj(json.promptFeedback) && typeof json.promptFeedback.blockReason === 'string';
  return {
    id: String(json.responseId ?? ''),
    model: String(json.modelVersion ?? ''),
    parts,
    finish: blocked ? 'content_filter' : finishFromGemini(finishReason, parts.some((p) => p.type === 'tool_call')),
    usage: mapUsage(json.usageMetadata),
  };
}

export function geminiPart(p: Part): Obj | null {
  if (p.type === 'text') return { text: p.text };
  if (p.type === 'thinking') return { text: p.text, thought: true };
  if (p.type === 'tool_call') return { functionCall: { id: p.id, name: p.name, args: argsObject(p.args) } };
  return null;
}

export function encodeGeminiResponse(r: ChatResponse, ctx: EncodeContext): Obj {
  const parts = r.parts.map(geminiPart).filter((p): p is Obj => p !== null);
  const out: Obj = {
    candidates: [{ content: { role: 'model', parts }, finishReason: geminiFinish(r.finish), index: 0 }],
    modelVersion: ctx.model,
    responseId: ctx.requestId,
  };
  if (r.usage) out.usageMetadata = geminiUsage(r.usage);
  return out;
}
