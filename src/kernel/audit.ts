import type { Queryable } from '../storage/port.ts';
import { actorId, type Actor } from './context.ts';
import { toJson } from './json.ts';

export interface AuditTarget {
  type: string;
  id: string;
  accountId?: string | null;
}

/** One audit entry, written inside the caller's transaction so action and record commit together. */
export async function audit(q: Queryable, actor: Actor, action: string, target: AuditTarget, before: unknown, after: unknown, at = Date.now()): Promise<void> {
  await q.run(
    `INSERT INTO audit_log (at, actor_type, actor_id, action, target_type, target_id, account_id, before_json, after_json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [at, actor.type, actorId(actor), action, target.type, target.id, target.accountId ?? null, before === undefined ? null : toJson(before), after === undefined ? null : toJson(after)],
  );
}
