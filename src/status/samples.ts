import type { Runtime } from '../kernel/context.ts';
import { OUTCOMES, type Outcome } from '../requests/outcomes.ts';
import { pruneTraffic } from '../requests/traffic.ts';
import { num, optStr, str, type Queryable } from '../storage/port.ts';
import { matchesModel, type StatusComponent } from './components.ts';
import type { WindowStats } from './engine.ts';

// Live traffic per component and minute, from the traffic rollups the log writer keeps
// (requests/traffic.ts: a few dozen rows a minute, never the request log itself). A minute's counts
// are recomputed from its rollups while it is recent (rows of long requests land late, in their
// start minute), so they are exact, and idempotent: any instance may run it, twice or
// concurrently. `minute` here is epoch minutes (the rollups' is epoch milliseconds).
//
// Which requests count: client-fault outcomes (bad requests, keys, balances, the platform's own
// limits, cancellations) and upstream moderation refusals say nothing about a component and are
// left out. Failures: for an upstream component, upstream errors, timeouts and rate limiting
// after retries, and the platform's own errors; for a platform component, only the platform's.

export const MINUTE = 60_000;
const UPSTREAM_FAILURES: ReadonlySet<Outcome> = new Set(['upstream_error', 'upstream_timeout', 'upstream_rate_limited', 'platform_error']);

/** Does this outcome count for a component's status at all? */
export function countsForStatus(o: Outcome): boolean {
  return OUTCOMES[o] !== undefined && OUTCOMES[o].fault !== 'client' && o !== 'upstream_moderation';
}

/** Is it a failure of this kind of component? */
export function isFailure(o: Outcome, platform: boolean): boolean {
  return platform ? o === 'platform_error' : UPSTREAM_FAILURES.has(o);
}

interface Cell {
  requests: number;
  errors: number;
  latencyMs: number;
  latencyN: number;
}

/** Recomputes the traffic columns of the last `minutes` minutes for every component. Returns the cells written. */
export async function aggregateTraffic(rt: Runtime, components: readonly StatusComponent[], now: number, minutes = 12): Promise<number> {
  if (components.length === 0) return 0;
  const from = (Math.floor(now / MINUTE) - minutes + 1) * MINUTE;
  const names = new Map((await rt.db.all('SELECT id, name FROM channels')).map((r) => [str(r.id), str(r.name)]));
  // The provider API is a rollup dimension the page does not use: summed over here. '' is NULL.
  const rows = await rt.db.all(
    `SELECT minute / ${MINUTE} AS m, model, channel_id, outcome, CAST(SUM(requests) AS BIGINT) AS n, CAST(SUM(latency_ms) AS BIGINT) AS lat
     FROM traffic_rollups WHERE minute >= ? GROUP BY minute, model, channel_id, outcome`,
    [from],
  );
  const cells = new Map<string, Cell>();
  const memo = new Map<string, StatusComponent[]>();
  const owners = (model: string | null, channel: string | null): StatusComponent[] => {
    const key = `${model}\u0001${channel}`;
    let out = memo.get(key);
    if (!out) {
      const chName = channel ? names.get(channel) : undefined;
      out = components.filter((c) => c.platform || (model !== null && matchesModel(c.models, model)) || (chName !== undefined && c.channels.includes(chName)));
      memo.set(key, out);
    }
    return out;
  };
  for (const r of rows) {
    const outcome = str(r.outcome) as Outcome;
    if (!countsForStatus(outcome)) continue;
    const n = num(r.n);
    for (const c of owners(optStr(r.model) || null, optStr(r.channel_id) || null)) {
      const key = `${c.id}\u0001${num(r.m)}`;
      let cell = cells.get(key);
      if (!cell) cells.set(key, (cell = { requests: 0, errors: 0, latencyMs: 0, latencyN: 0 }));
      cell.requests += n;
      if (isFailure(outcome, c.platform)) cell.errors += n;
      if (outcome === 'ok') {
        cell.latencyMs += num(r.lat);
        cell.latencyN += n;
      }
    }
  }
  if (cells.size === 0) return 0;
  await rt.db.tx(async (q) => {
    for (const [key, c] of cells) {
      const [id, m] = key.split('\u0001') as [string, string];
      await q.run(
        `INSERT INTO status_samples (component_id, minute, requests, errors, latency_ms, latency_n) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (component_id, minute) DO UPDATE SET requests = excluded.requests, errors = excluded.errors, latency_ms = excluded.latency_ms, latency_n = excluded.latency_n`,
        [id, Number(m), c.requests, c.errors, c.latencyMs, c.latencyN],
      );
    }
  });
  return cells.size;
}

/** Adds one synthetic probe result to its component's minute. */
export async function recordProbe(q: Queryable, componentId: string, at: number, ok: boolean, ms: number): Promise<void> {
  await q.run(
    `INSERT INTO status_samples (component_id, minute, probes, probe_failures, probe_ms) VALUES (?, ?, 1, ?, ?)
     ON CONFLICT (component_id, minute) DO UPDATE SET probes = status_samples.probes + 1, probe_failures = status_samples.probe_failures + excluded.probe_failures, probe_ms = status_samples.probe_ms + excluded.probe_ms`,
    [componentId, Math.floor(at / MINUTE), ok ? 0 : 1, Math.max(0, Math.round(ms))],
  );
}

export interface ComponentWindows {
  windows: WindowStats[];
  probes: number;
  probeFailures: number;
}

/** Sliding windows (the current minute included) of every component, from its samples. */
export async function readWindows(rt: Runtime, windows: readonly number[], now: number): Promise<Map<string, ComponentWindows>> {
  const nowMin = Math.floor(now / MINUTE);
  const longest = Math.max(...windows);
  const rows = await rt.db.all('SELECT * FROM status_samples WHERE minute > ?', [nowMin - longest]);
  const out = new Map<string, ComponentWindows>();
  for (const r of rows) {
    const id = str(r.component_id);
    let c = out.get(id);
    if (!c) out.set(id, (c = { windows: windows.map((w) => ({ minutes: w, requests: 0, errors: 0, latencyMs: 0, latencyN: 0 })), probes: 0, probeFailures: 0 }));
    const age = nowMin - num(r.minute);
    for (const w of c.windows) {
      if (age >= w.minutes) continue;
      w.requests += num(r.requests);
      w.errors += num(r.errors);
      w.latencyMs += num(r.latency_ms);
      w.latencyN += num(r.latency_n);
    }
    c.probes += num(r.probes);
    c.probeFailures += num(r.probe_failures);
  }
  return out;
}

/**
 * Each component's latency baseline: the median of its hourly mean latencies over the 7 days
 * before the last hour (at least 3 hours of traffic), so that a slow hour is judged against the
 * component's usual speed, not another's (an image model is slow by nature).
 */
export async function baselines(rt: Runtime, now: number, days = 7): Promise<Map<string, number>> {
  const to = Math.floor(now / MINUTE) - 60;
  const rows = await rt.db.all(
    `SELECT component_id, minute / 60 AS h, CAST(SUM(latency_ms) AS BIGINT) AS ms, CAST(SUM(latency_n) AS BIGINT) AS n
     FROM status_samples WHERE minute >= ? AND minute < ? AND latency_n > 0 GROUP BY component_id, minute / 60`,
    [to - days * 1440, to],
  );
  const hours = new Map<string, number[]>();
  for (const r of rows) {
    const id = str(r.component_id);
    if (!hours.has(id)) hours.set(id, []);
    hours.get(id)!.push(num(r.ms) / num(r.n));
  }
  const out = new Map<string, number>();
  for (const [id, xs] of hours) {
    if (xs.length < 3) continue;
    xs.sort((a, b) => a - b);
    out.set(id, xs[Math.floor(xs.length / 2)]!);
  }
  return out;
}

export interface TimePoint {
  at: number;
  /** Mean latency of good requests (ms), or of probes when there was no traffic; null without data. */
  ms: number | null;
}

/** Mean response time per bucket of a component (the page's chart): `buckets` buckets ending with the current minute. */
export async function responseTimes(rt: Runtime, componentId: string, to: number, buckets: number, bucketMinutes: number): Promise<TimePoint[]> {
  const last = Math.floor(to / MINUTE);
  const f = last + 1 - buckets * bucketMinutes;
  const rows = await rt.db.all(
    // Integers written into the SQL (both computed here): a bound JS number is a REAL to SQLite, and
    // the bucket must be an integer division.
    `SELECT (minute - ${Math.trunc(f)}) / ${Math.trunc(bucketMinutes)} AS b, CAST(SUM(latency_ms) AS BIGINT) AS ms, CAST(SUM(latency_n) AS BIGINT) AS n, CAST(SUM(probe_ms) AS BIGINT) AS pms, CAST(SUM(probes) AS BIGINT) AS pn
     FROM status_samples WHERE component_id = ? AND minute >= ? AND minute <= ? GROUP BY 1`,
    [componentId, f, last],
  );
  const by = new Map(rows.map((r) => [num(r.b), r]));
  const out: TimePoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const r = by.get(b);
    const n = r ? num(r.n) : 0;
    const pn = r ? num(r.pn) : 0;
    out.push({ at: (f + b * bucketMinutes) * MINUTE, ms: n > 0 ? num(r!.ms) / n : pn > 0 ? num(r!.pms) / pn : null });
  }
  return out;
}

/**
 * Drops samples older than `days` (the status history itself is kept), and traffic rollups older
 * than 3 days (status reads their last minutes, the incident detector at most a day).
 */
export async function pruneSamples(rt: Runtime, now: number, days = 90): Promise<number> {
  const r = await rt.db.run('DELETE FROM status_samples WHERE minute < ?', [Math.floor(now / MINUTE) - days * 1440]);
  return r.changes + (await pruneTraffic(rt.db, now));
}
