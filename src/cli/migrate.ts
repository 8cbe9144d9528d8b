import { resolve, join } from 'node:path';
import { migrate, MIGRATIONS, schemaVersion } from '../storage/migrations.ts';
import { openDb } from '../storage/open.ts';
import { cliConfig, type Command } from './framework.ts';

/** Where the data lives, safe to print: the SQLite file, or the PostgreSQL host and database (never credentials). */
function describeTarget(databaseUrl: string | undefined, dataDir: string): string {
  if (!databaseUrl) return join(resolve(dataDir), 'surety.db');
  try {
    const u = new URL(databaseUrl);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}

export const commands: Command[] = [
  {
    name: 'migrate',
    summary: 'Apply pending schema migrations (SQLite under SURETY_DATA_DIR, or PostgreSQL at DATABASE_URL)',
    details: 'Safe to run at any time and from several machines at once: each migration is applied once.\n`surety start` applies them too.',
    async run({ io }) {
      const config = cliConfig();
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false });
      try {
        const applied = await migrate(db);
        const version = await schemaVersion(db);
        const target = describeTarget(config.databaseUrl, config.dataDir);
        const names = Object.fromEntries(MIGRATIONS.map((m) => [m.version, m.name]));
        io.result({ engine: db.engine, target, applied, version }, () => {
          io.line(`Storage: ${db.engine} (${target})`);
          if (applied.length === 0) io.line(`Schema is up to date at version ${version}.`);
          else for (const v of applied) io.line(`Applied migration ${v}: ${names[v] ?? ''}`.trimEnd());
          if (applied.length) io.line(`Schema is now at version ${version}.`);
        });
      } finally {
        await db.close();
      }
    },
  },
];
