import type { Rules } from './rules.ts';
import { AUTO_LEVELS, type AutoLevel, type ComponentStatus } from './vocabulary.ts';

// The status that sets itself, as pure functions (test/unit/status/engine.test.ts drives them
// across every threshold). Each evaluation observes a level from live traffic and probes; the
// component's automatic status follows that level only through hysteresis, so a single blip does
// not flap the page:
//   1. bands: a level is entered at its threshold and left only below threshold × exit_ratio;
//   2. streaks: a worse status is taken after `raise_after` consecutive worse observations (the
//      mildest level seen in the streak), a better one after `clear_after` consecutive better ones
//      (the worst level seen in the streak).
// The public status then applies people: active maintenance wins, then an operator override.

/** Live traffic of one sliding window: non-client-fault requests, their failures, mean latency of the good ones. */
export interface WindowStats {
  minutes: number;
  requests: number;
  errors: number;
  latencyMs: number;
  latencyN: number;
}

export interface Observation {
  windows: WindowStats[];
  /** Synthetic probe results over the longest window. */
  probes: number;
  probeFailures: number;
  /** The component's own latency baseline (ms), or null while it has too little history. */
  baselineMs: number | null;
}

export interface AutoState {
  status: AutoLevel;
  /** The direction of the current streak and the level it would move to. */
  streak: { dir: 'up' | 'down'; level: AutoLevel; count: number } | null;
}

const lvl = (l: AutoLevel): number => AUTO_LEVELS.indexOf(l);
const atLeast = (a: AutoLevel, b: AutoLevel): AutoLevel => (lvl(b) > lvl(a) ? b : a);

/** The level one window says, given where the component is now (bands), or null with too few requests. */
export function windowLevel(w: WindowStats, rules: Rules, current: AutoLevel, baselineMs: number | null): { level: AutoLevel; why: string } | null {
  if (w.requests < rules.min_requests) return null;
  const rate = w.errors / w.requests;
  const band = (level: AutoLevel, enter: number) => (lvl(current) >= lvl(level) ? enter * rules.exit_ratio : enter);
  let level: AutoLevel = 'operational';
  if (rate >= band('major_outage', rules.major_error_rate)) level = 'major_outage';
  else if (rate >= band('partial_outage', rules.partial_error_rate)) level = 'partial_outage';
  else if (rate > 0 && rate >= band('degraded_performance', rules.degraded_error_rate)) level = 'degraded_performance';
  let why = `error rate ${(rate * 100).toFixed(1)} % of ${w.requests} requests over ${w.minutes} min`;
  if (baselineMs !== null && baselineMs > 0 && w.latencyN >= Math.max(1, Math.ceil(rules.min_requests / 2))) {
    const mean = w.latencyMs / w.latencyN;
    const factor = lvl(current) >= lvl('degraded_performance') ? 1 + (rules.latency_factor - 1) * rules.exit_ratio : rules.latency_factor;
    if (mean >= baselineMs * factor) {
      if (level === 'operational') why = `mean latency ${Math.round(mean)} ms is ${(mean / baselineMs).toFixed(1)}× the usual ${Math.round(baselineMs)} ms over ${w.minutes} min`;
      level = atLeast(level, 'degraded_performance');
    }
  }
  return { level, why };
}

/** The level synthetic probes say: two failures at least before they say anything. */
export function probeLevel(probes: number, failures: number): { level: AutoLevel; why: string } | null {
  if (probes < 2 || failures < 2) return null;
  const ratio = failures / probes;
  const level: AutoLevel = ratio >= 1 ? 'major_outage' : ratio >= 0.5 ? 'partial_outage' : 'degraded_performance';
  return { level, why: `${failures} of ${probes} synthetic probes failed` };
}

/** What this evaluation observes: the worst level any window with enough requests or the probes say. */
export function observe(o: Observation, rules: Rules, current: AutoLevel): { level: AutoLevel; why: string } {
  let out: { level: AutoLevel; why: string } | null = null;
  for (const w of o.windows) {
    const l = windowLevel(w, rules, current, o.baselineMs);
    if (l && (!out || lvl(l.level) > lvl(out.level))) out = l;
  }
  const p = probeLevel(o.probes, o.probeFailures);
  if (p && (!out || lvl(p.level) > lvl(out.level))) out = p;
  // No traffic and no failed probes: nothing is known to be wrong.
  return out ?? { level: 'operational', why: 'no failures observed' };
}

/** One evaluation's effect on the automatic status (hysteresis by streaks). */
export function step(s: AutoState, observed: AutoLevel, rules: Rules): AutoState {
  if (observed === s.status) return { status: s.status, streak: null };
  const dir = lvl(observed) > lvl(s.status) ? 'up' : 'down';
  let streak: NonNullable<AutoState['streak']>;
  if (s.streak && s.streak.dir === dir) {
    // Up: the mildest worse level seen; down: the worst better level seen.
    const level = dir === 'up' ? (lvl(observed) < lvl(s.streak.level) ? observed : s.streak.level) : lvl(observed) > lvl(s.streak.level) ? observed : s.streak.level;
    streak = { dir, level, count: s.streak.count + 1 };
  } else {
    streak = { dir, level: observed, count: 1 };
  }
  const needed = dir === 'up' ? rules.raise_after : rules.clear_after;
  if (streak.count >= needed) return { status: streak.level, streak: null };
  return { status: s.status, streak };
}

export interface PublicInputs {
  auto: AutoLevel;
  override: { status: ComponentStatus; until: number | null } | null;
  maintenance: boolean;
  /** The level an open incident on the component implies (by its impact), if any. */
  incident?: AutoLevel | null;
  now: number;
}

/** The level an open incident's impact implies for the components it affects. */
export const IMPACT_LEVEL: Record<string, AutoLevel | null> = { none: null, minor: 'degraded_performance', major: 'partial_outage', critical: 'major_outage' };

/**
 * The status the page shows, and what set it: active maintenance wins, then an active operator
 * override, then the worse of the engine's status and what an open incident's impact implies.
 */
export function publicStatus(p: PublicInputs): { status: ComponentStatus; source: 'maintenance' | 'override' | 'incident' | 'auto' } {
  if (p.maintenance) return { status: 'under_maintenance', source: 'maintenance' };
  if (p.override && (p.override.until === null || p.override.until > p.now)) return { status: p.override.status, source: 'override' };
  if (p.incident && lvl(p.incident) > lvl(p.auto)) return { status: p.incident, source: 'incident' };
  return { status: p.auto, source: 'auto' };
}
