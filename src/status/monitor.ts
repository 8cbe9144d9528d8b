import type { Runtime } from '../kernel/context.ts';
import { listComponents, type StatusComponent } from './components.ts';
import { observe, publicStatus, step, type AutoState } from './engine.ts';
import { recordChange } from './history.ts';
import { maintenanceAt, type ChangeSink, type IncidentSource, type StatusChangeNotice } from './notices.ts';
import { aggregateTraffic, baselines, readWindows, type ComponentWindows } from './samples.ts';
import type { AutoLevel, ComponentStatus } from './vocabulary.ts';

// One evaluation of every component (the `status-evaluate` job): the last minutes of traffic
// aggregated from the request log, windows and probes observed, the automatic status stepped
// through hysteresis, maintenance and overrides applied, and each change of the public status
// stored (and announced). Streaks live in memory: an instance that takes the job over starts
// them afresh, which only delays a change by a few evaluations.

export class StatusMonitor {
  private readonly rt: Runtime;
  private readonly incidents: IncidentSource;
  private readonly sink: ChangeSink | null;
  private readonly states = new Map<string, AutoState>();
  private base: { at: number; values: Map<string, number> } | null = null;

  constructor(rt: Runtime, incidents: IncidentSource, sink: ChangeSink | null = null) {
    this.rt = rt;
    this.incidents = incidents;
    this.sink = sink;
  }

  private async baselines(now: number): Promise<Map<string, number>> {
    if (!this.base || now - this.base.at > 10 * 60_000 || now < this.base.at) this.base = { at: now, values: await baselines(this.rt, now) };
    return this.base.values;
  }

  async evaluate(now = this.rt.now()): Promise<StatusChangeNotice[]> {
    const comps = await listComponents(this.rt);
    if (comps.length === 0) return [];
    await aggregateTraffic(this.rt, comps, now, Math.max(12, ...comps.flatMap((c) => c.rules.windows)) + 2);
    const sizes = [...new Set(comps.flatMap((c) => c.rules.windows))];
    const windows = await readWindows(this.rt, sizes, now);
    const base = await this.baselines(now);
    const maintenance = maintenanceAt(await this.incidents.list(now - 86_400_000, now + 1), now);
    const changes: StatusChangeNotice[] = [];
    for (const c of comps) {
      const change = await this.evaluateOne(c, windows.get(c.id), base.get(c.id) ?? null, maintenance.has(c.id), now);
      if (change) changes.push(change);
    }
    if (changes.length > 0 && this.sink) await this.sink(changes).catch((err) => this.rt.log.error({ err }, 'status changes not announced'));
    return changes;
  }

  private async evaluateOne(c: StatusComponent, w: ComponentWindows | undefined, baselineMs: number | null, maintenance: boolean, now: number): Promise<StatusChangeNotice | null> {
    const prev = this.states.get(c.id) ?? { status: c.auto_status as AutoLevel, streak: null };
    const mine = { windows: (w?.windows ?? []).filter((x) => c.rules.windows.includes(x.minutes)), probes: w?.probes ?? 0, probeFailures: w?.probeFailures ?? 0, baselineMs };
    const seen = observe(mine, c.rules, prev.status);
    const next = step(prev, seen.level, c.rules);
    this.states.set(c.id, next);
    const pub = publicStatus({ auto: next.status, override: c.override, maintenance, now });
    if (next.status === c.auto_status && pub.status === c.status) return null;
    const reason = pub.source === 'maintenance' ? 'scheduled maintenance in progress' : pub.source === 'override' ? `set by an operator${c.override?.note ? `: ${c.override.note}` : ''}` : seen.why;
    await this.rt.db.tx(async (q) => {
      if (next.status !== c.auto_status) await q.run('UPDATE status_components SET auto_status = ? WHERE id = ?', [next.status, c.id]);
      if (pub.status !== c.status) await recordChange(q, c, pub.status, pub.source, reason, now);
    });
    if (pub.status === c.status) return null;
    return { component_id: c.id, component_name: c.name, status: pub.status, previous: c.status as ComponentStatus, source: pub.source, reason, at: now };
  }
}
