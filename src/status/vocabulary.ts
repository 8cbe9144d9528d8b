// The status vocabulary: Statuspage's component statuses, their order of severity, how each counts
// for uptime, and the page indicator they roll up to. One place; test/unit/status/vocabulary.test.ts
// pins it (the JSON API's clients read these exact strings).

export const STATUSES = {
  operational: { rank: 0, downWeight: 0, indicator: 'none' },
  under_maintenance: { rank: 1, downWeight: 0, indicator: 'maintenance' },
  degraded_performance: { rank: 2, downWeight: 0, indicator: 'minor' },
  partial_outage: { rank: 3, downWeight: 0.3, indicator: 'major' },
  major_outage: { rank: 4, downWeight: 1, indicator: 'critical' },
} as const;

export type ComponentStatus = keyof typeof STATUSES;
export const STATUS_NAMES = Object.keys(STATUSES) as [ComponentStatus, ...ComponentStatus[]];

/** The statuses the engine sets by itself, least to most severe (maintenance and overrides are set by people). */
export const AUTO_LEVELS = ['operational', 'degraded_performance', 'partial_outage', 'major_outage'] as const;
export type AutoLevel = (typeof AUTO_LEVELS)[number];

export const rank = (s: ComponentStatus): number => STATUSES[s].rank;
export const worst = (a: ComponentStatus, b: ComponentStatus): ComponentStatus => (rank(b) > rank(a) ? b : a);

/**
 * The uptime rule, stated on the page: a major-outage minute is down, a partial-outage minute is
 * 30 % down, degraded and maintenance minutes are up.
 */
export const UPTIME_RULE = 'major outage minutes count fully as downtime, partial outage minutes at 30 %; degraded performance and maintenance count as up';

/** Statuspage's page indicator (`status.json`). */
export type Indicator = 'none' | 'minor' | 'major' | 'critical' | 'maintenance';

export const INDICATOR_DESCRIPTION: Record<Indicator, string> = {
  none: 'All Systems Operational',
  minor: 'Minor Service Outage',
  major: 'Partial System Outage',
  critical: 'Major System Outage',
  maintenance: 'Service Under Maintenance',
};

/** The page's indicator: the most severe component decides (maintenance only when nothing is worse). */
export function pageIndicator(statuses: readonly ComponentStatus[]): Indicator {
  let w: ComponentStatus = 'operational';
  for (const s of statuses) w = worst(w, s);
  return STATUSES[w].indicator;
}

/** Statuspage's incident impacts, and the component status an impact suggests. */
export const IMPACTS = ['none', 'minor', 'major', 'critical', 'maintenance'] as const;
export type Impact = (typeof IMPACTS)[number];
