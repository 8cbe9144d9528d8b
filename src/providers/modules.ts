// The provider modules, for now as one table over the shared functions (usage.ts,
// stream-usage.ts, estimate.ts, adapters.ts, errors.ts). Each provider gets a folder of its own
// behind the same contract (provider.ts).
import { AppError } from '../kernel/errors.ts';
import { PROVIDER_ADAPTERS, normaliseBaseUrl } from './adapters.ts';
import { errorPayload } from './errors.ts';
import { estimateInputTokens, estimateUsage, imageRequestParams, requestedMaxOutputTokens } from './estimate.ts';
import type { ModelListing, Provider, ProviderModule, RequestFacts, UpstreamFailure } from './provider.ts';
import { createStreamUsage } from './stream-usage.ts';
import { extractUsage } from './usage.ts';

const GEMINI_BLOCK = /"blockReason"|"finishReason":\s*"(SAFETY|PROHIBITED_CONTENT|BLOCKLIST|SPII|IMAGE_SAFETY|IMAGE_PROHIBITED_CONTENT|RECITATION)"/;

function streamRefusal(provider: Provider, data: string): boolean {
  if (provider === 'anthropic') return data.includes('"stop_reason":"refusal"');
  if (provider === 'gemini') return GEMINI_BLOCK.test(data);
  return data.includes('"finish_reason":"content_filter"');
}

function failure(provider: Provider, status: number, body: string): UpstreamFailure {
  const c = PROVIDER_ADAPTERS[provider].classifyStatus(status, body).outcome;
  if (status === 429 && /insufficient_quota/.test(body)) return 'out_of_credit';
  if (c === 'upstream_rate_limited') return 'rate_limited';
  if (c === 'upstream_error') return status === 529 || status === 503 ? 'overloaded' : 'server_error';
  if (c === 'platform_error') return status === 404 ? 'not_found' : 'upstream_auth';
  if (c === 'upstream_moderation') return 'moderation';
  return 'invalid_request';
}

function readRequest(provider: Provider): ProviderModule['readRequest'] {
  return (endpoint, _operation, body, limits, form) => {
    const model = body.model;
    if (model !== undefined && typeof model !== 'string') throw new AppError('VALIDATION', 'model: must be a string', { field: 'model' });
    const stream = body.stream;
    if (!form && stream !== undefined && typeof stream !== 'boolean') throw new AppError('VALIDATION', 'stream: must be a boolean', { field: 'stream' });
    const image = endpoint === 'images' ? (form ? formImage(body, limits.maxImages) : imageRequestParams(provider, body)) : {};
    const facts: RequestFacts = { stream: stream === true, image, inputTokens: estimateInputTokens(provider, endpoint, form ? { prompt: body.prompt ?? '' } : body) };
    if (typeof model === 'string') facts.model = model;
    const max = requestedMaxOutputTokens(provider, endpoint, body);
    if (max !== undefined) facts.maxOutputTokens = max;
    return facts;
  };
}

function formImage(form: Record<string, unknown>, maxImages: number): { n?: number; size?: string; quality?: string } {
  const n = form.n === undefined ? 1 : Number(form.n);
  if (!Number.isSafeInteger(n) || n < 1 || n > maxImages) throw new AppError('VALIDATION', `n: must be an integer from 1 to ${maxImages}`, { field: 'n' });
  return { n, ...(typeof form.size === 'string' ? { size: form.size } : {}), ...(typeof form.quality === 'string' ? { quality: form.quality } : {}) };
}

function modelShapes(provider: Provider): Pick<ProviderModule, 'modelList' | 'modelEntry'> {
  if (provider === 'anthropic') {
    const entry = (m: ModelListing) => ({ type: 'model', id: m.id, display_name: m.id, created_at: new Date(m.updatedAt).toISOString() });
    return { modelEntry: entry, modelList: (ms) => ({ data: ms.map(entry), has_more: false, first_id: ms[0]?.id ?? null, last_id: ms.at(-1)?.id ?? null }) };
  }
  if (provider === 'gemini') {
    const entry = (m: ModelListing) => ({ name: `models/${m.id}`, displayName: m.id, supportedGenerationMethods: ['generateContent', 'streamGenerateContent'] });
    return { modelEntry: entry, modelList: (ms) => ({ models: ms.map(entry) }) };
  }
  const entry = (m: ModelListing) => ({ id: m.id, object: 'model', created: Math.floor(m.updatedAt / 1000), owned_by: m.provider });
  return { modelEntry: entry, modelList: (ms) => ({ object: 'list', data: ms.map(entry) }) };
}

function moduleFor(provider: Provider): ProviderModule {
  const adapter = PROVIDER_ADAPTERS[provider];
  return {
    name: provider,
    readRequest: readRequest(provider),
    errorBody: (status, code, message, requestId) => errorPayload(provider, status, code, message, requestId),
    ...modelShapes(provider),
    requestIdHeaders: (id): Record<string, string> => (provider === 'anthropic' ? { 'x-request-id': id, 'request-id': id } : { 'x-request-id': id }),
    normaliseBaseUrl: (base) => normaliseBaseUrl(provider, base),
    path: (call) => adapter.path(call),
    headers: (key, client) => adapter.headers(key, client),
    rewrite: (body, call) => {
      if (provider === 'gemini') return null;
      const needed = call.upstreamModel !== body.model || (call.stream && provider === 'openai' && call.operation === 'chat');
      return needed ? adapter.rewrite({ ...body }, call) : null;
    },
    classifyStatus: (status, body) => failure(provider, status, body),
    readResponse: (endpoint, json, image) => {
      const usage = extractUsage(provider, endpoint, json, image);
      return { ...usage, refused: adapter.refusedOk(json, { provider, operation: 'chat', endpoint, stream: false, upstreamModel: '' }), unknownUsage: [] };
    },
    streamReader: (endpoint, image) => {
      const acc = createStreamUsage(provider, endpoint, image);
      let refused = false;
      return {
        feed(ev) {
          acc.feed(ev);
          if (!refused && streamRefusal(provider, ev.data)) refused = true;
        },
        result: () => ({ ...acc.result(), refused, unknownUsage: [] }),
      };
    },
    ...(provider === 'openai'
      ? {
          clientStreamFilter: (endpoint: string, body: Record<string, unknown> | null) => {
            const so = body?.stream_options as { include_usage?: unknown } | undefined;
            if (endpoint !== 'chat' || so?.include_usage === true) return null;
            return (data: string) => !(data.includes('"choices":[]') && data.includes('"usage":{'));
          },
        }
      : {}),
    estimateUsage: (endpoint, body, delivered, image) => estimateUsage(provider, endpoint, body, delivered, image),
  };
}

export const PROVIDER_MODULES: Record<Provider, ProviderModule> = {
  openai: moduleFor('openai'),
  anthropic: moduleFor('anthropic'),
  gemini: moduleFor('gemini'),
};
