// Storage that goes away or cannot write: both adapters say so with StorageUnavailable (an
// AppError STORAGE_UNAVAILABLE, 503), never a raw driver error that would answer 500, and never a
// crash of the process — found by `npm run chaos` (a PostgreSQL restart under load killed the
// gateway through an unhandled 'error' event of a checked-out connection).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { openTestDb, PG_URL } from '../helpers/engines.ts';
import { StorageUnavailable } from '../../src/storage/port.ts';
import { PostgresDb } from '../../src/storage/postgres/db.ts';
import { isAppError } from '../../src/kernel/errors.ts';

test('sqlite: a full database (max_page_count reached) is StorageUnavailable, and writes work again once there is room', async () => {
  const t = await openTestDb('sqlite');
  try {
    const db = t.db as import('../../src/storage/sqlite/db.ts').SqliteDb;
    await db.run('CREATE TABLE filler (v TEXT)');
    const pages = Number((await db.get<{ page_count: bigint }>('PRAGMA page_count'))!.page_count);
    db.exec(`PRAGMA max_page_count = ${pages + 2}`);
    const err = await db.tx(async (q) => {
      for (let i = 0; i < 100; i++) await q.run('INSERT INTO filler VALUES (?)', ['x'.repeat(4000)]);
    }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StorageUnavailable, `got ${String(err)}`);
    assert.ok(isAppError(err) && err.code === 'STORAGE_UNAVAILABLE' && err.status === 503);
    assert.equal(Number((await db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM filler'))!.n), 0, 'the transaction rolled back');
    db.exec('PRAGMA max_page_count = 1073741823');
    await db.tx(async (q) => void (await q.run('INSERT INTO filler VALUES (?)', ['after'])));
    assert.equal(Number((await db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM filler'))!.n), 1);
  } finally {
    await t.dispose();
  }
});

test('postgres: a server that refuses connections is StorageUnavailable', async () => {
  const db = new PostgresDb('postgres://postgres@127.0.0.1:1/none', { max: 1 });
  try {
    const err = await db.get('SELECT 1').then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StorageUnavailable, `got ${String(err)}`);
    const txErr = await db.tx(async () => 1).then(() => null, (e: unknown) => e);
    assert.ok(txErr instanceof StorageUnavailable, `got ${String(txErr)}`);
  } finally {
    await db.close();
  }
});

test('postgres: a connection killed mid-transaction fails that transaction as StorageUnavailable; the process lives and the pool recovers', { skip: !PG_URL }, async () => {
  const t = await openTestDb('postgres');
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const err = await t.db
      .tx(async (q) => {
        const me = await q.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [me!.pid]);
        // The server has closed this connection: its end arrives as an 'error' event on the client.
        await new Promise((r) => setTimeout(r, 200));
        await q.get('SELECT 1 AS again');
      })
      .then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StorageUnavailable, `got ${String(err)}`);
    // The dead connection left the pool: the next transaction works.
    assert.equal(await t.db.tx(async (q) => Number((await q.get<{ v: number }>('SELECT 1 AS v'))!.v)), 1);
  } finally {
    await admin.end();
    await t.dispose();
  }
});
