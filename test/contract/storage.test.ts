// The storage port's contract (src/storage/port.ts), the same tests on every engine: SQLite
// always, PostgreSQL when SURETY_TEST_DATABASE_URL is set. Services rely on exactly these
// behaviours, so an adapter that passes them can carry the whole product.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INT64_MAX } from '../../src/kernel/money.ts';
import { UniqueViolation, type Db } from '../../src/storage/port.ts';
import { engines, openTestDb, type TestDb } from '../helpers/engines.ts';

const INT64_MIN = -INT64_MAX - 1n;

async function rejectsWithUnique(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof UniqueViolation);
}

for (const engine of engines()) {
  describe(`storage port (${engine})`, () => {
    let tdb: TestDb;
    let db: Db;

    before(async () => {
      tdb = await openTestDb(engine, { migrate: false });
      db = tdb.db;
      await db.run('CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT, label TEXT)');
      await db.run('CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)');
    });
    after(async () => {
      await tdb?.dispose();
    });

    test('all, get and run: rows as objects, undefined for no row, changes counted', async () => {
      assert.equal(db.engine, engine);
      assert.deepEqual(await db.all('SELECT id FROM items'), []);
      assert.equal(await db.get('SELECT id FROM items WHERE id = ?', ['none']), undefined);
      assert.deepEqual(await db.run('INSERT INTO items (id, n, label) VALUES (?, ?, ?)', ['a', 1n, 'first']), { changes: 1 });
      assert.deepEqual(await db.run('INSERT INTO items (id, n, label) VALUES (?, ?, ?)', ['b', 2, 'zweite — ünïcødé ✓']), { changes: 1 });
      assert.deepEqual(await db.run('INSERT INTO items (id, n, label) VALUES (?, ?, ?)', ['c', null, null]), { changes: 1 });
      const rows = await db.all<{ id: string; n: bigint | null; label: string | null }>('SELECT id, n, label FROM items ORDER BY id');
      assert.deepEqual(rows.map((r) => ({ ...r })), [
        { id: 'a', n: 1n, label: 'first' },
        { id: 'b', n: 2n, label: 'zweite — ünïcødé ✓' },
        { id: 'c', n: null, label: null },
      ]);
      const one = await db.get<{ label: string }>('SELECT label FROM items WHERE id = ?', ['b']);
      assert.equal(one!.label, 'zweite — ünïcødé ✓');
      assert.deepEqual(await db.run('UPDATE items SET label = ? WHERE id IN (?, ?)', ['x', 'a', 'b']), { changes: 2 });
      assert.deepEqual(await db.run('UPDATE items SET label = ? WHERE id = ?', ['x', 'none']), { changes: 0 });
      assert.deepEqual(await db.run("INSERT INTO items (id, n) VALUES ('a', 5) ON CONFLICT (id) DO NOTHING"), { changes: 0 });
      assert.deepEqual(await db.run('DELETE FROM items WHERE id IN (?, ?, ?)', ['a', 'b', 'c']), { changes: 3 });
    });

    test('every integer comes back as a bigint, exact at the int64 edges', async () => {
      const values = [INT64_MAX, INT64_MIN, 0n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 1_000_000_000_000_000_000n];
      for (const [i, n] of values.entries()) await db.run('INSERT INTO items (id, n) VALUES (?, ?)', [`edge-${i}`, n]);
      const rows = await db.all<{ id: string; n: bigint }>("SELECT id, n FROM items WHERE id LIKE 'edge-%' ORDER BY id");
      assert.deepEqual(rows.map((r) => r.n), values);
      for (const r of rows) assert.equal(typeof r.n, 'bigint');
      // Computed integers too: counts, comparisons, arithmetic.
      const c = await db.get<{ n: unknown; big: unknown }>("SELECT COUNT(*) AS n, MAX(n) AS big FROM items WHERE id LIKE 'edge-%'");
      assert.equal(c!.n, BigInt(values.length));
      assert.equal(c!.big, INT64_MAX);
      const arith = await db.get<{ x: unknown }>('SELECT n - 1 AS x FROM items WHERE id = ?', ['edge-0']);
      assert.equal(arith!.x, INT64_MAX - 1n);
      // A JavaScript number parameter is stored as the same integer.
      await db.run('INSERT INTO items (id, n) VALUES (?, ?)', ['num', 9_007_199_254_740_991]);
      assert.equal((await db.get<{ n: bigint }>('SELECT n FROM items WHERE id = ?', ['num']))!.n, 9_007_199_254_740_991n);
    });

    test('CAST(SUM(...) AS BIGINT) is an exact bigint on both engines, also over no rows', async () => {
      const amounts = [4_000_000_000_000_000_000n, 4_000_000_000_000_000_000n, 1_000_000_000_000_000_007n];
      for (const [i, n] of amounts.entries()) await db.run('INSERT INTO items (id, n, label) VALUES (?, ?, ?)', [`sum-${i}`, n, 'sum']);
      const r = await db.get<{ s: unknown }>("SELECT CAST(SUM(n) AS BIGINT) AS s FROM items WHERE label = 'sum'");
      assert.equal(r!.s, 9_000_000_000_000_000_007n);
      const none = await db.get<{ s: unknown }>("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS s FROM items WHERE label = 'nothing'");
      assert.equal(none!.s, 0n);
      const grouped = await db.all<{ label: string; s: unknown }>("SELECT label, CAST(SUM(n) AS BIGINT) AS s FROM items WHERE label = 'sum' GROUP BY label");
      assert.deepEqual(grouped.map((g) => [g.label, g.s]), [['sum', 9_000_000_000_000_000_007n]]);
    });

    test('? placeholders: many parameters in order, IN lists, the same value twice', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => `p-${String(i).padStart(2, '0')}`);
      const values = ids.map(() => '(?, ?, ?)').join(', ');
      const params = ids.flatMap((id, i) => [id, BigInt(i), `label ${i}`]);
      assert.deepEqual(await db.run(`INSERT INTO items (id, n, label) VALUES ${values}`, params), { changes: 40 });
      const picked = await db.all<{ id: string }>(`SELECT id FROM items WHERE id IN (${ids.slice(5, 10).map(() => '?').join(', ')}) ORDER BY id`, ids.slice(5, 10));
      assert.deepEqual(picked.map((r) => r.id), ids.slice(5, 10));
      const both = await db.get<{ id: string }>('SELECT id FROM items WHERE id = ? AND label = ? AND n = ?', ['p-07', 'label 7', 7n]);
      assert.equal(both!.id, 'p-07');
      const twice = await db.all('SELECT id FROM items WHERE id = ? OR id = ?', ['p-01', 'p-01']);
      assert.equal(twice.length, 1);
    });

    test('tx commits on return and hands back the result; rolls back on a thrown error, also mid-transaction', async () => {
      const out = await db.tx(async (q) => {
        await q.run('INSERT INTO items (id, n) VALUES (?, ?)', ['tx-1', 1n]);
        await q.run('UPDATE items SET n = n + 1 WHERE id = ?', ['tx-1']);
        // Inside the transaction its own writes are visible.
        return (await q.get<{ n: bigint }>('SELECT n FROM items WHERE id = ?', ['tx-1']))!.n;
      });
      assert.equal(out, 2n);
      assert.equal((await db.get<{ n: bigint }>('SELECT n FROM items WHERE id = ?', ['tx-1']))!.n, 2n);

      await assert.rejects(
        db.tx(async (q) => {
          await q.run('INSERT INTO items (id, n) VALUES (?, ?)', ['tx-2', 1n]);
          await q.run('UPDATE items SET n = 100 WHERE id = ?', ['tx-1']);
          await new Promise((r) => setTimeout(r, 5));
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await db.get('SELECT id FROM items WHERE id = ?', ['tx-2']), undefined);
      assert.equal((await db.get<{ n: bigint }>('SELECT n FROM items WHERE id = ?', ['tx-1']))!.n, 2n);
      // A failing statement (not a thrown JavaScript error) rolls back too.
      await assert.rejects(db.tx(async (q) => {
        await q.run('INSERT INTO items (id, n) VALUES (?, ?)', ['tx-3', 1n]);
        await q.run('INSERT INTO no_such_table (id) VALUES (?)', ['x']);
      }));
      assert.equal(await db.get('SELECT id FROM items WHERE id = ?', ['tx-3']), undefined);
    });

    test('uncommitted work is invisible outside its transaction', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inside!: () => void;
      const written = new Promise<void>((r) => (inside = r));
      const tx = db.tx(async (q) => {
        await q.run('INSERT INTO items (id, n) VALUES (?, ?)', ['dirty', 1n]);
        inside();
        await gate;
      });
      await written;
      assert.equal(await db.get('SELECT id FROM items WHERE id = ?', ['dirty']), undefined);
      release();
      await tx;
      assert.ok(await db.get('SELECT id FROM items WHERE id = ?', ['dirty']));
    });

    test('a duplicate key is a UniqueViolation, inside a transaction too (which then rolls back)', async () => {
      await db.run('INSERT INTO items (id, n) VALUES (?, ?)', ['u-1', 1n]);
      await rejectsWithUnique(db.run('INSERT INTO items (id, n) VALUES (?, ?)', ['u-1', 2n]));
      await rejectsWithUnique(
        db.tx(async (q) => {
          await q.run('INSERT INTO items (id, n) VALUES (?, ?)', ['u-2', 1n]);
          await q.run('INSERT INTO items (id, n) VALUES (?, ?)', ['u-1', 3n]);
        }),
      );
      assert.equal(await db.get('SELECT id FROM items WHERE id = ?', ['u-2']), undefined);
      assert.equal((await db.get<{ n: bigint }>('SELECT n FROM items WHERE id = ?', ['u-1']))!.n, 1n);
      // Other errors are not UniqueViolations.
      await assert.rejects(db.run('INSERT INTO no_such_table (id) VALUES (?)', ['x']), (e: unknown) => !(e instanceof UniqueViolation));
    });

    test('forUpdate: read-modify-write under the row lock loses no update under concurrency', async () => {
      assert.equal(db.forUpdate, engine === 'postgres' ? ' FOR UPDATE' : '');
      await db.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['c', 0n]);
      await Promise.all(
        Array.from({ length: 25 }, () =>
          db.tx(async (q) => {
            const r = await q.get<{ value: bigint }>(`SELECT value FROM counters WHERE name = ?${db.forUpdate}`, ['c']);
            // Yield between the read and the write: without the lock, others would read the same value.
            await new Promise((res) => setTimeout(res, 1));
            await q.run('UPDATE counters SET value = ? WHERE name = ?', [r!.value + 1n, 'c']);
          }),
        ),
      );
      assert.equal((await db.get<{ value: bigint }>('SELECT value FROM counters WHERE name = ?', ['c']))!.value, 25n);
    });

    test('stream yields every row, in order, when there are more rows than one batch', async () => {
      const n = 2_345;
      await db.tx(async (q) => {
        for (let i = 0; i < n; i++) await q.run('INSERT INTO items (id, n, label) VALUES (?, ?, ?)', [`s-${String(i).padStart(5, '0')}`, BigInt(i), 'stream']);
      });
      const seen: bigint[] = [];
      for await (const r of db.stream<{ id: string; n: bigint }>("SELECT id, n FROM items WHERE label = ? ORDER BY id", ['stream'], 1000)) seen.push(r.n);
      assert.equal(seen.length, n);
      assert.deepEqual(seen, Array.from({ length: n }, (_, i) => BigInt(i)));
      // Stopping early releases the stream (the database stays usable).
      let taken = 0;
      for await (const _ of db.stream("SELECT id FROM items WHERE label = 'stream' ORDER BY id", [], 100)) if (++taken === 250) break;
      assert.equal(taken, 250);
      assert.equal((await db.get<{ n: bigint }>("SELECT COUNT(*) AS n FROM items WHERE label = 'stream'"))!.n, BigInt(n));
      await db.ping();
    });
  });
}
