import { z } from 'zod';
import { withActor, type Runtime } from '../kernel/context.ts';
import type { RouteTable } from '../http/routes.ts';
import { isoTime, parseInput, iso } from '../kernel/validation.ts';
import { AppError } from '../kernel/errors.ts';
import { SortQuery, sortItems, type ItemSortSpec } from '../kernel/sorting.ts';
import {
  ComponentInput, GroupInput, OverrideInput, componentView, deleteGroup, getComponent, groupView, listComponents, listGroups, putComponent, putGroup, removeComponent, setOverride,
} from './components.ts';
import { listChanges, statusIntervals } from './history.ts';
import { SubscribeInput, listSubscribers, subscribe, subscriberView, unsubscribe } from './subscribers.ts';
import { EmailSubscribeInput, type EmailSubscriptions } from './email-subscribers.ts';

// The operator routes of the status page (/admin/v1/status/*): components and groups, overrides,
// the stored history, an evaluation on demand, webhook subscriptions; and a customer's own
// subscriptions (/account/v1/status/subscriptions).

export interface StatusAdminDeps {
  /** Re-evaluates every component now (after a change that should show at once). */
  evaluate(): Promise<unknown>;
  /** The page's cache is stale. */
  changed(): void;
  /** E-mail subscriptions (sign-ups refused with EMAIL_NOT_CONFIGURED when SMTP is not configured). */
  email: EmailSubscriptions;
}

const HistoryQuery = z.object({ component: z.string().max(63).optional(), from: isoTime.optional(), to: isoTime.optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }).strict();
const IntervalQuery = z.object({ from: isoTime, to: isoTime, component: z.string().max(63).optional() }).strict();
/** How the components list sorts (without sort: the page's own order). */
export const COMPONENT_SORT: ItemSortSpec = { columns: ['id', 'name', 'status', 'auto_status', 'status_since', 'position'] };
const ComponentSort = z.object({ sort: SortQuery.shape.sort }).strict();

export function registerStatusAdminRoutes(routes: RouteTable, rt: Runtime, deps: StatusAdminDeps): void {
  const tag = 'status';
  const op = 'operator' as const;
  const ctx = (c: { actor: Parameters<typeof withActor>[1] }) => withActor(rt, c.actor);
  const after = async <T>(v: T, evaluate = false): Promise<T> => {
    if (evaluate) await deps.evaluate();
    deps.changed();
    return v;
  };

  routes.add({ method: 'GET', url: '/admin/v1/status/groups', auth: op, tag, summary: 'Status page groups' }, async () => ({ data: (await listGroups(rt)).map(groupView) }));
  routes.add({ method: 'PUT', url: '/admin/v1/status/groups/:id', auth: op, tag, summary: 'Create or update a status page group (name, description, position)', body: GroupInput }, async (c) =>
    after(groupView(await putGroup(ctx(c), c.params.id!, c.body))),
  );
  routes.add({ method: 'DELETE', url: '/admin/v1/status/groups/:id', auth: op, tag, summary: 'Delete an empty status page group' }, async (c) => {
    await deleteGroup(ctx(c), c.params.id!);
    return after({ id: c.params.id, deleted: true });
  });

  routes.add({ method: 'GET', url: '/admin/v1/status/components', auth: op, tag, summary: 'Status components: mapping to models and channels, rules, probe, status and override (?sort=)', query: ComponentSort }, async (c) => ({
    data: sortItems((await listComponents(rt)).map(componentView), COMPONENT_SORT, parseInput(ComponentSort, c.query, 'query').sort),
  }));
  routes.add({ method: 'GET', url: '/admin/v1/status/components/:id', auth: op, tag, summary: 'One status component' }, async (c) => componentView(await getComponent(rt, c.params.id!)));
  routes.add({ method: 'PUT', url: '/admin/v1/status/components/:id', auth: op, tag, summary: 'Create or update a status component (models, channels, platform, rules, probe)', body: ComponentInput }, async (c) =>
    after(componentView(await putComponent(ctx(c), c.params.id!, c.body))),
  );
  routes.add({ method: 'DELETE', url: '/admin/v1/status/components/:id', auth: op, tag, summary: 'Take a component off the page (its history is kept)' }, async (c) =>
    after({ ...componentView(await removeComponent(ctx(c), c.params.id!)), deleted: true }),
  );
  routes.add({ method: 'PUT', url: '/admin/v1/status/components/:id/override', auth: op, tag, summary: "Override a component's status (until a time or until cleared); maintenance still wins", body: OverrideInput }, async (c) => {
    await setOverride(ctx(c), c.params.id!, c.body);
    await deps.evaluate();
    return after(componentView(await getComponent(rt, c.params.id!)));
  });
  routes.add({ method: 'DELETE', url: '/admin/v1/status/components/:id/override', auth: op, tag, summary: 'Clear an override: the status sets itself again' }, async (c) => {
    await setOverride(ctx(c), c.params.id!, null);
    await deps.evaluate();
    return after(componentView(await getComponent(rt, c.params.id!)));
  });
  routes.add({ method: 'GET', url: '/admin/v1/status/changes', auth: op, tag, summary: 'The stored status history, newest first', query: HistoryQuery }, async (c) => {
    const q = parseInput(HistoryQuery, c.query, 'query');
    const list = await listChanges(rt, { ...(q.component ? { componentId: q.component } : {}), ...(q.from !== undefined ? { from: q.from } : {}), ...(q.to !== undefined ? { to: q.to } : {}), limit: q.limit ?? 100 });
    return { data: list.map((x) => ({ ...x, at: iso(x.at) })) };
  });
  routes.add({ method: 'GET', url: '/admin/v1/status/intervals', auth: op, tag, summary: 'Status intervals per component over a range (what uptime and SLA figures are computed from)', query: IntervalQuery }, async (c) => {
    const q = parseInput(IntervalQuery, c.query, 'query');
    if (q.to <= q.from) throw new AppError('VALIDATION', 'to: must be after from', { field: 'to' });
    const m = await statusIntervals(rt, q.from, q.to, q.component ? [q.component] : undefined);
    return { data: [...m.values()].flat().map((i) => ({ ...i, from: iso(i.from), to: iso(i.to) })) };
  });
  routes.add({ method: 'POST', url: '/admin/v1/status/evaluate', auth: op, tag, summary: 'Evaluate every component now (otherwise every 30 s)' }, async () => {
    const changes = await deps.evaluate();
    deps.changed();
    return { changes };
  });

  registerSubscriptionRoutes(routes, rt, deps.email);
}

const SubscriptionInput = z.union([SubscribeInput, EmailSubscribeInput]);

function registerSubscriptionRoutes(routes: RouteTable, rt: Runtime, email: EmailSubscriptions): void {
  const tag = 'status';
  const ctx = (c: { actor: Parameters<typeof withActor>[1] }) => withActor(rt, c.actor);
  // A body with `email` subscribes an address (double opt-in), else a webhook (`url`).
  const created = async (c: { actor: Parameters<typeof withActor>[1]; body: unknown }, accountId: string | null) => {
    if (c.body && typeof c.body === 'object' && 'email' in c.body) return subscriberView(await email.signUp(ctx(c), accountId, c.body));
    const r = await subscribe(ctx(c), accountId, c.body);
    return { ...subscriberView(r.subscriber), secret: r.secret };
  };
  const own = (c: { actor: Parameters<typeof withActor>[1] }) => (c.actor.type === 'customer' ? c.actor.accountId : '');
  routes.add({ method: 'POST', url: '/admin/v1/status/subscribers', auth: 'operator', tag, summary: 'Subscribe a webhook (`url`; signed, retried, the secret shown once) or an e-mail address (`email`; a confirmation e-mail first unless `confirmed`) to status changes and incident updates (all or some components)', body: SubscriptionInput, status: 201 }, async (c) =>
    created(c, null),
  );
  routes.add({ method: 'GET', url: '/admin/v1/status/subscribers', auth: 'operator', tag, summary: 'Every status page subscription' }, async (c) => ({ data: (await listSubscribers(ctx(c), null)).map(subscriberView) }));
  routes.add({ method: 'DELETE', url: '/admin/v1/status/subscribers/:id', auth: 'operator', tag, summary: 'End a subscription (its webhook endpoint is disabled; pending e-mails are given up)' }, async (c) => ({
    ...subscriberView(await unsubscribe(ctx(c), null, c.params.id!)),
    deleted: true,
  }));
  routes.add({ method: 'POST', url: '/account/v1/status/subscriptions', auth: 'customer', tag, summary: "Subscribe a webhook of this account (`url`; the secret is shown once) or an e-mail address (`email`; it receives a confirmation e-mail first) to the status page (all or some components)", body: SubscriptionInput, status: 201 }, async (c) =>
    created(c, own(c)),
  );
  routes.add({ method: 'GET', url: '/account/v1/status/subscriptions', auth: 'customer', tag, summary: "This account's status page subscriptions" }, async (c) => ({ data: (await listSubscribers(ctx(c), own(c))).map(subscriberView) }));
  routes.add({ method: 'DELETE', url: '/account/v1/status/subscriptions/:id', auth: 'customer', tag, summary: 'End one of this account\'s subscriptions' }, async (c) => ({
    ...subscriberView(await unsubscribe(ctx(c), own(c), c.params.id!)),
    deleted: true,
  }));
}
