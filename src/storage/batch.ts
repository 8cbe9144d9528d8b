import type { Engine, Queryable, SqlValue } from './port.ts';

/**
 * Inserts many rows. PostgreSQL: multi-row INSERTs in chunks (one round trip per chunk). SQLite:
 * one cached single-row statement per row (no round trips to save, and one prepared statement
 * instead of one per batch size).
 */
export async function insertMany(q: Queryable, engine: Engine, table: string, columns: readonly string[], rows: readonly SqlValue[][], chunkRows = 400): Promise<void> {
  if (rows.length === 0) return;
  const one = `(${columns.map(() => '?').join(', ')})`;
  if (engine === 'sqlite') {
    const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${one}`;
    for (const r of rows) await q.run(sql, r);
    return;
  }
  for (let i = 0; i < rows.length; i += chunkRows) {
    const chunk = rows.slice(i, i + chunkRows);
    const params: SqlValue[] = [];
    for (const r of chunk) for (const v of r) params.push(v);
    await q.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${new Array(chunk.length).fill(one).join(', ')}`, params);
  }
}
