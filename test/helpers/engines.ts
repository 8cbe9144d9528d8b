// Storage engines for tests: always SQLite (a fresh file in a temp dir), and PostgreSQL when
// SURETY_TEST_DATABASE_URL is set. Each handle gets a database of its own — a fresh SQLite file or
// a fresh PostgreSQL schema (search_path set through the connection string) dropped on close — so
// test files run in parallel without seeing each other's rows. Nothing is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db, Engine } from '../../src/storage/port.ts';
import { SqliteDb } from '../../src/storage/sqlite/db.ts';
import { PostgresDb } from '../../src/storage/postgres/db.ts';
import { migrate } from '../../src/storage/migrations.ts';

export const PG_URL = process.env.SURETY_TEST_DATABASE_URL || '';

/** The engines to run against: SQLite always, PostgreSQL when SURETY_TEST_DATABASE_URL is set. */
export function engines(): Engine[] {
  return PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDb {
  engine: Engine;
  db: Db;
  /** The PostgreSQL connection string of this handle's schema (postgres only). */
  url: string | null;
  /** The PostgreSQL schema name (postgres only). */
  schema: string | null;
  /** Closes the connection (if still open) and drops the file or schema. */
  dispose(): Promise<void>;
}

/** Appends `options=-c search_path=<schema>` to a connection string. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Opens a fresh, migrated database on `engine`. */
export async function openTestDb(engine: Engine, opts: { migrate?: boolean } = {}): Promise<TestDb> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'surety-test-'));
    const db = new SqliteDb(join(dir, 'surety.db'));
    if (opts.migrate !== false) await migrate(db);
    return {
      engine,
      db,
      url: null,
      schema: null,
      async dispose() {
        await db.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (!PG_URL) throw new Error('SURETY_TEST_DATABASE_URL is not set');
  const schema = `t_${randomBytes(8).toString('hex')}`;
  await admin((c) => c.query(`CREATE SCHEMA ${schema}`));
  const url = withSearchPath(PG_URL, schema);
  const db = new PostgresDb(url, { max: 10 });
  // The schema must really be the one in use, or tests would share tables (and drop nothing).
  const sp = await db.get<{ s: string }>('SELECT current_schema() AS s');
  if (sp?.s !== schema) {
    await db.close().catch(() => {});
    throw new Error(`search_path not honoured: current_schema() is ${sp?.s}, expected ${schema}`);
  }
  if (opts.migrate !== false) await migrate(db);
  let closed = false;
  return {
    engine,
    db,
    url,
    schema,
    async dispose() {
      if (!closed) {
        closed = true;
        await db.close().catch(() => {});
      }
      await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    },
  };
}
