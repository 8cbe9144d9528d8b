/** The OpenAI API (chat completions, embeddings, images) as a provider module. */
import type { ProviderModule } from '../provider.ts';
import { withImages } from '../billable.ts';
import { estimatedUsage } from '../tokens.ts';
import { inputTokens, readRequest } from './request.ts';
import { readResponse } from './usage.ts';
import { clientStreamFilter, streamReader } from './stream.ts';
import { classifyStatus, headers, normaliseBaseUrl, path, rewrite } from './upstream.ts';
import { errorBody, modelEntry, modelList, requestIdHeaders } from './shapes.ts';

export const openai: ProviderModule = {
  name: 'openai',
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
  readResponse,
  streamReader,
  clientStreamFilter,
  estimateUsage(endpoint, requestBody, delivered, image) {
    const b = estimatedUsage(inputTokens(endpoint, requestBody), endpoint, delivered);
    if (endpoint === 'images') withImages(b, delivered.images, image);
    return b;
  },
};
