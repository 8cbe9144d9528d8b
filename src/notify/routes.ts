import { AppError } from '../kernel/errors.ts';
import { withActor, type Actor, type Runtime } from '../kernel/context.ts';
import type { RouteTable } from '../http/routes.ts';
import { CreateEndpointInput, DeliveryFilter, createEndpoint, disableEndpoint, endpointView, listDeliveries, listEndpoints, retryDelivery, testEndpoint } from './endpoints.ts';
import { deliveryView } from './outbox.ts';

// Webhook endpoints and deliveries: the operator's (/admin/v1/webhooks, every delivery) and each
// account's own (/account/v1/webhooks). Routes parse and call notify/endpoints.ts.

export function registerNotifyRoutes(t: RouteTable, rt: Runtime): void {
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  const own = (c: { actor: Actor }): string => {
    if (c.actor.type !== 'customer') throw new AppError('FORBIDDEN');
    return c.actor.accountId;
  };
  const created = (r: Awaited<ReturnType<typeof createEndpoint>>) => ({ ...endpointView(r.endpoint), secret: r.secret });
  const page = (ds: Awaited<ReturnType<typeof listDeliveries>>, limit: number) => ({ data: ds.map(deliveryView), next_before: ds.length === limit ? ds.at(-1)!.id : null });
  const limitOf = (q: Record<string, string | undefined>) => Number(q.limit ?? 100);
  const op = 'operator' as const;
  const cu = 'customer' as const;
  const tag = 'webhooks';

  for (const [base, auth, owner] of [
    ['/admin/v1/webhooks', op, () => null],
    ['/account/v1/webhooks', cu, own],
  ] as const) {
    const who = auth === op ? "the operator's (every account's notices of its topics)" : "the account's own";
    t.add({ method: 'POST', url: base, auth, tag, summary: `Add a webhook endpoint, ${who}; the signing secret is returned once`, body: CreateEndpointInput, status: 201 }, async (c) =>
      created(await createEndpoint(ctx(c), owner(c), c.body)));
    t.add({ method: 'GET', url: base, auth, tag, summary: `Webhook endpoints, ${who}` }, async (c) => ({ data: (await listEndpoints(ctx(c), owner(c))).map(endpointView) }));
    t.add({ method: 'DELETE', url: `${base}/:id`, auth, tag, summary: 'Disable a webhook endpoint (its pending deliveries are given up)' }, async (c) =>
      endpointView(await disableEndpoint(ctx(c), owner(c), c.params.id!)));
    t.add({ method: 'POST', url: `${base}/:id/test`, auth, tag, summary: 'Queue a signed webhook.test event for an endpoint' }, async (c) => ({ queued: await testEndpoint(ctx(c), owner(c), c.params.id!) }));
    t.add({ method: 'GET', url: `${base}/deliveries`, auth, tag, summary: 'Deliveries with their attempts, newest first (?status=pending|delivered|failed&endpoint_id=&channel=webhook|email&topic=&before=&limit=)', query: DeliveryFilter }, async (c) =>
      page(await listDeliveries(ctx(c), owner(c), c.query), limitOf(c.query)));
  }
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/webhooks', auth: op, tag, summary: "Add a webhook endpoint for an account (the secret is returned once)", body: CreateEndpointInput, status: 201 }, async (c) =>
    created(await createEndpoint(ctx(c), c.params.id!, c.body)));
  t.add({ method: 'POST', url: '/admin/v1/webhooks/deliveries/:id/retry', auth: op, tag, summary: 'Queue a failed delivery again, with a fresh count of attempts' }, async (c) => deliveryView(await retryDelivery(ctx(c), c.params.id!)));
}
