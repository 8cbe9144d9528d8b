// The one place that decides a request's outcome and what it is billed (DESIGN "Outcomes").
//
// The gateway reports facts — an error that refused the request before any upstream call, or
// what each upstream attempt returned — and acts on the verdicts given here: deliver, try the
// next channel, or end. Provider modules only say what happened in their own terms (a failure
// kind, a refusal, usage); the mapping to outcomes, error codes and billing lives below.

import type { ErrorCode } from '../kernel/errors.ts';
import type { Endpoint } from '../providers/types.ts';
import type { ResponseFacts, StreamFacts, UpstreamFailure } from '../providers/provider.ts';
import type { BillableUsage, Delivered } from '../providers/types.ts';
import type { Outcome } from './outcomes.ts';

// ---- refusals before any upstream call ----

/** The outcome of a request refused before it reached an upstream, by the error that refused it. */
const REFUSALS: Partial<Record<ErrorCode, Outcome>> = {
  AUTH_REQUIRED: 'auth_error',
  KEY_INVALID: 'auth_error',
  KEY_REVOKED: 'auth_error',
  KEY_EXPIRED: 'auth_error',
  ACCOUNT_SUSPENDED: 'auth_error',
  IP_NOT_ALLOWED: 'auth_error',
  MODEL_NOT_ALLOWED: 'auth_error',
  FORBIDDEN: 'auth_error',
  INSUFFICIENT_BALANCE: 'insufficient_balance',
  KEY_LIMIT_EXCEEDED: 'key_limit',
  RATE_LIMITED: 'rate_limited',
  CONCURRENCY_LIMITED: 'rate_limited',
  // No channel can take the request now: their circuits are open after upstream failures.
  NO_CHANNEL: 'upstream_error',
  STORAGE_UNAVAILABLE: 'platform_error',
  SHUTTING_DOWN: 'platform_error',
  CLUSTER_UNAVAILABLE: 'platform_error',
  INTERNAL: 'platform_error',
  // Load shed: the platform's capacity, never billed, counts against availability.
  OVERLOADED: 'platform_error',
};

/** Every other error that refuses a request early is the client's (invalid body, unknown model, too large). */
export function outcomeOfRefusal(code: ErrorCode): Outcome {
  return REFUSALS[code] ?? 'client_error';
}

// ---- upstream attempts ----

/** What one upstream attempt returned, as the gateway saw it. */
export type AttemptResult =
  /** No (complete) answer: connection refused or reset, a timeout, the deadline, the client leaving. */
  | { kind: 'transport'; timeout: boolean; clientGone: boolean; detail: string }
  /** A non-2xx answer, classified by the provider module. */
  | { kind: 'status'; status: number; failure: UpstreamFailure; detail: string }
  /** A 2xx whose body is not JSON. */
  | { kind: 'malformed'; status: number }
  /** A complete 2xx JSON answer. */
  | { kind: 'response'; status: number; endpoint: Endpoint; facts: ResponseFacts }
  /** A streamed 2xx answer, once the stream ended (or broke, or the client left). */
  | { kind: 'stream'; endpoint: Endpoint; facts: StreamFacts; broken: { timeout: boolean; detail: string } | null; clientGone: boolean };

/**
 * - `deliver`: this attempt's answer goes to the client as it is (ok, a refusal, the upstream's own
 *   verdict that the request is invalid);
 * - `retry`: another channel may do better; if none does, this verdict is the request's;
 * - `end`: the request ends here (a stream already under way, the client gone).
 */
export type Next = 'deliver' | 'retry' | 'end';

export interface Verdict {
  outcome: Outcome;
  next: Next;
  /** The error code of the row and of the client's error body; null when the attempt succeeded. */
  code: ErrorCode | null;
  /** For operators only (the row's attempts and error): never shown to customers. */
  detail?: string;
  /** The channel's upstream account cannot pay: the router takes the channel out until it can. */
  outOfCredit?: boolean;
}

const FAILURE: Record<UpstreamFailure, Omit<Verdict, 'detail'>> = {
  rate_limited: { outcome: 'upstream_rate_limited', next: 'retry', code: 'UPSTREAM_RATE_LIMITED' },
  overloaded: { outcome: 'upstream_error', next: 'retry', code: 'UPSTREAM_ERROR' },
  server_error: { outcome: 'upstream_error', next: 'retry', code: 'UPSTREAM_ERROR' },
  // Our upstream account, key or model mapping is wrong: the platform's misconfiguration, not the
  // client's or the upstream's. Another channel may be configured right.
  out_of_credit: { outcome: 'platform_error', next: 'retry', code: 'UPSTREAM_ERROR', outOfCredit: true },
  upstream_auth: { outcome: 'platform_error', next: 'retry', code: 'UPSTREAM_ERROR' },
  not_found: { outcome: 'platform_error', next: 'retry', code: 'UPSTREAM_ERROR' },
  // The upstream's own verdict on the request: passed through, in the caller's API (same provider).
  moderation: { outcome: 'upstream_moderation', next: 'deliver', code: 'UPSTREAM_MODERATION' },
  invalid_request: { outcome: 'client_error', next: 'deliver', code: 'UPSTREAM_REJECTED' },
};

/** The verdict on one attempt. */
export function judgeAttempt(r: AttemptResult): Verdict {
  switch (r.kind) {
    case 'transport':
      if (r.clientGone) return { outcome: 'client_cancelled', next: 'end', code: 'CLIENT_CANCELLED', detail: r.detail };
      return r.timeout
        ? { outcome: 'upstream_timeout', next: 'retry', code: 'UPSTREAM_TIMEOUT', detail: r.detail }
        : { outcome: 'upstream_error', next: 'retry', code: 'UPSTREAM_ERROR', detail: r.detail };
    case 'status':
      return { ...FAILURE[r.failure], detail: r.detail };
    case 'malformed':
      return { outcome: 'upstream_error', next: 'retry', code: 'UPSTREAM_ERROR', detail: 'malformed response body' };
    case 'response':
      if (r.facts.refused) return { outcome: 'upstream_moderation', next: 'deliver', code: 'UPSTREAM_MODERATION' };
      // A 200 that delivered no image is not a success and is never billed: try elsewhere.
      if (r.endpoint === 'images' && r.facts.delivered.images === 0) return { outcome: 'upstream_error', next: 'retry', code: 'NOTHING_DELIVERED', detail: 'no image delivered' };
      return { outcome: 'ok', next: 'deliver', code: null };
    case 'stream': {
      // Once a stream is under way the request is committed to it: every verdict ends it.
      if (r.clientGone) return { outcome: 'client_cancelled', next: 'end', code: 'CLIENT_CANCELLED', detail: 'client disconnected mid-stream' };
      const f = r.facts;
      if (r.broken || !f.complete || f.malformed > 0) {
        const detail = r.broken?.detail ?? (!f.complete ? 'stream ended before its end marker' : `${f.malformed} unparsable event(s) in the stream`);
        return { outcome: r.broken?.timeout ? 'upstream_timeout' : 'upstream_error', next: 'end', code: 'UPSTREAM_STREAM_CUT', detail };
      }
      if (f.refused && f.delivered.images === 0) return { outcome: 'upstream_moderation', next: 'end', code: 'UPSTREAM_MODERATION' };
      if (r.endpoint === 'images' && f.delivered.images === 0) return { outcome: 'upstream_error', next: 'end', code: 'NOTHING_DELIVERED', detail: 'no image delivered' };
      return { outcome: 'ok', next: 'end', code: null };
    }
  }
}

/** The request's verdict when no attempt could be made or every one failed. */
export function exhausted(last: Verdict | null, deadlinePassed: boolean): Verdict {
  if (last) return last;
  return deadlinePassed
    ? { outcome: 'upstream_timeout', next: 'end', code: 'UPSTREAM_TIMEOUT', detail: 'the request deadline passed before an upstream answered' }
    : { outcome: 'upstream_error', next: 'end', code: 'NO_CHANNEL', detail: 'no channel could take the request' };
}

// ---- what is billed ----

export interface BillingFacts {
  outcome: Outcome;
  /** Usage as the upstream reported it (null when it reported none). */
  reported: BillableUsage | null;
  /** What the upstream delivered (counted from its answer). */
  delivered: Delivered;
  /** Whether any of it reached the client (a cancelled request that delivered nothing costs nothing). */
  reachedClient: boolean;
  /** The stream (or body) ended as the provider ends it: its reported usage is final. */
  final: boolean;
  /** Usage estimated from the request and what was delivered (always available). */
  estimate: () => BillableUsage;
  /** The model's policy on refusals on content policy. */
  billedOnModeration: boolean;
  /** SURETY_CANCELLED_POLICY. */
  cancelledPolicy: 'delivered' | 'none';
}

/**
 * The usage a request is billed for, or null when it is billed nothing. The price of that usage
 * is the charge, exactly (billing/pricing.ts): never capped, never rounded twice.
 * - ok, and a refusal under a model policy that bills refusals: the reported usage, else the estimate;
 * - a cancelled request (policy `delivered`) that delivered anything: input as reported (or
 *   estimated), output only as far as it was delivered — a cut stream's reported output is not final, so output is always the
 *   estimate of the delivered text, the same for every provider;
 * - everything else: nothing.
 */
export function billableUsage(f: BillingFacts): BillableUsage | null {
  switch (f.outcome) {
    case 'ok':
      return f.reported ?? f.estimate();
    case 'upstream_moderation':
      return f.billedOnModeration ? (f.reported ?? f.estimate()) : null;
    case 'client_cancelled': {
      if (f.cancelledPolicy === 'none' || !f.reachedClient) return null;
      const est = f.estimate();
      if (!f.reported) return est;
      if (f.final) return f.reported.output_tokens > est.output_tokens ? { ...f.reported, output_tokens: est.output_tokens, estimated: true } : f.reported;
      return { ...f.reported, output_tokens: est.output_tokens, reasoning_tokens: Math.min(f.reported.reasoning_tokens, est.output_tokens), images: est.images, estimated: true };
    }
    default:
      return null;
  }
}
