/**
 * Compatibility for callers outside providers/ (the gateway) until they use PROVIDER_MODULES:
 * a stream reader by provider name. Delete once nothing imports it.
 */
import { PROVIDER_MODULES } from './modules.ts';
import type { Provider, StreamFacts, StreamReader } from './provider.ts';
import type { Endpoint, ImageRequestParams } from './types.ts';

export type StreamUsage = StreamReader;
export type StreamUsageResult = StreamFacts;

export function createStreamUsage(provider: Provider, endpoint: Endpoint, request?: ImageRequestParams): StreamUsage {
  return PROVIDER_MODULES[provider].streamReader(endpoint, request ?? {});
}
