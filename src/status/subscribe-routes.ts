import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../kernel/errors.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import type { PageCache } from './cache.ts';
import type { EmailSubscriptions, LinkPurpose } from './email-subscribers.ts';
import { EMAIL_TEXTS } from './email-texts.ts';
import { chooseLang, type Lang } from './i18n.ts';
import { esc, layout } from './page.ts';
import { PAGE_CSP } from './public-routes.ts';
import type { Subscriber } from './subscribers.ts';

// The public routes of e-mail subscriptions, no key needed: the sign-up form's target
// (`POST /status/subscriptions`, an HTML form or JSON) and the links of the e-mails
// (`/status/subscriptions/<id>/confirm|unsubscribe?token=`). Following a link (GET) shows a page
// with one button; only its POST acts, so that a mail scanner opening links confirms nothing and
// unsubscribes no one. A mail client's one-click unsubscribe (RFC 8058: POST with
// `List-Unsubscribe=One-Click`) is that same POST. Answers are HTML pages unless JSON was sent or
// asked for; none is cached.

const ANONYMOUS = { type: 'system', id: 'status-page' } as const;
const PURPOSES: ReadonlySet<string> = new Set(['confirm', 'unsubscribe']);

/** An urlencoded form as an object: `components` repeated is a list; other fields keep their first value. */
export function formFields(body: string): Record<string, unknown> {
  const p = new URLSearchParams(body);
  const out: Record<string, unknown> = {};
  for (const k of new Set(p.keys())) out[k] = k === 'components' ? p.getAll(k).filter((v) => v !== '') : p.get(k);
  return out;
}

export function registerEmailRoutes(app: FastifyInstance, rt: Runtime, email: EmailSubscriptions, cache: PageCache): void {
  const wantsJson = (req: FastifyRequest) => String(req.headers['content-type'] ?? '').startsWith('application/json') || (/application\/json/.test(String(req.headers.accept ?? '')) && !/text\/html/.test(String(req.headers.accept ?? '')));
  const langOf = (req: FastifyRequest, fallback?: unknown): Lang => {
    const q = (req.query as { lang?: unknown }).lang;
    return chooseLang(typeof q === 'string' ? q : typeof fallback === 'string' ? fallback : undefined, req.headers['accept-language']);
  };
  const page = async (reply: FastifyReply, status: number, lang: Lang, title: string, body: string) => {
    const snap = await cache.snapshot();
    const t = EMAIL_TEXTS[lang];
    const html = layout(lang, `${title} · ${snap.settings.name}`, `<section class="card"><h2>${esc(title)}</h2>${body}</section><p><a href="/status?lang=${lang}">← ${t.back}</a></p>`, snap, '/status');
    return reply.code(status).header('cache-control', 'no-store').header('content-security-policy', PAGE_CSP).header('x-robots-tag', 'noindex').type('text/html; charset=utf-8').send(html);
  };
  const fail = (req: FastifyRequest, reply: FastifyReply, lang: Lang, err: unknown) => {
    if (!isAppError(err) || wantsJson(req)) throw err;
    if (err.details?.retry_after !== undefined) reply.header('retry-after', String(err.details.retry_after));
    const t = EMAIL_TEXTS[lang];
    return page(reply, err.status, lang, t.problem, `<p>${esc(t.error(err.code, err.message, err.details?.retry_after) ?? err.message)}</p>`);
  };
  const button = (req: FastifyRequest, label: string) => `<form class="act" method="post" action="${esc(req.url)}"><button type="submit">${esc(label)}</button></form>`;

  app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_req, body, done) => done(null, formFields(body as string)));

    scope.post('/status/subscriptions', async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const lang = langOf(req, body.lang);
      try {
        const s = await email.signUp(withActor(rt, ANONYMOUS), null, body, { anonymous: true, ip: req.ip ?? null });
        if (wantsJson(req)) return reply.code(202).send({ status: 'confirmation_sent', email: s.target });
        const t = EMAIL_TEXTS[lang];
        return page(reply, 200, lang, t.checkInbox(s.target), `<p>${esc(t.checkInboxBody(s.target))}</p>`);
      } catch (err) {
        return fail(req, reply, lang, err);
      }
    });

    const link = (method: 'GET' | 'POST') => async (req: FastifyRequest, reply: FastifyReply) => {
      const { id, purpose } = req.params as { id: string; purpose: string };
      const token = (req.query as { token?: unknown }).token;
      const lang = langOf(req);
      try {
        if (!PURPOSES.has(purpose)) throw new AppError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}.`);
        if (typeof token !== 'string') throw new AppError('STATUS_SUBSCRIPTION_LINK_INVALID');
        const act = method === 'POST';
        const s = await linkAction(purpose as LinkPurpose, act, id, token);
        if (wantsJson(req)) return reply.send({ id: s.id, email: s.target, confirmed: s.confirmed_at !== null, subscribed: s.removed_at === null });
        return linkPage(req, reply, lang, purpose as LinkPurpose, s);
      } catch (err) {
        return fail(req, reply, lang, err);
      }
    };
    const linkAction = (purpose: LinkPurpose, act: boolean, id: string, token: string): Promise<Subscriber> =>
      !act ? email.byLink(rt, id, token, purpose) : purpose === 'confirm' ? email.confirm(rt, id, token) : email.unsubscribe(rt, id, token);
    const linkPage = async (req: FastifyRequest, reply: FastifyReply, lang: Lang, purpose: LinkPurpose, s: Subscriber) => {
      const t = EMAIL_TEXTS[lang];
      const names = new Map((await cache.snapshot()).components.map((c) => [c.component.id, c.component.name]));
      const addr = s.target;
      if (purpose === 'confirm') {
        if (s.confirmed_at !== null) return page(reply, 200, lang, t.confirmed, `<p>${esc(t.confirmedBody(addr))}</p>`);
        return page(reply, 200, lang, t.confirmHeading, `<p>${esc(t.confirmBody(addr, s.components ? s.components.map((c) => names.get(c) ?? c).join(', ') : t.allComponents))}</p>${button(req, t.confirmButton)}`);
      }
      if (s.removed_at !== null) return page(reply, 200, lang, t.unsubscribed, `<p>${esc(t.unsubscribedBody(addr))}</p>`);
      return page(reply, 200, lang, t.unsubscribeHeading, `<p>${esc(t.unsubscribeBody(addr))}</p>${button(req, t.unsubscribeButton)}`);
    };
    scope.get('/status/subscriptions/:id/:purpose', link('GET'));
    scope.post('/status/subscriptions/:id/:purpose', link('POST'));
  });
}
