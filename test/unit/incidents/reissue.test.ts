// The affected scope and reissuance (incidents/scope.ts, reissue.ts) on every engine, over made-up
// log rows: the outcome presets, the per-account preview that writes nothing, reissuing once,
// widening (the difference), re-attributing (correcting entries), a refused reissuance, a stale
// review, and two runs at once. The same with real traffic is test/integration/incidents.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, getBalance } from '../../../src/accounts/accounts.ts';
import { declareIncident, patchIncident } from '../../../src/incidents/index.ts';
import { lossFor } from '../../../src/incidents/loss.ts';
import { previewIncident, previewView, reissueIncident, reverseOnReattribution, type Movement } from '../../../src/incidents/reissue.ts';
import { AppError } from '../../../src/kernel/errors.ts';
import { parseUsd } from '../../../src/kernel/money.ts';
import { engines } from '../../helpers/engines.ts';
import { fakeRow, insertRows } from '../../helpers/request-rows.ts';
import { createTestRuntime, type TestRuntime } from '../../helpers/runtime.ts';

const usd = (s: string) => parseUsd(s, { allowZero: true, allowNegative: true });
const T0 = Date.UTC(2026, 0, 15, 12);
const MIN = 60_000;

test('the loss formula: charged × (1 + goodwill), plus a flat amount per failed image, at least the minimum (the worked example)', () => {
  const f = { outcome: 'charged' as const, goodwill_pct: '10', min_per_account: '1.00', per_failed_image: '0.05' };
  assert.equal(lossFor(f, { requests: 5, charged: usd('12'), failed_images: 3 }), usd('13.35'));
  assert.equal(lossFor(f, { requests: 1, charged: usd('0.10'), failed_images: 0 }), usd('1'), 'the minimum');
  assert.equal(lossFor(f, { requests: 0, charged: 0n, failed_images: 0 }), 0n, 'no affected request, no minimum');
  assert.equal(lossFor({ ...f, goodwill_pct: '12.5', min_per_account: '0' }, { requests: 1, charged: 3n, failed_images: 0 }), 3n, '3.375 nano rounds once, to 3');
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof AppError, `expected ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
}

for (const engine of engines()) {
  describe(`reissuance (${engine})`, () => {
    let t: TestRuntime;
    let A: string;
    let B: string;
    let C: string;
    let incidentId: string;
    before(async () => {
      t = await createTestRuntime(engine);
      [A, B, C] = [(await createAccount(t.op, { name: 'A' })).id, (await createAccount(t.op, { name: 'B' })).id, (await createAccount(t.op, { name: 'C' })).id];
      const $1 = usd('1');
      await insertRows(t.rt.db, [
        fakeRow({ account_id: A, started_at: T0 + 5 * MIN, amount: $1 }),
        fakeRow({ account_id: A, started_at: T0 + 10 * MIN, amount: $1 }),
        fakeRow({ account_id: A, started_at: T0 + 15 * MIN, amount: 0n, outcome: 'platform_error', status: 502 }),
        fakeRow({ account_id: A, started_at: T0 + 90 * MIN, amount: $1 }), // after the window
        fakeRow({ account_id: A, started_at: T0 + 20 * MIN, amount: 0n, outcome: 'client_error', status: 400 }),
        fakeRow({ account_id: B, started_at: T0 + 5 * MIN, amount: $1, model: 'claude-sonnet-4-5' }), // out of scope
        fakeRow({ account_id: B, started_at: T0 + 6 * MIN, amount: 0n, model: 'gpt-image-1', endpoint: 'images', outcome: 'upstream_error', status: 502 }),
        fakeRow({ account_id: C, started_at: T0 + 30 * MIN, amount: usd('2.5') }),
        fakeRow({ account_id: null, started_at: T0 + 30 * MIN, amount: 0n, outcome: 'auth_error', status: 401 }),
      ]);
      t.clock.t = T0 + 3 * 60 * MIN;
      incidentId = (await declareIncident(t.op, { title: 'Bad deploy', attribution: 'platform', scope: { models: ['gpt-4o-mini', 'gpt-image-1'] }, window_start: new Date(T0).toISOString(), window_end: new Date(T0 + 60 * MIN).toISOString() })).id;
    });
    after(async () => t?.close());

    const count = async (table: string) => Number((await t.rt.db.get<{ n: bigint }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n);
    const granted = async (acct: string) => (await getBalance(t.op, acct)).granted;
    const lines = async (outcome?: string) => (previewView(await previewIncident(t.op, incidentId, outcome ? { outcome } : {})) as any).accounts.map((l: any) => [l.account_id, l.requests, l.charged, l.to_credit]);

    test('preview: presets charged (default), failed, all; grouped per account; writes nothing', async () => {
      const before = [await count('credits'), await count('ledger_tx'), await count('audit_log')];
      assert.deepEqual(await lines(), [[A, 2, '2.00', '2.00'], [C, 1, '2.50', '2.50']].sort());
      assert.deepEqual(await lines('failed'), [[A, 1, '0.00', '0.00'], [B, 1, '0.00', '0.00']].sort());
      assert.deepEqual((await lines('all')).map((l: unknown[]) => [l[0], l[1]]), [[A, 4], [B, 1], [C, 1]].sort());
      const p = previewView(await previewIncident(t.op, incidentId, { outcome: 'failed' })) as any;
      assert.equal(p.accounts.find((l: any) => l.account_id === B).failed_images, 1);
      assert.deepEqual([await count('credits'), await count('ledger_tx'), await count('audit_log')], before);
    });

    test('reissue: once per account; again moves nothing; widening credits the difference; a stale review is refused', async () => {
      const r1 = await reissueIncident(t.op, incidentId);
      assert.deepEqual(r1.moved.map((m) => [m.account_id, m.amount, m.seq]).sort(), [[A, usd('2'), 1], [C, usd('2.5'), 1]].sort());
      assert.deepEqual([await granted(A), await granted(C), await granted(B)], [usd('2'), usd('2.5'), 0n]);
      const credits = await t.rt.db.all("SELECT kind, ref_type, ref_id, batch_id, amount FROM credits WHERE account_id = ?", [A]);
      assert.deepEqual(credits.map((c) => [c.kind, c.ref_type, c.ref_id, c.batch_id, c.amount]), [['reissue', 'incident', incidentId, `incident:${incidentId}:1`, usd('2')]]);
      assert.deepEqual((await reissueIncident(t.op, incidentId)).moved, [], 'applying twice credits once');
      assert.equal(await granted(A), usd('2'));

      await patchIncident(t.op, incidentId, { window_end: new Date(T0 + 120 * MIN).toISOString() });
      await rejectsWith(reissueIncident(t.op, incidentId, { expected_total: '2.00' }), 'REISSUE_CHANGED');
      // Two runs at once: the difference is paid once.
      const [x, y] = await Promise.all([reissueIncident(t.op, incidentId, { expected_total: '1.00' }), reissueIncident(t.op, incidentId).catch((e: unknown) => e)]);
      const moved = [...x.moved, ...(y instanceof Error ? [] : (y as { moved: Movement[] }).moved)];
      assert.deepEqual(moved.map((m) => [m.account_id, m.amount, m.seq]), [[A, usd('1'), 2]]);
      assert.deepEqual([await granted(A), await granted(C)], [usd('3'), usd('2.5')]);
    });

    test('re-attribution away from platform reverses with correcting entries; reissuance is then refused; back to platform credits again', async () => {
      let reversed: Movement[] = [];
      await patchIncident(t.op, incidentId, { attribution: 'upstream' }, async (q, c) => void (reversed = await reverseOnReattribution(t.op, q, c)));
      assert.deepEqual(reversed.map((m) => [m.account_id, m.amount]).sort(), [[A, usd('-3')], [C, usd('-2.5')]].sort());
      assert.deepEqual([await granted(A), await granted(C)], [0n, 0n]);
      const corr = await t.rt.db.get("SELECT amount, memo FROM credits WHERE account_id = ? AND amount < 0", [C]);
      assert.match(String(corr!.memo), /Correction/);
      await rejectsWith(reissueIncident(t.op, incidentId), 'REISSUE_NOT_PLATFORM');
      const p = previewView(await previewIncident(t.op, incidentId)) as any;
      assert.equal(p.reissuable, false);
      assert.equal(p.totals.to_credit, '0.00');
      await patchIncident(t.op, incidentId, { attribution: 'platform' });
      const r = await reissueIncident(t.op, incidentId);
      assert.deepEqual(r.moved.map((m) => [m.account_id, m.amount, m.seq]).sort(), [[A, usd('3'), 4], [C, usd('2.5'), 3]].sort());
      const sum = await t.rt.db.get<{ s: bigint }>('SELECT CAST(SUM(amount) AS BIGINT) AS s FROM credits WHERE ref_id = ?', [incidentId]);
      assert.equal(sum!.s, usd('5.5'), 'the credits for the incident sum to what the formula gives now');
      // The incident's notices: one credit.reissued per movement would go to the accounts' endpoints (none here).
      assert.equal(await count("audit_log WHERE action = 'incident.reissue'"), 7);
    });
  });
}
