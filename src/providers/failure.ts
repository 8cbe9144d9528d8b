/**
 * Why an upstream answered with a non-2xx status, by HTTP status and the provider's documented
 * error bodies. Each module checks its own specific markers first, then this common table.
 */
import type { UpstreamFailure } from './provider.ts';

/** Content-policy refusals answered as an error (OpenAI 400 content_policy_violation, images moderation_blocked…). */
const MODERATION_RE = /content_policy_violation|moderation_blocked|safety system|content policy|usage policy|responsible ai/i;

export function classifyCommon(status: number, body: string): UpstreamFailure {
  // 402 is the "payment required" of every provider that uses it (Anthropic billing_error,
  // Gemini "Prepay credit balance is depleted"): the channel's account cannot pay.
  if (status === 402) return 'out_of_credit';
  if (status === 429) return 'rate_limited';
  if (status === 503 || status === 529) return 'overloaded';
  if (status === 408 || status >= 500) return 'server_error';
  if (status === 401 || status === 403) return 'upstream_auth';
  if (status === 404) return 'not_found';
  if (MODERATION_RE.test(body)) return 'moderation';
  return 'invalid_request';
}
