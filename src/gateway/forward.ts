// Forwarding: the request's upstream attempts. Channels are tried in the router's order within
// one deadline; each attempt's result is judged by the policy (requests/policy.ts), and the
// verdict says whether to deliver, try the next channel or end.

import type { ServerResponse } from 'node:http';
import type { LiveChannel } from '../catalog/index.ts';
import { PROVIDER_MODULES } from '../providers/modules.ts';
import type { Provider, ResponseFacts, UpstreamCall } from '../providers/provider.ts';
import { decodeRequest, dialectOf, encodeRequest, streamTranslator, translateResponse, upstreamErrorMessage, upstreamOperation, type EncodeContext } from '../providers/translate/index.ts';
import { ERRORS } from '../kernel/errors.ts';
import { exhausted, judgeAttempt, type AttemptResult, type Verdict } from '../requests/policy.ts';
import { heldForClient, type Flight } from './flight.ts';
import { abandon, answerError, deliver, publicError } from './respond.ts';
import type { Router } from './router.ts';
import { pipeStream } from './stream.ts';
import { DeadlineError, UpstreamAbort, UpstreamAnswer, transportFailure, type UpstreamPool } from './upstream.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface ForwardParts {
  router: Router;
  pool: UpstreamPool;
  metrics: GatewayMetrics;
  maxAttempts: number;
  /** Decides the charge of a settled request once (gateway/settle.ts). */
  charge(f: Flight): bigint;
}

/** One attempt's answer, as far as it was read: the policy's input, plus what to deliver. */
interface Answer {
  result: AttemptResult;
  /** What the answer delivered, when it was read (usage, content, refusal). */
  facts?: ResponseFacts;
  verdict: Verdict;
  status: number;
  body?: Buffer;
  contentType?: string;
  retryAfter?: string;
}

export async function forward(p: ForwardParts, f: Flight, res: ServerResponse): Promise<void> {
  const live = f.live!;
  const plan = p.router.plan(live, Date.now());
  if (plan.length === 0) return end(f, res, exhausted(null, false), { 'retry-after': '5' });
  const deadline = f.call.started + p.pool.target(plan[0]!, f.endpoint, PROVIDER_MODULES[plan[0]!.config.provider]).timeouts.total_ms;
  let last: Answer | null = null;
  for (let i = 0; i < plan.length && f.attempts.length < p.maxAttempts; i++) {
    const ch = plan[i]!;
    if (deadline - Date.now() <= 0 || f.clientGone) break;
    const answer = await attempt(p, f, res, ch, deadline);
    const v = answer.verdict;
    if (v.next === 'deliver') return deliverAnswer(p, f, res, answer);
    if (v.next === 'end') return settleVerdict(f, res, v, answer.status);
    last = answer;
    // A lone channel that rate-limits: wait as asked if that fits the deadline, once.
    if (v.outcome === 'upstream_rate_limited' && plan.length === 1 && f.attempts.length < p.maxAttempts) {
      const waitMs = Math.min(2_000, Number(answer.retryAfter ?? 1) * 1000 || 1000);
      if (Date.now() + waitMs < deadline - 1000) {
        await new Promise((r) => setTimeout(r, waitMs));
        if (f.clientGone) break;
        if (p.router.plan(live, Date.now()).includes(ch)) plan.push(ch);
      }
    }
  }
  if (f.clientGone) return settleVerdict(f, res, { outcome: 'client_cancelled', next: 'end', code: 'CLIENT_CANCELLED' }, 499);
  const v = exhausted(last?.verdict ?? null, Date.now() >= deadline);
  const headers: Record<string, string> = v.outcome === 'upstream_rate_limited' ? { 'retry-after': last?.retryAfter ?? '1' } : {};
  end(f, res, v, headers);
}

/** One call to one channel, read as far as the policy needs to judge it. */
async function attempt(p: ForwardParts, f: Flight, res: ServerResponse, ch: LiveChannel, deadline: number): Promise<Answer> {
  const { call } = f;
  const upstreamApi = PROVIDER_MODULES[ch.config.provider];
  const target = p.pool.target(ch, f.endpoint, upstreamApi);
  const t = target.timeouts;
  const upstreamModel = ch.config.model_map[f.live!.config.id] ?? f.live!.config.id;
  // Another API than the caller's: the request is translated, and so is the answer.
  const translating = ch.config.provider !== call.surface.provider;
  const operation = translating ? upstreamOperation(ch.config.provider, f.stream) : call.surface.operation;
  const upcall: UpstreamCall = { provider: ch.config.provider, operation, endpoint: f.endpoint, stream: f.stream, upstreamModel };
  const headers: Record<string, string> = { ...ch.config.headers, ...upstreamApi.headers(p.router.key(ch), call.headers), 'content-type': call.contentType };
  const payload = upstreamPayload(f, upcall, translating);
  if (translating) headers['content-type'] = 'application/json';
  const started = performance.now();
  const ac = new UpstreamAbort();
  // The client going away aborts the upstream call (no EventTarget listeners on the hot path).
  f.abortUpstream = () => ac.abort(new Error('client disconnected'));
  // The deadline is the upstream's: time a stream's upstream was held back for a slow client
  // (stream.ts) moves it on by as much.
  let granted = 0;
  const expire = () => {
    const owed = heldForClient(f) - granted;
    if (owed >= 1) {
      granted += owed;
      timer = setTimeout(expire, owed);
    } else ac.abort(new DeadlineError());
  };
  let timer = setTimeout(expire, Math.min(t.total_ms, deadline - Date.now()));
  f.channel = ch;
  f.upstreamModel = upstreamModel;
  f.upstreamProvider = ch.config.provider;
  const record = (a: Answer): Answer => {
    clearTimeout(timer);
    f.abortUpstream = null;
    noteAttempt(p, f, ch, a, started);
    return a;
  };
  const dispatcher = p.pool.agentFor(ch, t.connect_ms);
  const opts = { origin: target.origin, path: target.prefix + upstreamApi.path(upcall), method: 'POST' as const, headers, body: payload, headersTimeout: t.first_byte_ms, bodyTimeout: t.first_byte_ms };
  // The answer as it arrives (upstream.ts UpstreamAnswer): read whole, or streamed once it shows itself a stream.
  const upstream = new UpstreamAnswer(dispatcher, opts, ac);
  if (f.stream) {
    try {
      await upstream.started();
    } catch (err) {
      return record(transportAnswer(f, err, 0));
    }
    if (f.firstByteAt === null) f.firstByteAt = upstream.headersAt;
    const ct = String(upstream.headers['content-type'] ?? '');
    if (upstream.status >= 200 && upstream.status < 300 && ct.includes('event-stream')) {
      // Streaming: committed to this attempt once the first byte goes out.
      try {
        const tr = translating ? streamTranslator(ch.config.provider, dialectOf(call.surface.provider, call.surface.operation), encodeContext(f)) : null;
        // A client may stall as long as an upstream may between chunks.
        const { result, verdict } = await pipeStream(f, res, upstream, upstreamApi, tr, t.first_byte_ms);
        return record({ result, verdict, status: upstream.status, ...(result.kind === 'stream' ? { facts: result.facts } : {}) });
      } finally {
        clearTimeout(timer);
        f.abortUpstream = null;
      }
    }
  }
  let body: Buffer | null = null;
  let failure: unknown = null;
  try {
    body = await upstream.whole();
  } catch (err) {
    failure = err;
  }
  if (f.firstByteAt === null) f.firstByteAt = upstream.headersAt;
  if (body === null) return record(transportAnswer(f, failure, upstream.status));
  const contentType = String(upstream.headers['content-type'] ?? '') || 'application/json';
  return record(judgeWhole(f, ch, translating, { status: upstream.status, contentType, body, retryAfter: upstream.headers['retry-after'] }));
}

/** The body sent upstream: the caller's as it came, rewritten where the upstream's module asks, or translated. */
function upstreamPayload(f: Flight, upcall: UpstreamCall, translating: boolean): Buffer | string {
  const { call } = f;
  const upstreamApi = PROVIDER_MODULES[upcall.provider];
  if (translating) {
    const body = encodeRequest(f.translated ?? decodeRequest(dialectOf(call.surface.provider, call.surface.operation), call.body ?? {}, f.stream, upcall.provider), upcall.provider, upcall.upstreamModel);
    return JSON.stringify(upstreamApi.rewrite(body, upcall) ?? body);
  }
  if (call.body) {
    const rewritten = upstreamApi.rewrite(call.body, upcall);
    return rewritten ? JSON.stringify(rewritten) : call.raw;
  }
  if (call.form?.model && upcall.upstreamModel !== call.form.model) return replaceMultipartField(call.raw, 'model', call.form.model, upcall.upstreamModel);
  return call.raw;
}

/** An answer read whole (not a stream), judged by the policy; translated for delivery when it is another API's. */
function judgeWhole(f: Flight, ch: LiveChannel, translating: boolean, a: { status: number; contentType: string; body: Buffer; retryAfter: string | string[] | undefined }): Answer {
  const upstreamApi = PROVIDER_MODULES[ch.config.provider];
  const { status, body, retryAfter } = a;
  let result: AttemptResult;
  let facts: ResponseFacts | undefined;
  if (status < 200 || status >= 300) {
    const text = body.toString('utf8', 0, Math.min(body.length, 4096));
    const failure = upstreamApi.classifyStatus(status, text);
    result = { kind: 'status', status, failure, detail: redact(text) };
    // A refusal answered as an error may still carry usage (billed where the model's policy says so).
    if (failure === 'moderation') facts = upstreamApi.readResponse(f.endpoint, parseJson(body), f.facts!.image);
  } else {
    const json = parseJson(body);
    if (json !== undefined) facts = upstreamApi.readResponse(f.endpoint, json, f.facts!.image);
    result = facts ? { kind: 'response', status, endpoint: f.endpoint, facts } : { kind: 'malformed', status };
  }
  const verdict = judgeAttempt(result);
  let out = { body, contentType: a.contentType };
  if (translating && verdict.next === 'deliver') out = translateAnswer(f, ch.config.provider, result, verdict, body);
  return { result, verdict, status, ...out, ...(facts ? { facts } : {}), ...(retryAfter ? { retryAfter: String(retryAfter) } : {}) };
}

/** What the caller's encoders need to know of its request. */
function encodeContext(f: Flight): EncodeContext {
  return { model: f.live!.config.id, request: f.call.body ?? {}, requestId: f.call.requestId, created: Math.floor(f.call.started / 1000) };
}

/** An upstream answer to deliver, in the caller's API: the response translated, or the upstream's refusal as the caller's error. */
function translateAnswer(f: Flight, upstream: Provider, result: AttemptResult, v: Verdict, body: Buffer): { body: Buffer; contentType: string } {
  let out: unknown;
  if (result.kind === 'response') {
    const json = parseJson(body) as Record<string, unknown>;
    out = translateResponse(upstream, dialectOf(f.call.surface.provider, f.call.surface.operation), json, encodeContext(f));
  } else {
    const status = result.kind === 'status' ? result.status : 400;
    const message = upstreamErrorMessage(body.toString('utf8', 0, Math.min(body.length, 65536))) ?? ERRORS[v.code ?? 'UPSTREAM_REJECTED'].message;
    out = f.api.errorBody(status, v.code ?? 'UPSTREAM_REJECTED', message, f.call.requestId);
  }
  return { body: Buffer.from(JSON.stringify(out)), contentType: 'application/json' };
}

function transportAnswer(f: Flight, err: unknown, status: number): Answer {
  const t = transportFailure(err);
  const result: AttemptResult = { kind: 'transport', timeout: t.timeout, clientGone: f.clientGone, detail: t.detail };
  return { result, verdict: judgeAttempt(result), status };
}

/** Keeps the attempt in the row, tells the router (circuit breaker), counts it. */
function noteAttempt(p: ForwardParts, f: Flight, ch: LiveChannel, a: Answer, started: number): void {
  const ms = performance.now() - started - heldForClient(f);
  f.upstreamMs += ms;
  const detail = a.verdict.detail;
  f.attempts.push({ channel: ch.config.id, status: a.status, outcome: a.verdict.outcome, ms: Math.round(ms * 1000) / 1000, ...(detail ? { error: detail } : {}) });
  p.router.record(ch.config.id, a.verdict.outcome, Date.now(), a.verdict.outOfCredit === true);
  p.metrics.attemptsOf(ch.config.name, a.verdict.outcome).inc();
  if (a.facts) f.response = a.facts;
  if (detail) f.detail = `${ch.config.name}: ${detail}`;
}

/** The answer goes to the client as the upstream gave it, with what it costs. */
function deliverAnswer(p: ForwardParts, f: Flight, res: ServerResponse, a: Answer): void {
  f.verdict = a.verdict;
  f.status = a.status;
  f.final = true;
  if (!deliver(f, res, a.status, a.body!, a.contentType!, p.charge(f))) {
    // The client left before the answer could go out: nothing delivered, nothing billed.
    f.verdict = { outcome: 'client_cancelled', next: 'end', code: 'CLIENT_CANCELLED' };
    f.status = 499;
    f.amount = null;
  }
}

/** The verdict ends the request after an answer began (a stream) or with the client gone. */
function settleVerdict(f: Flight, res: ServerResponse, v: Verdict, status: number): void {
  f.verdict = v;
  f.status = v.outcome === 'client_cancelled' ? 499 : v.code === 'UPSTREAM_STREAM_CUT' ? 502 : status;
  if (v.outcome === 'client_cancelled') abandon(res);
}

/** The request fails with the verdict's public error. */
function end(f: Flight, res: ServerResponse, v: Verdict, headers: Record<string, string> = {}): void {
  f.verdict = v;
  if (v.detail && !f.detail) f.detail = v.detail;
  answerError(f, res, publicError(v.code ?? 'UPSTREAM_ERROR'), headers);
}

/** Upstream error text for the log: keys and bearer tokens cut out. */
function redact(s: string): string {
  const r = s.replace(/(sk|sa|key|AIza)[-_A-Za-z0-9]{12,}/g, '[redacted]').replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
  return r.length > 500 ? `${r.slice(0, 500)}…` : r;
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Replaces one text field's value in a multipart body (model-name mapping for image edits). */
export function replaceMultipartField(raw: Buffer, name: string, from: string, to: string): Buffer {
  const needle = Buffer.from(`name="${name}"\r\n\r\n${from}\r\n`);
  const at = raw.indexOf(needle);
  if (at < 0) return raw;
  return Buffer.concat([raw.subarray(0, at), Buffer.from(`name="${name}"\r\n\r\n${to}\r\n`), raw.subarray(at + needle.length)]);
}
