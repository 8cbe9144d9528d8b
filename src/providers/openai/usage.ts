/**
 * OpenAI usage (chat completions, embeddings, images), delivered content and content-filter
 * refusals of JSON responses. The mapping is documented in docs/pricing.md; the raw usage object is
 * returned verbatim next to it.
 */
import { addText, billableUsage, newDelivered, sub, withImages } from '../billable.ts';
import { count, isObj, listed, unknownUsage, type Obj, type UsageSpec } from '../json.ts';
import type { ResponseFacts } from '../provider.ts';
import type { BillableUsage, Delivered, Endpoint, ImageRequestParams } from '../types.ts';
import { isResponseObject, readResponsesResponse } from './responses.ts';

// The usage fields OpenAI documents (API reference, CompletionUsage and ImagesResponse.usage).
// Audio tokens are priced apart by OpenAI and have no price here: listed when non-zero.
export const CHAT_USAGE: UsageSpec = {
  prompt_tokens: 'count',
  completion_tokens: 'count',
  total_tokens: 'info',
  prompt_tokens_details: { cached_tokens: 'count', cache_write_tokens: 'count', audio_tokens: 'unpriced', text_tokens: 'info', image_tokens: 'info' },
  completion_tokens_details: {
    reasoning_tokens: 'info',
    accepted_prediction_tokens: 'info',
    rejected_prediction_tokens: 'info',
    audio_tokens: 'unpriced',
    text_tokens: 'info',
  },
};
export const EMBEDDINGS_USAGE: UsageSpec = { prompt_tokens: 'count', total_tokens: 'info' };
export const IMAGES_USAGE: UsageSpec = {
  input_tokens: 'count',
  output_tokens: 'count',
  total_tokens: 'info',
  input_tokens_details: { text_tokens: 'count', image_tokens: 'count' },
  output_tokens_details: { text_tokens: 'count', image_tokens: 'count' },
};

const SPECS: Record<Endpoint, UsageSpec> = { chat: CHAT_USAGE, embeddings: EMBEDDINGS_USAGE, images: IMAGES_USAGE };

export function usageNotKnown(endpoint: Endpoint, raw: unknown): string[] {
  return listed(unknownUsage(raw, SPECS[endpoint]));
}

/**
 * Chat completions `usage`. `prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens` and
 * `cache_write_tokens` (prompt tokens written to the cache, billed above the input rate from
 * GPT-5.6 on), so input = prompt − cached − cache_write. `completion_tokens` includes reasoning
 * (and accepted/rejected prediction) tokens, all billed as output.
 */
export function mapChatUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  return splitTokens(u.prompt_tokens, u.prompt_tokens_details, u.completion_tokens, u.completion_tokens_details);
}

/**
 * OpenAI's token split, the same in chat completions and the Responses API under other names:
 * the input total INCLUDES the cached and cache-write tokens of its details, the output total
 * includes the reasoning tokens. Null when neither total is reported.
 */
export function splitTokens(inputTotal: unknown, inputDetails: unknown, outputTotal: unknown, outputDetails: unknown): BillableUsage | null {
  const input = count(inputTotal);
  const output = count(outputTotal);
  if (input === undefined && output === undefined) return null;
  const i = input ?? 0;
  const o = output ?? 0;
  const id = isObj(inputDetails) ? inputDetails : undefined;
  const od = isObj(outputDetails) ? outputDetails : undefined;
  const cached = Math.min(count(id?.cached_tokens) ?? 0, i);
  const written = Math.min(count(id?.cache_write_tokens) ?? 0, i - cached);
  return billableUsage({ input_tokens: i - cached - written, cached_input_tokens: cached, cache_write_tokens: written, output_tokens: o, reasoning_tokens: Math.min(count(od?.reasoning_tokens) ?? 0, o) });
}

/** Embeddings `usage`: input = prompt_tokens (total_tokens when prompt_tokens is absent). */
export function mapEmbeddingsUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.prompt_tokens) ?? count(u.total_tokens);
  if (prompt === undefined) return null;
  return billableUsage({ input_tokens: prompt });
}

/**
 * Images `usage` (gpt-image-1): input text tokens → input_tokens, input image tokens →
 * image_input_tokens, output tokens → image_output_tokens (the output is the image), or split by
 * `output_tokens_details` when present. Token counts only; images are added by withImages.
 */
export function mapImagesUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const input = count(u.input_tokens);
  const output = count(u.output_tokens);
  if (input === undefined && output === undefined) return null;
  const i = input ?? 0;
  const o = output ?? 0;
  const b = billableUsage();
  const id = isObj(u.input_tokens_details) ? u.input_tokens_details : undefined;
  const textIn = count(id?.text_tokens);
  const imageIn = count(id?.image_tokens);
  if (textIn === undefined && imageIn === undefined) {
    b.input_tokens = i;
    b.image_input_tokens = 0;
  } else {
    b.image_input_tokens = Math.min(imageIn ?? sub(i, textIn ?? 0), i);
    b.input_tokens = textIn !== undefined ? Math.min(textIn, i - b.image_input_tokens) : i - b.image_input_tokens;
  }
  const od = isObj(u.output_tokens_details) ? u.output_tokens_details : undefined;
  const textOut = count(od?.text_tokens);
  const imageOut = count(od?.image_tokens);
  if (textOut === undefined && imageOut === undefined) {
    b.output_tokens = 0;
    b.image_output_tokens = o;
  } else {
    b.image_output_tokens = Math.min(imageOut ?? sub(o, textOut ?? 0), o);
    b.output_tokens = o - b.image_output_tokens;
  }
  return b;
}

/**
 * OpenAI's refusal marker, the same for a response and for a stream chunk: a choice that finished
 * with `content_filter` (content omitted by OpenAI's filters).
 */
export function contentFiltered(choices: unknown): boolean {
  return Array.isArray(choices) && choices.some((c) => isObj(c) && c.finish_reason === 'content_filter');
}

/** Text of a message or a stream delta: content, refusal, reasoning, tool and function call arguments. */
export function addMessageText(d: Delivered, m: Obj): void {
  if (typeof m.content === 'string') addText(d, m.content);
  else if (Array.isArray(m.content)) for (const p of m.content) if (isObj(p)) addText(d, p.text);
  addText(d, m.refusal);
  addText(d, m.reasoning_content);
  if (Array.isArray(m.tool_calls)) {
    for (const tc of m.tool_calls) if (isObj(tc) && isObj(tc.function)) addText(d, tc.function.arguments);
  }
  if (isObj(m.function_call)) addText(d, m.function_call.arguments);
}

/** Images delivered: `data[]` entries with a non-empty b64_json or url. */
function imagesDelivered(body: Obj): number {
  if (!Array.isArray(body.data)) return 0;
  let n = 0;
  for (const item of body.data) {
    if (!isObj(item)) continue;
    if ((typeof item.b64_json === 'string' && item.b64_json.length > 0) || (typeof item.url === 'string' && item.url.length > 0)) n++;
  }
  return n;
}

export function readResponse(endpoint: Endpoint, json: unknown, image: ImageRequestParams): ResponseFacts {
  const delivered = newDelivered();
  if (!isObj(json)) return { raw: null, billable: null, delivered, refused: false, unknownUsage: [] };
  const raw = json.usage ?? null;
  const unknown = usageNotKnown(endpoint, raw);
  if (endpoint === 'embeddings') return { raw, billable: mapEmbeddingsUsage(raw), delivered, refused: false, unknownUsage: unknown };
  if (endpoint === 'images') {
    delivered.images = imagesDelivered(json);
    const billable = withImages(mapImagesUsage(raw), delivered.images, image, json);
    return { raw, billable, delivered, refused: false, unknownUsage: unknown };
  }
  if (isResponseObject(json)) return readResponsesResponse(json);
  if (Array.isArray(json.choices)) for (const c of json.choices) if (isObj(c) && isObj(c.message)) addMessageText(delivered, c.message);
  return { raw, billable: mapChatUsage(raw), delivered, refused: contentFiltered(json.choices), unknownUsage: unknown };
}
