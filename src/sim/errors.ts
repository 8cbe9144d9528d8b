// Provider-shaped error bodies.

import type { Provider } from './types.ts';

export interface ErrorSpec {
  status: number;
  body: string;
}

// ---- OpenAI: {"error":{"message","type","param","code"}} ----

function openaiDefaults(status: number): { type: string; code: string | null; message: string } {
  switch (status) {
    case 400: return { type: 'invalid_request_error', code: null, message: 'Invalid request.' };
    case 401: return { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' };
    case 403: return { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Country, region, or territory not supported.' };
    case 404: return { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist or you do not have access to it.' };
    case 429: return { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests. Please try again in 1s.' };
    case 500: return { type: 'server_error', code: null, message: 'The server had an error while processing your request. Sorry about that!' };
    case 502: return { type: 'server_error', code: null, message: 'Bad gateway.' };
    case 503: return { type: 'server_error', code: null, message: 'The engine is currently overloaded, please try again later.' };
    case 504: return { type: 'server_error', code: null, message: 'Gateway timeout.' };
    default:
      return status >= 500
        ? { type: 'server_error', code: null, message: `Simulated upstream error ${status}.` }
        : { type: 'invalid_request_error', code: null, message: `Simulated error ${status}.` };
  }
}

export function openaiError(
  status: number,
  message?: string,
  type?: string,
  code?: string | null,
  param: string | null = null,
): ErrorSpec {
  const d = openaiDefaults(status);
  return {
    status,
    body: JSON.stringify({
      error: {
        message: message ?? d.message,
        type: type ?? d.type,
        param,
        code: code === undefined ? d.code : code,
      },
    }),
  };
}

// ---- Anthropic: {"type":"error","error":{"type","message"},"request_id"} ----

export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 402: return 'billing_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 504: return 'timeout_error';
    case 529: return 'overloaded_error';
    default: return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

const ANTHROPIC_MESSAGES: Record<string, string> = {
  invalid_request_error: 'Invalid request.',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API.',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'The requested resource could not be found.',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit.',
  timeout_error: 'Request timed out.',
  overloaded_error: 'Overloaded',
  api_error: 'Internal server error',
};

export function anthropicError(status: number, message?: string, type?: string, requestId?: string): ErrorSpec {
  const t = type ?? anthropicErrorType(status);
  const obj: Record<string, unknown> = {
    type: 'error',
    error: { type: t, message: message ?? ANTHROPIC_MESSAGES[t] ?? `Simulated error ${status}.` },
  };
  if (requestId !== undefined) obj.request_id = requestId;
  return { status, body: JSON.stringify(obj) };
}

// ---- Gemini / Google: {"error":{"code","message","status"}} ----

export function googleStatus(status: number): string {
  switch (status) {
    case 400: return 'INVALID_ARGUMENT';
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'PERMISSION_DENIED';
    case 404: return 'NOT_FOUND';
    case 409: return 'ABORTED';
    case 429: return 'RESOURCE_EXHAUSTED';
    case 499: return 'CANCELLED';
    case 500: return 'INTERNAL';
    case 501: return 'UNIMPLEMENTED';
    case 503: return 'UNAVAILABLE';
    case 504: return 'DEADLINE_EXCEEDED';
    default: return status >= 500 ? 'UNKNOWN' : 'FAILED_PRECONDITION';
  }
}

const GOOGLE_MESSAGES: Record<string, string> = {
  INVALID_ARGUMENT: 'Request contains an invalid argument.',
  UNAUTHENTICATED: 'API key not valid. Please pass a valid API key.',
  PERMISSION_DENIED: 'The caller does not have permission.',
  NOT_FOUND: 'Requested entity was not found.',
  RESOURCE_EXHAUSTED: 'Resource has been exhausted (e.g. check quota).',
  INTERNAL: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  UNAVAILABLE: 'The model is overloaded. Please try again later.',
  DEADLINE_EXCEEDED: 'The request timed out. Please try again.',
};

export function geminiError(status: number, message?: string): ErrorSpec {
  const s = googleStatus(status);
  return {
    status,
    body: JSON.stringify({
      error: { code: status, message: message ?? GOOGLE_MESSAGES[s] ?? `Simulated error ${status}.`, status: s },
    }),
  };
}

/** The provider's generic error for `status`. */
export function providerError(provider: Provider, status: number, message?: string, requestId?: string): ErrorSpec {
  switch (provider) {
    case 'openai': return openaiError(status, message);
    case 'anthropic': return anthropicError(status, message, undefined, requestId);
    case 'gemini': return geminiError(status, message);
  }
}

/**
 * The channel's upstream account is out of credit, as each provider says it: OpenAI 429
 * `insufficient_quota`, Anthropic 400 "credit balance is too low", Gemini 402 (prepay depleted).
 */
export function outOfCreditError(provider: Provider, requestId?: string): ErrorSpec {
  switch (provider) {
    case 'openai':
      return openaiError(429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota');
    case 'anthropic':
      return anthropicError(400, 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.', 'invalid_request_error', requestId);
    case 'gemini':
      return geminiError(402, 'Your prepayment credits are depleted. Please go to AI Studio to manage your project and billing.');
  }
}

/** 401 for a missing (`key === null`) or rejected key, in the provider's shape. */
export function authError(provider: Provider, key: string | null, requestId?: string): ErrorSpec {
  switch (provider) {
    case 'openai':
      return key === null
        ? openaiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null)
        : openaiError(401, `Incorrect API key provided: ${mask(key)}.`, 'invalid_request_error', 'invalid_api_key');
    case 'anthropic':
      return anthropicError(401, key === null ? 'x-api-key header is required' : 'invalid x-api-key', 'authentication_error', requestId);
    case 'gemini':
      return geminiError(401, key === null
        ? 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.'
        : 'API key not valid. Please pass a valid API key.');
  }
}

function mask(key: string): string {
  return key.length <= 8 ? key.slice(0, 3) + '***' : key.slice(0, 3) + '*'.repeat(Math.min(20, key.length - 7)) + key.slice(-4);
}
