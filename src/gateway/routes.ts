import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../kernel/errors.ts';
import type { KeyAuthenticator } from '../accounts/keys.ts';
import type { Runtime } from '../kernel/context.ts';
import { rejectNul } from '../kernel/validation.ts';
import { EventBus } from '../kernel/context.ts';
import type { RouteTable } from '../http/routes.ts';
import { requestError } from '../http/errors.ts';
import { Catalog } from '../catalog/index.ts';
import { registerCatalogRoutes } from '../admin/catalog-routes.ts';
import { GatewayMetrics } from './metrics.ts';
import { Gateway, type IncomingCall, type ProxyOptions, type Surface } from './gateway.ts';
import { extractKey, registerBodyParsers, type ParsedBody } from './incoming.ts';
import { registerModelLists } from './model-lists.ts';
import { registerLogRoutes } from '../requests/logs.ts';
import { Router, type RouterOptions } from './router.ts';

// The data-plane routes: each provider API's paths, bodies kept as bytes (forwarded verbatim when
// nothing changes) and parsed once, errors answered in the caller's API shape and logged.

export interface GatewayHandle {
  gateway: Gateway;
  catalog: Catalog;
  metrics: GatewayMetrics;
}

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
      balanceChanged: (id) => gateway.quotas.invalidate(id),
      accountChanged: (id) => gateway.quotas.invalidate(id),
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
  registerBodyParsers(dp);

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
  dp.post('/v1/responses', proxy(SURFACES.responses));
  dp.post('/v1/embeddings', proxy(SURFACES.embeddings));
  dp.post('/v1/images/generations', proxy(SURFACES.imagesGen));
  dp.post('/v1/images/edits', proxy(SURFACES.imagesEdit));
  dp.post('/v1/messages', proxy(SURFACES.messages));
  dp.post('/v1/messages/count_tokens', {
    config: { surface: SURFACES.messages },
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      await gateway.countTokens(toCall(req, SURFACES.messages), reply.raw);
    },
  });
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
      if (action === 'countTokens') return gateway.countTokens(toCall(req, SURFACES.generate, { pathModel: model }), reply.raw);
      if (action !== 'generateContent' && action !== 'streamGenerateContent') {
        return gateway.rejectEarly(toCall(req, SURFACES.generate), reply.raw, new AppError('ROUTE_NOT_FOUND', `Unsupported method ${action || '(none)'}; use :generateContent, :streamGenerateContent or :countTokens.`));
      }
      const surface = action === 'generateContent' ? SURFACES.generate : SURFACES.streamGenerate;
      const alt = (req.query as { alt?: string }).alt;
      await gateway.handle(toCall(req, surface, { pathModel: model, geminiSse: alt === 'sse' }), reply.raw);
    },
  };
  dp.post('/v1beta/models/*', gemini);
  dp.post('/v1/models/*', gemini);

  registerModelLists(dp, auth, catalog);
}
