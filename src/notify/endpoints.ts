import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId, secretToken } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { json, num, optNum, optStr, str, type Row } from '../storage/port.ts';
import { enqueue, toDelivery, OUTBOX_STATUSES, type Delivery } from './outbox.ts';

// Webhook endpoints: where the outbox sends notices. An endpoint belongs to an account (it receives
// that account's notices: credits, incidents that touched it) or to the operator (account null: it
// receives every notice of its topics). Its signing secret is shown once, at creation.

export interface Endpoint {
  id: string;
  account_id: string | null;
  url: string;
  secret: string;
  topics: string[];
  description: string | null;
  enabled: boolean;
  created_at: number;
  disabled_at: number | null;
}

const toEndpoint = (r: Row): Endpoint => ({
  id: str(r.id),
  account_id: optStr(r.account_id),
  url: str(r.url),
  secret: str(r.secret),
  topics: json<string[]>(r.topics, []),
  description: optStr(r.description),
  enabled: num(r.enabled) === 1,
  created_at: num(r.created_at),
  disabled_at: optNum(r.disabled_at),
});

/** What the API shows: never the secret (it is returned once, by create). */
export function endpointView(e: Endpoint): Record<string, unknown> {
  return { id: e.id, account_id: e.account_id, url: e.url, topics: e.topics, description: e.description, enabled: e.enabled, created_at: iso(e.created_at), disabled_at: iso(e.disabled_at) };
}

const TOPIC = /^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$/;

export const CreateEndpointInput = z
  .object({
    url: z
      .string()
      .max(2000)
      .refine((s) => {
        try {
          const u = new URL(s);
          return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password;
        } catch {
          return false;
        }
      }, 'must be an http(s) URL without credentials'),
    topics: z.array(z.string().regex(TOPIC, 'must be a topic like "incident.updated", "incident.*" or "*"')).min(1).max(50).default(['*']),
    description: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

/** Who may manage endpoints of `accountId` (null: the operator's). */
function authorise(ctx: ServiceContext, accountId: string | null): void {
  if (accountId === null) requireOperator(ctx.actor);
  else requireRole(ctx.actor, accountId, 'admin');
}

export async function createEndpoint(ctx: ServiceContext, accountId: string | null, raw: unknown): Promise<{ endpoint: Endpoint; secret: string }> {
  authorise(ctx, accountId);
  const input = parseInput(CreateEndpointInput, raw);
  const now = ctx.now();
  const secret = `whsec_${secretToken(40)}`;
  const e: Endpoint = { id: newId('whe', now), account_id: accountId, url: input.url, secret, topics: input.topics, description: input.description ?? null, enabled: true, created_at: now, disabled_at: null };
  await ctx.db.tx(async (q) => {
    if (accountId !== null && !(await q.get('SELECT id FROM accounts WHERE id = ?', [accountId]))) throw new AppError('NOT_FOUND', `account ${accountId} not found`, { resource: 'account' });
    await q.run('INSERT INTO webhook_endpoints (id, account_id, url, secret, topics, description, enabled, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)', [
      e.id, accountId, e.url, secret, JSON.stringify(e.topics), e.description, actorId(ctx.actor), now,
    ]);
    await audit(q, ctx.actor, 'webhook.create', { type: 'webhook_endpoint', id: e.id, accountId }, undefined, endpointView(e), now);
  });
  return { endpoint: e, secret };
}

export async function listEndpoints(ctx: ServiceContext, accountId: string | null): Promise<Endpoint[]> {
  authorise(ctx, accountId);
  const rows = accountId === null
    ? await ctx.db.all('SELECT * FROM webhook_endpoints WHERE account_id IS NULL ORDER BY id')
    : await ctx.db.all('SELECT * FROM webhook_endpoints WHERE account_id = ? ORDER BY id', [accountId]);
  return rows.map(toEndpoint);
}

async function getEndpoint(ctx: ServiceContext, accountId: string | null, id: string): Promise<Endpoint> {
  authorise(ctx, accountId);
  const r = await ctx.db.get('SELECT * FROM webhook_endpoints WHERE id = ?', [id]);
  // An operator may act on any endpoint; an account only on its own.
  if (!r || (ctx.actor.type === 'customer' && optStr(r.account_id) !== accountId)) throw new AppError('NOT_FOUND', `webhook endpoint ${id} not found`, { resource: 'webhook_endpoint' });
  return toEndpoint(r);
}

/** Disables an endpoint: nothing more is sent to it; its pending deliveries are given up. */
export async function disableEndpoint(ctx: ServiceContext, accountId: string | null, id: string): Promise<Endpoint> {
  const e = await getEndpoint(ctx, accountId, id);
  if (!e.enabled) return e;
  const now = ctx.now();
  const after = { ...e, enabled: false, disabled_at: now };
  await ctx.db.tx(async (q) => {
    await q.run('UPDATE webhook_endpoints SET enabled = 0, disabled_at = ? WHERE id = ?', [now, id]);
    await q.run(`UPDATE outbox SET status = 'failed', last_error = 'endpoint disabled' WHERE endpoint_id = ? AND status = 'pending'`, [id]);
    await audit(q, ctx.actor, 'webhook.disable', { type: 'webhook_endpoint', id, accountId: e.account_id }, endpointView(e), endpointView(after), now);
  });
  return after;
}

/** Sends a `webhook.test` event to one endpoint through the outbox (it goes out with the next delivery run). */
export async function testEndpoint(ctx: ServiceContext, accountId: string | null, id: string): Promise<number> {
  const e = await getEndpoint(ctx, accountId, id);
  if (!e.enabled) throw new AppError('CONFLICT', `webhook endpoint ${id} is disabled`);
  const now = ctx.now();
  return ctx.db.tx((q) => enqueue(q, { topic: 'webhook.test', accountId: e.account_id, endpointId: id, payload: { endpoint_id: id, message: 'A test event from Surety.' }, key: `webhook-test:${newId('t', now)}`, at: now }));
}

export const DeliveryFilter = z
  .object({
    status: z.enum(OUTBOX_STATUSES).optional(),
    endpoint_id: z.string().optional(),
    channel: z.enum(['webhook', 'email']).optional(),
    topic: z.string().max(200).optional(),
    before: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

/** Deliveries, newest first: an account's own, or (operator, accountId null) every one. */
export async function listDeliveries(ctx: ServiceContext, accountId: string | null, raw: unknown): Promise<Delivery[]> {
  if (accountId === null) requireOperator(ctx.actor);
  else requireRole(ctx.actor, accountId, 'admin');
  const f = parseInput(DeliveryFilter, raw, 'query');
  const w: string[] = [];
  const p: Array<string | number> = [];
  // An account's own: its webhook endpoints' deliveries, and those of its other channels (its e-mail subscriptions).
  if (accountId !== null) (w.push(`(endpoint_id IN (SELECT id FROM webhook_endpoints WHERE account_id = ?) OR (channel <> 'webhook' AND account_id = ?))`), p.push(accountId, accountId));
  if (f.channel) (w.push('channel = ?'), p.push(f.channel));
  if (f.status) (w.push('status = ?'), p.push(f.status));
  if (f.endpoint_id) (w.push('endpoint_id = ?'), p.push(f.endpoint_id));
  if (f.topic) (w.push('topic = ?'), p.push(f.topic));
  if (f.before) (w.push('id < ?'), p.push(f.before));
  const rows = await ctx.db.all(`SELECT * FROM outbox ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...p, f.limit ?? 100]);
  return rows.map(toDelivery);
}

/** Puts a failed delivery back in the queue now, with a fresh count of attempts (operator). */
export async function retryDelivery(ctx: ServiceContext, id: string): Promise<Delivery> {
  requireOperator(ctx.actor);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const r = await q.get('SELECT * FROM outbox WHERE id = ?', [id]);
    if (!r) throw new AppError('NOT_FOUND', `delivery ${id} not found`, { resource: 'delivery' });
    const d = toDelivery(r);
    if (d.status !== 'failed') throw new AppError('CONFLICT', `delivery ${id} is ${d.status}; only a failed delivery is retried`);
    await q.run(`UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ?`, [now, id]);
    await audit(q, ctx.actor, 'webhook.retry', { type: 'delivery', id, accountId: d.account_id }, { status: d.status }, { status: 'pending' }, now);
    return { ...d, status: 'pending', attempts: 0, next_attempt_at: now };
  });
}
