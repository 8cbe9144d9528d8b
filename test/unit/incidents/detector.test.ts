// The draft detector (incidents/detector.ts) over made-up log rows: the least traffic, each
// threshold, client-side outcomes not counted, a threshold of 0 turning a kind off, upstream drafts,
// one draft per (kind, component) while it is open, and a new one only after a closed one's window.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { detectIncidents, type DetectorSettings } from '../../../src/incidents/detector.ts';
import { getIncident, resolveIncident } from '../../../src/incidents/index.ts';
import { engines } from '../../helpers/engines.ts';
import { fakeRow, insertRows } from '../../helpers/request-rows.ts';
import { createTestRuntime, type TestRuntime } from '../../helpers/runtime.ts';

const S: DetectorSettings = { windowMs: 300_000, minRequests: 20, platformPct: 5, upstreamPct: 25 };

for (const engine of engines()) {
  describe(`draft detector (${engine})`, () => {
    let t: TestRuntime;
    before(async () => {
      t = await createTestRuntime(engine);
      // The demo's providers for two models (the component is the model's provider).
      await t.rt.db.run("INSERT INTO models (id, provider, kind, price_version, price, enabled, updated_at) VALUES ('claude-sonnet-4-5', 'anthropic', 'chat', 1, '{}', 1, 0), ('gpt-4o-mini', 'openai', 'chat', 1, '{}', 1, 0)");
    });
    after(async () => t?.close());
    const rows = (n: number, over: Parameters<typeof fakeRow>[0]) => Array.from({ length: n }, (_, i) => fakeRow({ started_at: t.clock.now() - 60_000 + i, ...over }));

    test('below the least traffic, or with client-side failures only, nothing opens', async () => {
      await insertRows(t.rt.db, [...rows(5, { outcome: 'platform_error', amount: 0n }), ...rows(10, {})]);
      assert.deepEqual(await detectIncidents(t.rt, S), [], '15 counted requests < 20');
      await insertRows(t.rt.db, rows(40, { outcome: 'client_error', amount: 0n }));
      assert.deepEqual(await detectIncidents(t.rt, S), [], 'client errors do not count towards the 20');
      assert.deepEqual(await detectIncidents(t.rt, { ...S, minRequests: 10, platformPct: 0 }), [], 'a threshold of 0 turns platform drafts off');
    });

    test('platform and upstream drafts, one per (kind, component) while open; a new one after the closed one\'s window', async () => {
      await insertRows(t.rt.db, rows(10, {}));
      await insertRows(t.rt.db, [...rows(12, { model: 'claude-sonnet-4-5', outcome: 'upstream_timeout', amount: 0n }), ...rows(18, { model: 'claude-sonnet-4-5' })]);
      const opened = await detectIncidents(t.rt, S);
      assert.equal(opened.length, 2);
      const drafts = await Promise.all(opened.map(async (id) => (await getIncident(t.op, id)).incident));
      const byKey = Object.fromEntries(drafts.map((d) => [d.detector_key, d]));
      assert.deepEqual(Object.keys(byKey).sort(), ['platform:openai', 'upstream:anthropic']);
      const up = byKey['upstream:anthropic']!;
      assert.deepEqual([up.status, up.attribution, up.components, up.scope.models, up.acknowledged_at], ['draft', 'upstream', ['anthropic'], ['claude-sonnet-4-5'], null]);
      assert.deepEqual([(up.evidence as any).failures, (up.evidence as any).requests, (up.evidence as any).rate_pct], [12, 30, 40]);
      assert.deepEqual(await detectIncidents(t.rt, S), [], 'no second draft while these are open');
      await resolveIncident(t.op, byKey['platform:openai']!.id);
      assert.deepEqual(await detectIncidents(t.rt, S), [], 'closed within the window: not reopened at once');
      t.clock.advance(S.windowMs + 1);
      await insertRows(t.rt.db, [...rows(5, { outcome: 'platform_error', amount: 0n }), ...rows(20, {})]);
      const again = await detectIncidents(t.rt, S);
      assert.equal(again.length, 1);
      assert.equal((await getIncident(t.op, again[0]!)).incident.detector_key, 'platform:openai');
    });
  });
}
