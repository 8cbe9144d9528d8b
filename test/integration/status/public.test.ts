// The public side of the status page over real HTTP: the Statuspage-compatible JSON API (every
// field name pinned), the Atom and RSS feeds read by a real feed parser, the badge, and the page
// itself (languages, size, caching). Runs on SQLite, and PostgreSQL when configured.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parseFeed } from '@rowanmanning/feed-parser';
import { engines } from '../../helpers/engines.ts';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

const PAGE_KEYS = ['id', 'name', 'url', 'time_zone', 'updated_at'];
const COMPONENT_KEYS = ['id', 'name', 'status', 'created_at', 'updated_at', 'position', 'description', 'showcase', 'start_date', 'group_id', 'page_id', 'group', 'only_show_if_degraded'];
const STATUS_NAMES = ['operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance'];

const sorted = (o: object) => Object.keys(o).sort();

for (const engine of engines()) {
  describe(`public status routes (${engine})`, () => {
    let t: TestGateway;
    const get = (path: string, headers: Record<string, string> = {}) => fetch(t.url + path, { headers });

    before(async () => {
      t = await startTestGateway({ engine });
      await t.admin('PUT', '/admin/v1/status/components/anthropic-claude/override', { status: 'partial_outage', note: 'Claude answers slowly & fails at times' });
    });
    after(async () => t?.close());

    test('summary.json, status.json, components.json: exactly Statuspage v2 field names', async () => {
      const summary = (await (await get('/status/api/v2/summary.json')).json()) as any;
      assert.deepEqual(sorted(summary), ['components', 'incidents', 'page', 'scheduled_maintenances', 'status']);
      assert.deepEqual(sorted(summary.page), [...PAGE_KEYS].sort());
      assert.deepEqual(sorted(summary.status), ['description', 'indicator']);
      assert.equal(summary.status.indicator, 'major', 'a partial outage is a major indicator');
      assert.equal(summary.status.description, 'Partial System Outage');
      for (const c of summary.components) {
        assert.deepEqual(sorted(c), (c.group ? [...COMPONENT_KEYS, 'components'] : COMPONENT_KEYS).sort(), `fields of ${c.id}`);
        assert.ok(STATUS_NAMES.includes(c.status));
        assert.equal(c.page_id, summary.page.id);
      }
      const platform = summary.components.find((c: { id: string }) => c.id === 'platform');
      assert.deepEqual(platform.components, ['api', 'console']);
      const claude = summary.components.find((c: { id: string }) => c.id === 'anthropic-claude');
      assert.equal(claude.status, 'partial_outage');
      assert.equal(claude.group_id, 'upstreams');
      assert.equal(summary.components.find((c: { id: string }) => c.id === 'upstreams').status, 'partial_outage', 'a group shows its worst member');
      assert.ok(!Number.isNaN(Date.parse(summary.page.updated_at)));

      const status = (await (await get('/status/api/v2/status.json')).json()) as any;
      assert.deepEqual(sorted(status), ['page', 'status']);
      assert.deepEqual(status.status, summary.status);
      const comps = (await (await get('/status/api/v2/components.json')).json()) as any;
      assert.deepEqual(sorted(comps), ['components', 'page']);
      assert.deepEqual(comps.components, summary.components);
    });

    test('incidents and maintenance lists have their Statuspage shapes', async () => {
      for (const [path, key] of [
        ['incidents.json', 'incidents'], ['incidents/unresolved.json', 'incidents'], ['scheduled-maintenances.json', 'scheduled_maintenances'],
        ['scheduled-maintenances/upcoming.json', 'scheduled_maintenances'], ['scheduled-maintenances/active.json', 'scheduled_maintenances'],
      ] as const) {
        const r = await get(`/status/api/v2/${path}`);
        assert.equal(r.status, 200, path);
        assert.equal(r.headers.get('access-control-allow-origin'), '*');
        const body = (await r.json()) as any;
        assert.deepEqual(sorted(body), [key, 'page'].sort(), path);
        assert.ok(Array.isArray(body[key]));
      }
    });

    test('Atom and RSS parse with a real feed parser and carry the status change', async () => {
      for (const [path, type] of [['/status/history.atom', 'application/atom+xml'], ['/status/history.rss', 'application/rss+xml']] as const) {
        const r = await get(path);
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type')!, new RegExp(type.replace('+', '\\+')));
        const feed = parseFeed(await r.text());
        assert.match(feed.title ?? '', /Surety status/);
        const item = feed.items.find((i) => i.title === 'Anthropic Claude: Partial outage');
        assert.ok(item, `${path}: ${feed.items.map((i) => i.title).join(' | ')}`);
        assert.match(item.content ?? item.description ?? '', /answers slowly (&#38;|&amp;) fails/);
        assert.ok(item.published ?? item.updated, 'dated');
        assert.match(item.url ?? '', /\/status$/);
      }
    });

    test('the badge: overall and per component; an unknown component is a clear 404', async () => {
      const all = await get('/status/badge.svg');
      assert.equal(all.status, 200);
      assert.match(all.headers.get('content-type')!, /image\/svg\+xml/);
      assert.match(await all.text(), /status: partial outage/);
      const one = await (await get('/status/badge.svg?component=api')).text();
      assert.match(one, /API: operational/);
      const bad = await get('/status/badge.svg?component=nope');
      assert.equal(bad.status, 404);
      assert.equal(((await bad.json()) as any).error.code, 'STATUS_COMPONENT_NOT_FOUND');
    });

    test('the page: server-rendered, no script, under 100 KB, the rule stated, English and Chinese', async () => {
      const r = await get('/status');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type')!, /text\/html/);
      const html = await r.text();
      assert.ok(Buffer.byteLength(html) < 100_000, `${Buffer.byteLength(html)} bytes`);
      assert.ok(!/<script/i.test(html), 'readable without JavaScript: there is none');
      // Its own policy: the one inline stylesheet by its hash, nothing else, no script.
      const csp = r.headers.get('content-security-policy') ?? '';
      const style = /<style>([^<]*)<\/style>/.exec(html)![1]!;
      assert.ok(csp.includes(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`), csp);
      assert.match(csp, /default-src 'none'/);
      assert.match(html, /<html lang="en">/);
      assert.match(html, /Partial system outage/);
      assert.match(html, /Minutes in major outage count fully as downtime, minutes in partial outage count 30 %/);
      for (const name of ['API', 'Console', 'OpenAI GPT', 'Anthropic Claude', 'Google Gemini', 'Nano Banana image', 'GPT-Image']) assert.ok(html.includes(`<span class="name">${name}</span>`), name);
      assert.equal((html.match(/<ol class="bars"/g) ?? []).length, 7);
      assert.equal((html.match(/<li class="d\w" tabindex="0">/g) ?? []).length, 7 * 90, 'ninety focusable day bars per component');
      const zh = await (await get('/status?lang=zh')).text();
      assert.match(zh, /<html lang="zh-CN">/);
      assert.match(zh, /部分系统中断/);
      const byHeader = await (await get('/status', { 'accept-language': 'fr;q=0.9, zh-CN;q=0.8, en;q=0.5' })).text();
      assert.match(byHeader, /<html lang="zh-CN">/);
      const en = await (await get('/status', { 'accept-language': 'zh;q=0.1, en-GB' })).text();
      assert.match(en, /<html lang="en">/);
    });

    test('cached: gzip, an ETag and 304 when unchanged', async () => {
      const r = await fetch(t.url + '/status', { headers: { 'accept-encoding': 'gzip' } });
      const etag = r.headers.get('etag');
      assert.ok(etag);
      assert.match(r.headers.get('cache-control')!, /public, max-age=\d+/);
      const again = await get('/status', { 'if-none-match': etag! });
      assert.equal(again.status, 304);
      // The bytes as sent (fetch would decode them): gzip, a fraction of the page, the same page inside.
      const raw = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        request(t.url + '/status', { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(parts) }));
        }).on('error', reject).end();
      });
      assert.equal(raw.encoding, 'gzip');
      const plain = await (await get('/status')).text();
      assert.equal(gunzipSync(raw.body).toString(), plain);
      assert.ok(raw.body.length < 20_000, `${raw.body.length} bytes on the wire`);
    });
  });
}
