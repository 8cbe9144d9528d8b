// Token counting, which Claude-format coding tools call before they send: Anthropic
// `POST /v1/messages/count_tokens` and Gemini `…:countTokens`, for a model of any family. Counted
// by the upstream's own endpoint where its API has one (Anthropic, Gemini; the request translated
// when the caller spoke the other API), else — OpenAI models, or an upstream that fails — locally
// with Surety's documented estimate (ceil(UTF-8 bytes / 4) of the input text; header
// `x-surety-token-count: estimated`). Never billed and never logged as a model call; rate-limited
// like any call (the key's and account's request windows and concurrency).

import type { ServerResponse } from 'node:http';
import { ipAllowed, type KeyAuthenticator } from '../accounts/keys.ts';
import type { Catalog, LiveChannel, LiveModel } from '../catalog/index.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { PROVIDER_MODULES } from '../providers/modules.ts';
import type { Provider } from '../providers/provider.ts';
import { decodeRequest, encodeRequest } from '../providers/translate/index.ts';
import type { IncomingCall } from './flight.ts';
import type { QuotaAsk, Quotas } from './quotas.ts';
import type { Router } from './router.ts';
import type { Target, UpstreamPool } from './upstream.ts';

export interface CountParts {
  auth: KeyAuthenticator;
  catalog: Catalog;
  quotas: Quotas;
  router: Router;
  pool: UpstreamPool;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Counts the input tokens of `call` (an Anthropic or Gemini count request) and answers in the caller's API. */
export async function countTokens(p: CountParts, call: IncomingCall, res: ServerResponse): Promise<void> {
  const client = call.surface.provider;
  const api = PROVIDER_MODULES[client];
  const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...api.requestIdHeaders(call.requestId), ...headers });
    res.end(text);
  };
  let ask: QuotaAsk | null = null;
  try {
    const principal = await p.auth.authenticate(call.key);
    if (!ipAllowed(principal.ipList, call.clientIp)) throw new AppError('IP_NOT_ALLOWED', `Requests from ${call.clientIp} are not allowed for this key.`);
    const body = requestOf(client, call.body ?? {});
    const named = call.pathModel ?? call.body?.model;
    if (typeof named !== 'string') throw new AppError('VALIDATION', 'model: is required', { field: 'model' });
    const live = p.catalog.model(named);
    if (!live || live.config.kind !== 'chat') throw new AppError('UNKNOWN_MODEL', `The model ${named.slice(0, 100)} does not exist or cannot count tokens.`);
    if (principal.modelSet && !principal.modelSet.has(named)) throw new AppError('MODEL_NOT_ALLOWED', `This key may not use ${named}.`);
    const facts = api.readRequest('chat', client === 'anthropic' ? 'messages' : 'generateContent', { model: named, ...body }, { maxImages: 1 });
    const key = principal.key;
    ask = { requestId: call.requestId, keyId: key.id, accountId: key.account_id, at: call.started, tokens: 0, hold: 0n, keyRpm: key.rpm, keyTpm: key.tpm, accountRpm: principal.accountRpm, accountTpm: principal.accountTpm, concurrency: key.concurrency, spend: key };
    const refused = await p.quotas.admit(ask);
    if (refused) {
      ask = null;
      if (refused.kind === 'rate') throw new AppError('RATE_LIMITED', `Rate limit of this ${refused.whose} reached; retry in ${Math.ceil(refused.waitMs / 1000)} s.`, { retryAfter: Math.ceil(refused.waitMs / 1000) });
      if (refused.kind === 'concurrency') throw new AppError('CONCURRENCY_LIMITED');
      if (refused.kind === 'unavailable') throw new AppError('CLUSTER_UNAVAILABLE');
    }
    const upstream = await upstreamCount(p, live, client, body).catch(() => null);
    const tokens = upstream ?? facts.inputTokens;
    const source = upstream === null ? 'estimated' : 'upstream';
    send(200, client === 'anthropic' ? { input_tokens: tokens } : { totalTokens: tokens }, { 'x-surety-token-count': source });
  } catch (e) {
    const err = isAppError(e) ? e : new AppError('INTERNAL');
    const retry = err.details?.retryAfter;
    send(err.status, api.errorBody(err.status, err.code, err.message, call.requestId), retry ? { 'retry-after': String(retry) } : {});
  } finally {
    if (ask) p.quotas.release(ask, 0n, 0, Date.now());
  }
}

/** The body to count: Gemini's may wrap a whole generateContent request. */
function requestOf(client: Provider, body: Obj): Obj {
  if (client === 'gemini' && isObj(body.generateContentRequest)) {
    const { model: _m, ...inner } = body.generateContentRequest;
    return inner;
  }
  const { model: _model, ...rest } = body;
  return rest;
}

/** The upstream's own count, or null when the model's API has no count endpoint or none of its channels answers. */
async function upstreamCount(p: CountParts, live: LiveModel, client: Provider, body: Obj): Promise<number | null> {
  const ch = p.router.plan(live, Date.now()).find((c) => c.config.provider !== 'openai');
  if (!ch) return null;
  const provider = ch.config.provider;
  const upstreamModel = ch.config.model_map[live.config.id] ?? live.config.id;
  let upBody: Obj = { model: live.config.id, ...body };
  if (provider !== client) upBody = encodeRequest(decodeRequest(client, upBody, false, provider), provider, upstreamModel);
  const api = PROVIDER_MODULES[provider];
  const target = p.pool.target(ch, 'chat', api);
  let path: string;
  let payload: Obj;
  if (provider === 'anthropic') {
    path = '/v1/messages/count_tokens';
    const { max_tokens: _mt, stream: _s, temperature: _t, top_p: _tp, top_k: _tk, stop_sequences: _ss, metadata: _md, ...rest } = upBody;
    payload = { ...rest, model: upstreamModel };
  } else {
    path = `/v1beta/models/${encodeURIComponent(upstreamModel)}:countTokens`;
    const { model: _m, ...rest } = upBody;
    payload = Object.keys(rest).every((k) => k === 'contents') ? rest : { generateContentRequest: { model: `models/${upstreamModel}`, ...rest } };
  }
  return call(p, ch, target, path, payload, provider);
}

async function call(p: CountParts, ch: LiveChannel, target: Target, path: string, payload: Obj, provider: Provider): Promise<number | null> {
  const headers = { ...ch.config.headers, ...PROVIDER_MODULES[provider].headers(p.router.key(ch), {}), 'content-type': 'application/json' };
  const t = target.timeouts;
  const r = await p.pool
    .agentFor(ch, t.connect_ms)
    .request({ origin: target.origin, path: target.prefix + path, method: 'POST', headers, body: JSON.stringify(payload), headersTimeout: t.first_byte_ms, bodyTimeout: t.first_byte_ms, signal: AbortSignal.timeout(t.total_ms) });
  const json: unknown = await r.body.json().catch(() => null);
  if (r.statusCode < 200 || r.statusCode >= 300 || !isObj(json)) return null;
  const n = provider === 'anthropic' ? json.input_tokens : json.totalTokens;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}
