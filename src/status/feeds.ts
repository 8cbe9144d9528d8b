import { esc } from './page.ts';
import type { PublicIncident } from './notices.ts';
import type { PageSnapshot } from './snapshot.ts';
import { TEXTS } from './i18n.ts';
import { STATUSES, type ComponentStatus } from './vocabulary.ts';

// The history feeds (Atom 1.0 and RSS 2.0): incidents and maintenance with their updates, and
// every change of a component's public status, newest first. And the SVG badge.

interface Entry {
  id: string;
  title: string;
  link: string;
  updated: number;
  published: number;
  html: string;
}

function entries(s: PageSnapshot, base: string): Entry[] {
  const t = TEXTS.en;
  const names = new Map(s.components.map((c) => [c.component.id, c.component.name]));
  const inc = (i: PublicIncident): Entry => ({
    id: `${base}/status/incidents/${encodeURIComponent(i.id)}`,
    title: `${i.name} (${t.phase[i.status]})`,
    link: `${base}/status/incidents/${encodeURIComponent(i.id)}`,
    updated: i.updated_at,
    published: i.created_at,
    html: i.updates.map((u) => `<p><strong>${t.phase[u.status]}</strong> — ${esc(u.body)} <small>${new Date(u.display_at ?? u.created_at).toISOString()}</small></p>`).join(''),
  });
  const changes: Entry[] = s.changes.map((c) => {
    const name = names.get(c.component_id) ?? c.component_id;
    const st = t.status[c.status as ComponentStatus] ?? c.status;
    return {
      id: `${base}/status#change-${c.id}`,
      title: `${name}: ${st}`,
      link: `${base}/status`,
      updated: c.at,
      published: c.at,
      html: `<p>${esc(name)} is now <strong>${esc(st)}</strong>${c.previous && c.previous in STATUSES ? ` (was ${esc(t.status[c.previous as ComponentStatus])})` : ''}: ${esc(c.reason ?? '')}</p>`,
    };
  });
  return [...s.incidents.map(inc), ...changes].sort((a, b) => b.updated - a.updated).slice(0, 100);
}

/** XML text: escaped, and without characters XML 1.0 forbids. */
const xml = (v: string): string => esc(v.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, ''));

export function atomFeed(s: PageSnapshot, base: string): string {
  const list = entries(s, base);
  const updated = new Date(Math.max(s.updatedAt, ...list.map((e) => e.updated))).toISOString();
  const items = list
    .map((e) => `<entry><id>${xml(e.id)}</id><title>${xml(e.title)}</title><link rel="alternate" type="text/html" href="${xml(e.link)}"/><published>${new Date(e.published).toISOString()}</published><updated>${new Date(e.updated).toISOString()}</updated><content type="html">${xml(e.html)}</content></entry>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><id>${xml(base)}/status/history.atom</id><title>${xml(s.settings.name)} status - incident history</title><link rel="alternate" type="text/html" href="${xml(base)}/status"/><link rel="self" type="application/atom+xml" href="${xml(base)}/status/history.atom"/><updated>${updated}</updated><author><name>${xml(s.settings.name)}</name></author>${items}</feed>`;
}

export function rssFeed(s: PageSnapshot, base: string): string {
  const list = entries(s, base);
  const items = list
    .map((e) => `<item><title>${xml(e.title)}</title><link>${xml(e.link)}</link><guid isPermaLink="false">${xml(e.id)}</guid><pubDate>${new Date(e.updated).toUTCString()}</pubDate><description>${xml(e.html)}</description></item>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>${xml(s.settings.name)} status - incident history</title><link>${xml(base)}/status</link><description>Incidents, maintenance and status changes of ${xml(s.settings.name)}</description><atom:link href="${xml(base)}/status/history.rss" rel="self" type="application/rss+xml"/><lastBuildDate>${new Date(s.updatedAt).toUTCString()}</lastBuildDate>${items}</channel></rss>`;
}

const BADGE_COLOURS: Record<ComponentStatus, string> = {
  operational: '#1a7f37', degraded_performance: '#9a6700', partial_outage: '#bc4c00', major_outage: '#cf222e', under_maintenance: '#0969da',
};

/** A shields-style badge: "<label> | <status>". Width from a rough per-character estimate (Verdana 11px). */
export function badge(label: string, status: ComponentStatus): string {
  const value = TEXTS.en.status[status].toLowerCase();
  const w = (text: string) => Math.round(text.length * 6.6 + 12);
  const lw = w(label);
  const vw = w(value);
  const total = lw + vw;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="20" role="img" aria-label="${xml(label)}: ${value}"><title>${xml(label)}: ${value}</title><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${vw}" height="20" fill="${BADGE_COLOURS[status]}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="${lw / 2}" y="14">${xml(label)}</text><text x="${lw + vw / 2}" y="14">${value}</text></g></svg>`;
}
