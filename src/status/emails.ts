import type { Runtime } from '../kernel/context.ts';
import type { Mailer, MailMessage } from '../notify/mailer.ts';
import type { Attempt, EventEnvelope, OutboxChannel } from '../notify/outbox.ts';
import { listComponents } from './components.ts';
import { EMAIL_TEXTS } from './email-texts.ts';
import { EMAIL_TOPIC_CONFIRM, linkToken, type LinkPurpose } from './email-subscribers.ts';
import { TEXTS, fmtTime } from './i18n.ts';
import type { ComponentStatus } from './vocabulary.ts';
import { toSubscriber, type Subscriber } from './subscribers.ts';

// The e-mails of status subscriptions, written when the outbox sends them (the `email` channel):
// from the event (the same one webhooks receive) and the subscription as it is then — an address
// that unsubscribed meanwhile gets nothing, an unconfirmed one gets only its confirmation. Each
// e-mail has a plain-text body and an HTML one made from it; notices carry the unsubscribe link in
// the body and in `List-Unsubscribe` / `List-Unsubscribe-Post` (RFC 8058 one-click).

export interface MailPage {
  /** The page's name ("Acme AI"). */
  name: string;
  /** Where the page is served, without a trailing slash: links point there. */
  base: string;
}

export function subscriptionLink(page: MailPage, s: Subscriber, purpose: LinkPurpose): string {
  return `${page.base}/status/subscriptions/${encodeURIComponent(s.id)}/${purpose}?token=${linkToken(s, purpose)}&lang=${s.lang}`;
}

const escHtml = (x: string): string => x.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The HTML body of a plain-text one: paragraphs, line breaks, and its links made clickable. */
export function htmlOf(text: string, lang: string): string {
  const paras = text.split(/\n{2,}/).map((p) => `<p>${escHtml(p).replace(/https?:\/\/[^\s<]+/g, (u) => `<a href="${u}">${u}</a>`).replace(/\n/g, '<br>')}</p>`);
  return `<!doctype html><html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"></head><body style="font:15px/1.5 system-ui,sans-serif;max-width:640px">${paras.join('')}</body></html>`;
}

interface ChangeData {
  component: { id: string; name: string; status: ComponentStatus };
  component_update: { old_status: ComponentStatus; new_status: ComponentStatus; created_at: string };
}
interface IncidentData {
  incident: { id: string; name: string; status: string; components: string[] };
  incident_update: { status: string | null; body: string; created_at: string };
}

/** The e-mail of one event for one subscription; null when the topic has none. */
export function renderEmail(s: Subscriber, e: EventEnvelope, names: ReadonlyMap<string, string>, page: MailPage): MailMessage | null {
  const t = EMAIL_TEXTS[s.lang];
  const words = TEXTS[s.lang];
  const list = (ids: readonly string[]) => ids.map((id) => names.get(id) ?? id).join(', ');
  const what = s.components ? list(s.components) : t.allComponents;
  const unsubscribe = subscriptionLink(page, s, 'unsubscribe');
  const footer = `\n\n-- \n${t.footer(page.name, what)}\n${t.unsubscribeLink}: ${unsubscribe}`;
  const host = new URL(page.base).hostname || 'surety';
  const base: Pick<MailMessage, 'to' | 'messageId'> = { to: s.target, messageId: `<${e.id}.${s.id}@${host}>` };
  const notice = (subject: string, text: string): MailMessage => ({
    ...base, subject, text: text + footer, html: htmlOf(text + footer, s.lang),
    headers: { 'List-Unsubscribe': `<${unsubscribe}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click', 'Auto-Submitted': 'auto-generated' },
  });
  if (e.topic === EMAIL_TOPIC_CONFIRM) {
    if (s.confirmed_at !== null) return notice(t.alreadySubject(page.name), t.alreadyMail(page.name, what));
    const text = t.confirmMail(page.name, what, subscriptionLink(page, s, 'confirm'));
    return { ...base, subject: t.confirmSubject(page.name), text, html: htmlOf(text, s.lang), headers: { 'Auto-Submitted': 'auto-generated' } };
  }
  const statusPage = `${t.statusPage}: ${page.base}/status?lang=${s.lang}`;
  if (e.topic === 'status.component_changed') {
    const d = e.data as ChangeData;
    const now = words.status[d.component_update.new_status] ?? d.component_update.new_status;
    const was = words.status[d.component_update.old_status] ?? d.component_update.old_status;
    const name = names.get(d.component.id) ?? d.component.name;
    return notice(t.changeSubject(page.name, name, now), `${t.changeMail(name, now, was, fmtTime(s.lang, Date.parse(d.component_update.created_at)))}\n\n${statusPage}`);
  }
  if (e.topic === 'status.incident_updated') {
    const d = e.data as IncidentData;
    const phaseOf = (p: string | null) => (p ? ((words.phase as Record<string, string>)[p] ?? p) : '');
    const phase = phaseOf(d.incident_update.status ?? d.incident.status);
    const text = [
      `${d.incident.name}${phase ? ` — ${phase}` : ''}`,
      d.incident_update.body,
      `${t.affects}: ${list(d.incident.components)}\n${t.posted}: ${fmtTime(s.lang, Date.parse(d.incident_update.created_at))}\n${t.details}: ${page.base}/status/incidents/${encodeURIComponent(d.incident.id)}?lang=${s.lang}`,
    ].join('\n\n');
    return notice(t.incidentSubject(page.name, d.incident.name, phase), text);
  }
  return null;
}

const giveUp = (error: string): Attempt => ({ ok: false, status: null, error, final: true });

/** The outbox's `email` channel: one delivery = one e-mail to one subscription, written now. */
export function emailChannel(rt: Runtime, mailer: Mailer, page: () => MailPage): OutboxChannel {
  return async (d) => {
    const r = await rt.db.get('SELECT * FROM status_subscribers WHERE id = ?', [d.endpoint_id]);
    if (!r) return giveUp('no such subscription');
    const s = toSubscriber(r);
    if (s.kind !== 'email') return giveUp('not an e-mail subscription');
    if (s.removed_at !== null) return giveUp('unsubscribed');
    const e = JSON.parse(d.payload) as EventEnvelope;
    if (e.topic !== EMAIL_TOPIC_CONFIRM && s.confirmed_at === null) return giveUp('not confirmed');
    const names = new Map((await listComponents(rt, { removed: true })).map((c) => [c.id, c.name]));
    const m = renderEmail(s, e, names, page());
    return m ? mailer.send(m) : giveUp(`no e-mail for ${e.topic}`);
  };
}
