import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Actor, Runtime, ServiceContext } from '../kernel/context.ts';
import type { FailureLog } from '../kernel/failure-log.ts';
import { newId, safeEqual, sha256Hex } from '../kernel/ids.ts';
import { takeLimits, type Limit } from '../kernel/throttle.ts';
import { parseInput } from '../kernel/validation.ts';
import { enqueue } from '../notify/outbox.ts';
import type { Mailer } from '../notify/mailer.ts';
import { UniqueViolation, type Queryable } from '../storage/port.ts';
import { slug } from './components.ts';
import { LANGS } from './i18n.ts';
import { checkComponents, endSubscription, subscriberView, toSubscriber, type Subscriber } from './subscribers.ts';

// E-mail subscriptions to the status page, with double opt-in: a sign-up (public, from the page's
// form; a customer's; the operator's) stores an unconfirmed subscription and queues a confirmation
// e-mail through the outbox; only once its link is followed does the address receive notices.
// Every notice carries an unsubscribe link. Links are `/status/subscriptions/<id>/<purpose>?token=`
// where the token is HMAC-SHA256(the subscription's secret, `<purpose>:<id>`): unguessable, and a
// link of one purpose cannot serve another. Anonymous sign-ups are throttled per client address
// and per e-mail address (each sends a mail), so the gateway cannot be used to flood an inbox.
// One live subscription per address and owner: signing up again re-sends the confirmation (or,
// when already confirmed, a short "already subscribed" e-mail) and adds no row.

export const CONFIRM_TTL_MS = 7 * 86_400_000;
export const EMAIL_TOPIC_CONFIRM = 'status.email_confirmation';

/** Sign-ups that send a confirmation e-mail: per client IP, and per e-mail address (any sender). */
export const EMAIL_SIGNUP_LIMITS = { perIp: { max: 10, windowMs: 3_600_000 }, perAddress: { max: 3, windowMs: 86_400_000 } };

export const EmailSubscribeInput = z
  .object({
    email: z.email().max(254),
    /** Component ids; absent or empty: every component. */
    components: z.array(slug).max(100).optional(),
    /** The language of its e-mails (default en). */
    lang: z.enum(LANGS).optional(),
    /** Operator only: the address is known to be the subscriber's; no confirmation e-mail. */
    confirmed: z.boolean().optional(),
  })
  .strict();

export type LinkPurpose = 'confirm' | 'unsubscribe';

export function linkToken(s: Pick<Subscriber, 'id' | 'secret'>, purpose: LinkPurpose): string {
  return createHmac('sha256', s.secret ?? '').update(`${purpose}:${s.id}`).digest('base64url');
}

export interface SignUpOptions {
  /** The anonymous form on /status: throttled per client address as well. */
  anonymous?: boolean;
  ip?: string | null;
}

const LINK_INVALID = () => new AppError('STATUS_SUBSCRIPTION_LINK_INVALID');

/** E-mail subscriptions of one gateway: its mailer (null: SMTP not configured) and its throttle counts. */
export class EmailSubscriptions {
  readonly mailer: Mailer | null;
  private readonly log: FailureLog;

  constructor(mailer: Mailer | null, log: FailureLog) {
    this.mailer = mailer;
    this.log = log;
  }

  /**
   * Subscribes an address (accountId null: the operator's or an anonymous sign-up). Returns the
   * subscription, new or the one the address already had.
   */
  async signUp(ctx: ServiceContext, accountId: string | null, raw: unknown, o: SignUpOptions = {}): Promise<Subscriber> {
    if (!this.mailer) throw new AppError('EMAIL_NOT_CONFIGURED');
    if (!o.anonymous) {
      if (accountId === null) requireOperator(ctx.actor);
      else requireRole(ctx.actor, accountId, 'admin');
    }
    const input = parseInput(EmailSubscribeInput, raw);
    if (input.confirmed && ctx.actor.type !== 'operator') throw new AppError('FORBIDDEN', 'confirmed: only the operator may subscribe an address without its confirmation.', { field: 'confirmed' });
    await checkComponents(ctx, input.components);
    const email = input.email.toLowerCase();
    const direct = input.confirmed === true;
    const now = ctx.now();
    if (!direct && ctx.actor.type !== 'operator') {
      const limits: Limit[] = [{ subject: `status-email:address:${sha256Hex(email).slice(0, 32)}`, ...EMAIL_SIGNUP_LIMITS.perAddress }];
      if (o.anonymous && o.ip) limits.push({ subject: `status-email:ip:${o.ip}`, ...EMAIL_SIGNUP_LIMITS.perIp });
      await takeLimits(this.log, limits, now, 'e-mail sign-ups for this address or from this client');
    }
    const components = input.components?.length ? [...new Set(input.components)].sort() : null;
    const lang = input.lang ?? 'en';
    // Two sign-ups of a new address at once: the unique index lets one insert; the other, retried, finds it.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store(ctx, accountId, email, components, lang, direct, now);
      } catch (e) {
        if (!(e instanceof UniqueViolation) || attempt >= 2) throw e;
      }
    }
  }

  private store(ctx: ServiceContext, accountId: string | null, email: string, components: string[] | null, lang: Subscriber['lang'], direct: boolean, now: number): Promise<Subscriber> {
    return ctx.db.tx(async (q) => {
      const cur = await q.get(`SELECT * FROM status_subscribers WHERE kind = 'email' AND target = ? AND COALESCE(account_id, '') = ? AND removed_at IS NULL`, [email, accountId ?? '']);
      let s: Subscriber;
      if (!cur) {
        s = { id: newId('sts', now), kind: 'email', account_id: accountId, target: email, endpoint_id: null, components, created_at: now, removed_at: null, confirmed_at: direct ? now : null, lang, secret: randomBytes(32).toString('base64url') };
        await q.run('INSERT INTO status_subscribers (id, kind, account_id, target, endpoint_id, components, created_at, secret, lang, confirmed_at) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)', [
          s.id, s.kind, accountId, email, components ? JSON.stringify(components) : null, now, s.secret, lang, s.confirmed_at,
        ]);
        await audit(q, ctx.actor, 'status.subscribe', { type: 'status_subscriber', id: s.id, accountId }, undefined, subscriberView(s), now);
      } else {
        const before = toSubscriber(cur);
        // A confirmed subscription changes only by the operator's hand; an unconfirmed one takes the new choice (and a fresh week).
        const change = before.confirmed_at === null || direct;
        s = change ? { ...before, components, lang, created_at: before.confirmed_at === null ? now : before.created_at, confirmed_at: before.confirmed_at ?? (direct ? now : null) } : before;
        if (change) {
          await q.run('UPDATE status_subscribers SET components = ?, lang = ?, created_at = ?, confirmed_at = ? WHERE id = ?', [components ? JSON.stringify(components) : null, lang, s.created_at, s.confirmed_at, s.id]);
          await audit(q, ctx.actor, 'status.subscribe', { type: 'status_subscriber', id: s.id, accountId }, subscriberView(before), subscriberView(s), now);
        }
      }
      if (!direct) await queueConfirmation(q, s, now);
      return s;
    });
  }

  /** The subscription a link names, if its token is right (else 410 STATUS_SUBSCRIPTION_LINK_INVALID). */
  async byLink(rt: Runtime, id: string, token: string, purpose: LinkPurpose): Promise<Subscriber> {
    if (!/^sts_[A-Za-z0-9_-]{1,80}$/.test(id) || token.length > 100) throw LINK_INVALID();
    const r = await rt.db.get(`SELECT * FROM status_subscribers WHERE id = ? AND kind = 'email'`, [id]);
    if (!r) throw LINK_INVALID();
    const s = toSubscriber(r);
    if (!safeEqual(linkToken(s, purpose), token)) throw LINK_INVALID();
    // An unsubscribe link keeps working (it says "unsubscribed"); a confirm link ends with its subscription or its week.
    if (purpose === 'confirm' && (s.removed_at !== null || (s.confirmed_at === null && s.created_at + CONFIRM_TTL_MS < rt.now()))) throw LINK_INVALID();
    return s;
  }

  /** Follows a confirm link: the address receives notices from now on. Confirming twice changes nothing. */
  async confirm(rt: Runtime, id: string, token: string): Promise<Subscriber> {
    const s = await this.byLink(rt, id, token, 'confirm');
    if (s.confirmed_at !== null) return s;
    const now = rt.now();
    const after = { ...s, confirmed_at: now };
    await rt.db.tx(async (q) => {
      await q.run('UPDATE status_subscribers SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL', [now, id]);
      await audit(q, LINK_ACTOR, 'status.subscription_confirm', { type: 'status_subscriber', id, accountId: s.account_id }, subscriberView(s), subscriberView(after), now);
    });
    return after;
  }

  /** Follows an unsubscribe link (or a mail client's one-click POST): nothing more is sent. */
  async unsubscribe(rt: Runtime, id: string, token: string): Promise<Subscriber> {
    const s = await this.byLink(rt, id, token, 'unsubscribe');
    if (s.removed_at !== null) return s;
    const now = rt.now();
    await rt.db.tx(async (q) => {
      await endSubscription(q, id, now);
      await audit(q, LINK_ACTOR, 'status.unsubscribe', { type: 'status_subscriber', id, accountId: s.account_id }, subscriberView(s), undefined, now);
    });
    return { ...s, removed_at: now };
  }
}

/** Who follows a link from an e-mail: the address owner, anonymous. */
const LINK_ACTOR: Actor = { type: 'system', id: 'email-link' };

/** Queues the confirmation e-mail (or "already subscribed", when confirmed) of a sign-up. */
async function queueConfirmation(q: Queryable, s: Subscriber, now: number): Promise<void> {
  await enqueue(q, { topic: EMAIL_TOPIC_CONFIRM, accountId: s.account_id, endpointId: s.id, channel: 'email', payload: { subscription: { id: s.id, email: s.target, components: s.components } }, key: `status:email-confirm:${s.id}:${now}`, at: now });
}

/** Ends unconfirmed subscriptions older than the confirmation week (the `status-prune` job). */
export async function expireUnconfirmed(rt: Runtime): Promise<number> {
  const r = await rt.db.run(`UPDATE status_subscribers SET removed_at = ? WHERE kind = 'email' AND confirmed_at IS NULL AND removed_at IS NULL AND created_at < ?`, [rt.now(), rt.now() - CONFIRM_TTL_MS]);
  return r.changes;
}
