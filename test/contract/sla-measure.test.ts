// SLA measurement on hand-computed months, on every engine: request-based and time-based
// availability to 4 decimals, empty intervals and every exclusion, maintenance with and without
// enough notice, a month boundary in a non-UTC time zone, support breaches, an amendment in the
// middle of a period. Rows go into the request log, rollups are rebuilt from it, and the report
// is read through the service.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../src/accounts/accounts.ts';
import { amendContract, createContract } from '../../src/contracts/contracts.ts';
import { contractReport } from '../../src/contracts/service.ts';
import type { IncidentSource } from '../../src/contracts/support.ts';
import { incidentsOf } from '../helpers/sla.ts';
import { rebuildRollups } from '../../src/requests/rollups.ts';
import type { Outcome } from '../../src/requests/outcomes.ts';
import { engines } from '../helpers/engines.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';
import { createTestRuntime, idem, type TestRuntime } from '../helpers/runtime.ts';

const T = (s: string) => Date.parse(s);
const USD = 1_000_000_000n;

for (const engine of engines()) {
  describe(`SLA measurement (${engine})`, () => {
    let t: TestRuntime;
    before(async () => {
      t = await createTestRuntime(engine);
      t.clock.t = T('2026-04-15T00:00:00Z');
    });
    after(async () => t?.close());

    async function account(): Promise<string> {
      return (await createAccount(t.op, { name: `sla ${idem()}` })).id;
    }
    /** n rows of one outcome at one time ($1 each when ok, else nothing charged). */
    function rows(acct: string, at: string, outcome: Outcome, n: number, over: Record<string, unknown> = {}) {
      return Array.from({ length: n }, (_, i) => fakeRow({ account_id: acct, started_at: T(at) + i, ended_at: T(at) + i + 100, outcome, amount: outcome === 'ok' ? USD : 0n, ...over }));
    }
    async function load(all: ReturnType<typeof rows>[]): Promise<void> {
      const flat = all.flat();
      await insertRows(t.rt.db, flat);
      const times = flat.map((r) => r.started_at);
      await rebuildRollups(t.rt.db, Math.min(...times), Math.max(...times) + 60_000);
    }
    async function contract(acct: string, terms: Record<string, unknown>) {
      return createContract(t.op, { account_id: acct, name: 'Enterprise SLA', terms: { term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99.9', ...terms } });
    }
    const report = async (id: string, q: Record<string, string>, src: IncidentSource = incidentsOf([])) => (await contractReport(t.op, id, q, src)).view as any;

    test('request-based: known failures per 5-minute interval, empty intervals at 0 %, every exclusion', async () => {
      const a = await account();
      await load([
        rows(a, '2026-02-01T00:00:00Z', 'ok', 8), rows(a, '2026-02-01T00:01:00Z', 'platform_error', 2), // 2 / 10
        rows(a, '2026-02-10T12:00:00Z', 'ok', 3), rows(a, '2026-02-10T12:04:00Z', 'platform_error', 1), // 1 / 4
        // Nothing eligible in this interval: every row is excluded for one reason or another.
        rows(a, '2026-02-20T00:00:00Z', 'client_error', 5), rows(a, '2026-02-20T00:00:10Z', 'upstream_error', 1),
        rows(a, '2026-02-20T00:00:20Z', 'upstream_moderation', 2), rows(a, '2026-02-20T00:00:30Z', 'upstream_rate_limited', 1),
        rows(a, '2026-02-20T00:00:40Z', 'platform_error', 3, { model: 'beta-x' }),
        // Outside February: not counted.
        rows(a, '2026-01-31T23:59:00Z', 'platform_error', 4), rows(a, '2026-03-01T00:00:00Z', 'platform_error', 4),
        // Another account's failures: not counted.
        rows('acct_other', '2026-02-01T00:00:00Z', 'platform_error', 9),
      ]);
      const c = await contract(a, { exclusions: { beta_models: ['beta-x'] }, credit_tiers: [{ below_percent: '99.995', credit_percent: '10' }] });
      const r = await report(c.id, { period: '2026-02' });
      // 28 days = 8064 intervals; mean error (0.2 + 0.25) / 8064 → 99.99441964 %.
      assert.equal(r.segments[0].intervals, 8064);
      assert.equal(r.availability, '99.9944');
      assert.equal(r.availability_exact, '99.994420');
      assert.deepEqual([r.counts.eligible, r.counts.failed], [14, 3]);
      assert.deepEqual(r.counts.by_exclusion, { maintenance: 0, beta_model: 3, client_fault: 5, moderation: 2, rate_limit: 1, upstream_not_covered: 1 });
      assert.equal(r.counts.by_outcome.platform_error, 6);
      assert.equal(r.target_met, true);
      assert.equal(r.credit.base, '11.00');
      assert.equal(r.credit.total, '1.10');
      // The same data under a contract covering upstreams: the upstream error fails its interval (1 / 1).
      const up = await contract(a, { coverage: { upstreams: true }, exclusions: { beta_models: ['beta-x'] } });
      const r2 = await report(up.id, { period: '2026-02' });
      assert.equal(r2.availability_exact, '99.982019');
      assert.equal(r2.availability, '99.9820');
      // A window instead of a period: the first day only, 288 intervals, (0.2) / 288.
      const day = await report(c.id, { from: '2026-02-01T00:00:00Z', to: '2026-02-02T00:00:00Z' });
      assert.equal(day.period, null);
      assert.equal(day.availability, (100 * (1 - 0.2 / 288)).toFixed(4));
      // Daily chart data: 28 days, the first below 100 %.
      assert.equal(r.daily.length, 28);
      assert.equal(r.daily[0].availability, (100 * (1 - 0.2 / 288)).toFixed(4));
      assert.equal(r.daily[1].availability, '100.0000');
    });

    test('time-based: a minute is down at or over the threshold with at least N eligible requests', async () => {
      const a = await account();
      await load([
        rows(a, '2026-02-03T10:00:00Z', 'ok', 9), rows(a, '2026-02-03T10:00:30Z', 'platform_error', 1), // 10 % of 10: down
        rows(a, '2026-02-03T10:01:00Z', 'platform_error', 4), // 100 % of 4 < N: up
        rows(a, '2026-02-03T10:02:00Z', 'ok', 19), rows(a, '2026-02-03T10:02:30Z', 'platform_error', 1), // 5 %: up
        // 2 of 5 eligible (the client errors are not eligible and do not make up N): down
        rows(a, '2026-02-03T10:03:00Z', 'ok', 3), rows(a, '2026-02-03T10:03:10Z', 'platform_error', 2), rows(a, '2026-02-03T10:03:20Z', 'client_error', 5),
        // 4 eligible + 6 client errors: under N, up
        rows(a, '2026-02-03T10:04:00Z', 'platform_error', 4), rows(a, '2026-02-03T10:04:10Z', 'client_error', 6),
      ]);
      const c = await contract(a, { metric: { type: 'time', threshold_percent: '10', min_requests: 5 } });
      const r = await report(c.id, { period: '2026-02' });
      // 40,320 minutes, 2 down: 40318 / 40320.
      assert.equal(r.segments[0].intervals, 40320);
      assert.equal(r.segments[0].down_minutes, 2);
      assert.equal(r.availability_exact, '99.995040');
      assert.equal(r.availability, '99.9950');
    });

    test('maintenance: excluded when announced with enough notice (its planned window only), counted otherwise', async () => {
      const a = await account();
      await load([
        rows(a, '2026-02-05T10:30:00Z', 'platform_error', 10), // inside announced maintenance
        rows(a, '2026-02-05T11:00:00Z', 'platform_error', 1), rows(a, '2026-02-05T11:00:10Z', 'ok', 3), // overrun: counted (1 / 4)
        rows(a, '2026-02-06T10:30:00Z', 'platform_error', 2), rows(a, '2026-02-06T10:30:10Z', 'ok', 2), // short notice: counted (2 / 4)
      ]);
      const c = await contract(a, { exclusions: { maintenance_notice_hours: 72 } });
      const src = incidentsOf([
        { id: 'mnt_ok', kind: 'maintenance', start: T('2026-02-05T10:00:00Z'), end: T('2026-02-05T11:20:00Z'), plannedStart: T('2026-02-05T10:00:00Z'), plannedEnd: T('2026-02-05T11:00:00Z'), announcedAt: T('2026-02-01T09:00:00Z') },
        { id: 'mnt_late', kind: 'maintenance', start: T('2026-02-06T10:00:00Z'), end: T('2026-02-06T11:00:00Z'), plannedStart: T('2026-02-06T10:00:00Z'), plannedEnd: T('2026-02-06T11:00:00Z'), announcedAt: T('2026-02-06T09:00:00Z') },
        { id: 'mnt_elsewhere', kind: 'maintenance', scope: { accounts: ['acct_other'] }, start: T('2026-02-06T10:00:00Z'), plannedStart: T('2026-02-06T10:00:00Z'), plannedEnd: T('2026-02-06T12:00:00Z'), announcedAt: T('2026-01-01T00:00:00Z') },
      ]);
      const r = await report(c.id, { period: '2026-02' }, src);
      // 8064 intervals, 12 of them wholly in maintenance: (0.25 + 0.5) / 8052.
      assert.equal(r.segments[0].intervals_measured, 8052);
      assert.equal(r.availability_exact, (100 * (1 - 0.75 / 8052)).toFixed(6));
      assert.equal(r.counts.by_exclusion.maintenance, 10);
      assert.deepEqual(r.maintenance.map((m: any) => [m.id, m.excluded]), [['mnt_ok', true], ['mnt_late', false]]);
      // Without the exclusion in the terms, nothing is excluded.
      const none = await contract(a, { exclusions: { maintenance_notice_hours: null } });
      const r2 = await report(none.id, { period: '2026-02' }, src);
      assert.equal(r2.counts.by_exclusion.maintenance, 0);
      assert.equal(r2.availability_exact, (100 * (1 - 1.75 / 8064)).toFixed(6));
    });

    test('a month in a non-UTC time zone starts and ends at local midnight', async () => {
      const a = await account();
      await load([
        rows(a, '2026-02-28T15:58:00Z', 'platform_error', 1), // 23:58 on 28 February in Shanghai
        rows(a, '2026-02-28T16:02:00Z', 'platform_error', 1), // 00:02 on 1 March in Shanghai
        rows(a, '2026-03-31T16:01:00Z', 'platform_error', 1), // 00:01 on 1 April in Shanghai
      ]);
      const c = await contract(a, { time_zone: 'Asia/Shanghai' });
      const r = await report(c.id, { period: '2026-03' });
      assert.deepEqual(r.window, { from: '2026-02-28T16:00:00.000Z', to: '2026-03-31T16:00:00.000Z' });
      assert.equal(r.counts.failed, 1);
      assert.equal(r.availability, (100 * (1 - 1 / 8928)).toFixed(4));
      assert.equal(r.daily[0].day, '2026-03-01');
      assert.equal(r.daily.length, 31);
      // New York's March is one hour short (daylight saving from 8 March): 8916 intervals.
      const ny = await contract(a, { time_zone: 'America/New_York' });
      assert.equal((await report(ny.id, { period: '2026-03' })).segments[0].intervals, 8916);
    });

    test('support terms: response, update interval and resolution measured from incident timestamps; breaches credited', async () => {
      const a = await account();
      await load([rows(a, '2026-02-01T00:00:00Z', 'ok', 11)]);
      const c = await contract(a, {
        support: {
          sev1: { first_response_minutes: 15, update_interval_minutes: 30, resolution_minutes: 120, breach_credit: '50.00' },
          sev2: { first_response_minutes: 30, update_interval_minutes: 60, resolution_minutes: 240, breach_credit_percent: '1' },
        },
      });
      const m = (s: string) => T(`2026-02-10T${s}:00Z`);
      const src = incidentsOf([
        // sev1: first update after 20 minutes (> 15): one breach; gaps of 20, 25, 25 and 90 minutes to resolve: fine.
        { id: 'inc_1', severity: 'sev1', start: m('09:55'), detectedAt: m('10:00'), firstPublicUpdateAt: m('10:20'), publicUpdates: [m('10:20'), m('10:45'), m('11:10')], resolvedAt: m('11:30'), end: m('11:30') },
        // sev2: answered in 10 minutes, then silent for 290 and resolved after 300 (> 240): two breaches.
        { id: 'inc_2', severity: 'sev2', start: m('12:00'), detectedAt: m('12:00'), firstPublicUpdateAt: m('12:10'), publicUpdates: [m('12:10')], resolvedAt: m('17:00'), end: m('17:00') },
        // Not counted: the customer's own fault, another account's incident, maintenance.
        { id: 'inc_3', severity: 'sev1', attribution: 'customer', start: m('13:00'), detectedAt: m('13:00') },
        { id: 'inc_4', severity: 'sev1', scope: { accounts: ['acct_other'] }, start: m('13:00'), detectedAt: m('13:00') },
      ]);
      const r = await report(c.id, { period: '2026-02' }, src);
      assert.deepEqual(r.incidents.map((i: any) => i.id), ['inc_1', 'inc_2']);
      const [i1, i2] = r.incidents;
      assert.deepEqual([i1.first_response_minutes, i1.longest_update_gap_minutes, i1.resolution_minutes], [20, 25, 90]);
      assert.deepEqual(i1.breaches.map((b: any) => [b.kind, b.credit]), [['first_response', '50.00']]);
      assert.deepEqual([i2.first_response_minutes, i2.longest_update_gap_minutes, i2.resolution_minutes], [10, 290, 300]);
      // 1 % of the $11.00 credit base each.
      assert.deepEqual(i2.breaches.map((b: any) => [b.kind, b.credit]), [['update_interval', '0.11'], ['resolution', '0.11']]);
      assert.equal(r.credit.support_credits, '50.22');
      assert.equal(r.credit.tier_credits, '0.00');
      // The overall cap (100 % of the covered spend by default) holds support credits too.
      assert.equal(r.credit.before_cap, '50.22');
      assert.deepEqual([r.credit.cap, r.credit.total, r.credit.cap_applied], ['11.00', '11.00', true]);
    });

    test('an amendment in the middle of a period: each part measured under its own version', async () => {
      const a = await account();
      await load([
        rows(a, '2026-02-10T00:00:00Z', 'ok', 1), rows(a, '2026-02-10T00:00:10Z', 'upstream_error', 1), // v1: upstreams not covered
        rows(a, '2026-02-20T00:00:00Z', 'ok', 1), rows(a, '2026-02-20T00:00:10Z', 'upstream_error', 1), // v2: covered, 1 / 2
      ]);
      const c = await contract(a, { credit_tiers: [{ below_percent: '99.99', credit_percent: '10' }] });
      t.clock.t = T('2026-02-12T00:00:00Z');
      await amendContract(t.op, c.id, { effective_from: '2026-02-15T00:00:00Z', reason: 'upstreams covered from the 15th', terms: { coverage: { upstreams: true } } });
      t.clock.t = T('2026-04-15T00:00:00Z');
      const r = await report(c.id, { period: '2026-02' });
      assert.deepEqual(r.segments.map((s: any) => [s.version, s.window.from, s.intervals]), [[1, '2026-02-01T00:00:00.000Z', 4032], [2, '2026-02-15T00:00:00.000Z', 4032]]);
      assert.equal(r.segments[0].availability, '100.0000');
      assert.equal(r.segments[0].counts.by_exclusion.upstream_not_covered, 1);
      assert.equal(r.segments[1].availability_exact, (100 * (1 - 0.5 / 4032)).toFixed(6));
      assert.equal(r.availability, (100 * (1 - 0.5 / 8064)).toFixed(4));
      // Only the second half misses the 99.99 % tier: 10 % of its $1.00 covered spend.
      assert.deepEqual([r.segments[0].tier_credit, r.segments[1].tier_credit, r.credit.total], ['0.00', '0.10', '0.10']);
      // An amendment cannot go back before the last version.
      await assert.rejects(amendContract(t.op, c.id, { effective_from: '2026-02-14T00:00:00Z', reason: 'x', terms: {} }), (e: any) => e.code === 'VALIDATION' && e.details.field === 'effective_from');
    });

    test('rollups rebuilt from the log equal what the writer would add, and a rebuild is repeatable', async () => {
      const a = await account();
      await load([rows(a, '2026-02-07T08:00:00Z', 'ok', 7), rows(a, '2026-02-07T08:00:30Z', 'platform_error', 2)]);
      const before = await t.rt.db.all('SELECT minute, outcome, requests, amount FROM request_rollups WHERE account_id = ? ORDER BY minute, outcome', [a]);
      assert.deepEqual(before.map((r) => [Number(r.minute), r.outcome, Number(r.requests), BigInt(r.amount as bigint)]), [[T('2026-02-07T08:00:00Z'), 'ok', 7, 7n * USD], [T('2026-02-07T08:00:00Z'), 'platform_error', 2, 0n]]);
      await rebuildRollups(t.rt.db, T('2026-02-07T00:00:00Z'), T('2026-02-08T00:00:00Z'));
      const again = await t.rt.db.all('SELECT minute, outcome, requests, amount FROM request_rollups WHERE account_id = ? ORDER BY minute, outcome', [a]);
      assert.deepEqual(again, before);
    });
  });
}
