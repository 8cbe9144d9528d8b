// Shapes the API's per-day rows into the aligned arrays uPlot draws (x: day, one series a model).
// Chart heights use Number(): a chart is a picture; every amount shown as text stays a string.

export interface DailyRow {
  day: string;
  model: string | null;
  spend: string;
  requests: number;
}

export interface Pivot {
  days: string[];
  /** Seconds since epoch of each day's midnight UTC (uPlot's x axis). */
  xs: number[];
  models: string[];
  /** series[i][j]: spend of models[i] on days[j] (USD, for drawing). */
  series: number[][];
}

/** Every day from `first` to `last` (inclusive, "YYYY-MM-DD"), so missing days show as 0. */
export function daySpan(first: string, last: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${last}T00:00:00Z`) && out.length < 400; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export function pivotDaily(rows: DailyRow[], first?: string, last?: string): Pivot {
  const sorted = [...rows].sort((a, b) => a.day.localeCompare(b.day));
  const f = first ?? sorted[0]?.day;
  const l = last ?? sorted.at(-1)?.day;
  const days = f && l ? daySpan(f, l) : [];
  const models = [...new Set(rows.map((r) => r.model ?? '(none)'))].sort();
  const index = new Map(days.map((d, i) => [d, i]));
  const series = models.map(() => days.map(() => 0));
  for (const r of rows) {
    const j = index.get(r.day);
    if (j === undefined) continue;
    series[models.indexOf(r.model ?? '(none)')]![j]! += Number(r.spend);
  }
  return { days, xs: days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000), models, series };
}

/** Cumulative sums across series, for stacked areas: stacked[i] = series[0] + … + series[i]. */
export function stack(series: number[][]): number[][] {
  const out: number[][] = [];
  series.forEach((s, i) => out.push(s.map((v, j) => v + (i > 0 ? out[i - 1]![j]! : 0))));
  return out;
}
