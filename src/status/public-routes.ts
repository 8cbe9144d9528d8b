import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../kernel/errors.ts';
import { findNul } from '../kernel/validation.ts';
import type { PageCache, Rendered } from './cache.ts';
import { atomFeed, badge, rssFeed } from './feeds.ts';
import { chooseLang, type Lang } from './i18n.ts';
import { renderHistory, renderIncident, renderPage } from './page.ts';
import { statuspageDocuments } from './statuspage.ts';
import { STATUSES, worst, type ComponentStatus } from './vocabulary.ts';
import { createHash } from 'node:crypto';
import { CSS } from './style.ts';

// The pages' own Content-Security-Policy: nothing loads but the one inline stylesheet (by its
// hash); no script at all. (The app's default policy would block the inline style.)
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'`;

// The public routes, no key needed: the page (/status), the incident history and incident pages,
// the Statuspage-compatible JSON API (/status/api/v2/*), the Atom and RSS feeds and the badge.
// Everything is served from the page cache with an ETag (304 when unchanged) and gzip when asked.

const API_DOCS = [
  'summary.json', 'status.json', 'components.json', 'incidents.json', 'incidents/unresolved.json',
  'scheduled-maintenances.json', 'scheduled-maintenances/upcoming.json', 'scheduled-maintenances/active.json',
] as const;

export function registerPublicStatusRoutes(app: FastifyInstance, cache: PageCache, maxAgeSeconds: number): void {
  const baseOf = (req: FastifyRequest, configured: string | null): string => {
    if (configured) return configured.replace(/\/+$/, '');
    const host = String(req.headers.host ?? 'localhost').replace(/[^A-Za-z0-9.:[\]-]/g, '').slice(0, 200) || 'localhost';
    return `${req.protocol}://${host}`;
  };
  const send = (req: FastifyRequest, reply: FastifyReply, r: Rendered, vary: string) => {
    reply.header('cache-control', `public, max-age=${maxAgeSeconds}`).header('etag', r.etag).header('vary', vary).header('x-content-type-options', 'nosniff');
    if (req.headers['if-none-match'] === r.etag) return reply.code(304).send();
    reply.type(r.type);
    if (r.type.startsWith('text/html')) reply.header('content-security-policy', PAGE_CSP);
    if (r.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(r.gzip);
    return reply.send(r.body);
  };
  const langOf = (req: FastifyRequest): Lang => {
    const q = (req.query as { lang?: unknown }).lang;
    return chooseLang(typeof q === 'string' ? q : undefined, req.headers['accept-language']);
  };
  const html = 'text/html; charset=utf-8';
  const VARY_HTML = 'accept-language, accept-encoding';

  app.get('/status', async (req, reply) => {
    const lang = langOf(req);
    return send(req, reply, await cache.get(`page:${lang}`, html, (s) => renderPage(s, lang)), VARY_HTML);
  });
  app.get('/status/history', async (req, reply) => {
    const lang = langOf(req);
    return send(req, reply, await cache.get(`history:${lang}`, html, (s) => renderHistory(s, lang)), VARY_HTML);
  });
  app.get('/status/incidents/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (findNul(id) !== null || id.length > 200) throw new AppError('VALIDATION', 'id: not a valid incident id', { field: 'id' });
    const lang = langOf(req);
    const snap = await cache.snapshot();
    const inc = snap.incidents.find((i) => i.id === id);
    if (!inc) throw new AppError('NOT_FOUND', `No incident ${id} on the status page.`, { resource: 'incident' });
    return send(req, reply, await cache.get(`incident:${id}:${lang}`, html, (s) => renderIncident(s, inc, lang)), VARY_HTML);
  });
  for (const doc of API_DOCS) {
    app.get(`/status/api/v2/${doc}`, async (req, reply) => {
      const snap = await cache.snapshot();
      const base = baseOf(req, snap.settings.url);
      reply.header('access-control-allow-origin', '*');
      return send(req, reply, await cache.get(`api:${doc}:${base}`, 'application/json; charset=utf-8', (s) => JSON.stringify(statuspageDocuments(s, base)[doc])), 'accept-encoding');
    });
  }
  app.get('/status/history.atom', async (req, reply) => {
    const base = baseOf(req, (await cache.snapshot()).settings.url);
    return send(req, reply, await cache.get(`atom:${base}`, 'application/atom+xml; charset=utf-8', (s) => atomFeed(s, base)), 'accept-encoding');
  });
  app.get('/status/history.rss', async (req, reply) => {
    const base = baseOf(req, (await cache.snapshot()).settings.url);
    return send(req, reply, await cache.get(`rss:${base}`, 'application/rss+xml; charset=utf-8', (s) => rssFeed(s, base)), 'accept-encoding');
  });
  app.get('/status/badge.svg', async (req, reply) => {
    const q = req.query as { component?: unknown; label?: unknown };
    const id = typeof q.component === 'string' ? q.component : null;
    const snap = await cache.snapshot();
    let status: ComponentStatus;
    let label: string;
    if (id !== null) {
      const c = snap.components.find((x) => x.component.id === id);
      if (!c) throw new AppError('STATUS_COMPONENT_NOT_FOUND', `No status component ${id.slice(0, 100)}.`, { component: id.slice(0, 100) });
      status = c.component.status;
      label = c.component.name;
    } else {
      status = snap.components.reduce<ComponentStatus>((w, c) => worst(w, c.component.status), 'operational');
      label = 'status';
    }
    if (typeof q.label === 'string' && q.label.length > 0 && q.label.length <= 40 && findNul(q.label) === null) label = q.label;
    if (!(status in STATUSES)) status = 'operational';
    return send(req, reply, await cache.get(`badge:${id ?? ''}:${label}`, 'image/svg+xml; charset=utf-8', () => badge(label, status)), 'accept-encoding');
  });
}
