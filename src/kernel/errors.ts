// One registry of stable error codes. Every transport (admin/account REST, the OpenAI/Anthropic/
// Gemini data-plane shapes, the CLI) maps these in one place; services only ever throw AppError.

export const ERRORS = {
  VALIDATION: { status: 400, message: 'The request is invalid.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  UNKNOWN_MODEL: { status: 404, message: 'The model does not exist or is not available to this key.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than allowed.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request content type is not supported.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.' },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    message: 'This Idempotency-Key was already used with a different request.',
  },
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, message: 'This call moves money and needs an Idempotency-Key header.' },
  AUTH_REQUIRED: { status: 401, message: 'An API key is required.' },
  KEY_INVALID: { status: 401, message: 'The API key is not valid.' },
  KEY_REVOKED: { status: 401, message: 'The API key has been revoked.' },
  KEY_EXPIRED: { status: 401, message: 'The API key has expired.' },
  ACCOUNT_SUSPENDED: { status: 403, message: 'The account is suspended.' },
  FORBIDDEN: { status: 403, message: 'This key is not allowed to do that.' },
  IP_NOT_ALLOWED: { status: 403, message: 'Requests from this IP address are not allowed for this key.' },
  MODEL_NOT_ALLOWED: { status: 403, message: 'This key is not allowed to use this model.' },
  INSUFFICIENT_BALANCE: { status: 402, message: 'The account balance is too low for this request.' },
  KEY_LIMIT_EXCEEDED: { status: 402, message: 'The key has reached its spend limit.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; slow down.' },
  CONCURRENCY_LIMITED: { status: 429, message: 'Too many concurrent requests for this key.' },
  BALANCE_OUT_OF_RANGE: { status: 409, message: 'The movement would take a balance beyond the range Surety can hold; nothing was moved.' },
  HOLD_NOT_OPEN: { status: 409, message: 'The hold is no longer open.' },
  HOLD_EXCEEDED: { status: 409, message: 'The amount to post exceeds the hold.' },
  REFUND_NOT_ALLOWED: { status: 409, message: 'This top-up cannot be refunded.' },
  REFUND_WINDOW_CLOSED: { status: 409, message: 'The refund window for this top-up has closed.' },
  REDEMPTION_CODE_INVALID: { status: 404, message: 'The redemption code does not exist.' },
  REDEMPTION_CODE_USED: { status: 409, message: 'The redemption code has already been redeemed.' },
  REDEMPTION_CODE_EXPIRED: { status: 410, message: 'The redemption code has expired.' },
  UPSTREAM_ERROR: { status: 502, message: 'The upstream provider failed.' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream provider did not answer in time.' },
  UPSTREAM_RATE_LIMITED: { status: 429, message: 'The upstream provider is rate limiting; retry later.' },
  UPSTREAM_MODERATION: { status: 400, message: 'The upstream provider refused the request on content policy.' },
  UPSTREAM_REJECTED: { status: 400, message: 'The upstream provider rejected the request as invalid; its answer is passed through.' },
  UPSTREAM_STREAM_CUT: { status: 502, message: 'The upstream stream broke off before its end; this request is not billed.' },
  NOTHING_DELIVERED: { status: 502, message: 'The upstream answered without delivering anything usable; this request is not billed.' },
  CLIENT_CANCELLED: { status: 499, message: 'The client went away before the answer was complete.' },
  NO_CHANNEL: { status: 503, message: 'No upstream channel is available for this model.' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'Storage is not reachable.' },
  SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down.' },
  CLUSTER_UNAVAILABLE: { status: 503, message: 'Shared limits and holds (Redis) are not reachable; nothing was sent upstream. Retry shortly.' },
  // Incidents and reissuance (src/incidents/).
  REISSUE_NOT_PLATFORM: { status: 409, message: 'Only incidents attributed to the platform are reissued.' },
  REISSUE_CHANGED: { status: 409, message: 'The affected scope changed since the preview that was reviewed; review it again.' },
  // Abnormal-billing detection (src/detection/).
  DISPUTE_WINDOW_CLOSED: { status: 409, message: 'These requests are too old to dispute.' },
  // The web console (src/console/).
  SIGN_IN_FAILED: { status: 401, message: 'The sign-in details do not match an account.' },
  SESSION_INVALID: { status: 401, message: 'The console session has expired or ended; sign in again.' },
  CSRF_REJECTED: { status: 403, message: 'The request lacks the session\'s CSRF token (x-csrf-token); reload the console.' },
  INVITATION_INVALID: { status: 410, message: 'The invitation link is unknown, already used or expired.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  // Translation between provider APIs (providers/translate/).
  TRANSLATION_UNSUPPORTED: { status: 400, message: 'The request uses a parameter that cannot be translated to the API serving this model.' },
  // SLA contracts (src/contracts/)
  SLA_PERIOD_NOT_OVER: { status: 409, message: 'The SLA period has not ended yet.' },
  SLA_AWAITING_CLAIM: { status: 409, message: 'This contract pays credits on a claim; none was filed and the claim deadline has not passed.' },
  SLA_CLAIM_NOT_NEEDED: { status: 409, message: "This contract's SLA credits are automatic; no claim is needed." },
  SLA_CLAIM_LATE: { status: 409, message: 'The claim deadline for this period has passed.' },
  // The status page (src/status/).
  STATUS_COMPONENT_NOT_FOUND: { status: 404, message: 'No such status component.' },
  STATUS_GROUP_NOT_FOUND: { status: 404, message: 'No such status group.' },
  STATUS_GROUP_NOT_EMPTY: { status: 409, message: 'The status group still has components.' },
  STATUS_SUBSCRIBER_NOT_FOUND: { status: 404, message: 'No such status subscription.' },
  STATUS_SUBSCRIPTION_LINK_INVALID: { status: 410, message: 'This subscription link is unknown, expired (a confirmation link lasts 7 days) or its subscription has ended; sign up again on the status page.' },
  EMAIL_NOT_CONFIGURED: { status: 409, message: 'E-mail is not configured on this gateway (SMTP_URL and SMTP_FROM); e-mail subscriptions are not offered.' },
  // Reliability (docs/reliability.md)
  OVERLOADED: { status: 503, message: 'The gateway is overloaded; nothing was sent upstream. Retry after the time in retry-after.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERRORS[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Validation failure naming the field (path in dotted form) and what is wrong. */
export function validationError(field: string, problem: string): AppError {
  return new AppError('VALIDATION', `${field}: ${problem}`, { field });
}

/** The JSON body every control-plane route returns on error. */
export function errorBody(e: AppError): { error: { code: ErrorCode; message: string; [k: string]: unknown } } {
  return { error: { code: e.code, message: e.message, ...(e.details ?? {}) } };
}
