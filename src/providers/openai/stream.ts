/**
 * OpenAI streams, event by event (events as produced by SseParser).
 *
 * - Chat: the chunk carrying a non-null `usage` (sent last, with `choices: []`, when the request
 *   had `stream_options.include_usage`, which Surety always asks for); `data: [DONE]` ends the
 *   stream. That usage is final by nature: a stream cut before it has none (`billable: null`).
 * - Images (gpt-image-1 `stream: true`): each `image_generation.completed` / `image_edit.completed`
 *   event is one delivered image and carries its `usage`; partial images are previews.
 */
import { newDelivered, sumBillable, withImages } from '../billable.ts';
import { EventData, isObj, listed, unknownUsage } from '../json.ts';
import type { StreamFacts, StreamReader } from '../provider.ts';
import type { SseEvent } from '../sse.ts';
import type { BillableUsage, Endpoint, ImageRequestParams } from '../types.ts';
import { isResponsesEvent, responsesStream } from './responses.ts';
import { CHAT_USAGE, IMAGES_USAGE, addMessageText, contentFiltered, mapChatUsage, mapImagesUsage } from './usage.ts';

function chatStream(): StreamReader {
  const events = new EventData();
  const delivered = newDelivered();
  let raw: unknown = null;
  let complete = false;
  let refused = false;
  return {
    feed(ev: SseEvent) {
      if (ev.data === '[DONE]') {
        complete = true;
        return;
      }
      const j = events.parse(ev.data);
      if (j === null) return;
      if (isObj(j.usage)) raw = j.usage;
      if (!Array.isArray(j.choices)) return;
      if (contentFiltered(j.choices)) refused = true;
      for (const c of j.choices) if (isObj(c) && isObj(c.delta)) addMessageText(delivered, c.delta);
    },
    result(): StreamFacts {
      return {
        raw,
        billable: mapChatUsage(raw),
        delivered: { ...delivered },
        refused,
        unknownUsage: listed(unknownUsage(raw, CHAT_USAGE)),
        complete,
        malformed: events.malformed,
      };
    },
  };
}

function imagesStream(request: ImageRequestParams): StreamReader {
  const events = new EventData();
  const delivered = newDelivered();
  const raws: unknown[] = [];
  const unknown = new Set<string>();
  let tokens: BillableUsage | null = null;
  let reported: { size?: unknown; quality?: unknown } | undefined;
  let complete = false;
  return {
    feed(ev: SseEvent) {
      const j = events.parse(ev.data);
      if (j === null) return;
      const type = typeof j.type === 'string' ? j.type : ev.event;
      if (type !== 'image_generation.completed' && type !== 'image_edit.completed') return;
      complete = true;
      if (typeof j.b64_json === 'string' && j.b64_json.length > 0) delivered.images++;
      reported = { size: j.size, quality: j.quality };
      if (j.usage !== undefined && j.usage !== null) {
        raws.push(j.usage);
        unknownUsage(j.usage, IMAGES_USAGE, unknown);
        tokens = sumBillable(tokens, mapImagesUsage(j.usage));
      }
    },
    result(): StreamFacts {
      const raw = raws.length === 0 ? null : raws.length === 1 ? raws[0] : raws.slice();
      const base = tokens === null ? null : { ...(tokens as BillableUsage) };
      return {
        raw,
        billable: withImages(base, delivered.images, request, reported),
        delivered: { ...delivered },
        refused: false,
        unknownUsage: listed(unknown),
        complete,
        malformed: events.malformed,
      };
    },
  };
}

/** Chat completions or, when its first event says so, a Responses API stream. */
function chatOrResponses(): StreamReader {
  let inner: StreamReader | null = null;
  return {
    feed(ev: SseEvent) {
      inner ??= isResponsesEvent(ev) ? responsesStream() : chatStream();
      inner.feed(ev);
    },
    result: () => (inner ?? chatStream()).result(),
  };
}

export function streamReader(endpoint: Endpoint, image: ImageRequestParams): StreamReader {
  return endpoint === 'images' ? imagesStream(image) : chatOrResponses();
}

/**
 * OpenAI's final chunk that carries only usage (`choices: []`). Surety always asks for it; a client
 * that did not (`stream_options.include_usage` not true) must not see it: its stream is filtered
 * event by event. Every other stream passes through as bytes (null).
 */
export function clientStreamFilter(endpoint: Endpoint, requestBody: Record<string, unknown> | null): ((eventData: string) => boolean) | null {
  // Only chat completions streams carry the usage-only chunk (a Responses request has input, no messages).
  if (endpoint !== 'chat' || (requestBody?.input !== undefined && !Array.isArray(requestBody?.messages))) return null;
  const so = requestBody?.stream_options;
  if (isObj(so) && so.include_usage === true) return null;
  return (eventData) => !(eventData.includes('"choices":[]') && eventData.includes('"usage":{'));
}
