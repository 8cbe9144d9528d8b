import type { FastifyInstance } from 'fastify';
import type { KeyAuthenticator } from '../accounts/keys.ts';
import type { Runtime } from '../kernel/context.ts';
import { EventBus } from '../kernel/context.ts';
import type { FrontDoorSlot } from '../http/app.ts';
import type { RouteTable } from '../http/routes.ts';
import { Catalog } from '../catalog/index.ts';
import { registerCatalogRoutes } from '../admin/catalog-routes.ts';
import { GatewayMetrics } from './metrics.ts';
import { Gateway, type ProxyOptions } from './gateway.ts';
import { frontDoor } from './front.ts';
import { registerModelLists } from './model-lists.ts';
import { registerLogRoutes } from '../requests/logs.ts';
import { Router, type RouterOptions } from './router.ts';

// The data plane: each provider API's POST routes through the front door (front.ts: bodies kept as
// bytes, forwarded verbatim when nothing changes, parsed once; errors answered in the caller's API
// shape and logged), the model lists on Fastify, and the data plane's admin routes.

export interface GatewayHandle {
  gateway: Gateway;
  catalog: Catalog;
  metrics: GatewayMetrics;
}

/** Proxy options, and the circuit breaker's (threshold, cool-down). */
export type GatewayOptions = ProxyOptions & { router?: RouterOptions };

/** Registers the data plane (and its admin routes) on the app. */
export async function registerGateway(app: FastifyInstance, rt: Runtime, auth: KeyAuthenticator, routes: RouteTable, slot: FrontDoorSlot, opts: GatewayOptions = {}): Promise<GatewayHandle> {
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
  slot.door = frontDoor(rt, gateway);
  // Closing: requests still arriving on kept-alive connections are refused (SHUTTING_DOWN, logged)
  // while those in flight finish; the gateway's drain then waits for them.
  app.addHook('preClose', (done) => {
    gateway.refuseNew();
    done();
  });
  registerModelLists(app, auth, catalog);
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
