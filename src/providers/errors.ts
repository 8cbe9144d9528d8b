import { AppError, type ErrorCode } from '../kernel/errors.ts';
import type { Protocol } from './types.ts';

// Each client-facing API answers errors in its own shape, so official SDKs raise their own
// exception types with our stable code inside.

const OPENAI_TYPE: Partial<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};
const ANTHROPIC_TYPE: Partial<Record<number, string>> = {
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
const GOOGLE_STATUS: Partial<Record<number, string>> = {
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

export function errorPayload(protocol: Protocol, status: number, code: ErrorCode | string, message: string, requestId: string): unknown {
  if (protocol === 'anthropic') {
    return { type: 'error', error: { type: ANTHROPIC_TYPE[status] ?? 'api_error', message, code }, request_id: requestId };
  }
  if (protocol === 'gemini') {
    return { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: code, domain: 'surety' }] } };
  }
  return { error: { message, type: OPENAI_TYPE[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'), param: null, code } };
}

export function appErrorPayload(protocol: Protocol, e: AppError, requestId: string): unknown {
  return errorPayload(protocol, e.status, e.code, e.message, requestId);
}
