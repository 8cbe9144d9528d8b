// What the rest of Surety knows of a provider API (OpenAI, Anthropic, Gemini): one module per
// provider implements this contract, in providers/<name>/. A provider module is plain data and
// functions over parsed JSON: it never sees HTTP-framework types, storage or money.
//
// Two sides:
// - the client side: a request arriving in this provider's API (what Surety reads from it, the
//   error shape it answers in, the shape of its model list);
// - the upstream side: a channel speaking this provider's API (where and how to call it, and how
//   to read what it answered: usage, delivered content, refusals, failures).
//
// A provider module says WHAT happened (an upstream failure kind, a refusal, usage); the outcome
// of a request and what it is billed is decided in one place, requests/policy.ts.

import type { BillableUsage, Delivered, Endpoint, ImageRequestParams, UsageResult } from './types.ts';
import type { SseEvent } from './sse.ts';

export const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** The client-facing operations Surety serves. */
export type Operation =
  | 'chat'
  | 'responses'
  | 'embeddings'
  | 'images.generations'
  | 'images.edits'
  | 'messages'
  | 'generateContent'
  | 'streamGenerateContent';

/** One upstream call: which provider API, what is asked, and the model's name at the upstream. */
export interface UpstreamCall {
  provider: Provider;
  operation: Operation;
  endpoint: Endpoint;
  stream: boolean;
  upstreamModel: string;
}

export type ClientHeaders = Record<string, string | string[] | undefined>;

/** What Surety itself reads from a client's request (for routing, limits, the hold and billing). */
export interface RequestFacts {
  /** The model named in the body or form (absent when the path names it, as Gemini's does). */
  model?: string;
  stream: boolean;
  /** The most output tokens the request allows, when it says (already × n / candidateCount). */
  maxOutputTokens?: number;
  /** Image count (validated), size and quality; `{}` for non-image endpoints. */
  image: ImageRequestParams;
  /** Estimated input tokens (ceil(bytes / 4) of the request's text), for TPM limits and the hold. */
  inputTokens: number;
}

/** Limits a request is validated against (from the model's catalog entry). */
export interface RequestLimits {
  /** Most images one request may ask for (OpenAI `n`). */
  maxImages: number;
}

/**
 * Why an upstream answered with a non-2xx status, in the provider's own terms. requests/policy.ts
 * turns it into an outcome and decides whether another attempt may help.
 */
export type UpstreamFailure =
  | 'rate_limited' /* 429: try again later or elsewhere */
  | 'out_of_credit' /* the channel's upstream account cannot pay (OpenAI 429 insufficient_quota): retrying it cannot help */
  | 'overloaded' /* 529 / 503: the upstream is overloaded */
  | 'server_error' /* 5xx, 408 */
  | 'upstream_auth' /* 401/403: our upstream key is wrong or not allowed */
  | 'not_found' /* 404: our model mapping or base URL is wrong */
  | 'moderation' /* refused on content policy */
  | 'invalid_request'; /* the client's request is invalid (the upstream's answer is passed through) */

/** What a complete 2xx response (JSON) delivered, by the provider's own markers. */
export interface ResponseFacts extends UsageResult {
  /**
   * Refused on content policy: the provider's refusal marker (Anthropic `stop_reason: "refusal"`,
   * OpenAI `finish_reason: "content_filter"`, a Gemini block reason incl. RECITATION) was seen and
   * no image was delivered (a delivered image is billed as delivered). Text streamed before the
   * refusal does not undo it. One function per provider decides it for JSON and for streams alike.
   */
  refused: boolean;
  /**
   * Usage the module cannot bill exactly, by dotted path: fields of the raw usage object it does
   * not know, and known non-zero counts the price book cannot price (audio tokens, web searches,
   * 1-hour cache writes, iterations run by another model; `speed=fast`-style premiums). Billed from
   * what is known, kept raw, and listed here for the record and for detection.
   */
  unknownUsage: string[];
}

/**
 * What a streamed response delivered so far (or in all, once it ended). When the provider's final
 * usage has not arrived (a cut or cancelled stream), `billable` holds what was reported so far
 * (running totals, placeholders) with output raised to at least the estimate of `delivered` text,
 * and is marked `estimated`: the gateway bills such a stream's output from what was delivered.
 */
export interface StreamFacts extends ResponseFacts {
  /** The provider's end-of-stream marker was seen ([DONE], message_stop, a finishReason). */
  complete: boolean;
  /** Events whose data is not a JSON object (a corrupt stream). */
  malformed: number;
  /** A running usage total reported lower than an earlier one (kept on the row for detection). */
  usageRegressed?: boolean;
}

export interface StreamReader {
  feed(event: SseEvent): void;
  result(): StreamFacts;
}

export interface ProviderModule {
  readonly name: Provider;

  // ---- the client side: requests in this provider's API ----

  /**
   * Reads and validates the fields Surety itself relies on (model, stream, max output tokens, image
   * count, the shape of messages/contents/input used for estimation). A wrong type or a value out of
   * range throws AppError('VALIDATION', …, { field }) before any hold; everything else passes through
   * untouched. `form` is true for multipart bodies (all values are strings there). The model is
   * required in the body or form where the API puts it there (OpenAI, Anthropic; Gemini's is in the
   * path). A body nested more than 128 levels deep is refused (nothing recursive walks it).
   */
  readRequest(endpoint: Endpoint, operation: Operation, body: Record<string, unknown>, limits: RequestLimits, form?: boolean): RequestFacts;
  /** An error in this API's own shape, so official SDKs raise their own error classes. */
  errorBody(status: number, code: string, message: string, requestId: string): unknown;
  /** A model list (`models` already filtered) and one model entry, in this API's shape. */
  modelList(models: readonly ModelListing[]): unknown;
  modelEntry(model: ModelListing): unknown;
  /** Headers carrying the request id (Anthropic's SDK reads `request-id`). */
  requestIdHeaders(requestId: string): Record<string, string>;

  // ---- the upstream side: a channel speaking this provider's API ----

  /** The base URL with any API version segment removed ("…/v1", "…/v1beta"). */
  normaliseBaseUrl(base: string): string;
  /** Path (and query) on the channel's base URL. */
  path(call: UpstreamCall): string;
  /** Auth and API-version headers; version/beta headers of the client pass through. */
  headers(key: string, clientHeaders: ClientHeaders): Record<string, string>;
  /**
   * The body to send upstream when it must change (model name mapping; OpenAI's include_usage so
   * that streams report usage), or null to forward the client's bytes as they are.
   */
  rewrite(body: Record<string, unknown>, call: UpstreamCall): Record<string, unknown> | null;
  /** Why a non-2xx answer failed (`body` is at most the first 4 KiB, as text). */
  classifyStatus(status: number, body: string): UpstreamFailure;
  /** Usage, delivered content and refusal of a complete JSON response. */
  readResponse(endpoint: Endpoint, json: unknown, image: ImageRequestParams): ResponseFacts;
  /** Accumulates the same, event by event, for a streamed response. */
  streamReader(endpoint: Endpoint, image: ImageRequestParams): StreamReader;
  /**
   * For a request whose stream carries events the client did not ask for (OpenAI's usage-only
   * chunk, when the client did not set include_usage but Surety asked for it), a predicate that
   * says which events the client sees; null when every event passes as it came (the common case:
   * bytes are then forwarded untouched).
   */
  clientStreamFilter?(endpoint: Endpoint, requestBody: Record<string, unknown> | null): ((eventData: string) => boolean) | null;
  /** Usage estimated from the request and what was delivered, when the upstream reported none (`estimated: true`). */
  estimateUsage(endpoint: Endpoint, requestBody: unknown, delivered: Delivered, image: ImageRequestParams): BillableUsage;
}

/** A model as a model list shows it. */
export interface ModelListing {
  id: string;
  provider: Provider;
  /** Epoch ms of its last change. */
  updatedAt: number;
  /** The client APIs it can be reached through (translated where they are not its provider's). */
  apis: readonly string[];
}
