import type { Runtime } from '../kernel/context.ts';
import { listComponents, type StatusComponent } from './components.ts';
import { IMPACT_LEVEL, observe, publicStatus, step, type AutoState } from './engine.ts';
import { recordChange } from './history.ts';
import { incidentLevels, maintenanceAt, type ChangeSink, type IncidentSource, type StatusChangeNotice } from './notices.ts';
import { aggregateTraffic, baselines, readWindows, type ComponentWindows } from './samples.ts';
import type { AutoLevel, ComponentStatus } from './vocabulary.ts';

// One evaluation of every component (the `status-evaluate` job): the last minutes of traffic
// aggregated from the traffic rollups the log writer keeps, windows and probes observed, the
// automatic status stepped through hysteresis, maintenance and overrides applied, and each change
// of the public status stored (and announced). Streaks live in memory: an instance that takes the job over starts
// them afresh, which only delays a change by a few evaluations.

const REASONS: Record<string, (c: StatusComponent) => string> = {
  maintenance: () => 'scheduled maintenance in progress',
  override: (c) => `set by an operator${c.override?.note ? `: ${c.override.note}` : ''}`,
  incident: () => 'an open incident affects it',
};

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
    // The whole longest window every time (late rows of long requests land in old minutes): a read
    // of a few dozen rollup rows a minute, whatever the traffic — never of the request log.
    await aggregateTraffic(this.rt, comps, now, Math.max(12, ...comps.flatMap((c) => c.rules.windows)) + 2);
    const sizes = [...new Set(comps.flatMap((c) => c.rules.windows))];
    const windows = await readWindows(this.rt, sizes, now);
    const base = await this.baselines(now);
    const open = await this.incidents.list(now - 86_400_000, now + 1);
    const maintenance = maintenanceAt(open, now);
    const incident = incidentLevels(open, (impact) => IMPACT_LEVEL[impact] ?? null);
    const changes: StatusChangeNotice[] = [];
    for (const c of comps) {
      const change = await this.evaluateOne(c, windows.get(c.id), base.get(c.id) ?? null, { maintenance: maintenance.has(c.id), incident: incident.get(c.id) ?? null }, now);
      if (change) changes.push(change);
    }
    return changes;
  }

  private async evaluateOne(c: StatusComponent, w: ComponentWindows | undefined, baselineMs: number | null, people: { maintenance: boolean; incident: AutoLevel | null }, now: number): Promise<StatusChangeNotice | null> {
    const prev = this.states.get(c.id) ?? { status: c.auto_status as AutoLevel, streak: null };
    const mine = { windows: (w?.windows ?? []).filter((x) => c.rules.windows.includes(x.minutes)), probes: w?.probes ?? 0, probeFailures: w?.probeFailures ?? 0, baselineMs };
    const seen = observe(mine, c.rules, prev.status);
    const next = step(prev, seen.level, c.rules);
    this.states.set(c.id, next);
    const pub = publicStatus({ auto: next.status, override: c.override, ...people, now });
    if (next.status === c.auto_status && pub.status === c.status) return null;
    const reason = REASONS[pub.source]?.(c) ?? seen.why;
    const change: StatusChangeNotice = { component_id: c.id, component_name: c.name, status: pub.status, previous: c.status as ComponentStatus, source: pub.source, reason, at: now };
    await this.rt.db.tx(async (q) => {
      if (next.status !== c.auto_status) await q.run('UPDATE status_components SET auto_status = ? WHERE id = ?', [next.status, c.id]);
      if (pub.status !== c.status) {
        await recordChange(q, c, pub.status, pub.source, reason, now);
        if (this.sink) await this.sink(q, change);
      }
    });
    return pub.status === c.status ? null : change;
  }
}
