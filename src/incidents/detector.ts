import type { Config } from '../kernel/config/schema.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { iso } from '../kernel/validation.ts';
import { num, str, type Queryable } from '../storage/port.ts';
import type { Attribution } from './model.ts';
import { declareIncident } from './service.ts';
import { TRAFFIC_MINUTE } from '../requests/traffic.ts';

// Draft incidents from traffic. Every minute, over the last window, each component's requests are
// counted by outcome from the traffic rollups the log writer keeps (requests/traffic.ts; never a
// scan of the request log), so the window is counted in whole minutes: it starts at the beginning
// of the minute the window's length ago and includes the current minute. When the share of
// `platform_error` crosses its threshold, a platform-attributed draft is opened, and when the share
// of upstream failures does, an upstream-attributed one — each with its evidence (counts, rate,
// threshold, models, sample requests). A draft is never published by itself: an operator reviews
// it, then posts its first public update (or closes it).
//
// A component here is a model's provider family (`openai`, `anthropic`, `gemini`), the ids the
// status page uses for upstream families. Client-side outcomes (invalid requests, keys, balances,
// limits, cancellations) do not count in the rates. While a draft or an open incident exists for a
// (kind, component), no second one is opened; after one closes, the next needs a window of its own.

export interface DetectorSettings {
  windowMs: number;
  minRequests: number;
  /** Thresholds in percent; 0 turns a kind off. */
  platformPct: number;
  upstreamPct: number;
}

export function detectorSettings(c: Config): DetectorSettings {
  return { windowMs: c.incidentDetectWindowSeconds * 1000, minRequests: c.incidentMinRequests, platformPct: c.incidentPlatformErrorPct, upstreamPct: c.incidentUpstreamFailurePct };
}

const COUNTED = ['ok', 'platform_error', 'upstream_error', 'upstream_timeout', 'upstream_rate_limited', 'upstream_moderation'];
const KINDS: Array<{ kind: 'platform' | 'upstream'; attribution: Attribution; outcomes: string[]; label: string }> = [
  { kind: 'platform', attribution: 'platform', outcomes: ['platform_error'], label: 'Platform errors' },
  { kind: 'upstream', attribution: 'upstream', outcomes: ['upstream_error', 'upstream_timeout'], label: 'Upstream failures' },
];

interface ComponentTraffic {
  component: string;
  total: number;
  byOutcome: Record<string, number>;
}

/** Counts per component and outcome of the minutes starting in [from, to), from the traffic rollups ('' model: none). */
async function traffic(q: Queryable, from: number, to: number): Promise<ComponentTraffic[]> {
  const rows = await q.all(
    `SELECT COALESCE(m.provider, t.provider) AS component, t.outcome AS outcome, CAST(SUM(t.requests) AS BIGINT) AS n
     FROM traffic_rollups t LEFT JOIN models m ON m.id = t.model
     WHERE t.minute >= ? AND t.minute < ? AND t.outcome IN (${COUNTED.map(() => '?').join(', ')})
     GROUP BY COALESCE(m.provider, t.provider), t.outcome`,
    [from, to, ...COUNTED],
  );
  const by = new Map<string, ComponentTraffic>();
  for (const r of rows) {
    const c = str(r.component);
    let t = by.get(c);
    if (!t) by.set(c, (t = { component: c, total: 0, byOutcome: {} }));
    t.total += num(r.n);
    t.byOutcome[str(r.outcome)] = num(r.n);
  }
  return [...by.values()];
}

/** The failing requests of a component in the window: first time, models, a few ids (only once a threshold is crossed: from the log, bounded by its time index and LIMITs). */
async function failing(q: Queryable, component: string, outcomes: string[], from: number, to: number): Promise<{ first: number; models: string[]; samples: string[] }> {
  const where = `FROM request_log r LEFT JOIN models m ON m.id = r.model WHERE r.started_at >= ? AND r.started_at < ? AND COALESCE(m.provider, r.provider) = ? AND r.outcome IN (${outcomes.map(() => '?').join(', ')})`;
  const params = [from, to, component, ...outcomes];
  const first = await q.get(`SELECT MIN(r.started_at) AS t ${where}`, params);
  const models = await q.all(`SELECT DISTINCT r.model AS model ${where} AND r.model IS NOT NULL ORDER BY r.model LIMIT 50`, params);
  const samples = await q.all(`SELECT r.id AS id ${where} ORDER BY r.started_at LIMIT 10`, params);
  return { first: num(first?.t), models: models.map((r) => str(r.model)), samples: samples.map((r) => str(r.id)) };
}

/** Is there a draft or open incident for this key, or one that closed within the window? */
async function alreadyOpen(q: Queryable, key: string, since: number): Promise<boolean> {
  const r = await q.get(`SELECT id FROM incidents WHERE detector_key = ? AND (status NOT IN ('resolved', 'postmortem', 'completed') OR resolved_at > ?) LIMIT 1`, [key, since]);
  return r !== undefined;
}

/** One run of the detector: the drafts it opened (ids). */
export async function detectIncidents(rt: Runtime, s: DetectorSettings): Promise<string[]> {
  const now = rt.now();
  const from = Math.floor((now - s.windowMs) / TRAFFIC_MINUTE) * TRAFFIC_MINUTE;
  const opened: string[] = [];
  const ctx = withActor(rt, { type: 'system', id: 'incident-detector' });
  for (const t of await traffic(rt.db, from, now)) {
    if (t.total < s.minRequests) continue;
    for (const k of KINDS) {
      const threshold = k.kind === 'platform' ? s.platformPct : s.upstreamPct;
      const errors = k.outcomes.reduce((n, o) => n + (t.byOutcome[o] ?? 0), 0);
      const pct = (errors * 100) / t.total;
      if (threshold <= 0 || errors === 0 || pct < threshold) continue;
      const key = `${k.kind}:${t.component}`;
      if (await alreadyOpen(rt.db, key, from)) continue;
      const f = await failing(rt.db, t.component, k.outcomes, from, now);
      const rate = Math.round(pct * 10) / 10;
      const evidence = {
        window: { from: iso(from), to: iso(now) }, component: t.component, requests: t.total, failures: errors, rate_pct: rate, threshold_pct: threshold,
        by_outcome: t.byOutcome, models: f.models, sample_request_ids: f.samples, first_failure_at: iso(f.first),
      };
      const i = await declareIncident(ctx, {
        title: `${k.label} on ${t.component}: ${rate} % of ${t.total} requests`,
        severity: pct >= 50 ? 'sev2' : 'sev3', impact: pct >= 50 ? 'major' : 'minor', attribution: k.attribution, components: [t.component],
        scope: { models: f.models }, window_start: iso(f.first)!, detected_at: iso(now)!, draft: true,
      }, { key, evidence });
      rt.log.warn({ incident: i.id, key, rate_pct: rate, requests: t.total }, 'draft incident opened from traffic');
      opened.push(i.id);
    }
  }
  return opened;
}

/** The detector as a background job (runtime.ts): every minute. */
export function detectorJob(rt: Runtime, intervalMs = 60_000) {
  const s = detectorSettings(rt.config);
  return { name: 'incident-detect', intervalMs, run: () => detectIncidents(rt, s) };
}
