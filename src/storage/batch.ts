import type { Queryable, SqlValue } from './db.ts';

/** Multi-row INSERT in chunks (one round trip per chunk on PostgreSQL). */
export async function insertMany(q: Queryable, table: string, columns: readonly string[], rows: readonly SqlValue[][], suffix = '', chunkRows = 400): Promise<void> {
  if (rows.length === 0) return;
  const one = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += chunkRows) {
    const chunk = rows.slice(i, i + chunkRows);
    const params: SqlValue[] = [];
    for (const r of chunk) for (const v of r) params.push(v);
    await q.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${new Array(chunk.length).fill(one).join(', ')}${suffix}`, params);
  }
}
