/** A channel speaking the Gemini API: where and how to call it, and why it failed. */
import { classifyCommon } from '../failure.ts';
import type { ClientHeaders, UpstreamCall, UpstreamFailure } from '../provider.ts';

export function normaliseBaseUrl(base: string): string {
  return base.replace(/\/+$/, '').replace(/\/v1(beta|alpha)?$/, '');
}

/** The model is in the path; streams are always asked for as SSE (a JSON-array client gets its array rebuilt). */
export function path(call: UpstreamCall): string {
  const m = encodeURIComponent(call.upstreamModel);
  return call.stream ? `/v1beta/models/${m}:streamGenerateContent?alt=sse` : `/v1beta/models/${m}:generateContent`;
}

export function headers(key: string, _client: ClientHeaders): Record<string, string> {
  return { 'x-goog-api-key': key };
}

/** The body names no model: it is forwarded as it came. */
export function rewrite(_body: Record<string, unknown>, _call: UpstreamCall): Record<string, unknown> | null {
  return null;
}

/** A key Google does not accept is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID: our key, not the client's request. */
const BAD_KEY_RE = /API_KEY_INVALID|API key not valid/;
/** "Gemini API free tier is not available in your country. Please enable billing on your project…" (400 FAILED_PRECONDITION). */
const NO_BILLING_RE = /FAILED_PRECONDITION[\s\S]*billing|billing[\s\S]*FAILED_PRECONDITION/;

export function classifyStatus(status: number, body: string): UpstreamFailure {
  if (status === 400 && BAD_KEY_RE.test(body)) return 'upstream_auth';
  if (status === 400 && NO_BILLING_RE.test(body)) return 'out_of_credit';
  return classifyCommon(status, body);
}
