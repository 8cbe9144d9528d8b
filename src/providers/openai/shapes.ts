/** The OpenAI API's own shapes for errors and model lists, so that official SDKs read them. */
import type { ModelListing } from '../provider.ts';

const ERROR_TYPE: Partial<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

export function errorBody(status: number, code: string, message: string, _requestId: string): unknown {
  return { error: { message, type: ERROR_TYPE[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'), param: null, code } };
}

export function modelEntry(m: ModelListing): unknown {
  return { id: m.id, object: 'model', created: Math.floor(m.updatedAt / 1000), owned_by: m.provider, apis: m.apis };
}

export function modelList(models: readonly ModelListing[]): unknown {
  return { object: 'list', data: models.map(modelEntry) };
}

export function requestIdHeaders(requestId: string): Record<string, string> {
  return { 'x-request-id': requestId };
}
