/** The Anthropic Messages API as a provider module. */
import type { ProviderModule } from '../provider.ts';
import { estimatedUsage } from '../tokens.ts';
import { inputTokens, readRequest } from './request.ts';
import { readResponse } from './usage.ts';
import { streamReader } from './stream.ts';
import { classifyStatus, headers, normaliseBaseUrl, path, rewrite } from './upstream.ts';
import { errorBody, modelEntry, modelList, requestIdHeaders } from './shapes.ts';

export const anthropic: ProviderModule = {
  name: 'anthropic',
  readRequest,
  errorBody,
  modelList,
  modelEntry,
  requestIdHeaders,
  normaliseBaseUrl,
  path,
  headers,
  rewrite,
  classifyStatus,
  readResponse: (endpoint, json) => readResponse(endpoint, json),
  streamReader: () => streamReader(),
  estimateUsage: (endpoint, requestBody, delivered) => estimatedUsage(inputTokens(endpoint, requestBody), endpoint, delivered),
};
