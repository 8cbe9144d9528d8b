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
  /** Seconds since epoch of each day's midnight in the viewer's zone (uPlot's x axis shows local time). */
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
  return { days, xs: days.map(localMidnight), models, series };
}

/** Seconds since epoch of a "YYYY-MM-DD" day's midnight in the viewer's zone. */
export function localMidnight(day: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(y, m - 1, d).getTime() / 1000;
}

/** The first and last of the `n` days ending today, as the viewer's "YYYY-MM-DD". */
export function lastDays(n: number, now: Date = new Date()): [string, string] {
  const ymd = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  return [ymd(new Date(now.getFullYear(), now.getMonth(), now.getDate() - (n - 1))), ymd(now)];
}

/** A short axis label for an amount of USD: "$12.50", "$0.00021", "$0". */
export function usdTick(v: number): string {
  if (v === 0) return '$0';
  return v >= 1 ? `$${v.toFixed(2)}` : `$${Number(v.toPrecision(2))}`;
}

/** Cumulative sums across series, for stacked areas: stacked[i] = series[0] + … + series[i]. */
export function stack(series: number[][]): number[][] {
  const out: number[][] = [];
  series.forEach((s, i) => out.push(s.map((v, j) => v + (i > 0 ? out[i - 1]![j]! : 0))));
  return out;
}
