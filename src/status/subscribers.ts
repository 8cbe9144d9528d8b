import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { newId } from '../kernel/ids.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { CreateEndpointInput, createEndpoint, disableEndpoint } from '../notify/endpoints.ts';
import { enqueue } from '../notify/outbox.ts';
import { json, num, optNum, optStr, str, type Queryable, type Row } from '../storage/port.ts';
import { listComponents, slug } from './components.ts';
import { affectedComponents } from './incidents-source.ts';
import type { ChangeSink, StatusChangeNotice } from './notices.ts';
import { PAGE_ID } from './statuspage.ts';

// Subscriptions to the status page: a webhook, for every component or a few. Each is a webhook
// endpoint of the ONE outbox (src/notify/), so deliveries are signed and retried there; its topic
// list names only `status.subscription`, a topic nothing broadcasts, so it receives exactly the
// notices addressed to it here: `status.component_changed` (a component's public status changed,
// inside the transaction that stored the change) and `status.incident_updated` (a public update
// of an incident or maintenance on its components). Operators subscribe any URL; a customer
// (admin role) subscribes its own account. Anonymous sign-up is not offered for webhooks: it would
// let anyone make the gateway POST to any address. E-mail subscriptions (email-subscribers.ts) are
// rows of the same table, kind 'email', delivered through the outbox's `email` channel once the
// address owner confirmed them.

export const SUBSCRIPTION_TOPIC = 'status.subscription';

export const SubscribeInput = z
  .object({
    url: CreateEndpointInput.shape.url,
    /** Component ids; absent or empty: every component. */
    components: z.array(slug).max(100).optional(),
    description: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

export interface Subscriber {
  id: string;
  kind: 'webhook' | 'email';
  account_id: string | null;
  /** The webhook's URL, or the e-mail address. */
  target: string;
  /** The webhook endpoint (webhooks only). */
  endpoint_id: string | null;
  components: string[] | null;
  created_at: number;
  removed_at: number | null;
  /** E-mail only: when the address owner confirmed (null: not yet; nothing is sent before). */
  confirmed_at: number | null;
  /** E-mail only: the language of its e-mails. */
  lang: 'en' | 'zh';
  /** E-mail only: derives its confirm and unsubscribe links (never shown). */
  secret: string | null;
}

export const toSubscriber = (r: Row): Subscriber => ({
  id: str(r.id), kind: str(r.kind) === 'email' ? 'email' : 'webhook', account_id: optStr(r.account_id), target: str(r.target), endpoint_id: optStr(r.endpoint_id), components: json<string[] | null>(r.components, null), created_at: num(r.created_at), removed_at: optNum(r.removed_at),
  confirmed_at: optNum(r.confirmed_at), lang: optStr(r.lang) === 'zh' ? 'zh' : 'en', secret: optStr(r.secret),
});

export function subscriberView(s: Subscriber): Record<string, unknown> {
  if (s.kind === 'email') return { id: s.id, kind: s.kind, account_id: s.account_id, email: s.target, components: s.components, lang: s.lang, confirmed: s.confirmed_at !== null, confirmed_at: iso(s.confirmed_at), created_at: iso(s.created_at) };
  return { id: s.id, kind: s.kind, account_id: s.account_id, url: s.target, webhook_endpoint_id: s.endpoint_id, components: s.components, created_at: iso(s.created_at) };
}

const authorise = (ctx: ServiceContext, accountId: string | null) => (accountId === null ? requireOperator(ctx.actor) : requireRole(ctx.actor, accountId, 'admin'));

/** Refuses (STATUS_COMPONENT_NOT_FOUND) a component that is not on the page. */
export async function checkComponents(rt: Runtime, ids: readonly string[] | undefined): Promise<void> {
  const known = new Set((await listComponents(rt)).map((c) => c.id));
  const unknown = (ids ?? []).find((c) => !known.has(c));
  if (unknown) throw new AppError('STATUS_COMPONENT_NOT_FOUND', `components: no status component ${unknown}.`, { field: 'components', component: unknown });
}

/** Subscribes a webhook; returns its signing secret once (the endpoint's). */
export async function subscribe(ctx: ServiceContext, accountId: string | null, raw: unknown): Promise<{ subscriber: Subscriber; secret: string }> {
  authorise(ctx, accountId);
  const input = parseInput(SubscribeInput, raw);
  await checkComponents(ctx, input.components);
  const { endpoint, secret } = await createEndpoint(ctx, accountId, { url: input.url, topics: [SUBSCRIPTION_TOPIC], description: input.description ?? 'status page subscription' });
  const now = ctx.now();
  const s: Subscriber = { id: newId('sts', now), kind: 'webhook', account_id: accountId, target: input.url, endpoint_id: endpoint.id, components: input.components?.length ? input.components : null, created_at: now, removed_at: null, confirmed_at: null, lang: 'en', secret: null };
  await ctx.db.tx(async (q) => {
    await q.run('INSERT INTO status_subscribers (id, kind, account_id, target, endpoint_id, components, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      s.id, s.kind, accountId, s.target, s.endpoint_id, s.components ? JSON.stringify(s.components) : null, now,
    ]);
    await audit(q, ctx.actor, 'status.subscribe', { type: 'status_subscriber', id: s.id, accountId }, undefined, subscriberView(s), now);
  });
  return { subscriber: s, secret };
}

export async function listSubscribers(ctx: ServiceContext, accountId: string | null): Promise<Subscriber[]> {
  authorise(ctx, accountId);
  const rows = accountId === null
    ? await ctx.db.all('SELECT * FROM status_subscribers WHERE removed_at IS NULL ORDER BY id')
    : await ctx.db.all('SELECT * FROM status_subscribers WHERE account_id = ? AND removed_at IS NULL ORDER BY id', [accountId]);
  return rows.map(toSubscriber);
}

/** Ends a subscription: its webhook endpoint is disabled, or its pending e-mails given up. */
export async function unsubscribe(ctx: ServiceContext, accountId: string | null, id: string): Promise<Subscriber> {
  authorise(ctx, accountId);
  const r = await ctx.db.get('SELECT * FROM status_subscribers WHERE id = ? AND removed_at IS NULL', [id]);
  if (!r || (accountId !== null && optStr(r.account_id) !== accountId)) throw new AppError('STATUS_SUBSCRIBER_NOT_FOUND', `No status subscription ${id}.`, { subscription: id });
  const s = toSubscriber(r);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    await endSubscription(q, s.id, now);
    await audit(q, ctx.actor, 'status.unsubscribe', { type: 'status_subscriber', id, accountId: s.account_id }, subscriberView(s), undefined, now);
  });
  if (s.endpoint_id) await disableEndpoint(ctx, s.account_id, s.endpoint_id);
  return { ...s, removed_at: now };
}

/** Marks a subscription removed and gives up its pending e-mails (inside the caller's transaction). */
export async function endSubscription(q: Queryable, id: string, now: number): Promise<void> {
  await q.run('UPDATE status_subscribers SET removed_at = ? WHERE id = ? AND removed_at IS NULL', [now, id]);
  await q.run(`UPDATE outbox SET status = 'failed', last_error = 'unsubscribed' WHERE endpoint_id = ? AND channel = 'email' AND status = 'pending'`, [id]);
}

/** Where a subscriber's notices go: its webhook endpoint, or the outbox's e-mail channel. */
const target = (s: Subscriber) => (s.kind === 'email' ? { endpointId: s.id, channel: 'email' } : { endpointId: s.endpoint_id! });

async function subscribersOf(q: Queryable, componentIds: readonly string[]): Promise<Subscriber[]> {
  // Only confirmed e-mail addresses receive notices.
  const all = (await q.all(`SELECT * FROM status_subscribers WHERE removed_at IS NULL AND (kind <> 'email' OR confirmed_at IS NOT NULL)`)).map(toSubscriber);
  return all.filter((s) => s.components === null || s.components.some((c) => componentIds.includes(c)));
}

/**
 * Announces a status change to every subscriber of the component. Not broadcast to other webhook
 * endpoints (an operator's `*` endpoint would otherwise hear every flap of every component): an
 * operator who wants them subscribes through /admin/v1/status/subscribers.
 */
export const announceChange: ChangeSink = async (q: Queryable, c: StatusChangeNotice) => {
  const payload = {
    page: { id: PAGE_ID },
    component_update: { created_at: iso(c.at), new_status: c.status, old_status: c.previous, id: `${c.component_id}:${c.at}`, component_id: c.component_id },
    component: { id: c.component_id, name: c.component_name, status: c.status },
    reason: c.reason,
    source: c.source,
  };
  const key = `status:${c.component_id}:${c.at}:${c.status}`;
  for (const s of await subscribersOf(q, [c.component_id])) {
    await enqueue(q, { topic: 'status.component_changed', accountId: s.account_id, ...target(s), payload, key: `${key}:${s.id}`, at: c.at });
  }
};

/**
 * Tells subscribers about public incident updates on their components since `since` (the
 * `status-incident-notices` job). Idempotent: each (update, subscriber) has its own key, so a
 * rescan (another instance, a restart) sends nothing twice. Returns the notices written.
 */
export async function announceIncidentUpdates(rt: Runtime, since: number): Promise<number> {
  const rows = await rt.db.all(
    `SELECT u.id AS update_id, u.status AS update_status, u.body, u.created_at AS update_at, i.id, i.title, i.kind, i.status, i.impact, i.components, i.scope
     FROM incident_updates u JOIN incidents i ON i.id = u.incident_id
     WHERE u.visibility = 'public' AND u.created_at >= ? AND i.status <> 'draft' ORDER BY u.created_at`,
    [since],
  );
  if (rows.length === 0) return 0;
  const comps = await listComponents(rt, { removed: true });
  let n = 0;
  await rt.db.tx(async (q) => {
    for (const r of rows) {
      const affected = affectedComponents({ components: json<string[]>(r.components, []), scope: { models: [], channels: [], endpoints: [], accounts: [], ...json(r.scope, {}) } }, comps);
      if (affected.length === 0) continue;
      const payload = {
        page: { id: PAGE_ID },
        incident: { id: str(r.id), name: str(r.title), kind: str(r.kind), status: str(r.status), impact: str(r.impact), components: affected },
        incident_update: { id: str(r.update_id), status: optStr(r.update_status), body: str(r.body), created_at: iso(num(r.update_at)) },
      };
      for (const s of await subscribersOf(q, affected)) {
        // Updates from before the subscription (for an address: before it was confirmed) are not sent.
        if ((s.kind === 'email' ? (s.confirmed_at ?? s.created_at) : s.created_at) > num(r.update_at)) continue;
        n += await enqueue(q, { topic: 'status.incident_updated', accountId: s.account_id, ...target(s), payload, key: `status:incident-update:${str(r.update_id)}:${s.id}`, at: num(r.update_at) });
      }
    }
  });
  return n;
}
