/**
 * Upstream streams → the common stream events, one decoder per provider. Each decoder is fed the
 * upstream's SSE events as they arrive and returns at once what they mean (nothing is held back:
 * the caller's chunks go out as the upstream's arrive). The upstream's own stream reader still
 * meters the same events for billing; a decoder only translates.
 */
import { mergeDelta } from '../anthropic/stream.ts';
import { mapUsage as anthropicMap } from '../anthropic/usage.ts';
import { mapUsage as geminiMap } from '../gemini/usage.ts';
import { mapChatUsage } from '../openai/usage.ts';
import type { Provider } from '../provider.ts';
import { callId, isObj, type Obj, type StreamDecoder, type StreamEvent } from './ir.ts';
import { finishFromAnthropic } from './anthropic-response.ts';
import { finishFromGemini } from './gemini-response.ts';
import { finishFromOpenAI } from './openai-response.ts';

function parse(data: string): Obj | null {
  try {
    const v: unknown = JSON.parse(data);
    return isObj(v) ? v : null;
  } catch {
    return null;
  }
}

function openaiDecoder(): StreamDecoder {
  let started = false;
  const seen = new Set<number>();
  return {
    feed(_event, data) {
      if (data === '[DONE]') return [{ type: 'end' }];
      const j = parse(data);
      if (!j) return [];
      const out: StreamEvent[] = [];
      if (!started) {
        started = true;
        out.push({ type: 'start', id: String(j.id ?? ''), model: String(j.model ?? ''), usage: null });
      }
      const c = Array.isArray(j.choices) && isObj(j.choices[0]) ? j.choices[0] : null;
      const d = c && isObj(c.delta) ? c.delta : null;
      if (d) {
        if (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') out.push({ type: 'thinking', text: d.reasoning_content });
        if (typeof d.content === 'string' && d.content !== '') out.push({ type: 'text', text: d.content });
        if (typeof d.refusal === 'string' && d.refusal !== '') out.push({ type: 'text', text: d.refusal });
        if (Array.isArray(d.tool_calls)) {
          for (const tc of d.tool_calls) {
            if (!isObj(tc)) continue;
            const index = typeof tc.index === 'number' ? tc.index : 0;
            const fn = isObj(tc.function) ? tc.function : {};
            if (!seen.has(index)) {
              seen.add(index);
              out.push({ type: 'tool_start', index, id: String(tc.id ?? callId()), name: String(fn.name ?? '') });
            }
            if (typeof fn.arguments === 'string' && fn.arguments !== '') out.push({ type: 'tool_args', index, args: fn.arguments });
          }
        }
      }
      if (c && typeof c.finish_reason === 'string') out.push({ type: 'finish', finish: finishFromOpenAI(c.finish_reason) });
      const u = isObj(j.usage) ? mapChatUsage(j.usage) : null;
      if (u) out.push({ type: 'usage', usage: u });
      return out;
    },
  };
}

/** Anthropic's message_delta usage is cumulative and may omit or zero input counts: merged over message_start's as the meter merges it. */
function anthropicDecoder(): StreamDecoder {
  const merged: Obj = {};
  const toolOfBlock = new Map<number, number>();
  let tools = 0;
  return {
    feed(event, data) {
      const j = parse(data);
      if (!j) return [];
      const type = typeof j.type === 'string' ? j.type : event;
      const index = typeof j.index === 'number' ? j.index : 0;
      switch (type) {
        case 'message_start': {
          const m = isObj(j.message) ? j.message : {};
          if (isObj(m.usage)) Object.assign(merged, m.usage);
          return [{ type: 'start', id: String(m.id ?? ''), model: String(m.model ?? ''), usage: anthropicMap(m.usage) }];
        }
        case 'content_block_start': {
          const b = isObj(j.content_block) ? j.content_block : {};
          if (b.type === 'tool_use') {
            toolOfBlock.set(index, tools);
            return [{ type: 'tool_start', index: tools++, id: String(b.id ?? ''), name: String(b.name ?? '') }];
          }
          if (b.type === 'text' && typeof b.text === 'string' && b.text !== '') return [{ type: 'text', text: b.text }];
          return [];
        }
        case 'content_block_delta': {
          const d = isObj(j.delta) ? j.delta : {};
          if (d.type === 'text_delta' && typeof d.text === 'string') return [{ type: 'text', text: d.text }];
          if (d.type === 'thinking_delta' && typeof d.thinking === 'string') return [{ type: 'thinking', text: d.thinking }];
          if (d.type === 'input_json_delta' && typeof d.partial_json === 'string' && d.partial_json !== '') return [{ type: 'tool_args', index: toolOfBlock.get(index) ?? 0, args: d.partial_json }];
          return [];
        }
        case 'message_delta': {
          const out: StreamEvent[] = [];
          const d = isObj(j.delta) ? j.delta : {};
          if (isObj(j.usage)) {
            mergeDelta(merged, j.usage);
            const u = anthropicMap(merged);
            if (u) out.push({ type: 'usage', usage: u });
          }
          if (typeof d.stop_reason === 'string') out.unshift({ type: 'finish', finish: finishFromAnthropic(d.stop_reason), stopSequence: typeof d.stop_sequence === 'string' ? d.stop_sequence : null });
          return out;
        }
        case 'message_stop':
          return [{ type: 'end' }];
        default:
          return [];
      }
    },
  };
}

/** Gemini has no end marker of its own: the chunk with a finishReason (or a blocked prompt) ends it. */
function geminiDecoder(): StreamDecoder {
  let started = false;
  let tools = 0;
  let ended = false;
  return {
    feed(_event, data) {
      const j = parse(data);
      if (!j || ended) return [];
      const out: StreamEvent[] = [];
      if (!started) {
        started = true;
        out.push({ type: 'start', id: String(j.responseId ?? ''), model: String(j.modelVersion ?? ''), usage: null });
      }
      const c = Array.isArray(j.candidates) && isObj(j.candidates[0]) ? j.candidates[0] : {};
      const parts = isObj(c.content) && Array.isArray(c.content.parts) ? c.content.parts : [];
      for (const p of parts) {
        if (!isObj(p)) continue;
        if (typeof p.text === 'string' && p.text !== '') out.push({ type: p.thought === true ? 'thinking' : 'text', text: p.text });
        else if (isObj(p.functionCall)) {
          const fc = p.functionCall;
          const index = tools++;
          out.push({ type: 'tool_start', index, id: typeof fc.id === 'string' && fc.id !== '' ? fc.id : callId(), name: String(fc.name ?? '') });
          out.push({ type: 'tool_args', index, args: JSON.stringify(fc.args ?? {}) });
        }
      }
      const blocked = isObj(j.promptFeedback) && typeof j.promptFeedback.blockReason === 'string';
      if (typeof c.finishReason === 'string' || blocked) {
        out.push({ type: 'finish', finish: blocked ? 'content_filter' : finishFromGemini(c.finishReason, tools > 0) });
        const u = geminiMap(j.usageMetadata);
        if (u) out.push({ type: 'usage', usage: u });
        out.push({ type: 'end' });
        ended = true;
      }
      return out;
    },
  };
}

export function streamDecoder(upstream: Provider): StreamDecoder {
  return upstream === 'openai' ? openaiDecoder() : upstream === 'anthropic' ? anthropicDecoder() : geminiDecoder();
}
