/** The Anthropic API's own shapes for errors and model lists, so that official SDKs read them. */
import type { ModelListing } from '../provider.ts';

const ERROR_TYPE: Partial<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'api_error',
};

export function errorBody(status: number, code: string, message: string, requestId: string): unknown {
  return { type: 'error', error: { type: ERROR_TYPE[status] ?? 'api_error', message, code }, request_id: requestId };
}

export function modelEntry(m: ModelListing): unknown {
  return { type: 'model', id: m.id, display_name: m.id, created_at: new Date(m.updatedAt).toISOString() };
}

export function modelList(models: readonly ModelListing[]): unknown {
  return { data: models.map(modelEntry), has_more: false, first_id: models[0]?.id ?? null, last_id: models.at(-1)?.id ?? null };
}

/** Anthropic's SDK reads `request-id`. */
export function requestIdHeaders(requestId: string): Record<string, string> {
  return { 'x-request-id': requestId, 'request-id': requestId };
}
