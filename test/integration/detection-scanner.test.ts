// The scanner and the money it moves, on both engines: a scan interrupted and resumed (a restart
// in the middle), two scanners and two compensators at once on PostgreSQL, and moderation
// reimbursement settled twice. Rows are made up (test/helpers/request-rows.ts) so that the exact
// findings are known; credits go through the real credit service and journal.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../src/accounts/accounts.ts';
import { listCredits } from '../../src/billing/credits.ts';
import { putModel, setGroupMultiplier } from '../../src/catalog/index.ts';
import { autoCompensate } from '../../src/detection/compensation.ts';
import { settleModeration, settlementItems } from '../../src/detection/moderation.ts';
import { enrolledAccounts, setEnrolment } from '../../src/detection/programme.ts';
import { checkpoint, scanIncremental, scanWindow } from '../../src/detection/scanner.ts';
import { saveDetectionSettings, saveProgrammeSettings } from '../../src/detection/settings.ts';
import { createRuntime } from '../../src/runtime.ts';
import { COUNT_COLUMNS } from '../../src/requests/schema.ts';
import { PostgresDb } from '../../src/storage/postgres/db.ts';
import { withActor } from '../../src/kernel/context.ts';
import { engines } from '../helpers/engines.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';
import { createTestRuntime, testConfig, type TestRuntime } from '../helpers/runtime.ts';

const BASE = Date.UTC(2026, 0, 10);
const ROWS = 3000;
const count = async (t: TestRuntime, sql = 'SELECT COUNT(*) AS n FROM findings') => Number((await t.rt.db.get<{ n: bigint }>(sql))!.n);

/** ROWS charged rows of two accounts, every 50th charged on a platform_error: ROWS / 50 findings. */
async function seed(t: TestRuntime): Promise<string[]> {
  // The price fakeRow's amounts are right for: 12 × $0.15/M + 16 × $0.60/M = 11,400 nano-USD.
  await putModel(t.op, 'gpt-4o-mini', { provider: 'openai', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' } });
  const a = await createAccount(t.op, { name: 'scan a' });
  const b = await createAccount(t.op, { name: 'scan b' });
  const rows = [];
  for (let i = 0; i < ROWS; i++) {
    const started = BASE + i * 10;
    const failed = i % 50 === 0;
    rows.push(fakeRow({
      account_id: i % 2 ? a.id : b.id, started_at: started, first_byte_at: started + 5, ended_at: started + 9, duration_ms: 9,
      usage_billable: { input_tokens: 12, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 16, reasoning_tokens: 0, images: 0, estimated: false },
      ...(failed ? { outcome: 'platform_error', status: 500 } : {}),
    }));
  }
  await insertRows(t.rt.db, rows);
  await saveDetectionSettings(t.op, { scan_lag_seconds: 0 });
  return [a.id, b.id];
}

for (const engine of engines()) {
  describe(`detection scanner (${engine})`, () => {
    let t: TestRuntime;
    before(async () => {
      t = await createTestRuntime(engine);
      t.clock.t = BASE + 86_400_000;
    });
    after(async () => t?.close());

    test('a scan interrupted after three pages resumes from its checkpoint: every finding once, none twice', async () => {
      await seed(t);
      const first = await scanWindow(t.rt, 0, t.rt.now(), { checkpoint: 'scanner', pageRows: 10, maxPages: 3 });
      assert.equal(first.pages, 3);
      const cp = await checkpoint(t.rt.db);
      assert.ok(cp && cp.position > BASE && cp.position < BASE + ROWS * 10, 'the checkpoint is in the middle');
      const found = await count(t);
      assert.ok(found > 0 && found < ROWS / 50, `part of the findings (${found})`);
      // A restart: a new runtime on the same storage, resuming from the checkpoint (less the overlap).
      const again = await createRuntime(testConfig(), { db: t.rt.db });
      again.now = t.clock.now;
      const rest = await scanIncremental(again, { pageRows: 10 });
      assert.ok(rest.rows > 0);
      assert.equal(await count(t), ROWS / 50);
      assert.equal(await count(t, "SELECT COUNT(*) AS n FROM findings WHERE rule = 'billed_on_failure' AND amount = 11400"), ROWS / 50);
      assert.equal((await checkpoint(t.rt.db))!.position, t.rt.now());
      // Scanning everything again finds nothing new.
      const full = await scanWindow(t.rt, 0, t.rt.now());
      assert.equal(full.findings, ROWS / 50);
      assert.equal(full.created, 0);
      assert.equal(await count(t), ROWS / 50);
    });

    test('the SQL prefilter keeps every row a rule flags: the same findings with and without it', async () => {
      const p = await createTestRuntime(engine);
      try {
        p.clock.t = BASE + 86_400_000;
        await putModel(p.op, 'tok', { provider: 'openai', price: { input_per_mtok: '0.15', cached_input_per_mtok: '0.075', output_per_mtok: '0.60', per_request: '0.000001' }, default_max_output_tokens: 800 });
        await putModel(p.op, 'img', { provider: 'openai', kind: 'images', price: { per_image: { default: '0.04', '1024x1024/high': '0.167' } } });
        await putModel(p.op, 'nb', { provider: 'gemini', kind: 'images', price: { per_image: { default: '0.09' } } });
        await setGroupMultiplier(p.op, 'vip', { multiplier: '0.9' });
        await setGroupMultiplier(p.op, 'odd', { multiplier: '1.123457' });
        const plain = await createAccount(p.op, { name: 'plain' });
        const vip = await createAccount(p.op, { name: 'vip', group: 'vip' });
        const odd = await createAccount(p.op, { name: 'odd', group: 'odd' });
        const accts = [plain.id, vip.id, odd.id];
        const u = (i: number, o: number, extra = {}) => ({ input_tokens: i, cached_input_tokens: i % 3, cache_write_tokens: 0, output_tokens: o, reasoning_tokens: 0, images: 0, estimated: false, ...extra });
        const mult = [[1n, 1n], [9n, 10n], [1123457n, 1000000n]] as const;
        const price = (i: number, o: number, a: number) => {
          const n = BigInt(i) * 150_000_000n + BigInt(i % 3) * 75_000_000n + BigInt(o) * 600_000_000n + 1_000n * 1_000_000n;
          const [m, d] = mult[a]!;
          return (2n * n * m + 1_000_000n * d) / (2n * 1_000_000n * d);
        };
        const rows = [];
        for (let k = 0; k < 400; k++) {
          const a = k % 3;
          const started = BASE + k * 7;
          const i = 10 + ((k * 37) % 900);
          const o = 5 + ((k * 11) % 700);
          const base = { account_id: accts[a]!, started_at: started, first_byte_at: started + 2, ended_at: started + 5, duration_ms: 5, hold_amount: 10_000_000_000n };
          const exact = price(i, o, a);
          const kind = k % 10;
          if (kind < 5) rows.push(fakeRow({ ...base, model: 'tok', usage_billable: u(i, o), amount: exact + (k % 40 === 0 ? 1n : 0n) }));
          else if (kind === 5) rows.push(fakeRow({ ...base, model: 'img', endpoint: 'images.generations', usage_billable: u(0, 0, { images: 1, image_size: '1024x1024', image_quality: k % 20 === 5 ? 'high' : 'low' }), amount: k % 20 === 5 ? 167_000_000n : 40_000_000n + (k % 30 === 5 ? 1n : 0n), delivered: { images: k % 60 === 5 ? 0 : 1 } }));
          else if (kind === 6) rows.push(fakeRow({ ...base, model: 'nb', endpoint: 'generateContent', usage_billable: u(0, 0, { images: 1 }), amount: 90_000_000n, duration_ms: k % 40 === 6 ? 301_000 : 100_000, delivered: { images: 1 } }));
          else if (kind === 7) rows.push(fakeRow({ ...base, model: 'tok', usage_billable: u(2_000_000, o), amount: price(2_000_000, o, a) + (k % 20 === 7 ? 5n : 0n) }));
          else if (kind === 8) rows.push(fakeRow({ ...base, model: 'tok', usage_billable: u(i, o), amount: exact, outcome: k % 20 === 8 ? 'upstream_timeout' : 'ok', client_ref: k % 30 === 8 ? 'same-ref' : null, delivered: { images: 0, text_chars: k % 50 === 8 ? 0 : 10, usage_regressed: k % 70 === 8 } }));
          else rows.push(fakeRow({ ...base, model: 'tok', usage_billable: u(i, 900), amount: price(i, 900, a), price_version: k % 20 === 9 ? 7 : 1 }));
        }
        rows.push({ ...rows[0]!, id: `${rows[0]!.id}z` });
        // Counts the integer copies cannot hold (not an integer): the prefilter reads the JSON then.
        rows.push(fakeRow({ account_id: plain.id, started_at: BASE + 5000, ended_at: BASE + 5005, model: 'tok', usage_billable: u(10, 1.5), amount: 1_000_000n, delivered: { images: 0, text_chars: 0.5 } }));
        // Counts whose charge overflows 64-bit integers (PostgreSQL then computes it in NUMERIC, not bigint): charged too much, and too little.
        rows.push(fakeRow({ account_id: vip.id, started_at: BASE + 6000, ended_at: BASE + 6005, model: 'tok', usage_billable: u(2 ** 50, 10), amount: 1_000_000n }));
        rows.push(fakeRow({ account_id: plain.id, started_at: BASE + 6010, ended_at: BASE + 6015, model: 'tok', usage_billable: u(10, 2 ** 52), amount: 9_000_000_000_000_000_000n, hold_amount: 9_000_000_000_000_000_000n }));
        await insertRows(p.rt.db, rows);
        // Every third row as stored before migration 15: no integer copies, the JSON only.
        const legacy = rows.filter((_, k) => k % 3 === 0).map((r) => r.id);
        await p.rt.db.run(`UPDATE request_log SET ${Object.keys(COUNT_COLUMNS).map((c) => `${c} = NULL`).join(', ')} WHERE id IN (${legacy.map(() => '?').join(', ')})`, legacy);
        const seen = async () => (await p.rt.db.all('SELECT id, rule, amount FROM findings ORDER BY id')).map((r) => `${r.id} ${r.rule} ${r.amount}`);
        const slow = await scanWindow(p.rt, 0, p.rt.now(), { prefilter: false });
        const without = await seen();
        await p.rt.db.run('DELETE FROM findings');
        const fast = await scanWindow(p.rt, 0, p.rt.now());
        assert.deepEqual(await seen(), without);
        assert.ok(without.length > 40, `a good mix of findings (${without.length})`);
        assert.equal(fast.rows, slow.rows);
        assert.ok(fast.judged < slow.judged * 0.7, `the prefilter passed ${fast.judged} of ${slow.judged} rows to the rules`);
        for (const rule of ['billed_on_failure', 'billed_after_timeout', 'billed_nothing_delivered', 'double_charge', 'off_price', 'implausible_usage']) {
          assert.ok(without.some((f) => f.includes(` ${rule} `)), `${rule} among them`);
        }
      } finally {
        await p.close();
      }
    });

    test('rows stored twice are found in small pages too: the same findings with and without the prefilter, every row counted', async () => {
      const p = await createTestRuntime(engine);
      try {
        p.clock.t = BASE + 86_400_000;
        await putModel(p.op, 'gpt-4o-mini', { provider: 'openai', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' } });
        const a = await createAccount(p.op, { name: 'twice a' });
        const b = await createAccount(p.op, { name: 'twice b' });
        const rows = [];
        const row = (k: number, started: number, ended: number) =>
          fakeRow({ account_id: k % 2 ? a.id : b.id, started_at: started, first_byte_at: started + 1, ended_at: ended, duration_ms: ended - started, ...(k % 9 === 0 ? { outcome: 'platform_error', status: 500 } : {}) });
        // Quiet traffic first (a row a millisecond; every 40th stored twice, every 9th charged on a failure), then busy traffic:
        // three rows a millisecond (two accounts, each its own start), every 4th stored twice — the scanner looks for them differently.
        let twice = 0;
        for (let k = 0; k < 2400; k++) {
          const r = row(k, BASE + k * 2, BASE + k * 2 + 1);
          rows.push(r);
          if (k % 40 === 0) {
            rows.push({ ...r, id: `${r.id}z` });
            twice++;
          }
        }
        for (let k = 0; k < 600; k++) {
          const r = row(k, BASE + 10_000 + k, BASE + 11_000 + Math.floor(k / 3));
          rows.push(r);
          if (k % 4 === 0) {
            rows.push({ ...r, id: `${r.id}z` });
            twice++;
          }
        }
        // A millisecond of many rows stored twice: more than a small page holds.
        for (let k = 0; k < 12; k++) {
          const r = fakeRow({ account_id: a.id, started_at: BASE + 12_000 + k, ended_at: BASE + 13_000, duration_ms: 1000 - k });
          rows.push(r, { ...r, id: `${r.id}z` });
          twice++;
        }
        await insertRows(p.rt.db, rows);
        const seen = async () => (await p.rt.db.all('SELECT id, rule, amount FROM findings ORDER BY id')).map((r) => `${r.id} ${r.rule} ${r.amount}`);
        const slow = await scanWindow(p.rt, 0, p.rt.now(), { prefilter: false });
        const without = await seen();
        assert.equal(without.filter((f) => f.includes(' double_charge ')).length, twice);
        for (const pageRows of [10_000, 5, 2]) {
          await p.rt.db.run('DELETE FROM findings');
          const fast = await scanWindow(p.rt, 0, p.rt.now(), { pageRows });
          assert.deepEqual(await seen(), without, `pages of ${pageRows}`);
          assert.equal(fast.rows, rows.length);
          assert.equal(fast.rows, slow.rows);
        }
      } finally {
        await p.close();
      }
    });

    test('moderation reimbursement settled twice pays once, itemised per refusal, above the spend threshold only', async () => {
      const ctx = t.op;
      const a = await createAccount(ctx, { name: 'mod a' });
      const b = await createAccount(ctx, { name: 'mod b' });
      const refusal = (account: string, i: number) =>
        fakeRow({ account_id: account, model: 'mod-image', endpoint: 'images.generations', outcome: 'upstream_moderation', amount: 10_000_000n, tx_id: 'tx_x', started_at: BASE + i, ended_at: BASE + i + 1, delivered: { images: 0, text_chars: 0 } });
      await insertRows(t.rt.db, [refusal(a.id, 1), refusal(a.id, 2), refusal(a.id, 3), refusal(b.id, 4)]);
      await saveProgrammeSettings(ctx, { moderation: { min_monthly_spend: '0.02', models: { 'mod-image': { amount: '0.004' } } } });
      const early = await settleModeration(ctx, '2026-01').catch((e) => e);
      assert.equal(early.code, 'VALIDATION', 'January is not over on 11 January');
      const feb = withActor({ ...t.rt, now: () => Date.UTC(2026, 1, 2) }, { type: 'operator', id: 'test' });
      const run1 = await settleModeration(feb, '2026-01');
      const mine = run1.settlements.filter((s) => s.settlement.account_id === a.id);
      assert.equal(mine.length, 1);
      assert.equal(mine[0]!.settlement.amount, 12_000_000n, '3 refusals × $0.004');
      assert.equal(mine[0]!.replayed, false);
      assert.deepEqual(run1.below_threshold.filter((x) => x.account_id === b.id).map((x) => [x.requests, x.spend]), [[1, 10_000_000n]]);
      assert.deepEqual((await settlementItems(t.rt.db, mine[0]!.settlement.id)).map((i) => i.amount), [4_000_000n, 4_000_000n, 4_000_000n]);
      const run2 = await settleModeration(feb, '2026-01');
      assert.equal(run2.settlements.find((s) => s.settlement.account_id === a.id)!.replayed, true);
      const credits = await listCredits(ctx, a.id, { limit: 10 });
      assert.deepEqual(credits.map((c) => [c.kind, c.amount, c.ref_type]), [['compensation', 12_000_000n, 'moderation_settlement']]);
      assert.equal((await listCredits(ctx, b.id, { limit: 10 })).length, 0);
    });
  });
}

describe('two scanners and two compensators at once (postgres)', { skip: engines().includes('postgres') ? false : 'needs SURETY_TEST_DATABASE_URL' }, () => {
  test('the same findings once, each paid once', async () => {
    const t = await createTestRuntime('postgres');
    t.clock.t = BASE + 86_400_000;
    const other = new PostgresDb(t.tdb.url!, { max: 4 });
    try {
      const accounts = await seed(t);
      const second = await createRuntime(testConfig(), { db: other });
      second.now = t.clock.now;
      const [s1, s2] = await Promise.all([scanWindow(t.rt, 0, t.rt.now(), { pageRows: 300 }), scanWindow(second, 0, t.rt.now(), { pageRows: 300 })]);
      assert.equal(s1.findings, ROWS / 50);
      assert.equal(s2.findings, ROWS / 50);
      assert.equal(s1.created + s2.created, ROWS / 50, 'each finding created by one scanner');
      assert.equal(await count(t), ROWS / 50);
      for (const id of accounts) await setEnrolment(t.op, id, { enrolled: true });
      assert.deepEqual((await enrolledAccounts(t.rt.db)).sort(), [...accounts].sort());
      await saveProgrammeSettings(t.op, { threshold: '0', models: ['gpt-4o-mini'] });
      const [r1, r2] = await Promise.all([autoCompensate(t.rt), autoCompensate(second)]);
      assert.equal(r1.failed + r2.failed, 0);
      const paid = Number((await t.rt.db.get<{ n: bigint }>("SELECT COUNT(*) AS n FROM credits WHERE kind = 'compensation'"))!.n);
      assert.equal(paid, ROWS / 50, 'one credit per finding');
      const sum = (await t.rt.db.get<{ s: bigint }>('SELECT CAST(SUM(amount) AS BIGINT) AS s FROM credits'))!.s;
      assert.equal(BigInt(sum), 11_400n * BigInt(ROWS / 50));
      assert.equal(await count(t, "SELECT COUNT(*) AS n FROM findings WHERE status = 'compensated'"), ROWS / 50);
    } finally {
      await other.close();
      await t.close();
    }
  });
});
