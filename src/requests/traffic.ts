import type { Migration } from '../storage/migrations.ts';
import type { Queryable } from '../storage/port.ts';
import type { RequestRow } from './schema.ts';

// Live traffic per minute (`traffic_rollups`, migration 17): requests and latency per (minute of
// start, model, channel, provider API, outcome), every row counted, with or without an account.
// The status page (status/samples.ts) and the incident detector (incidents/detector.ts) read it
// instead of rescanning the request log on the gateway's thread: a minute holds a few dozen rollup
// rows whatever the traffic. Like request_rollups (rollups.ts), the log writer adds each batch's
// counts in the transaction that writes its rows, so the rollups never count a row that did not
// land nor miss one that did; several writers add up (ON CONFLICT … SET x = x + excluded.x). A
// row lands when its request ends, in the minute its request started (a long request is added
// late to an old minute; readers re-read recent minutes). NULL model or channel is stored as ''.
//
// `latency_ms` sums each row's time to its first byte (else to its end); readers that want the
// latency of good requests take the `ok` rows (their count is `requests`).

export const TRAFFIC_MINUTE = 60_000;
const COLUMNS = 'minute, model, channel_id, provider, outcome, requests, latency_ms';
const SEP = '\u0000';

type TrafficRow = Pick<RequestRow, 'started_at' | 'first_byte_at' | 'ended_at' | 'model' | 'channel_id' | 'provider' | 'outcome'>;

/** The latency of a row as status measures it: to its first byte, else to its end. */
const latencyOf = (r: TrafficRow): number => (r.first_byte_at ?? r.ended_at) - r.started_at;

/** Adds a batch's counts: aggregated here, then one upsert per 100 distinct keys, in key order (one lock order between writers). */
export async function addTraffic(q: Queryable, rows: readonly TrafficRow[]): Promise<void> {
  const agg = new Map<string, Array<string | number>>();
  for (const r of rows) {
    const minute = r.started_at - (r.started_at % TRAFFIC_MINUTE);
    const model = r.model ?? '';
    const channel = r.channel_id ?? '';
    const k = `${minute}${SEP}${model}${SEP}${channel}${SEP}${r.provider}${SEP}${r.outcome}`;
    const a = agg.get(k);
    if (a) ((a[5] = (a[5] as number) + 1), (a[6] = (a[6] as number) + latencyOf(r)));
    else agg.set(k, [minute, model, channel, r.provider, r.outcome, 1, latencyOf(r)]);
  }
  if (agg.size === 0) return;
  const keys = agg.size === 1 ? [...agg.keys()] : [...agg.keys()].sort();
  // At most 100 rows (700 parameters) a statement: within both engines' limits.
  for (let i = 0; i < keys.length; i += 100) {
    const chunk = keys.slice(i, i + 100);
    const params: Array<string | number> = [];
    for (const k of chunk) params.push(...agg.get(k)!);
    await q.run(
      `INSERT INTO traffic_rollups (${COLUMNS}) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}
       ON CONFLICT (minute, model, channel_id, provider, outcome)
       DO UPDATE SET requests = traffic_rollups.requests + excluded.requests, latency_ms = traffic_rollups.latency_ms + excluded.latency_ms`,
      params,
    );
  }
}

/** The SELECT that computes the traffic rollups of the log rows matching `where` (the rebuild and migration 17's backfill). */
const trafficFromLog = (where: string) => `SELECT (started_at / ${TRAFFIC_MINUTE}) * ${TRAFFIC_MINUTE}, COALESCE(model, ''), COALESCE(channel_id, ''), provider, outcome,
  COUNT(*), CAST(SUM(COALESCE(first_byte_at, ended_at) - started_at) AS BIGINT)
  FROM request_log WHERE ${where}
  GROUP BY (started_at / ${TRAFFIC_MINUTE}) * ${TRAFFIC_MINUTE}, COALESCE(model, ''), COALESCE(channel_id, ''), provider, outcome`;

/** Recomputes the traffic rollups of [from, to) (whole minutes) from the log, inside the caller's transaction. Returns the rollup rows written. */
export async function rebuildTraffic(q: Queryable, from: number, to: number): Promise<number> {
  await q.run('DELETE FROM traffic_rollups WHERE minute >= ? AND minute < ?', [from, to]);
  const r = await q.run(`INSERT INTO traffic_rollups (${COLUMNS}) ${trafficFromLog('started_at >= ? AND started_at < ?')}`, [from, to]);
  return r.changes;
}

/** Drops traffic rollups older than `days` (status keeps its own history in status_samples). */
export async function pruneTraffic(q: Queryable, now: number, days = 3): Promise<number> {
  const r = await q.run('DELETE FROM traffic_rollups WHERE minute < ?', [Math.floor(now / TRAFFIC_MINUTE) * TRAFFIC_MINUTE - days * 86_400_000]);
  return r.changes;
}

/**
 * Migration 17: the table, keyed minute first (readers take a range of minutes), and the last day
 * of traffic backfilled from the log (status reads ~15 minutes, the detector at most a day). Rows
 * that instances of an older version write while it runs are not rolled up: `surety rollups
 * rebuild` recomputes a range.
 */
export const TRAFFIC_MIGRATION: Migration = {
  version: 17,
  name: 'traffic rollups: live traffic per minute, kept by the log writer',
  sql: `
CREATE TABLE traffic_rollups (
  minute {{big}} NOT NULL,
  model TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  outcome TEXT NOT NULL,
  requests {{big}} NOT NULL,
  latency_ms {{big}} NOT NULL,
  PRIMARY KEY (minute, model, channel_id, provider, outcome)
);
INSERT INTO traffic_rollups (${COLUMNS}) ${trafficFromLog('started_at >= {{now}} - 86400000')};
`,
};
