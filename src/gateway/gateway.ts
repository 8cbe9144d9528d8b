import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import { AppError, isAppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { formatUsd } from '../kernel/money.ts';
import { ipAllowed, type KeyAuthenticator, type Principal } from '../accounts/keys.ts';
import { priceUsage, worstCaseCost, type Multiplier } from '../billing/pricing.ts';
import type { Runtime } from '../kernel/context.ts';
import { Balances } from '../billing/balances.ts';
import { DEFAULT_TIMEOUTS, type Catalog, type LiveChannel, type LiveModel, type Timeouts } from '../catalog/catalog.ts';
import { Concurrency, KeySpendTracker, RateLimiter } from './limits.ts';
import { LogWriter, type RequestLogRow } from '../requests/writer.ts';
import type { GatewayMetrics } from './metrics.ts';
import { OUTCOMES, type Outcome } from '../requests/outcomes.ts';
import { appErrorPayload, errorPayload } from '../providers/errors.ts';
import { PROVIDER_ADAPTERS, normaliseBaseUrl, type Operation, type UpstreamCall } from '../providers/adapters.ts';
import { Router } from './router.ts';
import {
  createSseParser, createStreamUsage, estimateInputTokens, estimateUsage, extractUsage, imageRequestParams, requestedMaxOutputTokens,
  type BillableUsage, type Delivered, type Endpoint, type ImageRequestParams, type Protocol,
} from '../providers/index.ts';

// The request lifecycle of the data plane:
//   authenticate → model → key rules → limits → worst-case hold (in memory) → upstream attempts
//   (failover within the deadline) → usage → price → settle (hold released, charge + log row
//   queued for the group-committed writer, in one transaction).
// Every path ends in exactly one outcome (outcomes.ts) and one log row.

export interface Surface {
  protocol: Protocol;
  operation: Operation;
  /** Endpoint family when the model does not decide it (Gemini generateContent serves chat and images). */
  endpoint: Endpoint;
}

/** What the HTTP layer hands to the proxy: no framework types. */
export interface IncomingCall {
  surface: Surface;
  requestId: string;
  key: string;
  clientIp: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or null for multipart. */
  body: Record<string, unknown> | null;
  /** The raw body bytes as received. */
  raw: Buffer;
  contentType: string;
  /** Model from the path (Gemini) or the multipart form. */
  pathModel?: string | undefined;
  /** Gemini streamGenerateContent: did the client ask for SSE (alt=sse)? */
  geminiSse?: boolean;
  /** Fields of a multipart form (images/edits). */
  form?: Record<string, string> | undefined;
  started: number;
  startedHr: number;
}

export interface ProxyOptions {
  maxAttempts?: number;
  /** Bill what was delivered before the client went away (default) or nothing. */
  cancelledPolicy?: 'delivered' | 'none';
  /** Output tokens assumed for the hold when neither request nor model says. */
  defaultMaxOutputTokens?: number;
}

interface Attempt {
  channel: string;
  status: number;
  outcome: Outcome;
  ms: number;
  error?: string;
}

/** Per-request state accumulated into the log row. */
interface Flight {
  call: IncomingCall;
  principal: Principal | null;
  live: LiveModel | null;
  endpoint: Endpoint;
  stream: boolean;
  hold: bigint;
  spendHold: bigint;
  concurrencyHeld: boolean;
  estTokens: number;
  attempts: Attempt[];
  channel: LiveChannel | null;
  upstreamModel: string | null;
  firstByteAt: number | null;
  upstreamMs: number;
  outcome: Outcome;
  status: number;
  errorCode: string | null;
  error: string | null;
  usageRaw: unknown;
  billable: BillableUsage | null;
  delivered: Delivered & { chunks?: number; bytes?: number; capped_from?: string };
  clientGone: boolean;
  /** The account group's multiplier as of the start (the price, too, is the one the request started with). */
  multiplier?: Multiplier | undefined;
  /** Aborts the upstream attempt in progress (set while one is). */
  abortUpstream?: (() => void) | null;
}

/** The request id header; Anthropic's SDK reads `request-id` (its API's own header). */
function idHeaders(call: IncomingCall): Record<string, string> {
  return call.surface.protocol === 'anthropic' ? { 'x-request-id': call.requestId, 'request-id': call.requestId } : { 'x-request-id': call.requestId };
}

function bounded(s: string, n = 500): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Upstream error text for the log: keys and bearer tokens are cut out. */
function redact(s: string): string {
  return bounded(s.replace(/(sk|sa|key|AIza)[-_A-Za-z0-9]{12,}/g, '[redacted]').replace(/Bearer\s+\S+/gi, 'Bearer [redacted]'));
}

export class Gateway {
  readonly balances: Balances;
  readonly writer: LogWriter;
  readonly router: Router;
  readonly limiter = new RateLimiter();
  readonly concurrency = new Concurrency();
  readonly spend: KeySpendTracker;
  private readonly agents = new Map<string, { agent: Agent; sig: string }>();
  private readonly rt: Runtime;
  private readonly catalog: Catalog;
  private readonly auth: KeyAuthenticator;
  private readonly metrics: GatewayMetrics;
  private readonly opts: Required<ProxyOptions>;
  private inFlight = 0;
  /** Requests in flight per operation; /metrics reads it at scrape time (no per-request metric work). */
  readonly inFlightByOperation = new Map<string, number>();
  private draining = false;

  constructor(rt: Runtime, catalog: Catalog, auth: KeyAuthenticator, metrics: GatewayMetrics, opts: ProxyOptions = {}, router = new Router()) {
    this.rt = rt;
    this.catalog = catalog;
    this.auth = auth;
    this.metrics = metrics;
    this.router = router;
    this.balances = new Balances(rt);
    this.writer = new LogWriter(rt, this.balances);
    this.spend = new KeySpendTracker(rt);
    this.opts = { maxAttempts: opts.maxAttempts ?? 3, cancelledPolicy: opts.cancelledPolicy ?? 'delivered', defaultMaxOutputTokens: opts.defaultMaxOutputTokens ?? 8192 };
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  private agentFor(ch: LiveChannel, connectMs: number): Dispatcher {
    const sig = `${ch.config.base_url}|${connectMs}`;
    const cur = this.agents.get(ch.config.id);
    if (cur && cur.sig === sig) return cur.agent;
    if (cur) void cur.agent.close();
    const agent = new Agent({ connect: { timeout: connectMs }, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: 512 });
    this.agents.set(ch.config.id, { agent, sig });
    return agent;
  }

  private readonly targets = new WeakMap<LiveChannel, Map<Endpoint, { origin: string; prefix: string; timeouts: Timeouts }>>();

  /** Where and with which timeouts a channel is called for an endpoint kind (computed once per catalog snapshot). */
  private target(ch: LiveChannel, endpoint: Endpoint): { origin: string; prefix: string; timeouts: Timeouts } {
    let byEndpoint = this.targets.get(ch);
    if (!byEndpoint) this.targets.set(ch, (byEndpoint = new Map()));
    let t = byEndpoint.get(endpoint);
    if (!t) {
      const base = new URL(normaliseBaseUrl(ch.config.provider, ch.config.base_url));
      t = {
        origin: base.origin,
        prefix: base.pathname.replace(/\/+$/, ''),
        timeouts: { ...DEFAULT_TIMEOUTS[endpoint], ...ch.config.timeouts, ...(ch.config.endpoint_timeouts[endpoint] ?? {}) },
      };
      byEndpoint.set(endpoint, t);
    }
    return t;
  }

  private timeoutsFor(ch: LiveChannel, endpoint: Endpoint): Timeouts {
    return this.target(ch, endpoint).timeouts;
  }

  /** Handles one data-plane request end to end, writing the response to `res`. */
  async handle(call: IncomingCall, res: ServerResponse): Promise<void> {
    const f = newFlight(call);
    this.inFlight++;
    const op = call.surface.operation;
    this.inFlightByOperation.set(op, (this.inFlightByOperation.get(op) ?? 0) + 1);
    const onClose = () => {
      if (!res.writableFinished) {
        f.clientGone = true;
        f.abortUpstream?.();
      }
    };
    res.on('close', onClose);
    try {
      await this.run(f, res);
    } catch (e) {
      // Our own fault: never billed, always logged.
      this.rt.log.error({ err: e, request_id: call.requestId }, 'gateway error');
      this.fail(f, res, isAppError(e) ? e : new AppError('INTERNAL', 'The gateway failed while handling this request.'), 'platform_error');
    } finally {
      res.off('close', onClose);
      this.settle(f);
      this.inFlight--;
      this.inFlightByOperation.set(op, this.inFlightByOperation.get(op)! - 1);
    }
  }

  /** Ends the request with an error in the caller's protocol shape. */
  private fail(f: Flight, res: ServerResponse, e: AppError, outcome: Outcome, extraHeaders: Record<string, string> = {}): void {
    f.outcome = outcome;
    f.status = e.status;
    f.errorCode = e.code;
    f.error ??= bounded(e.message);
    if (res.headersSent || res.destroyed) {
      if (!res.writableEnded) res.end();
      return;
    }
    const body = JSON.stringify(appErrorPayload(f.call.surface.protocol, e, f.call.requestId));
    res.writeHead(e.status, { 'content-type': 'application/json', ...idHeaders(f.call), 'content-length': Buffer.byteLength(body), ...extraHeaders });
    res.end(body);
  }

  private async run(f: Flight, res: ServerResponse): Promise<void> {
    const { call } = f;
    const now = call.started;
    if (this.draining) return this.fail(f, res, new AppError('SHUTTING_DOWN'), 'platform_error', { connection: 'close' });

    // 1. Who is calling.
    let p: Principal;
    try {
      p = await this.auth.authenticate(call.key);
    } catch (e) {
      if (isAppError(e)) {
        // An expired or revoked key (or a suspended account) is still known: its row names them.
        f.principal = this.auth.known(call.key);
        return this.fail(f, res, e, 'auth_error');
      }
      throw e;
    }
    f.principal = p;
    if (!ipAllowed(p.ipList, call.clientIp)) return this.fail(f, res, new AppError('IP_NOT_ALLOWED', `Requests from ${call.clientIp} are not allowed for this key.`), 'auth_error');

    // 2. Which model, served how.
    const modelId = call.pathModel ?? (typeof call.body?.model === 'string' ? call.body.model : call.form?.model);
    if (!modelId) return this.fail(f, res, new AppError('VALIDATION', 'model: is required', { field: 'model' }), 'client_error');
    const live = this.catalog.model(modelId);
    if (!live) {
      return this.fail(f, res, new AppError('UNKNOWN_MODEL', `The model ${bounded(modelId, 100)} does not exist.`), 'client_error');
    }
    f.live = live;
    if (p.modelSet && !p.modelSet.has(modelId)) return this.fail(f, res, new AppError('MODEL_NOT_ALLOWED', `This key may not use ${modelId}.`), 'auth_error');
    if (live.config.family !== call.surface.protocol) {
      return this.fail(
        f,
        res,
        new AppError('UNKNOWN_MODEL', `${modelId} is a ${live.config.family} model; call it through the ${live.config.family} API (translation between APIs is not supported yet).`),
        'client_error',
      );
    }
    f.endpoint = call.surface.operation === 'generateContent' || call.surface.operation === 'streamGenerateContent' ? live.config.kind : call.surface.endpoint;
    if (f.endpoint !== live.config.kind) {
      return this.fail(f, res, new AppError('UNKNOWN_MODEL', `${modelId} is a ${live.config.kind} model and cannot serve ${call.surface.operation}.`), 'client_error');
    }
    f.stream = call.surface.operation === 'streamGenerateContent' || call.body?.stream === true;

    // 3. Limits.
    const key = p.key;
    const body = call.body ?? {};
    f.estTokens = estimateInputTokens(call.surface.protocol, f.endpoint, call.body ?? { prompt: call.form?.prompt ?? '' });
    const wait = this.limiter.admit(`k:${key.id}`, key.rpm, key.tpm, f.estTokens, now);
    if (wait > 0) return this.fail(f, res, new AppError('RATE_LIMITED', `Rate limit of this key reached; retry in ${Math.ceil(wait / 1000)} s.`), 'rate_limited', { 'retry-after': String(Math.ceil(wait / 1000)) });
    if (p.accountRpm || p.accountTpm) {
      const w = this.limiter.admit(`a:${key.account_id}`, p.accountRpm, p.accountTpm, f.estTokens, now);
      if (w > 0) return this.fail(f, res, new AppError('RATE_LIMITED', `Rate limit of this account reached; retry in ${Math.ceil(w / 1000)} s.`), 'rate_limited', { 'retry-after': String(Math.ceil(w / 1000)) });
    }
    if (!this.concurrency.acquire(key.id, key.concurrency)) return this.fail(f, res, new AppError('CONCURRENCY_LIMITED'), 'rate_limited');
    f.concurrencyHeld = true;
    if (!this.writer.healthy) return this.fail(f, res, new AppError('STORAGE_UNAVAILABLE', 'Billing storage is not accepting writes; the request was not sent upstream.'), 'platform_error');

    // 4. Worst-case hold: balance and key spend limits.
    const multiplier = this.catalog.multiplier(p.accountGroup);
    f.multiplier = multiplier;
    const img: ImageRequestParams = f.endpoint === 'images' ? (call.body ? imageRequestParams(call.surface.protocol, call.body) : { n: Number(call.form?.n ?? 1) || 1, ...(call.form?.size ? { size: call.form.size } : {}), ...(call.form?.quality ? { quality: call.form.quality } : {}) }) : {};
    const maxOut = requestedMaxOutputTokens(call.surface.protocol, f.endpoint, body) ?? live.config.default_max_output_tokens ?? (f.endpoint === 'chat' ? this.opts.defaultMaxOutputTokens : 0);
    const worst = worstCaseCost(
      live.price,
      {
        // The estimate is ~bytes/4; holds take twice that so that dense scripts stay covered.
        max_input_tokens: f.estTokens * 2 + 16,
        max_output_tokens: maxOut,
        images: f.endpoint === 'images' ? Math.max(1, img.n ?? live.config.max_images ?? 1) : 0,
        ...(img.size ? { image_size: img.size } : {}),
        ...(img.quality ? { image_quality: img.quality } : {}),
      },
      multiplier,
    );
    const limitHit = await this.spend.reserve(key.id, key, worst, now);
    if (limitHit) return this.fail(f, res, new AppError('KEY_LIMIT_EXCEEDED', `This key's ${limitHit} spend limit does not cover this request.`), 'key_limit');
    f.spendHold = worst;
    if (!(await this.balances.reserve(key.account_id, worst))) {
      const avail = await this.balances.available(key.account_id);
      return this.fail(
        f,
        res,
        new AppError('INSUFFICIENT_BALANCE', `This request may cost up to ${formatUsd(worst)} USD; the account has ${formatUsd(avail > 0n ? avail : 0n)} USD available.`),
        'insufficient_balance',
      );
    }
    f.hold = worst;

    // 5. Upstream, with failover.
    await this.forward(f, res, img);
  }

  private async forward(f: Flight, res: ServerResponse, img: ImageRequestParams): Promise<void> {
    const { call } = f;
    const live = f.live!;
    const plan = this.router.plan(live, Date.now());
    if (plan.length === 0) {
      return this.fail(f, res, new AppError('NO_CHANNEL', `No upstream channel for ${live.config.id} is available right now.`), 'upstream_error', { 'retry-after': '5' });
    }
    const firstTimeouts = this.timeoutsFor(plan[0]!, f.endpoint);
    const deadline = call.started + firstTimeouts.total_ms;
    let last: { e: AppError; outcome: Outcome; headers?: Record<string, string> } | null = null;

    for (let i = 0; i < plan.length && f.attempts.length < this.opts.maxAttempts; i++) {
      const ch = plan[i]!;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || f.clientGone) break;
      const target = this.target(ch, f.endpoint);
      const t = target.timeouts;
      const upstreamModel = ch.config.model_map[live.config.id] ?? live.config.id;
      const upcall: UpstreamCall = { provider: ch.config.provider, operation: call.surface.operation, endpoint: f.endpoint, stream: f.stream, upstreamModel };
      const adapter = PROVIDER_ADAPTERS[ch.config.provider];
      const headers: Record<string, string> = { ...ch.config.headers, ...adapter.headers(this.router.key(ch), call.headers), 'content-type': call.contentType };
      let payload: Buffer | string = call.raw;
      if (call.body && (upstreamModel !== call.body.model || (f.stream && ch.config.provider === 'openai')) && ch.config.provider !== 'gemini') {
        payload = JSON.stringify(adapter.rewrite({ ...call.body }, upcall));
      } else if (!call.body && call.form?.model && upstreamModel !== call.form.model) {
        payload = replaceMultipartField(call.raw, 'model', call.form.model, upstreamModel);
      }
      const attemptStart = performance.now();
      const ac = new AbortController();
      // The client going away aborts the upstream call (no EventTarget listeners on the hot path).
      f.abortUpstream = () => ac.abort(new Error('client disconnected'));
      const timer = setTimeout(() => ac.abort(new DeadlineError()), Math.min(t.total_ms, remaining));
      f.channel = ch;
      f.upstreamModel = upstreamModel;
      let upstream: Dispatcher.ResponseData;
      try {
        upstream = await this.agentFor(ch, t.connect_ms).request({
          origin: target.origin,
          path: target.prefix + adapter.path(upcall),
          method: 'POST',
          headers,
          body: payload,
          signal: ac.signal,
          headersTimeout: t.first_byte_ms,
          bodyTimeout: t.first_byte_ms,
        });
      } catch (err) {
        clearTimeout(timer);
        f.abortUpstream = null;
        const outcome = f.clientGone ? 'client_cancelled' : transportOutcome(err);
        this.attempt(f, ch, 0, outcome, attemptStart, transportMessage(err));
        if (outcome === 'client_cancelled') return this.cancelled(f, res);
        last = { e: new AppError(outcome === 'upstream_timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR', `Upstream ${ch.config.name}: ${transportMessage(err)}`), outcome };
        continue;
      }
      if (f.firstByteAt === null) f.firstByteAt = Date.now();
      const status = upstream.statusCode;
      const ctype = String(upstream.headers['content-type'] ?? '');
      const done = () => {
        clearTimeout(timer);
        f.abortUpstream = null;
      };

      if (status >= 200 && status < 300 && f.stream && ctype.includes('event-stream')) {
        // Streaming: committed to this attempt once the first byte goes out.
        try {
          await this.pipeStream(f, res, upstream, ch, attemptStart, img);
        } finally {
          done();
        }
        return;
      }

      let buf: Buffer;
      try {
        buf = Buffer.from(await upstream.body.arrayBuffer());
      } catch (err) {
        done();
        const outcome = f.clientGone ? 'client_cancelled' : transportOutcome(err);
        this.attempt(f, ch, status, outcome, attemptStart, transportMessage(err));
        if (outcome === 'client_cancelled') return this.cancelled(f, res);
        last = { e: new AppError(outcome === 'upstream_timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR', `Upstream ${ch.config.name}: ${transportMessage(err)}`), outcome };
        continue;
      }
      done();

      if (status < 200 || status >= 300) {
        const text = buf.toString('utf8', 0, Math.min(buf.length, 4096));
        const cls = adapter.classifyStatus(status, text);
        this.attempt(f, ch, status, cls.outcome, attemptStart, redact(text));
        if (cls.outcome === 'client_error' || cls.outcome === 'upstream_moderation') {
          // The upstream's own answer, in the caller's protocol (same provider): pass it through.
          f.outcome = cls.outcome;
          f.status = status;
          f.error = redact(text);
          f.errorCode = cls.outcome === 'upstream_moderation' ? 'UPSTREAM_MODERATION' : 'UPSTREAM_REJECTED';
          if (cls.outcome === 'upstream_moderation' && live.price.billed_on_moderation) this.priceFrom(f, extractUsage(call.surface.protocol, f.endpoint, safeJson(buf), img), img);
          return this.send(f, res, status, buf, ctype || 'application/json');
        }
        const retryAfter = upstream.headers['retry-after'];
        last = {
          e: new AppError(cls.outcome === 'upstream_rate_limited' ? 'UPSTREAM_RATE_LIMITED' : 'UPSTREAM_ERROR', `Upstream ${ch.config.name} answered ${status}.`),
          outcome: cls.outcome,
          ...(cls.outcome === 'upstream_rate_limited' ? { headers: { 'retry-after': String(retryAfter ?? '1') } } : {}),
        };
        // A lone channel that rate-limits: wait as asked if that fits the deadline, once.
        if (cls.outcome === 'upstream_rate_limited' && plan.length === 1 && f.attempts.length < this.opts.maxAttempts) {
          const waitMs = Math.min(2_000, Number(retryAfter ?? 1) * 1000 || 1000);
          if (Date.now() + waitMs < deadline - 1000) {
            await sleep(waitMs);
            if (f.clientGone) break;
            if (this.router.plan(live, Date.now()).includes(ch)) plan.push(ch);
          }
        }
        continue;
      }

      // 2xx with a complete body.
      const json = safeJson(buf);
      if (json === undefined) {
        this.attempt(f, ch, status, 'upstream_error', attemptStart, 'malformed response body');
        last = { e: new AppError('UPSTREAM_ERROR', `Upstream ${ch.config.name} answered with a body that is not valid JSON.`), outcome: 'upstream_error' };
        continue;
      }
      const usage = extractUsage(call.surface.protocol, f.endpoint, json, img);
      if (adapter.refusedOk(json, upcall)) {
        this.attempt(f, ch, status, 'upstream_moderation', attemptStart);
        f.outcome = 'upstream_moderation';
        f.status = status;
        f.errorCode = 'UPSTREAM_MODERATION';
        f.usageRaw = usage.raw;
        f.delivered = { ...usage.delivered };
        if (live.price.billed_on_moderation) this.priceFrom(f, usage, img);
        return this.send(f, res, status, buf, ctype || 'application/json');
      }
      if (f.endpoint === 'images' && usage.delivered.images === 0) {
        // A 200 that delivered no image is not a success and is never billed; try elsewhere.
        this.attempt(f, ch, status, 'upstream_error', attemptStart, 'no image delivered');
        f.usageRaw = usage.raw;
        last = { e: new AppError('UPSTREAM_ERROR', `The upstream (${ch.config.name}) answered without delivering an image; this request is not billed.`), outcome: 'upstream_error' };
        continue;
      }
      this.attempt(f, ch, status, 'ok', attemptStart);
      f.outcome = 'ok';
      f.status = status;
      this.priceFrom(f, usage, img);
      return this.send(f, res, status, buf, ctype || 'application/json');
    }

    if (f.clientGone) return this.cancelled(f, res);
    if (!last) {
      return this.fail(f, res, new AppError('UPSTREAM_TIMEOUT', 'The request deadline passed before an upstream answered.'), 'upstream_timeout');
    }
    f.error = last.e.message;
    // An upstream 200 that delivered no image is an error to the client (502, so it can retry) and costs nothing.
    this.fail(f, res, last.e, last.outcome, last.headers);
  }

  private attempt(f: Flight, ch: LiveChannel, status: number, outcome: Outcome, startHr: number, error?: string): void {
    const ms = performance.now() - startHr;
    f.upstreamMs += ms;
    f.attempts.push({ channel: ch.config.id, status, outcome, ms: Math.round(ms * 1000) / 1000, ...(error ? { error } : {}) });
    this.router.record(ch.config.id, outcome, Date.now());
    this.metrics.attempts.inc({ channel: ch.config.name, outcome });
  }

  /** Usage → billable (estimated when the upstream reported none) for a billed outcome. */
  private priceFrom(f: Flight, usage: { raw: unknown; billable: BillableUsage | null; delivered: Delivered }, img: ImageRequestParams): void {
    f.usageRaw = usage.raw;
    f.delivered = { ...f.delivered, ...usage.delivered };
    f.billable = usage.billable ?? estimateUsage(f.call.surface.protocol, f.endpoint, f.call.body ?? { prompt: f.call.form?.prompt ?? '' }, usage.delivered, img);
  }

  private send(f: Flight, res: ServerResponse, status: number, body: Buffer, type: string, billed = true): void {
    if (res.destroyed || f.clientGone) {
      // The client left before we could deliver: nothing delivered, nothing billed.
      f.clientGone = true;
      f.outcome = 'client_cancelled';
      f.status = 499;
      f.errorCode = 'CLIENT_CANCELLED';
      f.billable = null;
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': type, 'content-length': body.length, ...idHeaders(f.call) };
    const amount = billed ? this.amountFor(f) : 0n;
    headers['x-surety-cost'] = formatUsd(amount);
    f.delivered.bytes = body.length;
    res.writeHead(status, headers);
    res.end(body);
  }

  private cancelled(f: Flight, res: ServerResponse): void {
    f.outcome = 'client_cancelled';
    f.status = 499;
    f.errorCode = 'CLIENT_CANCELLED';
    if (!res.writableEnded && !res.destroyed) res.destroy();
  }

  private async pipeStream(
    f: Flight,
    res: ServerResponse,
    upstream: Dispatcher.ResponseData,
    ch: LiveChannel,
    attemptStart: number,
    img: ImageRequestParams,
  ): Promise<void> {
    const { call } = f;
    const protocol = call.surface.protocol;
    const parser = createSseParser();
    const acc = createStreamUsage(protocol, f.endpoint, img);
    const asArray = protocol === 'gemini' && call.geminiSse === false;
    // We always ask OpenAI for the usage chunk (billing needs it); a client that did not ask for
    // it does not get it: its stream is re-framed event by event without that chunk.
    const so = call.body?.stream_options as { include_usage?: unknown } | undefined;
    const dropUsageChunk = protocol === 'openai' && f.endpoint === 'chat' && so?.include_usage !== true;
    let refusal = false;
    let chunks = 0;
    let bytes = 0;
    let firstOut = true;
    res.writeHead(200, {
      'content-type': asArray ? 'application/json' : 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...idHeaders(call),
      'x-accel-buffering': 'no',
    });
    const watch = (data: string) => {
      if (protocol === 'anthropic') {
        if (data.includes('"stop_reason":"refusal"')) refusal = true;
      } else if (protocol === 'gemini') {
        if (data.includes('"blockReason"') || /"finishReason":\s*"(SAFETY|PROHIBITED_CONTENT|BLOCKLIST|SPII|IMAGE_SAFETY|IMAGE_PROHIBITED_CONTENT)"/.test(data)) refusal = true;
      } else if (data.includes('"finish_reason":"content_filter"')) refusal = true;
    };
    let failure: unknown = null;
    try {
      for await (const chunk of upstream.body) {
        const buf = chunk as Buffer;
        chunks++;
        bytes += buf.length;
        const events = parser.push(buf);
        if (asArray) {
          for (const ev of events) {
            res.write(`${firstOut ? '[' : ',\r\n'}${ev.data}`);
            firstOut = false;
          }
        } else if (dropUsageChunk) {
          for (const ev of events) if (!isUsageOnlyChunk(ev.data)) res.write(`data: ${ev.data}\n\n`);
        } else {
          res.write(buf);
        }
        for (const ev of events) {
          acc.feed(ev);
          watch(ev.data);
        }
      }
      for (const ev of parser.end()) {
        acc.feed(ev);
        watch(ev.data);
        if (asArray) {
          res.write(`${firstOut ? '[' : ',\r\n'}${ev.data}`);
          firstOut = false;
        } else if (dropUsageChunk && !isUsageOnlyChunk(ev.data)) {
          res.write(`data: ${ev.data}\n\n`);
        }
      }
    } catch (err) {
      failure = err;
    }
    const result = acc.result();
    f.usageRaw = result.raw;
    f.delivered = { ...result.delivered, chunks, bytes };
    if (f.clientGone) {
      this.attempt(f, ch, 200, 'client_cancelled', attemptStart, 'client disconnected mid-stream');
      f.outcome = 'client_cancelled';
      f.status = 499;
      f.errorCode = 'CLIENT_CANCELLED';
      if (this.opts.cancelledPolicy === 'delivered') {
        f.billable = result.billable ?? estimateUsage(protocol, f.endpoint, call.body, result.delivered, img);
        // Output billed only as far as it was delivered.
        const est = estimateUsage(protocol, f.endpoint, call.body, result.delivered, img);
        if (f.billable.output_tokens > est.output_tokens) f.billable = { ...f.billable, output_tokens: est.output_tokens, estimated: true };
      }
      if (!res.destroyed) res.destroy();
      return;
    }
    if (failure || !result.complete || result.malformed > 0) {
      const outcome: Outcome = failure ? transportOutcome(failure) : 'upstream_error';
      const msg = failure ? transportMessage(failure) : !result.complete ? 'stream ended before its end marker' : `${result.malformed} unparsable event(s) in the stream`;
      this.attempt(f, ch, 200, outcome, attemptStart, msg);
      f.outcome = outcome;
      f.status = 502;
      f.errorCode = 'UPSTREAM_STREAM_CUT';
      f.error = `Upstream ${ch.config.name}: ${msg}`;
      // The client gets an error event in its protocol, then the stream ends. Not billed.
      if (!res.destroyed) {
        const payload = JSON.stringify(errorPayload(protocol, 502, 'UPSTREAM_ERROR', 'The upstream stream broke off; this request is not billed.', call.requestId));
        if (asArray) res.end(`${firstOut ? '[' : ',\r\n'}${payload}]`);
        else if (protocol === 'anthropic') res.end(`event: error\ndata: ${payload}\n\n`);
        else res.end(`data: ${payload}\n\n`);
      }
      return;
    }
    if (refusal && f.delivered.images === 0) {
      this.attempt(f, ch, 200, 'upstream_moderation', attemptStart);
      f.outcome = 'upstream_moderation';
      f.status = 200;
      f.errorCode = 'UPSTREAM_MODERATION';
      if (f.live!.price.billed_on_moderation) f.billable = result.billable ?? estimateUsage(protocol, f.endpoint, call.body, result.delivered, img);
    } else if (f.endpoint === 'images' && f.delivered.images === 0) {
      this.attempt(f, ch, 200, 'upstream_error', attemptStart, 'no image delivered');
      f.outcome = 'upstream_error';
      f.status = 200;
      f.errorCode = 'NOTHING_DELIVERED';
    } else {
      this.attempt(f, ch, 200, 'ok', attemptStart);
      f.outcome = 'ok';
      f.status = 200;
      f.billable = result.billable ?? estimateUsage(protocol, f.endpoint, call.body, result.delivered, img);
    }
    res.end(asArray ? (firstOut ? '[]' : ']') : undefined);
  }

  /** The charge of a settled request: priced once, capped at its hold (never above what was reserved). */
  private amountFor(f: Flight): bigint {
    if (!f.billable || !f.live || !f.principal) return 0n;
    const billedOutcome = OUTCOMES[f.outcome].billed;
    if (billedOutcome === 'no') return 0n;
    if (billedOutcome === 'model_policy' && !f.live.price.billed_on_moderation) return 0n;
    if (billedOutcome === 'delivered' && this.opts.cancelledPolicy === 'none') return 0n;
    const amount = priceUsage(f.live.price, f.billable, f.multiplier);
    if (amount > f.hold) {
      f.delivered.capped_from = formatUsd(amount);
      return f.hold;
    }
    return amount;
  }

  /** Releases holds and limits, and queues the log row with its charge. Runs once per request. */
  private settle(f: Flight): void {
    const end = Date.now();
    const endHr = performance.now();
    const p = f.principal;
    const amount = this.amountFor(f);
    if (p) {
      if (f.hold > 0n) this.balances.settle(p.key.account_id, f.hold, amount);
      if (f.spendHold > 0n) this.spend.settle(p.key.id, f.spendHold, amount, end);
      if (f.concurrencyHeld) this.concurrency.release(p.key.id);
      if (f.billable) {
        const used = f.billable.input_tokens + f.billable.cached_input_tokens + f.billable.cache_write_tokens + f.billable.output_tokens;
        this.limiter.correct(`k:${p.key.id}`, used - f.estTokens, end);
        this.limiter.correct(`a:${p.key.account_id}`, used - f.estTokens, end);
      }
    }
    const row: RequestLogRow = {
      id: f.call.requestId,
      account_id: p?.key.account_id ?? null,
      key_id: p?.key.id ?? null,
      member_id: p?.key.member_id ?? null,
      endpoint: f.call.surface.operation,
      protocol: f.call.surface.protocol,
      model: f.live?.config.id ?? (typeof f.call.body?.model === 'string' ? bounded(f.call.body.model, 200) : (f.call.pathModel ?? null)),
      upstream_model: f.upstreamModel,
      channel_id: f.channel?.config.id ?? null,
      attempts: f.attempts,
      started_at: f.call.started,
      first_byte_at: f.firstByteAt,
      ended_at: end,
      duration_ms: Math.max(0, Math.round(endHr - f.call.startedHr)),
      stream: f.stream,
      status: f.status,
      outcome: f.outcome,
      error_code: f.errorCode,
      error: f.error,
      usage_raw: f.usageRaw,
      usage_billable: f.billable,
      usage_estimated: f.billable?.estimated ?? false,
      price_version: f.live?.config.price_version ?? null,
      hold_amount: f.hold,
      amount,
      tx_id: null,
      delivered: f.delivered,
      client_ip: f.call.clientIp || null,
    };
    this.writer.push(row);
    const model = f.live?.config.id ?? 'unknown';
    const totalS = (endHr - f.call.startedHr) / 1000;
    this.metrics.requests.inc({ model, channel: f.channel?.config.name ?? 'none', outcome: f.outcome, endpoint: f.call.surface.operation });
    this.metrics.latency.observe({ model, outcome: f.outcome }, totalS);
    if (f.outcome === 'ok' && !f.stream) this.metrics.overhead.observe({ endpoint: f.call.surface.operation }, Math.max(0, totalS - f.upstreamMs / 1000));
    if (f.firstByteAt !== null) this.metrics.ttfb.observe({ model }, (f.firstByteAt - f.call.started) / 1000);
    if (amount > 0n) {
      this.metrics.charged.inc({ model }, Number(amount));
      const b = f.billable!;
      this.metrics.tokens.inc({ model, kind: 'input' }, b.input_tokens);
      this.metrics.tokens.inc({ model, kind: 'output' }, b.output_tokens);
      if (b.cached_input_tokens) this.metrics.tokens.inc({ model, kind: 'cached_input' }, b.cached_input_tokens);
      if (b.cache_write_tokens) this.metrics.tokens.inc({ model, kind: 'cache_write' }, b.cache_write_tokens);
    }
  }

  /** Stop taking new requests; wait for in-flight ones (up to `ms`); flush the writer. */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    const until = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < until) await sleep(20);
    await this.writer.close();
    await Promise.all([...this.agents.values()].map((a) => a.agent.close().catch(() => {})));
  }

  /** Builds the request id and the start times; shared by the HTTP layer's early errors. */
  static newRequestId(): string {
    return newId('req');
  }

  /** For early failures in the HTTP layer (bad JSON, body too large): log them as client errors. */
  async rejectEarly(call: IncomingCall, res: ServerResponse, e: AppError, outcome: Outcome = 'client_error'): Promise<void> {
    const f = newFlight(call);
    try {
      f.principal = await this.auth.authenticate(call.key);
    } catch {
      // A bad request with a bad key is still logged: with its account when the key is known.
      f.principal = this.auth.known(call.key);
    }
    this.fail(f, res, e, outcome);
    this.settle(f);
  }
}

/** A request's state before anything happened: platform_error until an outcome is set. */
function newFlight(call: IncomingCall): Flight {
  return {
    call,
    principal: null,
    live: null,
    endpoint: call.surface.endpoint,
    stream: false,
    hold: 0n,
    spendHold: 0n,
    concurrencyHeld: false,
    estTokens: 0,
    attempts: [],
    channel: null,
    upstreamModel: null,
    firstByteAt: null,
    upstreamMs: 0,
    outcome: 'platform_error',
    status: 500,
    errorCode: null,
    error: null,
    usageRaw: null,
    billable: null,
    delivered: { images: 0, text_chars: 0, text_bytes: 0 },
    clientGone: false,
  };
}

class DeadlineError extends Error {
  constructor() {
    super('upstream deadline exceeded');
    this.name = 'DeadlineError';
  }
}

function transportOutcome(err: unknown): Outcome {
  const e = err as { code?: string; name?: string; cause?: unknown };
  const reason = e?.name === 'AbortError' || e?.name === 'DeadlineError' ? e : (e?.cause as typeof e | undefined);
  if (e instanceof DeadlineError || reason instanceof DeadlineError) return 'upstream_timeout';
  const code = e?.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'upstream_timeout';
  return 'upstream_error';
}

function transportMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return bounded(`${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(err)}`, 300);
}

/** OpenAI's final stream chunk that carries only usage (`choices: []`). */
function isUsageOnlyChunk(data: string): boolean {
  return data.includes('"choices":[]') && data.includes('"usage":{');
}

function safeJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Replaces one text field's value in a multipart body (model-name mapping for image edits). */
export function replaceMultipartField(raw: Buffer, name: string, from: string, to: string): Buffer {
  const needle = Buffer.from(`name="${name}"\r\n\r\n${from}\r\n`);
  const at = raw.indexOf(needle);
  if (at < 0) return raw;
  return Buffer.concat([raw.subarray(0, at), Buffer.from(`name="${name}"\r\n\r\n${to}\r\n`), raw.subarray(at + needle.length)]);
}
