/**
 * The common stream events → the caller's own event sequence, one encoder per provider:
 * - OpenAI: `chat.completion.chunk`s (role, content and tool-call deltas, the finish chunk), the
 *   usage chunk when the caller asked for it (stream_options.include_usage), `[DONE]`;
 * - Anthropic: message_start, content_block_start/delta/stop (text_delta, thinking_delta,
 *   input_json_delta), message_delta with stop_reason and usage, message_stop;
 * - Gemini: GenerateContentResponse chunks, the last with finishReason and usageMetadata.
 * Every event is written as soon as it is decoded; only what the caller's API puts at the end
 * (Anthropic's stop reason with the usage, Gemini's whole function calls) waits for the end marker.
 */
import type { Provider } from '../provider.ts';
import type { BillableUsage } from '../types.ts';
import { anthropicStop, anthropicUsage } from './anthropic-response.ts';
import { geminiFinish, geminiUsage } from './gemini-response.ts';
import { isObj, nowSeconds, type ClientEvent, type EncodeContext, type Finish, type Obj, type StreamEncoder, type StreamEvent } from './ir.ts';
import { openaiUsage } from './openai-response.ts';

function openaiEncoder(ctx: EncodeContext): StreamEncoder {
  const so = ctx.request.stream_options;
  const includeUsage = isObj(so) && so.include_usage === true;
  const head = `{"id":${JSON.stringify(`chatcmpl-${ctx.requestId}`)},"object":"chat.completion.chunk","created":${ctx.created ?? nowSeconds()},"model":${JSON.stringify(ctx.model)},"choices":`;
  const chunk = (delta: Obj, finish: string | null = null): ClientEvent => ({ data: `${head}[${JSON.stringify({ index: 0, delta, logprobs: null, finish_reason: finish })}]}` });
  let usage: BillableUsage | null = null;
  let done = false;
  return {
    encode(ev) {
      if (done) return [];
      switch (ev.type) {
        case 'start':
          return [chunk({ role: 'assistant', content: '' })];
        case 'text':
          return [chunk({ content: ev.text })];
        case 'thinking':
          return [chunk({ reasoning_content: ev.text })];
        case 'tool_start':
          return [chunk({ tool_calls: [{ index: ev.index, id: ev.id, type: 'function', function: { name: ev.name, arguments: '' } }] })];
        case 'tool_args':
          return [chunk({ tool_calls: [{ index: ev.index, function: { arguments: ev.args } }] })];
        case 'finish':
          return [chunk({}, ev.finish)];
        case 'usage':
          usage = ev.usage;
          return [];
        case 'end': {
          done = true;
          const out: ClientEvent[] = [];
          if (includeUsage && usage) out.push({ data: `${head}[],"usage":${JSON.stringify(openaiUsage(usage))}}` });
          out.push({ data: '[DONE]' });
          return out;
        }
      }
    },
  };
}

function anthropicEncoder(ctx: EncodeContext): StreamEncoder {
  const frame = (type: string, o: Obj): ClientEvent => ({ event: type, data: JSON.stringify({ type, ...o }) });
  let started = false;
  let block = -1;
  let open: 'text' | 'thinking' | 'tool' | null = null;
  const blockOfTool = new Map<number, number>();
  let finish: Finish = 'stop';
  let stopSequence: string | null = null;
  let usage: BillableUsage | null = null;
  let done = false;
  const start = (u: BillableUsage | null): ClientEvent =>
    frame('message_start', { message: { id: `msg_${ctx.requestId}`, type: 'message', role: 'assistant', model: ctx.model, content: [], stop_reason: null, stop_sequence: null, usage: anthropicUsage(u) } });
  const close = (out: ClientEvent[]) => {
    if (open !== null) out.push(frame('content_block_stop', { index: block }));
    open = null;
  };
  const openBlock = (out: ClientEvent[], kind: 'text' | 'thinking' | 'tool', content: Obj) => {
    close(out);
    block++;
    open = kind;
    out.push(frame('content_block_start', { index: block, content_block: content }));
  };
  return {
    encode(ev) {
      if (done) return [];
      const out: ClientEvent[] = [];
      if (!started) {
        started = true;
        out.push(start(ev.type === 'start' ? ev.usage : null));
        if (ev.type === 'start') return out;
      }
      switch (ev.type) {
        case 'start':
          break;
        case 'text':
          if (open !== 'text') openBlock(out, 'text', { type: 'text', text: '' });
          out.push(frame('content_block_delta', { index: block, delta: { type: 'text_delta', text: ev.text } }));
          break;
        case 'thinking':
          if (open !== 'thinking') openBlock(out, 'thinking', { type: 'thinking', thinking: '', signature: '' });
          out.push(frame('content_block_delta', { index: block, delta: { type: 'thinking_delta', thinking: ev.text } }));
          break;
        case 'tool_start':
          openBlock(out, 'tool', { type: 'tool_use', id: ev.id, name: ev.name, input: {} });
          blockOfTool.set(ev.index, block);
          break;
        case 'tool_args':
          out.push(frame('content_block_delta', { index: blockOfTool.get(ev.index) ?? block, delta: { type: 'input_json_delta', partial_json: ev.args } }));
          break;
        case 'finish':
          finish = ev.finish;
          stopSequence = ev.stopSequence ?? null;
          break;
        case 'usage':
          usage = ev.usage;
          break;
        case 'end':
          done = true;
          close(out);
          out.push(frame('message_delta', { delta: { stop_reason: anthropicStop(finish, stopSequence), stop_sequence: stopSequence }, usage: anthropicUsage(usage) }));
          out.push(frame('message_stop', {}));
          break;
      }
      return out;
    },
  };
}

function geminiEncoder(ctx: EncodeContext): StreamEncoder {
  const tail = `,"modelVersion":${JSON.stringify(ctx.model)},"responseId":${JSON.stringify(ctx.requestId)}}`;
  const chunk = (parts: Obj[], extra = ''): ClientEvent => ({ data: `{"candidates":[{"content":{"role":"model","parts":${JSON.stringify(parts)}}${extra},"index":0}]` });
  const calls: Array<{ id: string; name: string; args: string }> = [];
  let finish: Finish = 'stop';
  let usage: BillableUsage | null = null;
  let done = false;
  return {
    encode(ev) {
      if (done) return [];
      switch (ev.type) {
        case 'text':
          return [{ data: chunk([{ text: ev.text }]).data + tail }];
        case 'thinking':
          return [{ data: chunk([{ text: ev.text, thought: true }]).data + tail }];
        case 'tool_start':
          calls[ev.index] = { id: ev.id, name: ev.name, args: '' };
          return [];
        case 'tool_args':
          if (calls[ev.index]) calls[ev.index]!.args += ev.args;
          return [];
        case 'finish':
          finish = ev.finish;
          return [];
        case 'usage':
          usage = ev.usage;
          return [];
        case 'end': {
          done = true;
          const parts: Obj[] = calls.filter(Boolean).map((c) => ({ functionCall: { id: c.id, name: c.name, args: parseArgs(c.args) } }));
          if (parts.length === 0) parts.push({ text: '' });
          const meta = usage ? `,"usageMetadata":${JSON.stringify(geminiUsage(usage))}` : '';
          return [{ data: chunk(parts, `,"finishReason":"${geminiFinish(finish)}"`).data + meta + tail }];
        }
        default:
          return [];
      }
    },
  };
}

function parseArgs(s: string): unknown {
  try {
    return s.trim() === '' ? {} : JSON.parse(s);
  } catch {
    return { _raw: s };
  }
}

export function streamEncoder(client: Provider, ctx: EncodeContext): StreamEncoder {
  return client === 'openai' ? openaiEncoder(ctx) : client === 'anthropic' ? anthropicEncoder(ctx) : geminiEncoder(ctx);
}

/** Runs events through an encoder (tests and the JSON path share it). */
export function encodeAll(enc: StreamEncoder, events: StreamEvent[]): ClientEvent[] {
  return events.flatMap((e) => enc.encode(e));
}
