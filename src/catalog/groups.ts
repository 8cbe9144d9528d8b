import { z } from 'zod';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { num, str } from '../storage/port.ts';

// Account groups and their price multipliers: an account in group "vip" with multiplier "0.9"
// pays 90 % of every price. A group without a multiplier pays full price.

export const GroupInput = z.object({ multiplier: z.string().regex(/^\d+(\.\d{1,6})?$/, 'must be a decimal like "0.9" or "1.25"') }).strict();

export interface GroupMultiplier {
  group: string;
  /** A decimal string, as set. */
  multiplier: string;
  updated_at: number;
}

export async function setGroupMultiplier(ctx: ServiceContext, group: string, raw: unknown): Promise<{ group: string; multiplier: string }> {
  requireOperator(ctx.actor);
  const input = parseInput(GroupInput, raw);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    const before = await q.get('SELECT multiplier FROM group_multipliers WHERE group_name = ?', [group]);
    await q.run(
      'INSERT INTO group_multipliers (group_name, multiplier, updated_at) VALUES (?, ?, ?) ON CONFLICT (group_name) DO UPDATE SET multiplier = excluded.multiplier, updated_at = excluded.updated_at',
      [group, input.multiplier, now],
    );
    await audit(q, ctx.actor, 'group.multiplier', { type: 'group', id: group }, before ?? undefined, input, now);
  });
  ctx.bus.catalogChanged();
  return { group, multiplier: input.multiplier };
}

export async function listGroupMultipliers(rt: Runtime): Promise<GroupMultiplier[]> {
  const rows = await rt.db.all('SELECT group_name, multiplier, updated_at FROM group_multipliers ORDER BY group_name');
  return rows.map((r) => ({ group: str(r.group_name), multiplier: str(r.multiplier), updated_at: num(r.updated_at) }));
}

export function groupView(g: GroupMultiplier): Record<string, unknown> {
  return { group: g.group, multiplier: g.multiplier, updated_at: iso(g.updated_at) };
}
