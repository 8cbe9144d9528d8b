/** A channel speaking the Anthropic API: where and how to call it, and why it failed. */
import { classifyCommon } from '../failure.ts';
import type { ClientHeaders, UpstreamCall, UpstreamFailure } from '../provider.ts';

export function normaliseBaseUrl(base: string): string {
  return base.replace(/\/+$/, '').replace(/\/v1$/, '');
}

export function path(_call: UpstreamCall): string {
  return '/v1/messages';
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** The client's API version and beta features pass through (they change what the upstream accepts). */
export function headers(key: string, client: ClientHeaders): Record<string, string> {
  const h: Record<string, string> = { 'x-api-key': key, 'anthropic-version': one(client['anthropic-version']) ?? '2023-06-01' };
  const beta = one(client['anthropic-beta']);
  if (beta) h['anthropic-beta'] = beta;
  return h;
}

export function rewrite(body: Record<string, unknown>, call: UpstreamCall): Record<string, unknown> | null {
  return body.model === call.upstreamModel ? null : { ...body, model: call.upstreamModel };
}

/**
 * An organisation out of credit is answered 400 invalid_request_error "Your credit balance is too
 * low to access the Anthropic API…" (and 402 billing_error by newer API versions).
 */
const NO_CREDIT_RE = /credit balance is too low/i;

export function classifyStatus(status: number, body: string): UpstreamFailure {
  if (status === 400 && NO_CREDIT_RE.test(body)) return 'out_of_credit';
  return classifyCommon(status, body);
}
