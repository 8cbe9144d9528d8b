// Traffic rollups (requests/traffic.ts), kept by the log writer in the transaction that writes the
// rows: after real traffic through the gateway to the simulator (good requests, upstream failures
// from simulator faults, refusals without a key, invalid bodies) they equal the log counted here
// row by row; a late row lands in its start minute (and the status page counts it there); a batch the database partly refuses (the
// writer's split-apart path) counts each landed row once; `rebuildRollups` gives the same table;
// migration 17 backfills the last day. Two instances on one PostgreSQL schema add up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LogWriter, type ChargeObserver } from '../../src/requests/writer.ts';
import { rebuildRollups } from '../../src/requests/rollups.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { num, optNum, str, type Db } from '../../src/storage/port.ts';
import { CLUSTER_SKIP, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { engines, openTestDb } from '../helpers/engines.ts';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';
import { fakeRow, insertRows } from '../helpers/request-rows.ts';
import { STORAGE_COLUMNS, storageValues } from '../../src/requests/schema.ts';
import { insertMany } from '../../src/storage/batch.ts';

const MIN = 60_000;
const NO_MONEY: ChargeObserver = { committed() {}, dropped() {} };

/** The log counted in JS, row by row, as the rollups should count it: key → [requests, latency_ms]. */
async function fromLog(db: Db, where = '1 = 1', params: unknown[] = []): Promise<Map<string, [number, number]>> {
  const rows = await db.all(`SELECT started_at, first_byte_at, ended_at, model, channel_id, provider, outcome FROM request_log WHERE ${where}`, params as never);
  const out = new Map<string, [number, number]>();
  for (const r of rows) {
    const start = num(r.started_at);
    const k = [Math.floor(start / MIN) * MIN, r.model ?? '', r.channel_id ?? '', str(r.provider), str(r.outcome)].join('|');
    const c = out.get(k) ?? [0, 0];
    c[0]++;
    c[1] += (optNum(r.first_byte_at) ?? num(r.ended_at)) - start;
    out.set(k, c);
  }
  return out;
}

async function rollups(db: Db, where = '1 = 1', params: unknown[] = []): Promise<Map<string, [number, number]>> {
  const rows = await db.all(`SELECT minute, model, channel_id, provider, outcome, requests, latency_ms FROM traffic_rollups WHERE ${where}`, params as never);
  return new Map(rows.map((r) => [[num(r.minute), str(r.model), str(r.channel_id), str(r.provider), str(r.outcome)].join('|'), [num(r.requests), num(r.latency_ms)] as [number, number]]));
}

const sorted = (m: Map<string, [number, number]>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

for (const engine of engines()) {
  describe(`traffic rollups (${engine})`, () => {
    let g: TestGateway;
    let c: Customer;
    const post = (path: string, body: unknown, key: string | null = c.key) =>
      fetch(`${g.url}${path}`, { method: 'POST', headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => (await r.arrayBuffer(), r.status));
    const chat = (model = 'gpt-4o-mini', key: string | null = c.key) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hello' }] }, key);
    const faults = (list: unknown[]) => fetch(`${g.s.sim!.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults: list }) });

    before(async () => {
      g = await startTestGateway({ engine });
      c = await g.customer('20.00');
    });
    after(async () => g?.close());

    test('after real traffic, the rollups equal the log; a rebuild gives the same table', async () => {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push(await chat(), await chat('claude-sonnet-5-5'));
      await faults([{ model: 'gpt-4o-mini', error_rate: 1, status: 503 }]);
      for (let i = 0; i < 4; i++) codes.push(await chat());
      await faults([]);
      for (let i = 0; i < 3; i++) codes.push(await chat('gpt-4o-mini', null), await chat('gpt-4o-mini', 'sk-sur-not-a-key'));
      codes.push(await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: 'nope' }), await chat('no-such-model'));
      await g.settle();
      assert.equal(codes.filter((s) => s === 200).length, 12, codes.join(','));
      const log = await fromLog(g.s.rt.db);
      const outcomes = new Set([...log.keys()].map((k) => k.split('|')[4]));
      for (const o of ['ok', 'upstream_error', 'auth_error', 'client_error']) assert.ok(outcomes.has(o), `the traffic has ${o}: ${[...outcomes]}`);
      const accountless = await g.s.rt.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM request_log WHERE account_id IS NULL');
      assert.ok(num(accountless!.n) >= 6, 'refusals without a key have no account: they are rolled up too');
      const before = await rollups(g.s.rt.db);
      assert.deepEqual(sorted(before), sorted(log));
      assert.equal([...before.values()].reduce((n, [r]) => n + r, 0), await g.rowCount());

      const times = (await g.s.rt.db.get('SELECT MIN(started_at) AS a, MAX(started_at) AS b FROM request_log'))!;
      const r = await rebuildRollups(g.s.rt.db, num(times.a), num(times.b) + 1);
      assert.equal(r.traffic, before.size);
      assert.deepEqual(sorted(await rollups(g.s.rt.db)), sorted(before));
    });

    test('a late row (a long request) lands in the minute it started', async () => {
      const w = new LogWriter(g.s.rt, NO_MONEY);
      const now = Date.now();
      const started = now - 10 * MIN - 7_000;
      w.push(fakeRow({ account_id: null, key_id: null, amount: 0n, model: 'late-model', started_at: started, first_byte_at: now - 1_000, ended_at: now, duration_ms: now - started }));
      await w.close();
      const got = await rollups(g.s.rt.db, "model = 'late-model'");
      assert.deepEqual(sorted(got), [[[Math.floor(started / MIN) * MIN, 'late-model', 'ch_test', 'openai', 'ok'].join('|'), [1, now - 1_000 - started]]]);
      // The status page counts it in that minute at its next evaluation (the platform component counts every model).
      await g.s.status.monitor.evaluate(now);
      const sample = await g.s.rt.db.get("SELECT requests, errors, latency_ms, latency_n FROM status_samples WHERE component_id = 'api' AND minute = ?", [Math.floor(started / MIN)]);
      assert.deepEqual(sample && [num(sample.requests), num(sample.errors), num(sample.latency_ms), num(sample.latency_n)], [1, 0, now - 1_000 - started, 1]);
    });

    test('a batch the database partly refuses: each landed row counted once', async () => {
      if (engine === 'sqlite') {
        await g.s.rt.db.run('CREATE TABLE poison (id TEXT PRIMARY KEY)');
        await g.s.rt.db.run("CREATE TRIGGER refuse_poison BEFORE INSERT ON request_log WHEN NEW.delivered IS NOT NULL AND NEW.id IN (SELECT id FROM poison) BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END");
      } else {
        await g.s.rt.db.run('CREATE TABLE poison (id TEXT PRIMARY KEY)');
        await g.s.rt.db.run("CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.delivered IS NOT NULL AND EXISTS (SELECT 1 FROM poison WHERE id = NEW.id) THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$");
        await g.s.rt.db.run('CREATE TRIGGER refuse_poison BEFORE INSERT ON request_log FOR EACH ROW EXECUTE FUNCTION refuse_poison()');
      }
      const w = new LogWriter(g.s.rt, NO_MONEY, { flushMs: 60_000 });
      const at = Date.now() - 2 * MIN;
      const rows = Array.from({ length: 9 }, (_, i) => fakeRow({ account_id: null, key_id: null, amount: 0n, model: 'split-model', started_at: at + i, outcome: i % 3 === 0 ? 'upstream_error' : 'ok' }));
      await g.s.rt.db.run('INSERT INTO poison (id) VALUES (?), (?)', [rows[4]!.id, rows[7]!.id]);
      for (const r of rows) w.push(r);
      await w.close();
      assert.equal(w.stats.failures, 0);
      const landed = await g.s.rt.db.all("SELECT id, error FROM request_log WHERE model = 'split-model'");
      assert.equal(landed.length, 9, 'every row landed, the refused two in their bare form');
      assert.equal(landed.filter((r) => /stored bare/.test(String(r.error))).length, 2);
      const got = await rollups(g.s.rt.db, "model = 'split-model'");
      assert.deepEqual(sorted(got), sorted(await fromLog(g.s.rt.db, "model = 'split-model'")));
      assert.equal([...got.values()].reduce((n, [r]) => n + r, 0), 9);
    });

    test('migration 17 backfills the last day of the log', async () => {
      const t = await openTestDb(engine);
      try {
        const now = Date.now();
        const rows = [now - 5 * MIN, now - 3_600_000, now - 20 * 3_600_000, now - 25 * 3_600_000].map((s) => fakeRow({ started_at: s }));
        // Rows as an older version wrote them: no traffic rollups.
        await t.db.tx((q) => insertMany(q, t.db.engine, 'request_log', STORAGE_COLUMNS, rows.map(storageValues)));
        await t.db.run('DROP TABLE traffic_rollups');
        await t.db.run('DELETE FROM schema_migrations WHERE version = 17');
        assert.deepEqual(await migrate(t.db), [17]);
        const got = await rollups(t.db);
        assert.deepEqual(sorted(got), sorted(await fromLog(t.db, 'started_at >= ?', [now - 86_400_000])));
        assert.equal(got.size, 3, 'the row of 25 hours ago is older than the backfill');
        await insertRows(t.db, [fakeRow({ started_at: now - 5 * MIN })]);
        assert.deepEqual(got.get([Math.floor((now - 5 * MIN) / MIN) * MIN, 'gpt-4o-mini', 'ch_test', 'openai', 'ok'].join('|')), [1, 100]);
        assert.deepEqual((await rollups(t.db)).get([Math.floor((now - 5 * MIN) / MIN) * MIN, 'gpt-4o-mini', 'ch_test', 'openai', 'ok'].join('|')), [2, 200], 'and later rows add up');
      } finally {
        await t.dispose();
      }
    });
  });
}

describe('traffic rollups: two instances on one PostgreSQL schema', { skip: CLUSTER_SKIP }, () => {
  let cl: TestCluster;
  before(async () => {
    cl = await startCluster(2);
  });
  after(async () => cl?.close());

  test('concurrent traffic through both instances adds up to the log', async () => {
    const cust = await cl.customer('10.00');
    const [a, b] = cl.nodes;
    const sim = a!.sim!.url;
    await fetch(`${sim}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults: [{ model: 'gpt-4o-mini', error_rate: 1, status: 503 }] }) });
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 40; i++) {
      const node = i % 2 === 0 ? a! : b!;
      calls.push(cl.chat(node.url, cust.key), cl.chat(node.url, cust.key, 'hi', 'gpt-4o-mini'), cl.chat(node.url, 'sk-sur-not-a-key'));
    }
    const res = (await Promise.all(calls)) as Array<{ status: number }>;
    await cl.settle();
    assert.ok(res.some((r) => r.status === 200) && res.some((r) => r.status >= 500) && res.some((r) => r.status === 401), res.map((r) => r.status).join(','));
    const db = a!.rt.db;
    const log = await fromLog(db);
    assert.deepEqual(sorted(await rollups(db)), sorted(log));
    assert.equal([...log.values()].reduce((n, [r]) => n + r, 0), 120);
  });
});
