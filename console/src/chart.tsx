import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { stack, usdTick, type Pivot } from './lib/chart.ts';

const COLORS = ['#2f6fde', '#e0792b', '#2e9e6a', '#b8479b', '#8a6d1f', '#4aa3b5', '#d1495b', '#6b5bd2'];

/** Stacked bars per day, one colour per series (spend by model, or requests by fault). */
export function StackedBars({ pivot, height = 260, label, unit = '$' }: { pivot: Pivot; height?: number; label: string; unit?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || pivot.days.length === 0) return;
    const stacked = stack(pivot.series);
    const bars = uPlot.paths.bars!({ size: [0.7, 48] });
    const fmt = (v: number | null) => (v === null ? '' : unit === '$' ? usdTick(v) : String(Math.round(v)));
    const opts: uPlot.Options = {
      width: el.current.clientWidth || 600,
      height,
      scales: { x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.15)' } }, { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.15)' }, size: 84, values: (_u, vs) => vs.map((v) => fmt(v)) }],
      legend: { live: true },
      // Drawn last-first so that each stacked total is behind the ones below it.
      series: [
        { label: '', value: (_u: uPlot, v: number | null) => (v === null ? '' : new Date(v * 1000).toLocaleDateString()) },
        ...pivot.models.map((m, i) => ({ label: m, fill: COLORS[i % COLORS.length], stroke: COLORS[i % COLORS.length], paths: bars, points: { show: false }, value: (_u: uPlot, _v: number, _s: number, idx: number | null) => (idx === null ? '' : fmt(pivot.series[i]![idx]!)) })),
      ],
    };
    const data: uPlot.AlignedData = [pivot.xs, ...stacked];
    // Stacked bars: draw the tallest first so the lower ones stay visible.
    opts.series = [opts.series[0]!, ...opts.series.slice(1).reverse()];
    const u = new uPlot(opts, [data[0], ...data.slice(1).reverse()] as uPlot.AlignedData, el.current);
    const ro = new ResizeObserver(() => u.setSize({ width: el.current!.clientWidth, height }));
    ro.observe(el.current);
    return () => (ro.disconnect(), u.destroy());
  }, [pivot]);
  return <div class="chart" ref={el} role="img" aria-label={label} />;
}
