import type { Outcome } from '../requests/outcomes.ts';
import type { Provider } from './provider.ts';
import type { Endpoint } from './types.ts';

// Upstream adapters as data: where to send, which headers, how the body changes (only the model
// name, and OpenAI's include_usage so streams report usage), and how an upstream answer maps to
// an outcome. Adapters never see HTTP-framework types.

export type Operation = 'chat' | 'embeddings' | 'images.generations' | 'images.edits' | 'messages' | 'generateContent' | 'streamGenerateContent';

export interface UpstreamCall {
  provider: Provider;
  operation: Operation;
  endpoint: Endpoint;
  stream: boolean;
  upstreamModel: string;
}

export interface ErrorClass {
  outcome: Outcome;
  /** Another attempt (same or next channel) may succeed. */
  retryable: boolean;
}

export interface ProviderAdapter {
  /** Path (and query) on the channel's base URL. */
  path(call: UpstreamCall): string;
  /** Auth and protocol headers; `clientHeaders` lets version/beta headers through. */
  headers(key: string, clientHeaders: Record<string, string | string[] | undefined>): Record<string, string>;
  /** Rewrites a JSON body for the upstream (mutates and returns it). */
  rewrite(body: Record<string, unknown>, call: UpstreamCall): Record<string, unknown>;
  /** A 200 whose content the upstream refused (moderation), by the provider's own markers. */
  refusedOk(json: unknown, call: UpstreamCall): boolean;
  /** A non-2xx answer. */
  classifyStatus(status: number, body: string): ErrorClass;
}

const MODERATION_RE = /content_policy_violation|moderation_blocked|safety system|content policy|usage policy|responsible ai/i;

function commonStatus(status: number, body: string): ErrorClass {
  if (status === 429) return { outcome: 'upstream_rate_limited', retryable: true };
  if (status === 408 || status >= 500) return { outcome: 'upstream_error', retryable: true };
  // Our upstream key or model mapping is wrong: the platform's misconfiguration, not the client's.
  if (status === 401 || status === 403 || status === 404) return { outcome: 'platform_error', retryable: true };
  if (MODERATION_RE.test(body)) return { outcome: 'upstream_moderation', retryable: false };
  return { outcome: 'client_error', retryable: false };
}

function strip(base: string, suffix: RegExp): string {
  return base.replace(suffix, '');
}

const openai: ProviderAdapter = {
  path(call) {
    switch (call.operation) {
      case 'embeddings':
        return '/v1/embeddings';
      case 'images.generations':
        return '/v1/images/generations';
      case 'images.edits':
        return '/v1/images/edits';
      default:
        return '/v1/chat/completions';
    }
  },
  headers(key) {
    return { authorization: `Bearer ${key}` };
  },
  rewrite(body, call) {
    body.model = call.upstreamModel;
    if (call.stream && call.operation === 'chat') {
      // Usage arrives only when asked for; a billing gateway always asks.
      const so = body.stream_options;
      body.stream_options = so && typeof so === 'object' ? { ...(so as object), include_usage: true } : { include_usage: true };
    }
    return body;
  },
  refusedOk(json) {
    const c = (json as { choices?: Array<{ finish_reason?: string; message?: { content?: unknown; refusal?: unknown } }> })?.choices?.[0];
    return !!c && c.finish_reason === 'content_filter' && !c.message?.content;
  },
  classifyStatus: commonStatus,
};

const anthropic: ProviderAdapter = {
  path() {
    return '/v1/messages';
  },
  headers(key, client) {
    const h: Record<string, string> = { 'x-api-key': key, 'anthropic-version': String(client['anthropic-version'] ?? '2023-06-01') };
    const beta = client['anthropic-beta'];
    if (beta) h['anthropic-beta'] = String(beta);
    return h;
  },
  rewrite(body, call) {
    body.model = call.upstreamModel;
    return body;
  },
  refusedOk(json) {
    return (json as { stop_reason?: string })?.stop_reason === 'refusal';
  },
  classifyStatus(status, body) {
    if (status === 529) return { outcome: 'upstream_error', retryable: true };
    return commonStatus(status, body);
  },
};

const GEMINI_BLOCK = new Set(['SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'IMAGE_SAFETY', 'RECITATION', 'IMAGE_PROHIBITED_CONTENT']);

const gemini: ProviderAdapter = {
  path(call) {
    const m = encodeURIComponent(call.upstreamModel);
    return call.stream ? `/v1beta/models/${m}:streamGenerateContent?alt=sse` : `/v1beta/models/${m}:generateContent`;
  },
  headers(key) {
    return { 'x-goog-api-key': key };
  },
  rewrite(body) {
    return body;
  },
  refusedOk(json) {
    const j = json as { promptFeedback?: { blockReason?: string }; candidates?: Array<{ finishReason?: string; content?: { parts?: Array<{ inlineData?: unknown }> } }> };
    if (j?.promptFeedback?.blockReason) return true;
    const c = j?.candidates?.[0];
    if (!c?.finishReason || !GEMINI_BLOCK.has(c.finishReason)) return false;
    // Blocked and nothing (no image) delivered.
    return !(c.content?.parts ?? []).some((p) => p.inlineData);
  },
  classifyStatus: commonStatus,
};

export const PROVIDER_ADAPTERS: Record<Provider, ProviderAdapter> = { openai, anthropic, gemini };

/** Base URLs may be given with or without the API version segment. */
export function normaliseBaseUrl(provider: Provider, base: string): string {
  const b = base.replace(/\/+$/, '');
  return provider === 'gemini' ? strip(b, /\/v1(beta|alpha)?$/) : strip(b, /\/v1$/);
}
