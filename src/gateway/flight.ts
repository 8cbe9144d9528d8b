// One data-plane request in flight: what the HTTP layer hands over (IncomingCall, no framework
// types) and the state the request gathers until it is settled into its log row (Flight).

import type { Principal } from '../accounts/keys.ts';
import type { Multiplier } from '../billing/pricing.ts';
import type { LiveChannel, LiveModel } from '../catalog/index.ts';
import type { Operation, Provider, ProviderModule, RequestFacts, ResponseFacts } from '../providers/provider.ts';
import type { ChatRequest } from '../providers/translate/index.ts';
import type { BillableUsage, Endpoint } from '../providers/types.ts';
import type { Verdict } from '../requests/policy.ts';
import type { AttemptRecord } from '../requests/schema.ts';
import type { QuotaAsk } from './quotas.ts';

/** Which API a route speaks and what it asks for. */
export interface Surface {
  provider: Provider;
  operation: Operation;
  /** Endpoint family when the model does not decide it (Gemini generateContent serves chat and images). */
  endpoint: Endpoint;
}

/** What the HTTP layer hands to the gateway. */
export interface IncomingCall {
  surface: Surface;
  requestId: string;
  key: string;
  clientIp: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or null for multipart. */
  body: Record<string, unknown> | null;
  /** The raw body bytes as received. */
  raw: Buffer;
  contentType: string;
  /** Model from the path (Gemini). */
  pathModel?: string | undefined;
  /** Gemini streamGenerateContent: did the client ask for SSE (alt=sse)? */
  geminiSse?: boolean;
  /** Fields of a multipart form (images/edits). */
  form?: Record<string, string> | undefined;
  started: number;
  startedHr: number;
}

/** Per-request state, gathered into the log row when the request settles. */
export interface Flight {
  call: IncomingCall;
  /** The client's API. */
  api: ProviderModule;
  principal: Principal | null;
  live: LiveModel | null;
  facts: RequestFacts | null;
  endpoint: Endpoint;
  stream: boolean;
  /** The account group's multiplier as of the start (the price, too, is the one the request started with). */
  multiplier: Multiplier | undefined;
  /** The worst-case cost held for the request (its row's hold_amount). */
  hold: bigint;
  /** What the request reserved (rates, concurrency, holds) once admitted: released when it ends. */
  quota: QuotaAsk | null;
  attempts: AttemptRecord[];
  channel: LiveChannel | null;
  upstreamModel: string | null;
  /** The API of the channel that answered (the caller's unless translated). */
  upstreamProvider: Provider | null;
  /** The request in the common form, when the model is served through another API than the caller's. */
  translated: ChatRequest | null;
  firstByteAt: number | null;
  upstreamMs: number;
  /** The request's verdict (requests/policy.ts); platform_error until one is given. */
  verdict: Verdict;
  status: number;
  /** Detail for operators (the row's `error`): never sent to the client. */
  detail: string | null;
  /** What the answering attempt delivered (usage, content, refusal). */
  response: ResponseFacts | null;
  /** The response is complete as the provider ends it (a stream's end marker seen). */
  final: boolean;
  /** Some of the upstream's answer reached the client. */
  reachedClient: boolean;
  bytes: number;
  chunks: number;
  clientGone: boolean;
  /** A stream's upstream held back while its client's socket was full (stream.ts): ms in all, and since when now. */
  heldMs: number;
  heldSince: number | null;
  /** The usage billed, once decided (with the charge). */
  billable: BillableUsage | null;
  /** The charge, once decided (decided once: the x-surety-cost header and the row agree). */
  amount: bigint | null;
  /** Aborts the upstream attempt in progress (set while one is). */
  abortUpstream: (() => void) | null;
  /** Strict durability (SURETY_DURABILITY=strict): the answer's end waits for its row's commit. */
  strict: boolean;
  /** Strict durability: what ends the answer (its last byte, a stream's end marker), once the row has committed. */
  tail: (() => void) | null;
}

/** A request before anything happened: platform_error until an outcome is set. */
export function newFlight(call: IncomingCall, api: ProviderModule): Flight {
  return {
    call,
    api,
    principal: null,
    live: null,
    facts: null,
    endpoint: call.surface.endpoint,
    stream: false,
    multiplier: undefined,
    hold: 0n,
    quota: null,
    attempts: [],
    channel: null,
    upstreamModel: null,
    upstreamProvider: null,
    translated: null,
    firstByteAt: null,
    upstreamMs: 0,
    verdict: { outcome: 'platform_error', next: 'end', code: 'INTERNAL' },
    status: 500,
    detail: null,
    response: null,
    final: false,
    reachedClient: false,
    bytes: 0,
    chunks: 0,
    clientGone: false,
    heldMs: 0,
    heldSince: null,
    billable: null,
    amount: null,
    abortUpstream: null,
    strict: false,
    tail: null,
  };
}

/** The time the gateway has held the upstream back for a slow client, ms: the client's time, not the upstream's. */
export function heldForClient(f: Flight, now = performance.now()): number {
  return f.heldMs + (f.heldSince === null ? 0 : now - f.heldSince);
}

export function bounded(s: string, n = 500): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
