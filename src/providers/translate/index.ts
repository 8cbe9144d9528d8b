/**
 * Translation between the chat APIs (OpenAI Chat Completions, Anthropic Messages, Gemini
 * generateContent), used when a model's channel speaks another API than the caller. Pure
 * functions over parsed JSON and SSE events: the gateway decides when to translate; billing
 * still reads the upstream's own answer with the upstream's own provider module.
 */
import type { Operation, Provider } from '../provider.ts';
import type { SseEvent } from '../sse.ts';
import type { Endpoint } from '../types.ts';
import { decodeAnthropicRequest, encodeAnthropicRequest } from './anthropic-request.ts';
import { decodeAnthropicResponse, encodeAnthropicResponse } from './anthropic-response.ts';
import { decodeGeminiRequest, encodeGeminiRequest } from './gemini-request.ts';
import { decodeGeminiResponse, encodeGeminiResponse } from './gemini-response.ts';
import { isObj, type ChatRequest, type ChatResponse, type ClientEvent, type EncodeContext, type Obj } from './ir.ts';
import { decodeOpenAIRequest, encodeOpenAIRequest } from './openai-request.ts';
import { decodeOpenAIResponse, encodeOpenAIResponse } from './openai-response.ts';
import { decodeResponsesRequest } from './responses-request.ts';
import { encodeResponsesResponse, responsesEncoder } from './responses-response.ts';
import { streamDecoder } from './stream-decode.ts';
import { streamEncoder } from './stream-encode.ts';

export type { ChatRequest, ChatResponse, ClientEvent, EncodeContext, StreamEvent } from './ir.ts';
export { streamDecoder } from './stream-decode.ts';
export { streamEncoder } from './stream-encode.ts';

/** The client operations that can be translated: the three chat APIs and OpenAI's Responses API. */
const CHAT_OPERATIONS: ReadonlySet<Operation> = new Set(['chat', 'responses', 'messages', 'generateContent', 'streamGenerateContent']);

/** The shape a caller speaks: a provider's chat API, or OpenAI's Responses API. */
export type Dialect = Provider | 'responses';

export function dialectOf(provider: Provider, operation: Operation): Dialect {
  return operation === 'responses' ? 'responses' : provider;
}

/** Whether a request to `operation` of the caller's API can reach a `kind` model over `upstream`. */
export function translatable(operation: Operation, upstream: Provider, kind: Endpoint): boolean {
  return kind === 'chat' && CHAT_OPERATIONS.has(operation) && PROVIDER_CHAT.has(upstream);
}
const PROVIDER_CHAT: ReadonlySet<Provider> = new Set(['openai', 'anthropic', 'gemini']);

/** The client APIs a model can be reached through (the model catalog and model lists say it). */
export type ClientApi = 'openai.chat' | 'openai.responses' | 'openai.embeddings' | 'openai.images' | 'anthropic.messages' | 'gemini.generateContent';

export function apisOf(provider: Provider, kind: Endpoint): ClientApi[] {
  if (kind === 'chat') return ['openai.chat', 'openai.responses', 'anthropic.messages', 'gemini.generateContent'];
  if (provider === 'openai') return kind === 'embeddings' ? ['openai.embeddings'] : ['openai.images'];
  return provider === 'gemini' ? ['gemini.generateContent'] : [];
}

/** The upstream operation a translated request calls. */
export function upstreamOperation(upstream: Provider, stream: boolean): Operation {
  return upstream === 'openai' ? 'chat' : upstream === 'anthropic' ? 'messages' : stream ? 'streamGenerateContent' : 'generateContent';
}

/** The caller's request in the common form; throws a 400 naming what cannot be translated to `target`. */
export function decodeRequest(client: Dialect, body: Obj, stream: boolean, target: Provider): ChatRequest {
  if (client === 'responses') return decodeResponsesRequest(body, target);
  if (client === 'openai') return decodeOpenAIRequest(body, target);
  if (client === 'anthropic') return decodeAnthropicRequest(body, target);
  return decodeGeminiRequest(body, stream, target);
}

/** The common form as a request body of the upstream's API. */
export function encodeRequest(r: ChatRequest, upstream: Provider, upstreamModel: string): Obj {
  if (upstream === 'openai') return encodeOpenAIRequest(r, upstreamModel);
  if (upstream === 'anthropic') return encodeAnthropicRequest(r, upstreamModel);
  return encodeGeminiRequest(r);
}

export function decodeResponse(upstream: Provider, json: Obj): ChatResponse {
  if (upstream === 'openai') return decodeOpenAIResponse(json);
  if (upstream === 'anthropic') return decodeAnthropicResponse(json);
  return decodeGeminiResponse(json);
}

export function encodeResponse(client: Dialect, r: ChatResponse, ctx: EncodeContext): Obj {
  if (client === 'responses') return encodeResponsesResponse(r, ctx);
  if (client === 'openai') return encodeOpenAIResponse(r, ctx);
  if (client === 'anthropic') return encodeAnthropicResponse(r, ctx);
  return encodeGeminiResponse(r, ctx);
}

/** An upstream JSON answer, in the caller's API. */
export function translateResponse(upstream: Provider, client: Dialect, json: Obj, ctx: EncodeContext): Obj {
  return encodeResponse(client, decodeResponse(upstream, json), ctx);
}

/** A stream translator: upstream SSE events in, the caller's events out, as they come. */
export interface StreamTranslator {
  feed(ev: SseEvent): ClientEvent[];
}

export function streamTranslator(upstream: Provider, client: Dialect, ctx: EncodeContext): StreamTranslator {
  const dec = streamDecoder(upstream);
  const enc = client === 'responses' ? responsesEncoder(ctx) : streamEncoder(client, ctx);
  return {
    feed(ev) {
      const events = dec.feed(ev.event, ev.data);
      if (events.length === 0) return [];
      if (events.length === 1) return enc.encode(events[0]!);
      return events.flatMap((e) => enc.encode(e));
    },
  };
}

/**
 * The message of an upstream's error body (all three put it at `error.message`), for an error
 * answered in the caller's API. Null when the body has none.
 */
export function upstreamErrorMessage(text: string): string | null {
  try {
    const j: unknown = JSON.parse(text);
    if (isObj(j) && isObj(j.error) && typeof j.error.message === 'string') return j.error.message;
  } catch {
    // not JSON
  }
  return null;
}
