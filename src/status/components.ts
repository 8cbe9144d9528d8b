import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { iso, isoTime, parseInput } from '../kernel/validation.ts';
import { json, num, optNum, optStr, str, type Queryable, type Row } from '../storage/port.ts';
import { DEFAULT_RULES, ProbeInput, RulesInput, type Probe, type Rules } from './rules.ts';
import { STATUS_NAMES, type ComponentStatus } from './vocabulary.ts';

// Components and groups of the status page: create or update by id (PUT), list, remove. A removed
// component keeps its history (uptime and SLA figures stay computable) and leaves the page.
// Overrides: an operator states a component's status (until a time, or until cleared);
// maintenance still wins over an override (engine.ts).

export const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and - (at most 63), starting with a letter or digit');
const text = (max: number) => z.string().min(1).max(max);

export const GroupInput = z.object({ name: text(100), description: z.string().max(500).nullable().optional(), position: z.number().int().min(0).max(10_000).optional() }).strict();

export const ComponentInput = z
  .object({
    name: text(100),
    description: z.string().max(500).nullable().optional(),
    group: slug.nullable().optional(),
    position: z.number().int().min(0).max(10_000).optional(),
    /** A platform component counts all traffic and only the platform's own faults. */
    platform: z.boolean().optional(),
    /** Model ids this component covers; `*` matches any run of characters ("claude-*"). */
    models: z.array(text(200)).max(200).optional(),
    /** Channel names this component covers. */
    channels: z.array(text(200)).max(200).optional(),
    rules: RulesInput.optional(),
    probe: ProbeInput.nullable().optional(),
  })
  .strict();

export const OverrideInput = z
  .object({
    status: z.enum(STATUS_NAMES),
    note: z.string().max(1000).optional(),
    until: isoTime.optional(),
  })
  .strict();

export interface StatusGroup {
  id: string;
  name: string;
  description: string | null;
  position: number;
  created_at: number;
  updated_at: number;
}

export interface StatusComponent {
  id: string;
  name: string;
  description: string | null;
  group_id: string | null;
  position: number;
  platform: boolean;
  models: string[];
  channels: string[];
  rules: Rules;
  probe: Probe | null;
  status: ComponentStatus;
  status_since: number;
  auto_status: ComponentStatus;
  override: { status: ComponentStatus; note: string | null; until: number | null; by: string | null } | null;
  created_at: number;
  updated_at: number;
  removed_at: number | null;
}

const toGroup = (r: Row): StatusGroup => ({
  id: str(r.id), name: str(r.name), description: optStr(r.description), position: num(r.position), created_at: num(r.created_at), updated_at: num(r.updated_at),
});

function toComponent(r: Row): StatusComponent {
  const override = optStr(r.override_status);
  return {
    id: str(r.id),
    name: str(r.name),
    description: optStr(r.description),
    group_id: optStr(r.group_id),
    position: num(r.position),
    platform: num(r.platform) === 1,
    models: json<string[]>(r.models, []),
    channels: json<string[]>(r.channels, []),
    rules: { ...DEFAULT_RULES, ...json<Partial<Rules>>(r.rules, {}) },
    probe: json<Probe | null>(r.probe, null),
    status: str(r.status) as ComponentStatus,
    status_since: num(r.status_since),
    auto_status: str(r.auto_status) as ComponentStatus,
    override: override ? { status: override as ComponentStatus, note: optStr(r.override_note), until: optNum(r.override_until), by: optStr(r.override_by) } : null,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    removed_at: optNum(r.removed_at),
  };
}

export async function listGroups(rt: Runtime): Promise<StatusGroup[]> {
  return (await rt.db.all('SELECT * FROM status_groups ORDER BY position, id')).map(toGroup);
}

/** Components on the page (or every one ever, removed included, for history and SLA figures). */
export async function listComponents(rt: Runtime | Queryable, opts: { removed?: boolean } = {}): Promise<StatusComponent[]> {
  const q = 'db' in rt ? rt.db : rt;
  const rows = await q.all(`SELECT * FROM status_components ${opts.removed ? '' : 'WHERE removed_at IS NULL '}ORDER BY position, id`);
  return rows.map(toComponent);
}

export async function getComponent(rt: Runtime, id: string): Promise<StatusComponent> {
  const r = await rt.db.get('SELECT * FROM status_components WHERE id = ? AND removed_at IS NULL', [id]);
  if (!r) throw new AppError('STATUS_COMPONENT_NOT_FOUND', `No status component ${id}.`, { component: id });
  return toComponent(r);
}

export async function putGroup(ctx: ServiceContext, id: string, raw: unknown): Promise<StatusGroup> {
  requireOperator(ctx.actor);
  parseInput(slug, id, 'id');
  const input = parseInput(GroupInput, raw);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const before = await q.get('SELECT * FROM status_groups WHERE id = ?', [id]);
    const position = input.position ?? (before ? num(before.position) : await nextPosition(q, 'status_groups'));
    await q.run(
      `INSERT INTO status_groups (id, name, description, position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, position = excluded.position, updated_at = excluded.updated_at`,
      [id, input.name, input.description ?? null, position, now, now],
    );
    const after = toGroup((await q.get('SELECT * FROM status_groups WHERE id = ?', [id]))!);
    await audit(q, ctx.actor, before ? 'status.group.update' : 'status.group.create', { type: 'status_group', id }, before ?? undefined, after, now);
    return after;
  });
}

export async function deleteGroup(ctx: ServiceContext, id: string): Promise<void> {
  requireOperator(ctx.actor);
  await ctx.db.tx(async (q) => {
    const before = await q.get('SELECT * FROM status_groups WHERE id = ?', [id]);
    if (!before) throw new AppError('STATUS_GROUP_NOT_FOUND', `No status group ${id}.`, { group: id });
    const used = await q.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM status_components WHERE group_id = ? AND removed_at IS NULL', [id]);
    if (num(used?.n) > 0) throw new AppError('STATUS_GROUP_NOT_EMPTY', `The group ${id} still has ${num(used?.n)} component(s); move or remove them first.`, { group: id });
    await q.run('DELETE FROM status_groups WHERE id = ?', [id]);
    await audit(q, ctx.actor, 'status.group.delete', { type: 'status_group', id }, before, undefined, ctx.now());
  });
}

async function nextPosition(q: Queryable, table: 'status_groups' | 'status_components'): Promise<number> {
  const r = await q.get<{ p: bigint | null }>(`SELECT MAX(position) AS p FROM ${table}`);
  return r?.p === null || r?.p === undefined ? 0 : num(r.p) + 1;
}

/** Creates or updates a component. Its status and history are kept across updates. */
export async function putComponent(ctx: ServiceContext, id: string, raw: unknown): Promise<StatusComponent> {
  requireOperator(ctx.actor);
  parseInput(slug, id, 'id');
  const input = parseInput(ComponentInput, raw);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    if (input.group && !(await q.get('SELECT id FROM status_groups WHERE id = ?', [input.group]))) {
      throw new AppError('STATUS_GROUP_NOT_FOUND', `group: no status group ${input.group}; create it first (PUT /admin/v1/status/groups/${input.group}).`, { field: 'group' });
    }
    const beforeRow = await q.get('SELECT * FROM status_components WHERE id = ?', [id]);
    const before = beforeRow ? toComponent(beforeRow) : null;
    const position = input.position ?? (before ? before.position : await nextPosition(q, 'status_components'));
    const values = [
      input.name, input.description ?? null, input.group ?? null, position, input.platform ? 1 : 0, JSON.stringify(input.models ?? []), JSON.stringify(input.channels ?? []),
      input.rules ? JSON.stringify(input.rules) : null, input.probe ? JSON.stringify(input.probe) : null,
    ];
    if (before) {
      await q.run(
        'UPDATE status_components SET name = ?, description = ?, group_id = ?, position = ?, platform = ?, models = ?, channels = ?, rules = ?, probe = ?, updated_at = ?, removed_at = NULL WHERE id = ?',
        [...values, now, id],
      );
    } else {
      await q.run(
        `INSERT INTO status_components (name, description, group_id, position, platform, models, channels, rules, probe, id, status, status_since, auto_status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'operational', ?, 'operational', ?, ?)`,
        [...values, id, now, now, now],
      );
      await q.run("INSERT INTO status_changes (component_id, status, previous, source, reason, at) VALUES (?, 'operational', NULL, 'created', 'component created', ?)", [id, now]);
    }
    const after = toComponent((await q.get('SELECT * FROM status_components WHERE id = ?', [id]))!);
    await audit(q, ctx.actor, before ? 'status.component.update' : 'status.component.create', { type: 'status_component', id }, before ?? undefined, after, now);
    return after;
  });
}

/** Takes a component off the page; its history stays (SLA reports over past periods still read it). */
export async function removeComponent(ctx: ServiceContext, id: string): Promise<StatusComponent> {
  requireOperator(ctx.actor);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const r = await q.get('SELECT * FROM status_components WHERE id = ? AND removed_at IS NULL', [id]);
    if (!r) throw new AppError('STATUS_COMPONENT_NOT_FOUND', `No status component ${id}.`, { component: id });
    await q.run('UPDATE status_components SET removed_at = ?, updated_at = ? WHERE id = ?', [now, now, id]);
    await q.run("INSERT INTO status_changes (component_id, status, previous, source, reason, at) VALUES (?, 'removed', ?, 'removed', 'component removed from the page', ?)", [id, str(r.status), now]);
    await audit(q, ctx.actor, 'status.component.remove', { type: 'status_component', id }, toComponent(r), undefined, now);
    return { ...toComponent(r), removed_at: now };
  });
}

/** Sets (or, with null, clears) an operator override; the engine applies it at its next evaluation. */
export async function setOverride(ctx: ServiceContext, id: string, raw: unknown | null): Promise<StatusComponent> {
  requireOperator(ctx.actor);
  const input = raw === null ? null : parseInput(OverrideInput, raw);
  const now = ctx.now();
  if (input?.until !== undefined && input.until <= now) throw new AppError('VALIDATION', `until: must be in the future (${iso(input.until)} is not after ${iso(now)})`, { field: 'until' });
  return ctx.db.tx(async (q) => {
    const r = await q.get('SELECT * FROM status_components WHERE id = ? AND removed_at IS NULL', [id]);
    if (!r) throw new AppError('STATUS_COMPONENT_NOT_FOUND', `No status component ${id}.`, { component: id });
    const by = ctx.actor.type === 'customer' ? null : ctx.actor.id;
    await q.run('UPDATE status_components SET override_status = ?, override_note = ?, override_until = ?, override_by = ?, updated_at = ? WHERE id = ?', [
      input?.status ?? null, input?.note ?? null, input?.until ?? null, input ? by : null, now, id,
    ]);
    const after = toComponent((await q.get('SELECT * FROM status_components WHERE id = ?', [id]))!);
    await audit(q, ctx.actor, input ? 'status.override.set' : 'status.override.clear', { type: 'status_component', id }, toComponent(r).override, after.override, now);
    return after;
  });
}

export function groupView(g: StatusGroup): Record<string, unknown> {
  return { id: g.id, name: g.name, description: g.description, position: g.position, created_at: iso(g.created_at), updated_at: iso(g.updated_at) };
}

export function componentView(c: StatusComponent): Record<string, unknown> {
  return {
    id: c.id, name: c.name, description: c.description, group: c.group_id, position: c.position, platform: c.platform, models: c.models, channels: c.channels,
    rules: c.rules, probe: c.probe, status: c.status, status_since: iso(c.status_since), auto_status: c.auto_status,
    override: c.override ? { ...c.override, until: iso(c.override.until) } : null, updated_at: iso(c.updated_at),
  };
}

/** Does a model id match one of a component's patterns (`*` = any run of characters)? */
export function matchesModel(patterns: readonly string[], model: string): boolean {
  for (const p of patterns) {
    if (!p.includes('*')) {
      if (p === model) return true;
      continue;
    }
    const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    if (re.test(model)) return true;
  }
  return false;
}
