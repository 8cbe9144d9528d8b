// SLA measurement against the real incidents module and outbox, on every engine: maintenance
// declared with and without the contract's notice, support times from an incident's own
// timestamps (declared after detection, updated, resolved), and the customer's notice of a closed
// period, enqueued once however often the period is closed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createContract } from '../../src/contracts/contracts.ts';
import { closePeriod } from '../../src/contracts/close.ts';
import { contractReport } from '../../src/contracts/service.ts';
import { declareIncident, postIncidentUpdate, resolveIncident } from '../../src/incidents/index.ts';
import { createEndpoint } from '../../src/notify/endpoints.ts';
import { rebuildRollups } from '../../src/requests/rollups.ts';
import { engines } from '../helpers/engines.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';
import { createTestRuntime, idem, type TestRuntime } from '../helpers/runtime.ts';

const T = (s: string) => Date.parse(s);

for (const engine of engines()) {
  describe(`SLA with incidents and the outbox (${engine})`, () => {
    let t: TestRuntime;
    let a: string;
    let contractId: string;
    before(async () => {
      t = await createTestRuntime(engine);
      a = (await createAccount(t.op, { name: `sla ${idem()}`, kind: 'enterprise' })).id;
      const rows = [
        // 2 of 4 failed inside the announced maintenance (excluded), 1 of 2 inside the short-notice one (counted).
        ...['ok', 'ok', 'platform_error', 'platform_error'].map((outcome, i) => fakeRow({ account_id: a, started_at: T('2026-02-05T10:30:00Z') + i, outcome: outcome as 'ok', amount: outcome === 'ok' ? 1_000_000_000n : 0n })),
        ...['ok', 'platform_error'].map((outcome, i) => fakeRow({ account_id: a, started_at: T('2026-02-06T10:30:00Z') + i, outcome: outcome as 'ok', amount: outcome === 'ok' ? 1_000_000_000n : 0n })),
      ];
      await insertRows(t.rt.db, rows);
      await rebuildRollups(t.rt.db, T('2026-02-05T00:00:00Z'), T('2026-02-07T00:00:00Z'));
      t.clock.t = T('2026-01-20T00:00:00Z');
      contractId = (await createContract(t.op, {
        account_id: a,
        name: 'Platinum',
        terms: {
          term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99.9', exclusions: { maintenance_notice_hours: 48 },
          credit_tiers: [{ below_percent: '99.995', credit_percent: '10' }],
          support: { sev1: { first_response_minutes: 15, update_interval_minutes: 30, resolution_minutes: 120, breach_credit: '0.25' } },
        },
      })).id;
      // Announced four days ahead; announced one hour ahead; another account's.
      t.clock.t = T('2026-02-01T10:00:00Z');
      await declareIncident(t.op, { kind: 'maintenance', title: 'Database upgrade', severity: 'sev4', planned_start: '2026-02-05T10:00:00Z', planned_end: '2026-02-05T11:00:00Z' });
      await declareIncident(t.op, { kind: 'maintenance', title: 'Elsewhere', severity: 'sev4', scope: { accounts: ['acct_other'] }, planned_start: '2026-02-06T10:00:00Z', planned_end: '2026-02-06T12:00:00Z' });
      t.clock.t = T('2026-02-06T09:00:00Z');
      await declareIncident(t.op, { kind: 'maintenance', title: 'Hotfix', severity: 'sev4', planned_start: '2026-02-06T10:00:00Z', planned_end: '2026-02-06T11:00:00Z' });
      // A sev1 detected at 12:00, declared at 12:20 (first response 20 > 15), updated every 25 minutes, resolved at 13:30.
      t.clock.t = T('2026-02-10T12:20:00Z');
      const inc = await declareIncident(t.op, { title: 'Errors on chat', severity: 'sev1', attribution: 'platform', detected_at: '2026-02-10T12:00:00Z', window_start: '2026-02-10T12:00:00Z' });
      t.clock.t = T('2026-02-10T12:45:00Z');
      await postIncidentUpdate(t.op, inc.id, { status: 'identified', body: 'A bad deploy; rolling back.' });
      t.clock.t = T('2026-02-10T13:10:00Z');
      await postIncidentUpdate(t.op, inc.id, { status: 'monitoring', body: 'Rolled back.' });
      t.clock.t = T('2026-02-10T13:30:00Z');
      await resolveIncident(t.op, inc.id, {});
      // An incident attributed to the customer does not count.
      await declareIncident(t.op, { title: 'Their proxy', severity: 'sev1', attribution: 'customer', detected_at: '2026-02-11T12:00:00Z', window_start: '2026-02-11T12:00:00Z' });
      t.clock.t = T('2026-03-02T00:00:00Z');
    });
    after(async () => t?.close());

    test('maintenance with enough notice is excluded, short notice is not; support times come from the incident', async () => {
      const r = (await contractReport(t.op, contractId, { period: '2026-02' })).view as any;
      assert.deepEqual(r.maintenance.map((m: any) => [m.title, m.excluded, m.notice_hours]), [['Database upgrade', true, 96], ['Hotfix', false, 1]]);
      assert.equal(r.counts.by_exclusion.maintenance, 4);
      // 8064 intervals, 12 in maintenance; the short-notice one fails its interval at 50 %.
      assert.equal(r.segments[0].intervals_measured, 8052);
      assert.equal(r.availability_exact, (100 * (1 - 0.5 / 8052)).toFixed(6));
      assert.deepEqual(r.incidents.map((i: any) => [i.title, i.first_response_minutes, i.longest_update_gap_minutes, i.resolution_minutes]), [['Errors on chat', 20, 25, 90]]);
      assert.deepEqual(r.incidents[0].breaches.map((b: any) => [b.kind, b.credit]), [['first_response', '0.25']]);
      // 10 % of the $3.00 covered spend (maintenance included), plus the breach: $0.55.
      assert.equal(r.credit.total, '0.55');
    });

    test('closing notifies the customer through the outbox once', async () => {
      await createEndpoint(t.op, a, { url: 'http://127.0.0.1:9/hook', topics: ['sla.*'] });
      await createEndpoint(t.op, null, { url: 'http://127.0.0.1:9/ops', topics: ['*'] });
      const first = await closePeriod(t.op, contractId, '2026-02');
      await closePeriod(t.op, contractId, '2026-02');
      const rows = await t.rt.db.all("SELECT account_id, payload FROM outbox WHERE topic = 'sla.period_closed'");
      assert.equal(rows.length, 2, 'one delivery to the account\'s endpoint and one to the operator\'s');
      const event = JSON.parse(String(rows[0]!.payload));
      assert.equal(event.account_id, a);
      assert.deepEqual([event.data.contract_id, event.data.period, event.data.credit, event.data.availability], [contractId, '2026-02', '0.55', first.closed.availability]);
    });
  });
}
