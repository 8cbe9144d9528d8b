// Incidents and maintenance (incidents/service.ts) on every engine: declaration, the timeline
// (public updates apart from internal notes), milestones, the window, drafts, maintenance, the
// admin API and its errors, and the notices they put in the outbox.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEndpoint } from '../../../src/notify/endpoints.ts';
import {
  ATTRIBUTIONS, IMPACTS, INCIDENT_STATUSES, MAINTENANCE_STATUSES, SEVERITIES, declareIncident, getIncident, patchIncident, postIncidentUpdate, publicIncidentView, publishedIncidents, resolveIncident,
} from '../../../src/incidents/index.ts';
import { AppError } from '../../../src/kernel/errors.ts';
import { engines } from '../../helpers/engines.ts';
import { createTestApp, type TestApp } from '../../helpers/runtime.ts';

const HOUR = 3_600_000;

async function rejectsWith(p: Promise<unknown>, code: string, field?: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof AppError, `expected AppError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (field) assert.equal(err.details?.field, field, err.message);
}

test('the vocabulary is the issue\'s', () => {
  assert.deepEqual(INCIDENT_STATUSES, ['investigating', 'identified', 'monitoring', 'resolved', 'postmortem']);
  assert.deepEqual(MAINTENANCE_STATUSES, ['scheduled', 'in_progress', 'verifying', 'completed']);
  assert.deepEqual(SEVERITIES, ['sev1', 'sev2', 'sev3', 'sev4']);
  assert.deepEqual(IMPACTS, ['none', 'minor', 'major', 'critical']);
  assert.deepEqual(ATTRIBUTIONS, ['platform', 'upstream', 'upstream_moderation', 'upstream_rate_limit', 'customer', 'unknown']);
});

for (const engine of engines()) {
  describe(`incidents (${engine})`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
      await createEndpoint(t.op, null, { url: 'http://127.0.0.1:9/ops', topics: ['incident.*'] });
    });
    after(async () => t?.close());
    const notices = async (id: string) => (await t.rt.db.all('SELECT topic, payload FROM outbox ORDER BY id')).filter((r) => JSON.parse(String(r.payload)).data.id === id).map((r) => String(r.topic));

    test('declare: published with a first public update; back-dated window; milestones detected, acknowledged, first public update; a notice', async () => {
      const now = t.clock.now();
      const i = await declareIncident(t.op, {
        title: 'Elevated errors on chat', severity: 'sev2', impact: 'major', attribution: 'platform', components: ['openai', 'platform'],
        scope: { models: ['gpt-4o-mini'] }, window_start: new Date(now - 2 * HOUR).toISOString(), detected_at: new Date(now - HOUR).toISOString(),
      });
      assert.deepEqual([i.status, i.window_start, i.window_end, i.detected_at, i.acknowledged_at, i.first_public_update_at], ['investigating', now - 2 * HOUR, null, now - HOUR, now, now]);
      assert.deepEqual(i.scope, { models: ['gpt-4o-mini'], channels: [], endpoints: [], accounts: [] });
      const { updates } = await getIncident(t.op, i.id);
      assert.deepEqual(updates.map((u) => [u.visibility, u.status, u.body]), [['public', 'investigating', 'We are investigating this issue.']]);
      assert.deepEqual(await notices(i.id), ['incident.created']);
    });

    test('timeline: internal notes stay internal; monitoring marks mitigation; resolve ends the window (editable after); postmortem only after resolution', async () => {
      const i = await declareIncident(t.op, { title: 'Storage latency', attribution: 'platform' });
      t.clock.advance(60_000);
      await postIncidentUpdate(t.op, i.id, { visibility: 'internal', body: 'disk on db-2 at 98 %' });
      await rejectsWith(postIncidentUpdate(t.op, i.id, { visibility: 'internal', status: 'identified', body: 'x' }), 'VALIDATION', 'status');
      await rejectsWith(postIncidentUpdate(t.op, i.id, { status: 'postmortem', body: 'too early' }), 'CONFLICT');
      await rejectsWith(postIncidentUpdate(t.op, i.id, { status: 'completed', body: 'not a maintenance' }), 'VALIDATION', 'status');
      await postIncidentUpdate(t.op, i.id, { status: 'identified', body: 'A full disk.' });
      t.clock.advance(60_000);
      const m = (await postIncidentUpdate(t.op, i.id, { status: 'monitoring', body: 'Disk freed.' })).incident;
      assert.equal(m.mitigated_at, t.clock.now());
      t.clock.advance(60_000);
      const r = await resolveIncident(t.op, i.id);
      assert.deepEqual([r.status, r.resolved_at, r.window_end], ['resolved', t.clock.now(), t.clock.now()]);
      const end = t.clock.now() - 30_000;
      assert.equal((await patchIncident(t.op, i.id, { window_end: new Date(end).toISOString() })).incident.window_end, end, 'the end stays editable');
      await rejectsWith(patchIncident(t.op, i.id, { window_end: new Date(i.window_start - 1).toISOString() }), 'VALIDATION', 'window_end');
      await postIncidentUpdate(t.op, i.id, { status: 'postmortem', body: 'What happened and what we changed.' });
      const { incident, updates } = await getIncident(t.op, i.id);
      assert.deepEqual(updates.map((u) => `${u.visibility}:${u.status ?? '-'}`), ['public:investigating', 'internal:-', 'public:identified', 'public:monitoring', 'public:resolved', 'public:postmortem']);
      const pub = publicIncidentView(incident, updates) as { updates: Array<{ body: string }> };
      assert.equal(pub.updates.length, 5);
      assert.ok(!JSON.stringify(pub).includes('db-2'), 'internal notes never reach the public view');
      assert.deepEqual(await notices(i.id), ['incident.created', 'incident.updated', 'incident.updated', 'incident.resolved', 'incident.updated']);
    });

    test('drafts: not published, not notified, until an operator posts a public update; editing acknowledges', async () => {
      const sys = { ...t.op, actor: { type: 'system' as const, id: 'detector' } };
      const d = await declareIncident(sys, { title: 'Draft: platform errors', draft: true }, { key: 'platform:test', evidence: { rate: 0.5 } });
      assert.deepEqual([d.status, d.source, d.acknowledged_at, d.first_public_update_at], ['draft', 'detector', null, null]);
      assert.ok(!(await publishedIncidents(t.rt.db, 0)).some((x) => x.incident.id === d.id));
      assert.deepEqual(await notices(d.id), ['incident.draft'], 'the operator is told of the draft, nobody else');
      t.clock.advance(5 * 60_000);
      const p = await patchIncident(t.op, d.id, { severity: 'sev2' });
      assert.equal(p.incident.acknowledged_at, t.clock.now());
      t.clock.advance(60_000);
      const { incident } = await postIncidentUpdate(t.op, d.id, { body: 'We are looking into errors on chat.' });
      assert.deepEqual([incident.status, incident.first_public_update_at], ['investigating', t.clock.now()]);
      assert.ok((await publishedIncidents(t.rt.db, 0)).some((x) => x.incident.id === d.id));
      assert.deepEqual(await notices(d.id), ['incident.draft', 'incident.created']);
      await rejectsWith(declareIncident(t.op, { title: 'x', draft: true, message: 'hello' }), 'VALIDATION', 'draft');
    });

    test('maintenance: the same object with a planned window; scheduled → in_progress → completed', async () => {
      await rejectsWith(declareIncident(t.op, { kind: 'maintenance', title: 'DB upgrade' }), 'VALIDATION', 'planned_start');
      await rejectsWith(declareIncident(t.op, { title: 'x', planned_start: new Date(t.clock.now()).toISOString(), planned_end: new Date(t.clock.now() + HOUR).toISOString() }), 'VALIDATION', 'planned_start');
      const start = t.clock.now() + 24 * HOUR;
      const m = await declareIncident(t.op, { kind: 'maintenance', title: 'DB upgrade', planned_start: new Date(start).toISOString(), planned_end: new Date(start + HOUR).toISOString(), components: ['platform'] });
      assert.deepEqual([m.status, m.impact, m.window_start, m.detected_at], ['scheduled', 'none', start, null]);
      await rejectsWith(postIncidentUpdate(t.op, m.id, { status: 'investigating', body: 'x' }), 'VALIDATION', 'status');
      t.clock.t = start + 60_000;
      const p = (await postIncidentUpdate(t.op, m.id, { status: 'in_progress', body: 'Started.' })).incident;
      assert.equal(p.status, 'in_progress');
      const c = await resolveIncident(t.op, m.id, { message: 'Done.' });
      assert.deepEqual([c.status, c.window_end], ['completed', t.clock.now()]);
    });

    test('HTTP: declare, list, get, patch, post; bad input is a 400 naming the field; unknown ids 404; customers 403', async () => {
      const created = await t.req('POST', '/admin/v1/incidents', { body: { title: 'Gemini timeouts', attribution: 'upstream', severity: 'sev3', scope: { models: ['gemini-2.5-flash'] } } });
      assert.equal(created.status, 201, created.text);
      const id = created.body.id;
      assert.equal(created.body.updates.length, 1);
      const listed = await t.admin('GET', '/admin/v1/incidents?status=open&attribution=upstream');
      assert.ok(listed.data.some((x: any) => x.id === id));
      const patched = await t.admin('PATCH', `/admin/v1/incidents/${id}`, { impact: 'major', components: ['gemini'] });
      assert.deepEqual([patched.impact, patched.components], ['major', ['gemini']]);
      const posted = await t.req('POST', `/admin/v1/incidents/${id}/updates`, { body: { visibility: 'internal', body: 'upstream ticket #42' } });
      assert.equal(posted.status, 201);
      const got = await t.admin('GET', `/admin/v1/incidents/${id}`);
      assert.deepEqual(got.updates.map((u: any) => u.visibility), ['public', 'internal']);
      for (const [body, field] of [
        [{ title: 'x', severity: 'sev9' }, 'severity'],
        [{ title: 'x', attribution: 'aliens' }, 'attribution'],
        [{ title: 'x', window_start: 'yesterday' }, 'window_start'],
        [{ title: 'x', colour: 'red' }, 'colour'],
        [{ title: 'x\u0000y' }, 'title'],
        [{ title: 'x', scope: { models: 'gpt' } }, 'scope.models'],
      ] as const) {
        const r = await t.req('POST', '/admin/v1/incidents', { body });
        assert.deepEqual([r.status, r.body.error.code, r.body.error.field], [400, 'VALIDATION', field], r.text);
      }
      assert.equal((await t.req('GET', '/admin/v1/incidents/inc_nope')).status, 404);
      assert.equal((await t.req('PATCH', '/admin/v1/incidents/inc_nope', { body: { title: 'x' } })).status, 404);
    });
  });
}
