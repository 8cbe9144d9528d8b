/**
 * Usage of a streamed response, accumulated event by event (events as produced by SseParser).
 *
 * - OpenAI chat: the last chunk carrying a non-null `usage` (sent when the request had
 *   `stream_options.include_usage`); `data: [DONE]` ends the stream.
 * - OpenAI images (gpt-image-1 `stream: true`): each `image_generation.completed` /
 *   `image_edit.completed` event is one delivered image and carries its `usage`; partial images
 *   are previews and are not counted.
 * - Anthropic: `message_start.message.usage` gives input and cache counts; each `message_delta`
 *   `usage` is cumulative and overrides the fields it carries. If the stream ends before any
 *   `message_delta`, output is estimated from delivered text (`estimated: true`).
 * - Gemini (`alt=sse`): every chunk may carry `usageMetadata`; the last one wins.
 */
import {
  addText,
  count,
  geminiDelivered,
  isObj,
  mapAnthropicUsage,
  mapGeminiUsage,
  mapOpenAIChatUsage,
  mapOpenAIImagesUsage,
  newDelivered,
  withImages,
} from './usage.ts';
import { estimateTokensFromBytes } from './estimate.ts';
import type { BillableUsage, Endpoint, ImageRequestParams, Protocol, UsageResult } from './types.ts';

export interface StreamUsageResult extends UsageResult {
  /** Whether the upstream's end-of-stream marker was seen ([DONE], message_stop, a finishReason). */
  complete: boolean;
  /** Events whose data is not a JSON object: the stream is corrupt (a client's SDK fails on them). */
  malformed: number;
}

export interface StreamUsage {
  feed(event: { event?: string; data: string }): void;
  result(): StreamUsageResult;
}

/** Set by parse() when an event's data is not a JSON object; read by the feed() wrapper. */
let parseFailed = false;

function parse(data: string): Record<string, unknown> | null {
  const c = data.charCodeAt(0);
  if (c !== 123 /* { */ && c !== 32 && c !== 10 && c !== 13 && c !== 9) {
    if (data.length > 0) parseFailed = true;
    return null;
  }
  try {
    const v: unknown = JSON.parse(data);
    if (isObj(v)) return v;
  } catch {
    // fall through
  }
  parseFailed = true;
  return null;
}

function sumBillable(a: BillableUsage | null, b: BillableUsage | null): BillableUsage | null {
  if (a === null) return b;
  if (b === null) return a;
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    cached_input_tokens: a.cached_input_tokens + b.cached_input_tokens,
    cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
    images: a.images + b.images,
    image_input_tokens: (a.image_input_tokens ?? 0) + (b.image_input_tokens ?? 0),
    image_output_tokens: (a.image_output_tokens ?? 0) + (b.image_output_tokens ?? 0),
    estimated: a.estimated || b.estimated,
  };
}

export function createStreamUsage(protocol: Protocol, endpoint: Endpoint, request?: ImageRequestParams): StreamUsage {
  const inner =
    protocol === 'openai' ? (endpoint === 'images' ? openaiImagesStream(request) : openaiChatStream(endpoint)) : protocol === 'anthropic' ? anthropicStream() : geminiStream(endpoint, request);
  let malformed = 0;
  return {
    feed(ev) {
      parseFailed = false;
      inner.feed(ev);
      if (parseFailed) malformed++;
    },
    result: () => ({ ...inner.result(), malformed }),
  };
}

interface InnerStreamUsage {
  feed(event: { event?: string; data: string }): void;
  result(): Omit<StreamUsageResult, 'malformed'>;
}

function openaiChatStream(endpoint: Endpoint): InnerStreamUsage {
  const delivered = newDelivered();
  let raw: unknown = null;
  let complete = false;
  return {
    feed(ev) {
      if (ev.data === '[DONE]') {
        complete = true;
        return;
      }
      const j = parse(ev.data);
      if (j === null) return;
      if (isObj(j.usage)) raw = j.usage;
      if (!Array.isArray(j.choices)) return;
      for (const c of j.choices) {
        if (!isObj(c)) continue;
        const d = c.delta;
        if (isObj(d)) {
          addText(delivered, d.content);
          addText(delivered, d.refusal);
          addText(delivered, d.reasoning_content);
          if (Array.isArray(d.tool_calls)) {
            for (const tc of d.tool_calls) if (isObj(tc) && isObj(tc.function)) addText(delivered, tc.function.arguments);
          }
          if (isObj(d.function_call)) addText(delivered, d.function_call.arguments);
        }
      }
    },
    result() {
      const billable = endpoint === 'chat' ? mapOpenAIChatUsage(raw) : null;
      return { raw, billable, delivered: { ...delivered }, complete };
    },
  };
}

function openaiImagesStream(request: ImageRequestParams | undefined): InnerStreamUsage {
  const delivered = newDelivered();
  const raws: unknown[] = [];
  let tokens: BillableUsage | null = null;
  let reported: { size?: unknown; quality?: unknown } | undefined;
  let complete = false;
  return {
    feed(ev) {
      const j = parse(ev.data);
      if (j === null) return;
      const type = typeof j.type === 'string' ? j.type : ev.event;
      if (type !== 'image_generation.completed' && type !== 'image_edit.completed') return;
      complete = true;
      if (typeof j.b64_json === 'string' && j.b64_json.length > 0) delivered.images++;
      reported = { size: j.size, quality: j.quality };
      if (j.usage !== undefined && j.usage !== null) {
        raws.push(j.usage);
        tokens = sumBillable(tokens, mapOpenAIImagesUsage(j.usage));
      }
    },
    result() {
      const raw = raws.length === 0 ? null : raws.length === 1 ? raws[0] : raws.slice();
      const base = tokens === null ? null : { ...(tokens as BillableUsage) };
      return { raw, billable: withImages(base, delivered.images, request, reported), delivered: { ...delivered }, complete };
    },
  };
}

const ANTHROPIC_FIELDS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

function anthropicStream(): InnerStreamUsage {
  const delivered = newDelivered();
  let start: unknown = null;
  let delta: unknown = null;
  let complete = false;
  return {
    feed(ev) {
      const j = parse(ev.data);
      if (j === null) return;
      const type = typeof j.type === 'string' ? j.type : ev.event;
      switch (type) {
        case 'message_start':
          if (isObj(j.message) && j.message.usage !== undefined) start = j.message.usage;
          break;
        case 'content_block_start':
          if (isObj(j.content_block)) {
            const b = j.content_block;
            if (b.type === 'text') addText(delivered, b.text);
            else if (b.type === 'thinking') addText(delivered, b.thinking);
          }
          break;
        case 'content_block_delta':
          if (isObj(j.delta)) {
            const d = j.delta;
            if (d.type === 'text_delta') addText(delivered, d.text);
            else if (d.type === 'thinking_delta') addText(delivered, d.thinking);
            else if (d.type === 'input_json_delta') addText(delivered, d.partial_json);
          }
          break;
        case 'message_delta':
          if (j.usage !== undefined) delta = j.usage;
          break;
        case 'message_stop':
          complete = true;
          break;
      }
    },
    result() {
      if (start === null && delta === null) return { raw: null, billable: null, delivered: { ...delivered }, complete };
      const raw = { message_start: start, message_delta: delta };
      const merged: Record<string, unknown> = {};
      for (const src of [start, delta]) {
        if (!isObj(src)) continue;
        for (const f of ANTHROPIC_FIELDS) if (count(src[f]) !== undefined) merged[f] = src[f];
      }
      const billable = mapAnthropicUsage(merged);
      if (billable !== null && !isObj(delta)) {
        // cut before message_delta: message_start's output_tokens is only a placeholder
        billable.output_tokens = Math.max(billable.output_tokens, estimateTokensFromBytes(delivered.text_bytes));
        billable.estimated = true;
      }
      return { raw, billable, delivered: { ...delivered }, complete };
    },
  };
}

function geminiStream(endpoint: Endpoint, request: ImageRequestParams | undefined): InnerStreamUsage {
  const delivered = newDelivered();
  let raw: unknown = null;
  let complete = false;
  return {
    feed(ev) {
      const j = parse(ev.data);
      if (j === null) return;
      if (j.usageMetadata !== undefined && j.usageMetadata !== null) raw = j.usageMetadata;
      geminiDelivered(j, delivered);
      if (Array.isArray(j.candidates)) {
        for (const c of j.candidates) if (isObj(c) && typeof c.finishReason === 'string' && c.finishReason.length > 0) complete = true;
      }
    },
    result() {
      let billable = endpoint === 'embeddings' ? null : mapGeminiUsage(raw);
      if (endpoint === 'images') billable = withImages(billable, delivered.images, request);
      return { raw, billable, delivered: { ...delivered }, complete };
    },
  };
}
