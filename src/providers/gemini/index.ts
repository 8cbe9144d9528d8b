/** The Gemini API (generateContent, streamGenerateContent; image models through the same) as a provider module. */
import type { ProviderModule } from '../provider.ts';
import { withImages } from '../billable.ts';
import { estimatedUsage } from '../tokens.ts';
import { inputTokens, readRequest } from './request.ts';
import { readResponse } from './usage.ts';
import { streamReader } from './stream.ts';
import { classifyStatus, headers, normaliseBaseUrl, path, rewrite } from './upstream.ts';
import { errorBody, modelEntry, modelList, requestIdHeaders } from './shapes.ts';

export const gemini: ProviderModule = {
  name: 'gemini',
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
  estimateUsage(endpoint, requestBody, delivered, image) {
    const b = estimatedUsage(inputTokens(endpoint, requestBody), endpoint, delivered);
    if (endpoint === 'images') withImages(b, delivered.images, image);
    return b;
  },
};
