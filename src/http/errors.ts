// The one mapping from what Fastify (or a body parser) throws to Surety's stable errors, for the
// control plane. The data plane's front door reads its bodies itself (gateway/incoming.ts) and
// raises the same codes: BODY_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION for a truncated body.
import { AppError, isAppError } from '../kernel/errors.ts';

/** The AppError for an error raised while receiving a request; null when it is our own fault (a bug). */
export function requestError(err: unknown, bodyLimitBytes: number): AppError | null {
  if (isAppError(err)) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('BODY_TOO_LARGE', `The request body is larger than ${bodyLimitBytes} bytes.`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (or multipart/form-data where a route takes files).');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'ECONNRESET':
      return new AppError('VALIDATION', 'body: the request body ended before its declared length', { field: 'body' });
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return new AppError('VALIDATION', e.message ?? 'The request is invalid.');
  return null;
}
