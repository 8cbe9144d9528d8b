// The provider modules (one per provider API, behind the ProviderModule contract) and what they share.
export { PROVIDERS, type ClientHeaders, type ModelListing, type Operation, type Provider, type ProviderModule, type RequestFacts, type RequestLimits, type ResponseFacts, type StreamFacts, type StreamReader, type UpstreamCall, type UpstreamFailure } from './provider.ts';
export { PROVIDER_MODULES } from './modules.ts';
export type { BillableUsage, Delivered, Endpoint, ImageRequestParams, UsageResult } from './types.ts';
export { createSseParser, SseLineTooLongError, SseParser, type SseEvent, type SseParserOptions } from './sse.ts';
export { billableUsage } from './billable.ts';
export { estimateTokens, estimateTokensFromBytes } from './tokens.ts';
