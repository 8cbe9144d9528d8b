import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../kernel/errors.ts';
import type { KeyAuthenticator } from '../accounts/keys.ts';
import type { Runtime } from '../kernel/context.ts';
import { rejectNul } from '../kernel/validation.ts';
import { EventBus } from '../kernel/context.ts';
import type { RouteTable } from '../http/routes.ts';
import { parseJsonBody } from '../http/body.ts';
import { requestError } from '../http/errors.ts';
import { Catalog } from '../catalog/index.ts';
import { registerCatalogRoutes } from '../admin/catalog-routes.ts';
import { PROVIDER_MODULES } from '../providers/modules.ts';
import type { Provider } from '../providers/provider.ts';
import { GatewayMetrics } from './metrics.ts';
import { Gateway, type IncomingCall, type ProxyOptions, type Surface } from './gateway.ts';
import { parseMultipartFields } from './multipart.ts';
import { registerLogRoutes } from '../requests/logs.ts';
import { Router, type RouterOptions } from './router.ts';

// The data-plane routes: each provider API's paths, bodies kept as bytes (forwarded verbatim when
// nothing changes) and parsed once, errors answered in the caller's API shape and logged.

interface ParsedBody {
  raw: Buffer;
  json: Record<string, unknown> | null;
  form?: Record<string, string>;
}

export interface GatewayHandle {
  gateway: Gateway;
  catalog: Catalog;
  metrics: GatewayMetrics;
}

const SURFACES = {
  chat: { provider: 'openai', operation: 'chat', endpoint: 'chat' },
  embeddings: { provider: 'openai', operation: 'embeddings', endpoint: 'embeddings' },
  imagesGen: { provider: 'openai', operation: 'images.generations', endpoint: 'images' },
  imagesEdit: { provider: 'openai', operation: 'images.edits', endpoint: 'images' },
  messages: { provider: 'anthropic', operation: 'messages', endpoint: 'chat' },
  generate: { provider: 'gemini', operation: 'generateContent', endpoint: 'chat' },
  streamGenerate: { provider: 'gemini', operation: 'streamGenerateContent', endpoint: 'chat' },
} as const satisfies Record<string, Surface>;

/** Proxy options, and the circuit breaker's (threshold, cool-down). */
export type GatewayOptions = ProxyOptions & { router?: RouterOptions };

/** Registers the data plane (and its admin routes) on the app. */
export async function registerGateway(app: FastifyInstance, rt: Runtime, auth: KeyAuthenticator, routes: RouteTable, opts: GatewayOptions = {}): Promise<GatewayHandle> {
  const catalog = await Catalog.load(rt);
  const metrics = new GatewayMetrics();
  const gateway = new Gateway(rt, catalog, auth, metrics, opts, new Router(opts.router));
  if (rt.bus instanceof EventBus) {
    rt.bus.on({
      catalogChanged: () => void catalog.reload().catch((err) => rt.log.error({ err }, 'catalog reload failed')),
      balanceChanged: (id) => gateway.balances.invalidate(id),
      accountChanged: (id) => gateway.balances.invalidate(id),
    });
  }
  await app.register(async (dp) => registerDataPlane(dp, rt, auth, gateway, catalog));
  app.get('/metrics', async (_req, reply) => {
    for (const ch of catalog.snapshot.channels.values()) {
      const s = gateway.router.state(ch.config.id).state;
      metrics.channelHealth.set({ channel: ch.config.name }, s === 'closed' ? 1 : s === 'half_open' ? 0.5 : 0);
    }
    metrics.writerQueue.set(gateway.writer.pending);
    for (const [endpoint, n] of gateway.inFlightByOperation) metrics.inFlight.set({ endpoint }, n);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  registerCatalogRoutes(routes, rt, { catalog, health: (id) => gateway.router.state(id) });
  registerLogRoutes(routes, rt);
  return { gateway, catalog, metrics };
}

function registerDataPlane(dp: FastifyInstance, rt: Runtime, auth: KeyAuthenticator, gateway: Gateway, catalog: Catalog): void {
  dp.removeAllContentTypeParsers();
  dp.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const raw = body as Buffer;
    try {
      done(null, { raw, json: parseJsonBody(raw.toString('utf8'), true) as Record<string, unknown> } satisfies ParsedBody);
    } catch (e) {
      done(e as AppError, undefined);
    }
  });
  dp.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (req, body, done) => {
    const raw = body as Buffer;
    parseMultipartFields(raw, String(req.headers['content-type'])).then(
      (form) => {
        try {
          rejectNul(form, 'body');
        } catch (e) {
          return done(e as AppError, undefined);
        }
        done(null, { raw, json: null, form } satisfies ParsedBody);
      },
      (e) => done(new AppError('VALIDATION', `multipart body: ${(e as Error).message}`, { field: 'body' }), undefined),
    );
  });
  dp.addContentTypeParser('*', (_req, _payload, done) => done(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (or multipart/form-data for image edits).'), undefined));

  const toCall = (req: FastifyRequest, surface: Surface, extra: Partial<IncomingCall> = {}): IncomingCall => {
    const b = req.body as ParsedBody | undefined;
    return {
      surface,
      requestId: Gateway.newRequestId(),
      key: extractKey(req),
      // Undefined once the socket has closed (a client that half-closed mid-body).
      clientIp: req.ip ?? '',
      headers: req.headers,
      body: b?.json ?? null,
      raw: b?.raw ?? Buffer.alloc(0),
      contentType: String(req.headers['content-type'] ?? 'application/json'),
      form: b?.form,
      started: Date.now(),
      startedHr: performance.now(),
      ...extra,
    };
  };

  // Errors raised before the handler (bad JSON, too large, wrong type) answer in the caller's shape and are logged.
  dp.setErrorHandler(async (err, req, reply) => {
    const surface = (req.routeOptions.config as { surface?: Surface } | undefined)?.surface ?? SURFACES.chat;
    let e = requestError(err, rt.config.bodyLimitBytes);
    if (!e) {
      // Our own fault before the handler ran: a platform_error, answered and logged like any other.
      rt.log.error({ err }, 'data plane error');
      e = new AppError('INTERNAL');
    }
    reply.hijack();
    await gateway.rejectEarly(toCall(req, surface), reply.raw, e);
    return reply;
  });

  const proxy = (surface: Surface) => ({
    config: { surface },
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      await gateway.handle(toCall(req, surface), reply.raw);
    },
  });
  dp.post('/v1/chat/completions', proxy(SURFACES.chat));
  dp.post('/v1/embeddings', proxy(SURFACES.embeddings));
  dp.post('/v1/images/generations', proxy(SURFACES.imagesGen));
  dp.post('/v1/images/edits', proxy(SURFACES.imagesEdit));
  dp.post('/v1/messages', proxy(SURFACES.messages));
  // Gemini: /v1beta/models/{model}:generateContent | :streamGenerateContent, also under /v1
  // (the Gemini API serves both, and @google/genai defaults to v1).
  const gemini = {
    config: { surface: SURFACES.generate },
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const tail = (req.params as { '*': string })['*'];
      const i = tail.lastIndexOf(':');
      const action = i > 0 ? tail.slice(i + 1) : '';
      reply.hijack();
      let model: string;
      try {
        model = decodeURIComponent(i > 0 ? tail.slice(0, i) : tail);
        rejectNul(model, 'model');
      } catch (e) {
        return gateway.rejectEarly(toCall(req, SURFACES.generate), reply.raw, isAppError(e) ? e : new AppError('VALIDATION', 'model: the path is not valid percent-encoding', { field: 'model' }));
      }
      if (action !== 'generateContent' && action !== 'streamGenerateContent') {
        return gateway.rejectEarly(toCall(req, SURFACES.generate), reply.raw, new AppError('ROUTE_NOT_FOUND', `Unsupported method ${action || '(none)'}; use :generateContent or :streamGenerateContent.`));
      }
      const surface = action === 'generateContent' ? SURFACES.generate : SURFACES.streamGenerate;
      const alt = (req.query as { alt?: string }).alt;
      await gateway.handle(toCall(req, surface, { pathModel: model, geminiSse: alt === 'sse' }), reply.raw);
    },
  };
  dp.post('/v1beta/models/*', gemini);
  dp.post('/v1/models/*', gemini);

  // Model lists (and one model) in each API's shape, filtered by the key's allow-list.
  const listFor = async (req: FastifyRequest, reply: FastifyReply, provider: Provider | null, shape: Provider, id?: string) => {
    const api = PROVIDER_MODULES[shape];
    let p;
    try {
      p = await auth.authenticate(extractKey(req));
    } catch (e) {
      const err = isAppError(e) ? e : new AppError('INTERNAL');
      return reply.code(err.status).send(api.errorBody(err.status, err.code, err.message, ''));
    }
    const models = [...catalog.snapshot.models.values()]
      .filter((m) => (!provider || m.config.provider === provider) && (!p.modelSet || p.modelSet.has(m.config.id)) && (id === undefined || m.config.id === id))
      .map((m) => ({ id: m.config.id, provider: m.config.provider, updatedAt: m.config.updated_at }));
    if (id === undefined) return api.modelList(models);
    if (models.length === 0) return reply.code(404).send(api.errorBody(404, 'UNKNOWN_MODEL', `The model ${id.slice(0, 100)} does not exist.`, ''));
    return api.modelEntry(models[0]!);
  };
  const modelsRoute = async (req: FastifyRequest, reply: FastifyReply) => {
    const id = (req.params as { id?: string }).id;
    if (req.headers['anthropic-version']) return listFor(req, reply, 'anthropic', 'anthropic', id);
    if (req.headers['x-goog-api-key'] || (req.query as { key?: string }).key) return listFor(req, reply, 'gemini', 'gemini', id);
    return listFor(req, reply, null, 'openai', id);
  };
  dp.get('/v1/models', modelsRoute);
  dp.get('/v1/models/:id', modelsRoute);
  dp.get('/v1beta/models', async (req, reply) => listFor(req, reply, 'gemini', 'gemini'));
  dp.get('/v1beta/models/:id', async (req, reply) => listFor(req, reply, 'gemini', 'gemini', (req.params as { id: string }).id));
}

/** The caller's key from any of the ways the three SDKs send it. */
export function extractKey(req: FastifyRequest): string {
  const h = req.headers;
  const auth = h.authorization;
  if (typeof auth === 'string' && auth.length > 7 && (auth.charCodeAt(0) | 32) === 98 /* b */ && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const x = h['x-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  const g = h['x-goog-api-key'];
  if (typeof g === 'string' && g) return g.trim();
  const q = (req.query as Record<string, unknown> | undefined)?.key;
  if (typeof q === 'string' && q) return q;
  return '';
}
