/**
 * Compatibility for callers outside providers/ (the gateway) until they use PROVIDER_MODULES:
 * usage of a JSON response by provider name. Delete once nothing imports it.
 */
import { PROVIDER_MODULES } from './modules.ts';
import type { Provider } from './provider.ts';
import type { Endpoint, ImageRequestParams, UsageResult } from './types.ts';

export { billableUsage, newDelivered, withImages } from './billable.ts';
export { mapChatUsage as mapOpenAIChatUsage, mapEmbeddingsUsage as mapOpenAIEmbeddingsUsage, mapImagesUsage as mapOpenAIImagesUsage } from './openai/usage.ts';
export { mapUsage as mapAnthropicUsage } from './anthropic/usage.ts';
export { mapUsage as mapGeminiUsage, mapEmbeddingsUsage as mapGeminiEmbeddingsUsage } from './gemini/usage.ts';

export function extractUsage(provider: Provider, endpoint: Endpoint, responseJson: unknown, request?: ImageRequestParams): UsageResult {
  const r = PROVIDER_MODULES[provider].readResponse(endpoint, responseJson, request ?? {});
  return { raw: r.raw, billable: r.billable, delivered: r.delivered };
}
