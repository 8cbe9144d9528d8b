/**
 * Compatibility for callers outside providers/ (the gateway, the model-list routes) until they use
 * PROVIDER_MODULES[provider].errorBody. Delete once nothing imports it.
 */
import type { AppError, ErrorCode } from '../kernel/errors.ts';
import { PROVIDER_MODULES } from './modules.ts';
import type { Provider } from './provider.ts';

export function errorPayload(provider: Provider, status: number, code: ErrorCode | string, message: string, requestId: string): unknown {
  return PROVIDER_MODULES[provider].errorBody(status, code, message, requestId);
}

export function appErrorPayload(provider: Provider, e: AppError, requestId: string): unknown {
  return errorPayload(provider, e.status, e.code, e.message, requestId);
}
