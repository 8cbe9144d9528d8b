/** A channel speaking the OpenAI API: where and how to call it, and why it failed. */
import { classifyCommon } from '../failure.ts';
import { isObj } from '../json.ts';
import type { ClientHeaders, UpstreamCall, UpstreamFailure } from '../provider.ts';

export function normaliseBaseUrl(base: string): string {
  return base.replace(/\/+$/, '').replace(/\/v1$/, '');
}

export function path(call: UpstreamCall): string {
  switch (call.operation) {
    case 'responses':
      return '/v1/responses';
    case 'embeddings':
      return '/v1/embeddings';
    case 'images.generations':
      return '/v1/images/generations';
    case 'images.edits':
      return '/v1/images/edits';
    default:
      return '/v1/chat/completions';
  }
}

export function headers(key: string, _client: ClientHeaders): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** The model name at the upstream, and `include_usage` on chat streams: usage arrives only when asked for, and billing needs it. */
export function rewrite(body: Record<string, unknown>, call: UpstreamCall): Record<string, unknown> | null {
  const so = body.stream_options;
  const askUsage = call.stream && call.operation === 'chat' && !(isObj(so) && so.include_usage === true);
  if (body.model === call.upstreamModel && !askUsage) return null;
  const out: Record<string, unknown> = { ...body, model: call.upstreamModel };
  if (askUsage) out.stream_options = isObj(so) ? { ...so, include_usage: true } : { include_usage: true };
  return out;
}

/** OpenAI's "You exceeded your current quota, please check your plan and billing details" (429). */
const NO_QUOTA_RE = /"(?:code|type)"\s*:\s*"insufficient_quota"/;

export function classifyStatus(status: number, body: string): UpstreamFailure {
  if (status === 429 && NO_QUOTA_RE.test(body)) return 'out_of_credit';
  return classifyCommon(status, body);
}
