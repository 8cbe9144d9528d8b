export type { BillableUsage, Delivered, Endpoint, ImageRequestParams, Protocol, UsageResult } from './types.ts';
export {
  extractUsage,
  mapAnthropicUsage,
  mapGeminiEmbeddingsUsage,
  mapGeminiUsage,
  mapOpenAIChatUsage,
  mapOpenAIEmbeddingsUsage,
  mapOpenAIImagesUsage,
} from './usage.ts';
export { createStreamUsage, type StreamUsage, type StreamUsageResult } from './stream-usage.ts';
export { createSseParser, SseLineTooLongError, SseParser, type SseEvent, type SseParserOptions } from './sse.ts';
export {
  estimateInputTokens,
  estimateTokens,
  estimateTokensFromBytes,
  estimateUsage,
  imageRequestParams,
  requestText,
  requestedMaxOutputTokens,
} from './estimate.ts';
