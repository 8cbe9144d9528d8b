import type { DayUptime } from './history.ts';
import { TEXTS, fmtDay, fmtMonth, fmtTime, type Lang } from './i18n.ts';
import { isOpen, type PublicIncident } from './notices.ts';
import { activeMaintenance, unresolved, upcomingMaintenance, type ComponentSnapshot, type PageSnapshot } from './snapshot.ts';
import { CSS } from './style.ts';
import { EMAIL_TEXTS } from './email-texts.ts';
import { STATUSES } from './vocabulary.ts';

// The public page, rendered on the server: semantic HTML, one inline stylesheet, SVG charts, no
// script. Every text from operators (names, incident updates) is escaped.

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number): string => `${(Math.floor(x * 10_000) / 100).toFixed(2)} %`;

export function layout(lang: Lang, title: string, body: string, s: PageSnapshot, path: string): string {
  const t = TEXTS[lang];
  const other: Lang = lang === 'en' ? 'zh' : 'en';
  return `<!doctype html><html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><title>${esc(title)}</title><link rel="alternate" type="application/atom+xml" title="${esc(t.history)}" href="/status/history.atom"><link rel="alternate" type="application/rss+xml" title="${esc(t.history)}" href="/status/history.rss"><style>${CSS}</style></head><body><a class="skip" href="#main">${t.skip}</a><div class="wrap"><header><h1>${esc(t.title(s.settings.name))}</h1><nav aria-label="${t.language}"><ul><li><a href="${path}?lang=${other}" hreflang="${other}" lang="${other === 'zh' ? 'zh-CN' : 'en'}">${other === 'zh' ? '中文' : 'English'}</a></li></ul></nav></header><main id="main">${body}</main><footer><ul><li><a href="/status/history?lang=${lang}">${t.history}</a></li><li><a href="/status/history.atom">Atom</a> · <a href="/status/history.rss">RSS</a></li><li><a href="/status/api/v2/summary.json">${t.api}</a></li><li><a href="/status/badge.svg">${t.badge}</a></li></ul><p>${t.updated} <time datetime="${new Date(s.at).toISOString()}">${fmtTime(lang, s.at)}</time></p></footer></div></body></html>`;
}

function dayClass(d: DayUptime): string {
  if (d.worst === null) return 'dn';
  const r = STATUSES[d.worst].rank;
  return r === 0 ? 'd0' : `d${r}`;
}

function dayText(lang: Lang, d: DayUptime, incidents: readonly PublicIncident[]): string {
  const t = TEXTS[lang];
  const head = `${fmtDay(lang, d.day)}: ${d.uptime === null ? t.noData : pct(d.uptime)}`;
  if (incidents.length === 0) return `${head}. ${t.noIncidentsDay}.`;
  return `${head}. ${t.incidentsOn}: ${incidents.map((i) => esc(i.name)).join('; ')}.`;
}

/** Incidents touching a component on a UTC day. */
function incidentsOn(c: ComponentSnapshot, day: number, all: readonly PublicIncident[]): PublicIncident[] {
  const end = day + 86_400_000;
  return all.filter((i) => i.components.includes(c.component.id) && i.started_at < end && (i.resolved_at ?? Number.MAX_SAFE_INTEGER) >= day);
}

function chart(lang: Lang, c: ComponentSnapshot): string {
  const t = TEXTS[lang];
  const pts = c.latency.filter((p) => p.ms !== null) as Array<{ at: number; ms: number }>;
  if (pts.length === 0) return `<p class="chart mut">${t.responseTime}: ${t.noResponseData}</p>`;
  const max = Math.max(...pts.map((p) => p.ms));
  const min = Math.min(...pts.map((p) => p.ms));
  const w = 240 / c.latency.length;
  // One bar per hour (a bar shows even a single hour of data; a line would need two).
  const bars = c.latency
    .map((p, i) => (p.ms === null ? '' : `<rect x="${(i * w + 0.5).toFixed(1)}" y="${(46 - Math.max(1, (p.ms / (max || 1)) * 44)).toFixed(1)}" width="${(w - 1).toFixed(1)}" height="${Math.max(1, (p.ms / (max || 1)) * 44).toFixed(1)}"/>`))
    .join('');
  const last = c.latency[c.latency.length - 1]?.ms ?? null;
  const label = t.responseTimeLabel(c.component.name, Math.round(min), Math.round(max), last === null ? null : Math.round(last));
  return `<figure class="chart"><figcaption class="mut">${t.responseTime} · max ${Math.round(max)} ms</figcaption><svg viewBox="0 0 240 48" preserveAspectRatio="none" role="img" aria-label="${esc(label)}"><line class="base" x1="0" y1="47" x2="240" y2="47"/>${bars}</svg></figure>`;
}

function componentBlock(lang: Lang, c: ComponentSnapshot, s: PageSnapshot): string {
  const t = TEXTS[lang];
  const k = c.component;
  const bars = c.days.map((d) => `<li class="${dayClass(d)}" tabindex="0"><span>${dayText(lang, d, incidentsOn(c, d.day, s.incidents))}</span></li>`).join('');
  const days = s.settings.days;
  return `<li class="comp"><div class="row"><span class="name">${esc(k.name)}</span><span class="s-${k.status}">${t.status[k.status]}</span></div>${k.description ? `<p class="mut">${esc(k.description)}</p>` : ''}<ol class="bars" aria-label="${esc(t.uptimeOf(k.name, days))}">${bars}</ol><div class="axis"><span class="far">${t.daysAgo(days)}</span><span class="near">${t.daysAgo(30)}</span><span>${c.uptime === null ? t.noData : `${pct(c.uptime)} ${t.uptime}`}</span><span>${t.today}</span></div>${chart(lang, c)}</li>`;
}

function incidentBlock(lang: Lang, i: PublicIncident, heading = 'h3'): string {
  const t = TEXTS[lang];
  const when = i.kind === 'maintenance' && i.scheduled_for !== null ? `<p class="mut">${t.scheduled(fmtTime(lang, i.scheduled_for), i.scheduled_until === null ? '…' : fmtTime(lang, i.scheduled_until))}</p>` : '';
  const updates = i.updates
    .map((u) => `<li><strong>${t.phase[u.status]}</strong> — ${esc(u.body)} <time class="mut" datetime="${new Date(u.display_at ?? u.created_at).toISOString()}">${fmtTime(lang, u.display_at ?? u.created_at)}</time></li>`)
    .join('');
  return `<article class="card"><${heading}><a href="/status/incidents/${encodeURIComponent(i.id)}?lang=${lang}">${esc(i.name)}</a> <span class="mut">· ${t.phase[i.status]}</span></${heading}>${when}<ol class="timeline">${updates}</ol></article>`;
}

export function renderPage(s: PageSnapshot, lang: Lang): string {
  const t = TEXTS[lang];
  const open = unresolved(s);
  const active = activeMaintenance(s);
  const upcoming = upcomingMaintenance(s);
  let body = `<section class="banner i-${s.indicator}" role="status" aria-live="polite"><h2>${t.indicator[s.indicator]}</h2></section>`;
  if (open.length > 0) body += `<section aria-labelledby="h-act"><h2 id="h-act">${t.activeIncidents}</h2>${open.map((i) => incidentBlock(lang, i)).join('')}</section>`;
  if (active.length + upcoming.length > 0) {
    body += `<section aria-labelledby="h-mnt"><h2 id="h-mnt">${t.maintenance}</h2>`;
    if (active.length) body += `<h3>${t.inProgress}</h3>${active.map((i) => incidentBlock(lang, i, 'h4')).join('')}`;
    if (upcoming.length) body += `<h3>${t.upcoming}</h3>${upcoming.map((i) => incidentBlock(lang, i, 'h4')).join('')}`;
    body += '</section>';
  }
  body += `<section aria-labelledby="h-cmp"><h2 id="h-cmp">${t.components}</h2><p class="mut">${t.uptimeHeading(s.settings.days)}</p>`;
  for (const sec of s.sections) {
    if (sec.group) body += `<h3>${esc(sec.group.group.name)} <span class="s-${sec.group.status}">· ${t.status[sec.group.status]}</span></h3>`;
    body += `<ul class="comps">${sec.components.map((c) => componentBlock(lang, c, s)).join('')}</ul>`;
  }
  body += `</section>${s.settings.subscribe ? subscribeForm(lang, s) : ''}<section aria-labelledby="h-rule"><h2 id="h-rule">${t.ruleHeading}</h2><p>${t.rule}</p></section>`;
  const past = s.incidents.filter((i) => i.kind === 'incident' && !isOpen(i)).slice(0, 5);
  body += `<section aria-labelledby="h-past"><h2 id="h-past">${t.pastIncidents}</h2>${past.length ? past.map((i) => incidentBlock(lang, i)).join('') : `<p>${t.noIncidents}</p>`}<p><a href="/status/history?lang=${lang}">${t.history} →</a></p></section>`;
  return layout(lang, t.title(s.settings.name), body, s, '/status');
}

/** The e-mail sign-up form (only when SMTP is configured): plain HTML, posted without script. */
function subscribeForm(lang: Lang, s: PageSnapshot): string {
  const t = EMAIL_TEXTS[lang];
  const boxes = s.components.map((c) => `<label><input type="checkbox" name="components" value="${esc(c.component.id)}"> ${esc(c.component.name)}</label>`).join('');
  return `<section aria-labelledby="h-sub"><h2 id="h-sub">${t.formHeading}</h2><p class="mut">${t.formIntro}</p><form class="sub" method="post" action="/status/subscriptions"><input type="hidden" name="lang" value="${lang}"><label for="sub-email">${t.emailLabel}</label> <input id="sub-email" type="email" name="email" required maxlength="254" autocomplete="email"> <button type="submit">${t.subscribe}</button><details><summary>${t.someComponents}</summary><fieldset aria-label="${t.someComponents}">${boxes}</fieldset></details></form></section>`;
}

/** Incidents and maintenance by month, newest first. */
export function renderHistory(s: PageSnapshot, lang: Lang): string {
  const t = TEXTS[lang];
  const months = new Map<string, PublicIncident[]>();
  for (const i of s.incidents) {
    const key = fmtMonth(lang, i.started_at);
    if (!months.has(key)) months.set(key, []);
    months.get(key)!.push(i);
  }
  let body = `<h2>${t.historyTitle}</h2>`;
  if (months.size === 0) body += `<p>${t.noIncidents}</p>`;
  for (const [m, list] of months) body += `<section><h3>${esc(m)}</h3>${list.map((i) => incidentBlock(lang, i, 'h4')).join('')}</section>`;
  body += `<p><a href="/status?lang=${lang}">← ${t.back}</a></p>`;
  return layout(lang, `${t.historyTitle} · ${t.title(s.settings.name)}`, body, s, '/status/history');
}

export function renderIncident(s: PageSnapshot, i: PublicIncident, lang: Lang): string {
  const t = TEXTS[lang];
  const names = s.components.filter((c) => i.components.includes(c.component.id)).map((c) => esc(c.component.name));
  const body = `${incidentBlock(lang, i, 'h2')}${names.length ? `<p>${t.affects}: ${names.join(', ')}</p>` : ''}<p><a href="/status?lang=${lang}">← ${t.back}</a></p>`;
  return layout(lang, `${i.name} · ${t.title(s.settings.name)}`, body, s, `/status/incidents/${encodeURIComponent(i.id)}`);
}
