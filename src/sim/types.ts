// Shared types of the upstream simulator (`surety sim`).

export type Provider = 'openai' | 'anthropic' | 'gemini';

export type FaultMode = 'error' | 'timeout' | 'reset' | 'quota';

/** One entry of the fault schedule installed with `POST /_sim/faults` or `Simulator.setFaults`. */
export interface SimFault {
  /** Model name the fault applies to, or `"*"` for every model. */
  model: string;
  /** Fraction of matching requests that fail, 0..1 (default 1). Deterministic: request i (0-based,
   *  counted per fault entry and model) fails when floor((i+1)*rate) > floor(i*rate). */
  error_rate?: number;
  /** HTTP status for mode `error` (default 503). */
  status?: number;
  /** Window start, epoch ms (inclusive, optional). */
  from?: number;
  /** Window end, epoch ms (exclusive, optional). */
  to?: number;
  /** What a failing request gets (default `error`). */
  mode?: FaultMode;
}

/** One received (non-control) request, as kept in the ring buffer behind `GET /_sim/requests`. */
export interface SimRequestRecord {
  /** Sequence number, 1-based, monotonically increasing since start/reset. */
  seq: number;
  /** Epoch ms when the request head arrived. */
  time: number;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Model from the body (`model`) or, for Gemini, from the path; '' when unknown. */
  model: string;
  /** The API key presented (Bearer / x-api-key / x-goog-api-key / ?key=), or null. */
  key: string | null;
  /** First 200 characters of the raw body. */
  body: string;
  /** Final HTTP status sent, or null while pending / when no response was sent (timeout, reset). */
  status: number | null;
  /** ok | error | fault | auth | timeout | reset | cut | malformed | moderation | pending | aborted */
  outcome: string;
}

/** Directives found in the raw request body (`[[sim:name=value]]`). */
export interface Directives {
  error: number;        // 0 = none
  quota: boolean;       // answer as an upstream account out of credit
  retryAfter: number;   // seconds for 429 retry-after, default 1
  timeout: boolean;
  latencyMs: number;
  chunkMs: number;
  tokens: number;       // -1 = default
  cut: number;          // -1 = none
  reset: boolean;
  malformed: boolean;
  moderation: string;   // '' = none; otherwise the value given (or 'true')
  images: number;       // -1 = default
  slowImageS: number;
  usageNone: boolean;
  cached: number;
  cacheWrite: number;
  reasoning: number;
  tool: string;         // '' = none; 'true' = the first declared tool; else a tool's name
}
