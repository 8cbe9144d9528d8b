import type { Db, Queryable } from '../storage/port.ts';
import type { RequestRow } from './schema.ts';
import { rebuildTraffic } from './traffic.ts';

// Per-minute rollups of the request log: requests and charged amount per (account, minute of
// start, key, model, endpoint, outcome). The writer adds each batch's counts in the transaction
// that writes its rows (so a rollup never counts a row that did not land, nor misses one that
// did); SLA reports read them instead of the rows (10 million rows a month become a few hundred
// thousand rollup rows). `rebuildRollups` recomputes a range from the log itself. Rows without an
// account (refused before a key was known) are not rolled up: no contract covers them.

const MINUTE = 60_000;
const COLUMNS = ['account_id', 'minute', 'outcome', 'model', 'key_id', 'endpoint', 'requests', 'amount'];
const SEP = '\u0000';

type RollupRow = Pick<RequestRow, 'account_id' | 'key_id' | 'model' | 'endpoint' | 'outcome' | 'started_at' | 'amount'>;

/** The batch's counts, one upsert per distinct key, in key order (a fixed lock order between writers). */
export async function addRollups(q: Queryable, rows: readonly RollupRow[]): Promise<void> {
  const agg = new Map<string, { n: number; amount: bigint }>();
  for (const r of rows) {
    if (!r.account_id) continue;
    const k = [r.account_id, Math.floor(r.started_at / MINUTE) * MINUTE, r.outcome, r.model ?? '', r.key_id ?? '', r.endpoint].join(SEP);
    const a = agg.get(k);
    if (a) (a.n++, (a.amount += r.amount));
    else agg.set(k, { n: 1, amount: r.amount });
  }
  if (agg.size === 0) return;
  const keys = [...agg.keys()].sort();
  // At most 100 rows (800 parameters) a statement: within both engines' limits.
  for (let i = 0; i < keys.length; i += 100) {
    const chunk = keys.slice(i, i + 100);
    const params: Array<string | number | bigint> = [];
    for (const k of chunk) {
      const [account, minute, outcome, model, key, endpoint] = k.split(SEP) as [string, string, string, string, string, string];
      const a = agg.get(k)!;
      params.push(account, Number(minute), outcome, model, key, endpoint, a.n, a.amount);
    }
    const values = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    await q.run(
      `INSERT INTO request_rollups (${COLUMNS.join(', ')}) VALUES ${values}
       ON CONFLICT (account_id, minute, outcome, model, key_id, endpoint)
       DO UPDATE SET requests = request_rollups.requests + excluded.requests, amount = request_rollups.amount + excluded.amount`,
      params,
    );
  }
}

/**
 * Recomputes the rollups of [from, to) (whole minutes) from the request log, one day at a time
 * (each day one transaction: its request rollups and traffic rollups (traffic.ts) deleted and
 * recomputed). Rows still being written for a minute in the range may be counted twice or not at
 * all: rebuild ranges that are over.
 */
export async function rebuildRollups(db: Db, from: number, to: number, progress?: (done: number, total: number, rows: number) => void): Promise<{ days: number; rollups: number; traffic: number; requests: number }> {
  const start = Math.floor(from / MINUTE) * MINUTE;
  const end = Math.ceil(to / MINUTE) * MINUTE;
  const step = 86_400_000;
  const total = Math.max(1, Math.ceil((end - start) / step));
  let rollups = 0;
  let traffic = 0;
  let requests = 0;
  let done = 0;
  for (let a = start; a < end; a += step) {
    const b = Math.min(end, a + step);
    const r = await db.tx(async (q) => {
      await q.run('DELETE FROM request_rollups WHERE minute >= ? AND minute < ?', [a, b]);
      const ins = await q.run(
        `INSERT INTO request_rollups (${COLUMNS.join(', ')})
         SELECT account_id, (started_at / ${MINUTE}) * ${MINUTE}, outcome, COALESCE(model, ''), COALESCE(key_id, ''), endpoint, COUNT(*), CAST(SUM(amount) AS BIGINT)
         FROM request_log WHERE started_at >= ? AND started_at < ? AND account_id IS NOT NULL
         GROUP BY account_id, (started_at / ${MINUTE}) * ${MINUTE}, outcome, COALESCE(model, ''), COALESCE(key_id, ''), endpoint`,
        [a, b],
      );
      const n = await q.get<{ n: bigint | null }>('SELECT CAST(SUM(requests) AS BIGINT) AS n FROM request_rollups WHERE minute >= ? AND minute < ?', [a, b]);
      return { rows: ins.changes, traffic: await rebuildTraffic(q, a, b), requests: Number(n?.n ?? 0) };
    });
    rollups += r.rows;
    traffic += r.traffic;
    requests += r.requests;
    progress?.(++done, total, requests);
  }
  return { days: done, rollups, traffic, requests };
}
