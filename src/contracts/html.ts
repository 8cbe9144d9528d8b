// The printable SLA report: one self-contained HTML page (no scripts, no external assets) with the
// figures, a daily availability chart (inline SVG, one bar per day, the target as a line), the
// incidents and maintenance, the credit and how to recompute it. Prints on A4 in portrait.

const esc = (v: unknown) => String(v ?? '—').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type View = Record<string, any>;

function chart(daily: Array<{ day: string; availability: string | null }>, target: number): string {
  const w = 720;
  const h = 180;
  const pad = 30;
  const values = daily.map((d) => (d.availability === null ? null : Number(d.availability)));
  const min = Math.min(target - 0.5, ...values.filter((v): v is number => v !== null));
  const floor = Math.max(0, Math.floor(min));
  const y = (v: number) => pad + (h - 2 * pad) * (1 - (v - floor) / (100 - floor || 1));
  const bw = (w - 2 * pad) / Math.max(1, daily.length);
  const bars = daily
    .map((d, i) => {
      const v = values[i];
      if (v === null) return '';
      const top = y(v);
      const colour = v >= target ? '#2f855a' : '#c53030';
      return `<rect x="${(pad + i * bw + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${(h - pad - top).toFixed(1)}" fill="${colour}"><title>${esc(d.day)}: ${esc(d.availability)} %</title></rect>`;
    })
    .join('');
  const labels = daily.map((d, i) => (i % 5 === 0 ? `<text x="${(pad + i * bw).toFixed(1)}" y="${h - 10}" font-size="10">${esc(d.day.slice(5))}</text>` : '')).join('');
  const ty = y(target).toFixed(1);
  return `<svg role="img" aria-label="Daily availability" viewBox="0 0 ${w} ${h}" width="100%" xmlns="http://www.w3.org/2000/svg">
<text x="2" y="${pad}" font-size="10">100 %</text><text x="2" y="${h - pad}" font-size="10">${floor} %</text>
<line x1="${pad}" x2="${w - pad}" y1="${h - pad}" y2="${h - pad}" stroke="#999"/>${bars}
<line x1="${pad}" x2="${w - pad}" y1="${ty}" y2="${ty}" stroke="#444" stroke-dasharray="4 3"/><text x="${pad + 4}" y="${Number(ty) - 4}" font-size="10" fill="#444">target ${target} %</text>${labels}</svg>`;
}

const row = (cells: unknown[], th = false) => `<tr>${cells.map((c) => (th ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`;

export function reportHtml(r: View): string {
  const c = r.credit as View;
  const incidents = (r.incidents as View[]).map((i) => row([i.id, i.title, i.severity, i.started_at, i.first_response_minutes, i.longest_update_gap_minutes, i.resolution_minutes, (i.breaches as View[]).map((b) => `${b.kind} (${b.credit})`).join(', ') || 'none']));
  const maint = (r.maintenance as View[]).map((m) => row([m.id, m.title, `${m.window.from} – ${m.window.to}`, m.announced_at, m.excluded ? 'excluded' : 'counted', m.reason]));
  const segs = (r.segments as View[]).map((s) => row([s.version, `${s.window.from} – ${s.window.to}`, s.metric.type, s.availability, s.counts.eligible, s.counts.failed, s.covered_spend, s.tier ? `below ${s.tier.below_percent} → ${s.tier.credit_percent} %` : 'none', s.tier_credit]));
  const excl = Object.entries(r.counts.by_exclusion as Record<string, number>).map(([k, v]) => row([k, v]));
  const outcomes = Object.entries(r.counts.by_outcome as Record<string, number>).map(([k, v]) => row([k, v]));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SLA report ${esc(r.name)} ${esc(r.period ?? `${r.window.from} – ${r.window.to}`)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;font-size:12px}th{background:#f3f3f3}
.big{font-size:2rem;font-weight:600}.ok{color:#2f855a}.bad{color:#c53030}pre{white-space:pre-wrap;font-size:11px;background:#f7f7f7;padding:.5rem}
@media print{body{margin:0}@page{size:A4;margin:1.5cm}}
</style></head><body>
<h1>SLA report — ${esc(r.name)}</h1>
<p>Contract <code>${esc(r.contract_id)}</code>, account <code>${esc(r.account_id)}</code>. Period <strong>${esc(r.period ?? 'custom window')}</strong>
(${esc(r.window.from)} – ${esc(r.window.to)}, time zone ${esc(r.time_zone)}). Generated ${esc(r.generated_at)}${r.closed_at ? `; closed ${esc(r.closed_at)}` : ' (not closed: figures may still change)'}.</p>
<p class="big ${r.target_met === false ? 'bad' : 'ok'}">${esc(r.availability)} %</p>
<p>Target ${esc(r.target)} % — ${r.target_met === null ? 'nothing measured' : r.target_met ? 'met' : 'missed'}. Eligible requests ${esc(r.counts.eligible)}, failed ${esc(r.counts.failed)}.</p>
<h2>Daily availability</h2>
${chart(r.daily, Number(r.target))}
<h2>Segments (contract versions in force)</h2>
<table>${row(['version', 'window', 'metric', 'availability %', 'eligible', 'failed', 'covered spend', 'tier', 'tier credit'], true)}${segs.join('')}</table>
<h2>Requests</h2>
<table>${row(['outcome', 'requests'], true)}${outcomes.join('')}</table>
<table>${row(['excluded because', 'requests'], true)}${excl.join('')}</table>
<h2>Incidents</h2>
<table>${row(['id', 'title', 'severity', 'started', 'first response (min)', 'longest silence (min)', 'resolution (min)', 'breaches'], true)}${incidents.join('') || row(['none', '', '', '', '', '', '', ''])}</table>
<h2>Maintenance</h2>
<table>${row(['id', 'title', 'planned window', 'announced', 'counted as', 'why'], true)}${maint.join('') || row(['none', '', '', '', '', ''])}</table>
<h2>Credit</h2>
<table>
${row(['credit base (covered spend)', c.base])}${row(['tier credits', c.tier_credits])}${row(['support credits', c.support_credits])}
${row(['total before cap', c.before_cap])}${row(['minimum credit', `${c.minimum ?? 'none'}${c.minimum_applied ? ' (applied)' : ''}`])}
${row(['cap', `${c.cap ?? 'none'}${c.cap_applied ? ' (applied)' : ''}`])}${row(['credit', c.total])}
${row(['claim needed', c.claim_required ? 'yes' : 'no (automatic)'])}
</table>
<h2>How to recompute</h2>
<pre>${esc(r.recompute)}</pre>
</body></html>
`;
}
