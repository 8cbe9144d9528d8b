// The data plane's front door: POSTs to the provider APIs' paths are taken off node:http before the
// control plane's framework sees them. They need none of what it adds (schemas, hooks, reply
// serialisation: the gateway writes its own answers), and it ran on every request of the hot
// path (docs/architecture.md, "Decisions"). Every other request — model lists, the control
// plane, the console, the status page — goes on to Fastify.

import type { IncomingMessage } from 'node:http';
import type { FrontDoor } from '../http/app.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import type { Runtime } from '../kernel/context.ts';
import { rejectNul } from '../kernel/validation.ts';
import { Gateway, type IncomingCall, type Surface } from './gateway.ts';
import { extractKey, parseBody, readBody, type ParsedBody } from './incoming.ts';

const SURFACES = {
  chat: { provider: 'openai', operation: 'chat', endpoint: 'chat' },
  responses: { provider: 'openai', operation: 'responses', endpoint: 'chat' },
  embeddings: { provider: 'openai', operation: 'embeddings', endpoint: 'embeddings' },
  imagesGen: { provider: 'openai', operation: 'images.generations', endpoint: 'images' },
  imagesEdit: { provider: 'openai', operation: 'images.edits', endpoint: 'images' },
  messages: { provider: 'anthropic', operation: 'messages', endpoint: 'chat' },
  generate: { provider: 'gemini', operation: 'generateContent', endpoint: 'chat' },
  streamGenerate: { provider: 'gemini', operation: 'streamGenerateContent', endpoint: 'chat' },
} as const satisfies Record<string, Surface>;

type Route = { surface: Surface; count?: true } | { gemini: true; surface: Surface };

const ROUTES = new Map<string, Route>([
  ['/v1/chat/completions', { surface: SURFACES.chat }],
  ['/v1/responses', { surface: SURFACES.responses }],
  ['/v1/embeddings', { surface: SURFACES.embeddings }],
  ['/v1/images/generations', { surface: SURFACES.imagesGen }],
  ['/v1/images/edits', { surface: SURFACES.imagesEdit }],
  ['/v1/messages', { surface: SURFACES.messages }],
  ['/v1/messages/count_tokens', { surface: SURFACES.messages, count: true }],
]);
// Gemini: /v1beta/models/{model}:generateContent | :streamGenerateContent | :countTokens, also
// under /v1 (the Gemini API serves both, and @google/genai defaults to v1).
const GEMINI_PREFIXES = ['/v1beta/models/', '/v1/models/'];
const GEMINI: Route = { gemini: true, surface: SURFACES.generate };

/** The front door of `gateway`: reads the body, builds the call, hands it over; answers what fails before. */
export function frontDoor(rt: Runtime, gateway: Gateway): FrontDoor {
  const limit = rt.config.bodyLimitBytes;
  const logLine = rt.config.requestLog;
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let route = ROUTES.get(path);
    let tail = '';
    if (!route) {
      const prefix = GEMINI_PREFIXES.find((p) => path.startsWith(p));
      if (!prefix) return false;
      route = GEMINI;
      tail = path.slice(prefix.length);
    }
    const started = Date.now();
    const startedHr = performance.now();
    if (logLine) res.once('finish', () => rt.log.info({ method: 'POST', url: path, status: res.statusCode, ms: Math.round((performance.now() - startedHr) * 100) / 100, ip: clientIp(req, rt) }, 'http'));
    const query = q < 0 ? null : new URLSearchParams(url.slice(q + 1));
    const call = (surface: Surface, body: ParsedBody | null, extra: Partial<IncomingCall> = {}): IncomingCall => ({
      surface,
      requestId: Gateway.newRequestId(),
      key: extractKey(req.headers, query?.get('key')),
      clientIp: clientIp(req, rt),
      headers: req.headers,
      body: body?.json ?? null,
      raw: body?.raw ?? Buffer.alloc(0),
      contentType: req.headers['content-type'] ?? 'application/json',
      form: body?.form,
      started,
      startedHr,
      ...extra,
    });
    const fail = (surface: Surface, e: unknown) => {
      if (!isAppError(e)) rt.log.error({ err: e }, 'data plane error');
      return gateway.rejectEarly(call(surface, null), res, isAppError(e) ? e : new AppError('INTERNAL'));
    };
    readBody(req, limit, (err, raw) => {
      if (err) return void fail(route.surface, err);
      parseBody(raw, req.headers['content-type']).then(
        (body) => ('gemini' in route ? gemini(gateway, tail, query, body, call) : route.count ? gateway.countTokens(call(route.surface, body), res) : gateway.handle(call(route.surface, body), res)),
        (e) => fail(route.surface, e),
      ).catch((e) => rt.log.error({ err: e }, 'data plane error'));
    });
    return true;

    function gemini(g: Gateway, rest: string, qs: URLSearchParams | null, body: ParsedBody, make: typeof call): Promise<void> {
      const i = rest.lastIndexOf(':');
      const action = i > 0 ? rest.slice(i + 1) : '';
      let model: string;
      try {
        model = decodeURIComponent(i > 0 ? rest.slice(0, i) : rest);
        rejectNul(model, 'model');
      } catch (e) {
        return g.rejectEarly(make(SURFACES.generate, body), res, isAppError(e) ? e : new AppError('VALIDATION', 'model: the path is not valid percent-encoding', { field: 'model' }));
      }
      if (action === 'countTokens') return g.countTokens(make(SURFACES.generate, body, { pathModel: model }), res);
      if (action !== 'generateContent' && action !== 'streamGenerateContent') {
        return g.rejectEarly(make(SURFACES.generate, body), res, new AppError('ROUTE_NOT_FOUND', `Unsupported method ${action || '(none)'}; use :generateContent, :streamGenerateContent or :countTokens.`));
      }
      const surface = action === 'generateContent' ? SURFACES.generate : SURFACES.streamGenerate;
      return g.handle(make(surface, body, { pathModel: model, geminiSse: qs?.get('alt') === 'sse' }), res);
    }
  };
}

/**
 * The client's address: the socket's peer, or behind a trusted proxy (SURETY_TRUST_PROXY) the first
 * address of X-Forwarded-For, as the control plane reads it. Empty once the socket has closed (a
 * client that half-closed mid-body).
 */
function clientIp(req: IncomingMessage, rt: Runtime): string {
  if (rt.config.trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    if (typeof xff === 'string' && xff) {
      const comma = xff.indexOf(',');
      const first = (comma < 0 ? xff : xff.slice(0, comma)).trim();
      if (first) return first;
    }
  }
  return req.socket.remoteAddress ?? '';
}
