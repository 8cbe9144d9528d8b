/** The Gemini API's own shapes (google.rpc.Status) for errors and model lists, so that official SDKs read them. */
import type { ModelListing } from '../provider.ts';

const STATUS: Partial<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'FAILED_PRECONDITION',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Our stable code is the ErrorInfo reason. */
export function errorBody(status: number, code: string, message: string, _requestId: string): unknown {
  return {
    error: {
      code: status,
      message,
      status: STATUS[status] ?? 'UNKNOWN',
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: code, domain: 'surety' }],
    },
  };
}

export function modelEntry(m: ModelListing): unknown {
  return { name: `models/${m.id}`, displayName: m.id, supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'] };
}

export function modelList(models: readonly ModelListing[]): unknown {
  return { models: models.map(modelEntry) };
}

export function requestIdHeaders(requestId: string): Record<string, string> {
  return { 'x-request-id': requestId };
}
