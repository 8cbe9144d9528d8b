// Incidents and maintenance on the status page, from src/incidents/ through its admin API: the
// timeline (public updates only), Statuspage's incident and maintenance fields, maintenance that
// wins over everything, an open incident's impact, the history page, the day bars; and webhook
// subscriptions per component through the outbox, signed.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { verifySignature } from '../../../src/notify/outbox.ts';
import { engines } from '../../helpers/engines.ts';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

const INCIDENT_KEYS = ['id', 'name', 'status', 'created_at', 'updated_at', 'monitoring_at', 'resolved_at', 'impact', 'shortlink', 'started_at', 'page_id', 'incident_updates', 'components'];
const UPDATE_KEYS = ['id', 'status', 'body', 'incident_id', 'created_at', 'updated_at', 'display_at', 'affected_components', 'deliver_notifications', 'custom_tweet', 'tweet_id'];
const sorted = (o: object) => Object.keys(o).sort();

interface Received {
  path: string;
  signature: string;
  body: string;
}

for (const engine of engines()) {
  describe(`incidents and maintenance on the status page (${engine})`, () => {
    let t: TestGateway;
    let receiver: Server;
    let hookUrl = '';
    const received: Received[] = [];
    let incidentId = '';
    const get = async (path: string) => (await (await fetch(t.url + path)).json()) as any;
    const iso = (ms: number) => new Date(ms).toISOString();

    before(async () => {
      t = await startTestGateway({ engine });
      receiver = createServer((req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (b: Buffer) => parts.push(b));
        req.on('end', () => {
          received.push({ path: req.url ?? '', signature: String(req.headers['surety-signature'] ?? ''), body: Buffer.concat(parts).toString() });
          res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    });
    after(async () => {
      await t?.close();
      await new Promise((r) => receiver?.close(r));
    });

    test('an incident, its public timeline (never internal notes), and the impact on its component', async () => {
      const inc = await t.admin('POST', '/admin/v1/incidents', { title: 'Elevated errors on GPT models', impact: 'major', components: ['openai-gpt'], message: 'We see elevated error rates.' });
      incidentId = inc.id;
      await t.admin('POST', `/admin/v1/incidents/${inc.id}/updates`, { visibility: 'internal', body: 'SECRET: the upstream key ran out of credit' });
      await t.admin('POST', `/admin/v1/incidents/${inc.id}/updates`, { status: 'identified', body: 'The cause is identified; a fix is being rolled out.' });
      await t.admin('POST', '/admin/v1/status/evaluate');
      const gpt = await t.admin('GET', '/admin/v1/status/components/openai-gpt');
      assert.equal(gpt.status, 'partial_outage', 'a major-impact incident: at least a partial outage');
      const unresolved = await get('/status/api/v2/incidents/unresolved.json');
      assert.equal(unresolved.incidents.length, 1);
      const i = unresolved.incidents[0];
      assert.deepEqual(sorted(i), [...INCIDENT_KEYS].sort());
      assert.equal(i.name, 'Elevated errors on GPT models');
      assert.equal(i.status, 'identified');
      assert.equal(i.impact, 'major');
      assert.deepEqual(i.components.map((c: { id: string }) => c.id), ['openai-gpt']);
      assert.deepEqual(i.incident_updates.map((u: { status: string }) => u.status), ['identified', 'investigating'], 'newest first');
      for (const u of i.incident_updates) assert.deepEqual(sorted(u), [...UPDATE_KEYS].sort());
      const everything = JSON.stringify([await get('/status/api/v2/summary.json'), await get('/status/api/v2/incidents.json')]) + (await (await fetch(t.url + '/status')).text());
      assert.ok(!everything.includes('SECRET'), 'internal notes never reach the public');
      assert.equal((await get('/status/api/v2/summary.json')).incidents[0].id, incidentId);
    });

    test('maintenance: in progress wins over an override; upcoming is listed apart', async () => {
      const now = Date.now();
      await t.admin('PUT', '/admin/v1/status/components/google-gemini/override', { status: 'major_outage' });
      const active = await t.admin('POST', '/admin/v1/incidents', { kind: 'maintenance', title: 'Gemini channel migration', components: ['google-gemini'], planned_start: iso(now - 60_000), planned_end: iso(now + 3_600_000), status: 'in_progress', message: 'Moving to the new region.' });
      const later = await t.admin('POST', '/admin/v1/incidents', { kind: 'maintenance', title: 'Database upgrade', components: ['api'], planned_start: iso(now + 86_400_000), planned_end: iso(now + 90_000_000) });
      await t.admin('POST', '/admin/v1/status/evaluate');
      assert.equal((await t.admin('GET', '/admin/v1/status/components/google-gemini')).status, 'under_maintenance');
      assert.equal((await t.admin('GET', '/admin/v1/status/components/api')).status, 'operational', 'not yet in its window');
      const act = await get('/status/api/v2/scheduled-maintenances/active.json');
      assert.deepEqual(act.scheduled_maintenances.map((m: { id: string }) => m.id), [active.id]);
      assert.deepEqual(sorted(act.scheduled_maintenances[0]), [...INCIDENT_KEYS, 'scheduled_for', 'scheduled_until'].sort());
      assert.equal(act.scheduled_maintenances[0].status, 'in_progress');
      const up = await get('/status/api/v2/scheduled-maintenances/upcoming.json');
      assert.deepEqual(up.scheduled_maintenances.map((m: { id: string }) => m.id), [later.id]);
      assert.equal(up.scheduled_maintenances[0].scheduled_for, iso(now + 86_400_000));
      const all = await get('/status/api/v2/scheduled-maintenances.json');
      assert.equal(all.scheduled_maintenances.length, 2);
      const summary = await get('/status/api/v2/summary.json');
      assert.equal(summary.scheduled_maintenances.length, 2);
      await t.admin('DELETE', '/admin/v1/status/components/google-gemini/override');
    });

    test('the page, the history by month, the incident page and the day bar show them', async () => {
      const html = await (await fetch(t.url + '/status')).text();
      assert.match(html, /Active incidents/);
      assert.match(html, /Elevated errors on GPT models/);
      assert.match(html, /<strong>Identified<\/strong> — The cause is identified; a fix is being rolled out\./);
      assert.match(html, /Maintenance<\/h2><h3>In progress<\/h3>.*Gemini channel migration/s);
      assert.match(html, /<h3>Upcoming<\/h3>.*Database upgrade/s);
      // Today's bar of OpenAI GPT names the incident (hover, focus, tap).
      const gptBlock = html.slice(html.indexOf('<span class="name">OpenAI GPT</span>'), html.indexOf('<span class="name">Anthropic Claude</span>'));
      const today = gptBlock.match(/<li class="d\d" tabindex="0"><span>([^<]*)<\/span><\/li><\/ol>/);
      assert.ok(today, 'the last bar');
      assert.match(today[1]!, /Incidents: Elevated errors on GPT models/);
      const history = await (await fetch(t.url + '/status/history')).text();
      const month = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', month: 'long', year: 'numeric' }).format(Date.now());
      assert.match(history, new RegExp(`<h3>${month}</h3>`));
      assert.match(history, /Elevated errors on GPT models/);
      const page = await fetch(t.url + `/status/incidents/${incidentId}`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Affects: OpenAI GPT/);
      const missing = await fetch(t.url + '/status/incidents/inc_nope');
      assert.equal(missing.status, 404);
      const atom = await (await fetch(t.url + '/status/history.atom')).text();
      assert.match(atom, /Elevated errors on GPT models \(Identified\)/);
    });

    test('webhook subscriptions per component: signed, through the outbox', async () => {
      const gpt = await t.admin('POST', '/admin/v1/status/subscribers', { url: `${hookUrl}/gpt`, components: ['openai-gpt'] });
      assert.match(gpt.secret, /^whsec_/);
      const claude = await t.admin('POST', '/admin/v1/status/subscribers', { url: `${hookUrl}/claude`, components: ['anthropic-claude'] });
      const c = await t.customer('1.00');
      const mine = await fetch(`${t.url}/account/v1/status/subscriptions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: `${hookUrl}/customer` }) });
      assert.equal(mine.status, 201);
      const customerSecret = ((await mine.json()) as any).secret as string;
      const bad = await t.adminRaw('POST', '/admin/v1/status/subscribers', { url: `${hookUrl}/x`, components: ['no-such'] });
      assert.equal(bad.body.error.code, 'STATUS_COMPONENT_NOT_FOUND');

      // A status change of OpenAI GPT, and a new public update of its incident.
      await t.admin('PUT', '/admin/v1/status/components/openai-gpt/override', { status: 'major_outage', note: 'all GPT requests fail' });
      await t.admin('POST', `/admin/v1/incidents/${incidentId}/updates`, { status: 'monitoring', body: 'A fix is in place; we are watching.' });
      await t.s.rt.jobs.runNow('status-incident-notices');
      await t.s.rt.jobs.runNow('outbox-deliver');
      const to = (p: string) => received.filter((r) => r.path === p).map((r) => ({ ...r, json: JSON.parse(r.body) }));
      const forGpt = to('/gpt');
      const topics = forGpt.map((r) => r.json.topic).sort();
      assert.deepEqual(topics, ['status.component_changed', 'status.incident_updated']);
      const change = forGpt.find((r) => r.json.topic === 'status.component_changed')!;
      assert.equal(change.json.data.component_update.new_status, 'major_outage');
      assert.equal(change.json.data.component_update.old_status, 'partial_outage');
      assert.ok(verifySignature(gpt.secret, change.signature, change.body), 'signed with the subscription secret');
      assert.ok(!verifySignature(claude.secret, change.signature, change.body));
      assert.equal(to('/claude').length, 0, 'a subscriber of another component hears nothing');
      const forCustomer = to('/customer');
      assert.ok(forCustomer.some((r) => r.json.topic === 'status.component_changed'));
      assert.ok(forCustomer.every((r) => verifySignature(customerSecret, r.signature, r.body)));
      // Ending a subscription stops it.
      const del = await t.adminRaw('DELETE', `/admin/v1/status/subscribers/${gpt.id}`);
      assert.equal(del.status, 200);
      assert.equal((await t.adminRaw('DELETE', `/admin/v1/status/subscribers/${gpt.id}`)).body.error.code, 'STATUS_SUBSCRIBER_NOT_FOUND');
      await t.admin('DELETE', '/admin/v1/status/components/openai-gpt/override');
      await t.s.rt.jobs.runNow('outbox-deliver');
      assert.equal(to('/gpt').length, 2, 'nothing after unsubscribing');
    });
  });
}
