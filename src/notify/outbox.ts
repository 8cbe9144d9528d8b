// The ONE outbox (DESIGN "One outbox for every notice"): every notice Surety sends — an incident
// update, a reissued credit, a status change, an SLA report — is written here by `enqueue`, inside
// the transaction of the action it reports, one delivery row per subscribed webhook endpoint. A
// background job (`outbox-deliver`, kernel/jobs.ts: one instance at a time) posts due deliveries,
// signed, and retries failures with exponential backoff until `maxAttempts`. The action and its
// notice commit together or not at all; a delivery is at-least-once, so each carries a stable
// event id (`surety-event-id`) for the receiver to drop repeats.
//
// The signature (docs/webhooks.md): `surety-signature: t=<unix seconds>,v1=<hex>` where
// v1 = HMAC-SHA256(endpoint secret, `${t}.${raw body}`). A receiver recomputes it over the body it
// received, compares in constant time, and refuses a `t` older than its tolerance (5 minutes).
//
// Channels: a delivery goes to a webhook endpoint (`webhook`, the default) or through another
// channel registered by its owner — `email`, a status page e-mail subscription, whose
// `endpoint_id` is the subscription's id and whose message is written at sending time from the
// event (src/status/emails.ts). Every channel shares the rows, the backoff and the views.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { newId, sha256Hex } from '../kernel/ids.ts';
import { toJson } from '../kernel/json.ts';
import { iso } from '../kernel/validation.ts';
import { num, optNum, optStr, str, type Db, type Queryable, type Row } from '../storage/port.ts';

export const SIGNATURE_HEADER = 'surety-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;
export const OUTBOX_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** Backoff and limits of deliveries; tests shorten them. */
export interface DeliveryPolicy {
  /** The wait after the first failed attempt; doubled after each further one. */
  baseDelayMs: number;
  /** The longest wait between two attempts. */
  maxDelayMs: number;
  /** Attempts before a delivery is given up (`failed`); an operator may retry it by hand. */
  maxAttempts: number;
  /** How long one attempt may take (connect, answer). */
  timeoutMs: number;
  /** Deliveries sent per job run. */
  batch: number;
}

// 30 s, 1 min, 2 min … capped at 6 h: 12 attempts span about 1.5 days.
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = { baseDelayMs: 30_000, maxDelayMs: 6 * 3_600_000, maxAttempts: 12, timeoutMs: 10_000, batch: 50 };

/** The wait before the next attempt after `attempts` failed ones (1, 2, …): base · 2^(attempts−1), capped. */
export function backoffMs(attempts: number, p: Pick<DeliveryPolicy, 'baseDelayMs' | 'maxDelayMs'> = DEFAULT_DELIVERY_POLICY): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(p.baseDelayMs * 2 ** exp, p.maxDelayMs);
}

// ---- the signature ----

/** The signature header of `body` sent at `t` (unix seconds). */
export function signPayload(secret: string, body: string, t: number): string {
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}

/**
 * What a receiver does (and what docs/webhooks.md shows): parse the header, recompute v1 over the
 * raw body, compare in constant time, refuse a timestamp outside the tolerance. Several v1 values
 * are accepted (a future secret rotation may sign with two secrets).
 */
export function verifySignature(secret: string, header: string, body: string, nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS): boolean {
  let t: number | null = null;
  const sigs: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2) as [string, string | undefined];
    if (k === 't' && v && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && v && /^[0-9a-f]{64}$/.test(v)) sigs.push(v);
  }
  if (t === null || sigs.length === 0 || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex'));
  return sigs.some((s) => timingSafeEqual(Buffer.from(s), expected));
}

// ---- enqueue ----

export interface Notice {
  /** What happened, dotted: `incident.updated`, `credit.reissued`, `status.changed`, `sla.report`. */
  topic: string;
  /** The account it concerns: that account's endpoints receive it (and the operator's). Null/absent: the operator's only. */
  accountId?: string | null;
  /** Exactly this endpoint (a status-page subscriber, a test), whatever its topics. */
  endpointId?: string;
  /** With `endpointId`: the channel that delivers it (default `webhook`; `email`: endpointId names an e-mail subscription). */
  channel?: string;
  /** With `accountId`: false sends to the account's endpoints only (the operator is told another way). */
  operator?: boolean;
  /** The event's data (JSON; bigints as strings). */
  payload: unknown;
  /**
   * Stable key of the event: enqueuing the same key again adds nothing (an action retried, a job
   * run twice). Derive it from the ids of what happened, e.g. `incident:<id>:update:<update id>`.
   */
  key: string;
  /** When it happened (defaults to now). */
  at?: number;
}

/** Does an endpoint's topic list take `topic`? Exact names, `prefix.*`, or `*`. */
export function topicMatches(topics: readonly string[], topic: string): boolean {
  return topics.some((t) => t === '*' || t === topic || (t.endsWith('.*') && topic.startsWith(t.slice(0, -1))));
}

/** The JSON body of every delivery: the event, the same for each endpoint and attempt. */
export interface EventEnvelope {
  id: string;
  topic: string;
  created_at: string;
  account_id: string | null;
  data: unknown;
}

/**
 * Writes one delivery per enabled endpoint that takes the notice (the account's and the
 * operator's, by topic; or the one endpoint named), inside the caller's transaction `q`. Returns
 * how many deliveries were written (0 when no endpoint listens, or the key was enqueued before).
 */
export async function enqueue(q: Queryable, n: Notice): Promise<number> {
  const at = n.at ?? Date.now();
  const accountId = n.accountId ?? null;
  const channel = n.channel ?? 'webhook';
  const endpoints = n.endpointId && channel !== 'webhook'
    ? [{ id: n.endpointId, topics: '[]' }]
    : n.endpointId
    ? await q.all('SELECT id, topics FROM webhook_endpoints WHERE id = ? AND enabled = 1', [n.endpointId])
    : accountId === null
      ? await q.all('SELECT id, topics FROM webhook_endpoints WHERE account_id IS NULL AND enabled = 1')
      : n.operator === false
        ? await q.all('SELECT id, topics FROM webhook_endpoints WHERE account_id = ? AND enabled = 1', [accountId])
        : await q.all('SELECT id, topics FROM webhook_endpoints WHERE (account_id = ? OR account_id IS NULL) AND enabled = 1', [accountId]);
  // The event id is derived from the key, so that the same event has the same id everywhere.
  const eventId = `evt_${sha256Hex(`event:${n.key}`).slice(0, 26)}`;
  const envelope: EventEnvelope = { id: eventId, topic: n.topic, created_at: iso(at)!, account_id: accountId, data: n.payload };
  const body = toJson(envelope);
  let written = 0;
  for (const e of endpoints) {
    if (!n.endpointId && !topicMatches(JSON.parse(str(e.topics)) as string[], n.topic)) continue;
    const r = await q.run(
      `INSERT INTO outbox (id, event_id, idem_key, topic, account_id, endpoint_id, channel, payload, status, attempts, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (idem_key) DO NOTHING`,
      [newId('dlv', at), eventId, `${n.key}@${str(e.id)}`, n.topic, accountId, str(e.id), channel, body, at, at],
    );
    written += r.changes;
  }
  return written;
}

// ---- delivery ----

export interface Delivery {
  id: string;
  event_id: string;
  topic: string;
  account_id: string | null;
  endpoint_id: string;
  channel: string;
  payload: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

export function toDelivery(r: Row): Delivery {
  return {
    id: str(r.id),
    event_id: str(r.event_id),
    topic: str(r.topic),
    account_id: optStr(r.account_id),
    endpoint_id: str(r.endpoint_id),
    channel: optStr(r.channel) ?? 'webhook',
    payload: str(r.payload),
    status: str(r.status) as OutboxStatus,
    attempts: num(r.attempts),
    next_attempt_at: num(r.next_attempt_at),
    last_status: optNum(r.last_status),
    last_error: optStr(r.last_error),
    created_at: num(r.created_at),
    delivered_at: optNum(r.delivered_at),
  };
}

export function deliveryView(d: Delivery): Record<string, unknown> {
  return {
    id: d.id,
    event_id: d.event_id,
    topic: d.topic,
    account_id: d.account_id,
    endpoint_id: d.endpoint_id,
    channel: d.channel,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? iso(d.next_attempt_at) : null,
    last_status: d.last_status,
    last_error: d.last_error,
    created_at: iso(d.created_at),
    delivered_at: iso(d.delivered_at),
    event: JSON.parse(d.payload) as unknown,
  };
}

/** One attempt's result. `status`: the HTTP status, or the SMTP reply code. `final`: give the delivery up now (no retry). */
export type Attempt = { ok: true; status: number } | { ok: false; status: number | null; error: string; final?: boolean };

/** Delivers one attempt of a delivery of a channel other than `webhook` (`attempt` counts from 1). */
export type OutboxChannel = (d: Delivery, attempt: number) => Promise<Attempt>;
/** The channels of this process by name (`email`, when SMTP is configured and the status page registered it). */
export type OutboxChannels = Map<string, OutboxChannel>;

/** A delivery whose channel has no sender in this process (e-mail without SMTP_URL): retried, so that it goes out once configured. */
const NO_CHANNEL = (channel: string): Attempt => ({ ok: false, status: null, error: channel === 'email' ? 'e-mail is not configured on this instance (SMTP_URL)' : `no sender for channel ${channel}` });

/** One signed POST of a delivery's body. Only the status is kept of the answer, never its body. */
async function post(url: string, secret: string, d: Delivery, attempt: number, now: number, timeoutMs: number): Promise<Attempt> {
  const t = Math.floor(now / 1000);
  try {
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Surety-Webhooks/1',
        [SIGNATURE_HEADER]: signPayload(secret, d.payload, t),
        'surety-event-id': d.event_id,
        'surety-topic': d.topic,
        'surety-delivery-id': d.id,
        'surety-attempt': String(attempt),
      },
      body: d.payload,
    });
    await res.body?.cancel().catch(() => {});
    return res.status >= 200 && res.status < 300 ? { ok: true, status: res.status } : { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message).slice(0, 200);
    return { ok: false, status: null, error: why };
  }
}

/**
 * One run of the delivery job: every due delivery (oldest due first, at most `batch`) is posted
 * once; a 2xx answer delivers it, anything else schedules the next attempt after the backoff, and
 * the last allowed failure gives it up (`failed`). A disabled or deleted endpoint gives up its
 * pending deliveries. Returns counts for the job log.
 */
export async function deliverDue(db: Db, now: () => number, policy: DeliveryPolicy = DEFAULT_DELIVERY_POLICY, channels: OutboxChannels = new Map()): Promise<{ delivered: number; retried: number; failed: number }> {
  const out = { delivered: 0, retried: 0, failed: 0 };
  const due = (
    await db.all(
      `SELECT o.*, e.url AS e_url, e.secret AS e_secret, e.enabled AS e_enabled FROM outbox o LEFT JOIN webhook_endpoints e ON e.id = o.endpoint_id
       WHERE o.status = 'pending' AND o.next_attempt_at <= ? ORDER BY o.next_attempt_at, o.id LIMIT ?`,
      [now(), policy.batch],
    )
  ).map((r) => ({ d: toDelivery(r), url: optStr(r.e_url), secret: optStr(r.e_secret), enabled: r.e_enabled === null || r.e_enabled === undefined ? false : num(r.e_enabled) === 1 }));
  // Sent concurrently: one slow receiver does not hold back the others.
  await Promise.all(
    due.map(async ({ d, url, secret, enabled }) => {
      const attempt = d.attempts + 1;
      let r: Attempt;
      if (d.channel !== 'webhook') {
        const send = channels.get(d.channel);
        r = send ? await send(d, attempt).catch((err: unknown) => ({ ok: false as const, status: null, error: String((err as Error).message ?? err).slice(0, 200) })) : NO_CHANNEL(d.channel);
      } else {
        r = url && secret && enabled ? await post(url, secret, d, attempt, now(), policy.timeoutMs) : { ok: false, status: null, error: 'endpoint disabled or deleted', final: true };
      }
      const at = now();
      if (r.ok) {
        await db.run(`UPDATE outbox SET status = 'delivered', attempts = ?, last_status = ?, last_error = NULL, delivered_at = ? WHERE id = ? AND status = 'pending'`, [attempt, r.status, at, d.id]);
        out.delivered++;
      } else if (attempt >= policy.maxAttempts || r.final) {
        await db.run(`UPDATE outbox SET status = 'failed', attempts = ?, last_status = ?, last_error = ? WHERE id = ? AND status = 'pending'`, [attempt, r.status, r.error, d.id]);
        out.failed++;
      } else {
        await db.run('UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ? AND status = ?', [attempt, at + backoffMs(attempt, policy), r.status, r.error, d.id, 'pending']);
        out.retried++;
      }
    }),
  );
  return out;
}

/** The job that delivers the outbox, for Jobs.register (runtime.ts). */
export function outboxJob(db: Db, now: () => number, intervalMs = 2_000, policy: DeliveryPolicy = DEFAULT_DELIVERY_POLICY, channels: OutboxChannels = new Map()) {
  return { name: 'outbox-deliver', intervalMs, run: () => deliverDue(db, now, policy, channels) };
}
