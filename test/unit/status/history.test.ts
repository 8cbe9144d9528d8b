// The stored status history and what is computed from it: intervals over any range (what SLA
// contracts read through src/status/index.ts), and uptime per day by the rule stated on the page.
// On SQLite and, when configured, PostgreSQL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engines } from '../../helpers/engines.ts';
import { createTestRuntime } from '../../helpers/runtime.ts';
import { putComponent, removeComponent } from '../../../src/status/components.ts';
import { dailyUptime, rangeUptime, statusIntervals } from '../../../src/status/index.ts';
import { DAY, recordChange } from '../../../src/status/history.ts';
import { withActor } from '../../../src/kernel/context.ts';
import type { ComponentStatus } from '../../../src/status/vocabulary.ts';

const MIN = 60_000;

test('uptime rule: major counts fully, partial at 30 %, degraded and maintenance are up', () => {
  const day = Date.UTC(2026, 0, 10);
  const iv = (status: ComponentStatus, from: number, to: number) => ({ component_id: 'c', status, source: 'auto', from: day + from * MIN, to: day + to * MIN });
  const intervals = [iv('operational', 0, 600), iv('major_outage', 600, 660), iv('partial_outage', 660, 760), iv('degraded_performance', 760, 900), iv('under_maintenance', 900, 1000), iv('operational', 1000, 1440)];
  const [d] = dailyUptime(intervals, day, 1, day + DAY);
  // 60 minutes down + 100 × 0.3 = 90 minutes of 1440.
  assert.equal(d!.uptime, 1 - 90 / 1440);
  assert.equal(d!.worst, 'major_outage');
  assert.equal(d!.minutes.partial_outage, 100);
  assert.equal(rangeUptime(intervals), 1 - 90 / 1440);
  // Only observed time counts: a component created at noon, fully up since, is 100 %.
  assert.equal(dailyUptime([iv('operational', 720, 1440)], day, 1, day + DAY)[0]!.uptime, 1);
  // Today so far: 30 minutes of major outage out of the first 60 minutes.
  assert.equal(dailyUptime([iv('operational', 0, 30), iv('major_outage', 30, 1440)], day, 1, day + 60 * MIN)[0]!.uptime, 0.5);
  // Before any history: no data, not "up".
  const none = dailyUptime(intervals, day - DAY, 1, day + DAY)[0]!;
  assert.equal(none.uptime, null);
  assert.equal(none.worst, null);
});

for (const engine of engines()) {
  describe(`status history in storage (${engine})`, () => {
    test('intervals over a range: the status at its start, every change, clipped; nothing before creation or after removal', async () => {
      const t = await createTestRuntime(engine);
      try {
        const t0 = t.clock.t;
        await putComponent(t.op, 'gpt', { name: 'GPT', models: ['gpt-*'] });
        await putComponent(t.op, 'claude', { name: 'Claude', models: ['claude-*'] });
        const change = async (id: string, from: ComponentStatus, to: ComponentStatus, at: number) => t.rt.db.tx((q) => recordChange(q, { id, status: from }, to, 'auto', 'test', at));
        await change('gpt', 'operational', 'major_outage', t0 + 60 * MIN);
        await change('gpt', 'major_outage', 'partial_outage', t0 + 90 * MIN);
        await change('gpt', 'partial_outage', 'operational', t0 + 120 * MIN);
        t.clock.advance(180 * MIN);
        await removeComponent(withActor(t.rt, { type: 'operator', id: 'test' }), 'claude');

        const all = await statusIntervals(t.rt, t0 - DAY, t0 + 240 * MIN);
        assert.deepEqual(
          all.get('gpt')!.map((i) => [i.status, (i.from - t0) / MIN, (i.to - t0) / MIN]),
          [['operational', 0, 60], ['major_outage', 60, 90], ['partial_outage', 90, 120], ['operational', 120, 240]],
        );
        assert.deepEqual(all.get('claude')!.map((i) => [i.status, (i.from - t0) / MIN, (i.to - t0) / MIN]), [['operational', 0, 180]], 'ends at its removal');
        // A range starting inside the outage begins with the status in force then.
        const inside = await statusIntervals(t.rt, t0 + 75 * MIN, t0 + 100 * MIN, ['gpt']);
        assert.deepEqual([...inside.keys()], ['gpt']);
        assert.deepEqual(inside.get('gpt')!.map((i) => [i.status, (i.from - t0) / MIN, (i.to - t0) / MIN]), [['major_outage', 75, 90], ['partial_outage', 90, 100]]);
        // Uptime of that range by the page's rule: 30 min major + 30 min partial of 240.
        assert.equal(rangeUptime(all.get('gpt')!), 1 - (30 + 9) / 240);
      } finally {
        await t.close();
      }
    });
  });
}
