/**
 * Compatibility for the gateway until it uses PROVIDER_MODULES[provider].readRequest (which
 * validates) and estimateUsage: the request-side figures by provider name, lenient as before
 * (malformed fields are read as absent). Delete once nothing imports it.
 */
import { newDelivered } from './billable.ts';
import { count, isObj } from './json.ts';
import { PROVIDER_MODULES } from './modules.ts';
import type { Provider } from './provider.ts';
import { inputTokensOf, requestTextOf, type RequestWalk } from './tokens.ts';
import type { BillableUsage, Delivered, Endpoint, ImageRequestParams } from './types.ts';
import { inputTokens as openaiInputTokens, walkRequest as openaiWalk } from './openai/request.ts';
import { walkRequest as anthropicWalk } from './anthropic/request.ts';
import { generationConfig, walkRequest as geminiWalk } from './gemini/request.ts';

export { estimateTokens, estimateTokensFromBytes } from './tokens.ts';

const WALKS: Record<Provider, RequestWalk> = { openai: openaiWalk, anthropic: anthropicWalk, gemini: geminiWalk };

export function requestText(provider: Provider, endpoint: Endpoint, body: unknown): string {
  return requestTextOf(WALKS[provider], endpoint, body);
}

export function estimateInputTokens(provider: Provider, endpoint: Endpoint, body: unknown): number {
  return provider === 'openai' ? openaiInputTokens(endpoint, body) : inputTokensOf(WALKS[provider], endpoint, body);
}

export function requestedMaxOutputTokens(provider: Provider, endpoint: Endpoint, body: unknown): number | undefined {
  if (endpoint === 'embeddings') return 0;
  if (!isObj(body)) return undefined;
  if (provider === 'openai') {
    if (endpoint !== 'chat') return undefined;
    const max = count(body.max_completion_tokens) ?? count(body.max_tokens);
    return max === undefined ? undefined : max * Math.max(1, count(body.n) ?? 1);
  }
  if (provider === 'anthropic') return count(body.max_tokens);
  const gc = generationConfig(body);
  if (gc === undefined) return undefined;
  const max = count(gc.maxOutputTokens ?? gc.max_output_tokens);
  return max === undefined ? undefined : max * Math.max(1, count(gc.candidateCount ?? gc.candidate_count) ?? 1);
}

export function imageRequestParams(provider: Provider, body: unknown): ImageRequestParams {
  const out: ImageRequestParams = {};
  if (!isObj(body)) return out;
  if (provider === 'openai') {
    out.n = count(body.n) ?? 1;
    if (typeof body.size === 'string') out.size = body.size;
    if (typeof body.quality === 'string') out.quality = body.quality;
  } else if (provider === 'gemini') {
    const gc = generationConfig(body);
    const ic = gc === undefined ? undefined : isObj(gc.imageConfig) ? gc.imageConfig : isObj(gc.image_config) ? gc.image_config : undefined;
    const size = ic?.imageSize ?? ic?.image_size;
    if (typeof size === 'string') out.size = size;
  }
  return out;
}

export function estimateUsage(provider: Provider, endpoint: Endpoint, requestBody: unknown, delivered: Delivered = newDelivered(), request?: ImageRequestParams): BillableUsage {
  return PROVIDER_MODULES[provider].estimateUsage(endpoint, requestBody, delivered, request ?? imageRequestParams(provider, requestBody));
}
