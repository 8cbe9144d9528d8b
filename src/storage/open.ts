import { join, resolve } from 'node:path';
import type { Db } from './port.ts';
import { SqliteDb } from './sqlite/db.ts';
import { migrate } from './migrations.ts';

export interface OpenOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  migrate?: boolean;
}

/** PostgreSQL when DATABASE_URL is set, else the embedded SQLite file under the data directory. */
export async function openDb(opts: OpenOptions): Promise<Db> {
  // pg is loaded only when PostgreSQL is used (the embedded default does not pay for it).
  const db: Db = opts.databaseUrl
    ? new (await import('./postgres/db.ts')).PostgresDb(opts.databaseUrl)
    : new SqliteDb(join(resolve(opts.dataDir), 'surety.db'));
  if (opts.migrate !== false) {
    try {
      await migrate(db);
    } catch (e) {
      await db.close().catch(() => {});
      throw e;
    }
  }
  return db;
}
