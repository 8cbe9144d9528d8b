/**
 * Compatibility for the gateway until it uses PROVIDER_MODULES and decides outcomes from
 * `UpstreamFailure` itself (requests/policy.ts): the upstream side of each module, with the
 * failure kinds mapped to today's outcomes. Delete once nothing imports it.
 */
import type { Outcome } from '../requests/outcomes.ts';
import { PROVIDER_MODULES } from './modules.ts';
import type { Provider, UpstreamCall, UpstreamFailure } from './provider.ts';

export type { Operation, UpstreamCall } from './provider.ts';

export interface ErrorClass {
  outcome: Outcome;
  /** Another attempt (same or next channel) may succeed. */
  retryable: boolean;
}

export interface ProviderAdapter {
  path(call: UpstreamCall): string;
  headers(key: string, clientHeaders: Record<string, string | string[] | undefined>): Record<string, string>;
  /** The body for the upstream (the given one when nothing changes). */
  rewrite(body: Record<string, unknown>, call: UpstreamCall): Record<string, unknown>;
  /** A 200 whose content the upstream refused (moderation), by the provider's own markers. */
  refusedOk(json: unknown, call: UpstreamCall): boolean;
  classifyStatus(status: number, body: string): ErrorClass;
}

const OUTCOME: Record<UpstreamFailure, ErrorClass> = {
  rate_limited: { outcome: 'upstream_rate_limited', retryable: true },
  // Another channel's account may have credit; this one cannot serve.
  out_of_credit: { outcome: 'upstream_error', retryable: true },
  overloaded: { outcome: 'upstream_error', retryable: true },
  server_error: { outcome: 'upstream_error', retryable: true },
  // Our upstream key or model mapping is wrong: the platform's misconfiguration, not the client's.
  upstream_auth: { outcome: 'platform_error', retryable: true },
  not_found: { outcome: 'platform_error', retryable: true },
  moderation: { outcome: 'upstream_moderation', retryable: false },
  invalid_request: { outcome: 'client_error', retryable: false },
};

function adapter(provider: Provider): ProviderAdapter {
  const m = PROVIDER_MODULES[provider];
  return {
    path: (call) => m.path(call),
    headers: (key, client) => m.headers(key, client),
    rewrite: (body, call) => m.rewrite(body, call) ?? body,
    refusedOk: (json, call) => m.readResponse(call.endpoint, json, {}).refused,
    classifyStatus: (status, body) => OUTCOME[m.classifyStatus(status, body)],
  };
}

export const PROVIDER_ADAPTERS: Record<Provider, ProviderAdapter> = { openai: adapter('openai'), anthropic: adapter('anthropic'), gemini: adapter('gemini') };

/** Base URLs may be given with or without the API version segment. */
export function normaliseBaseUrl(provider: Provider, base: string): string {
  return PROVIDER_MODULES[provider].normaliseBaseUrl(base);
}
