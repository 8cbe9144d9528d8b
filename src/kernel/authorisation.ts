import { AppError } from './errors.ts';
import type { Actor, Role } from './context.ts';

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

export function requireOperator(actor: Actor): void {
  if (actor.type === 'customer') throw new AppError('FORBIDDEN', 'This action is for operators.');
}

/**
 * Operators and the system may act on any account; a customer key only on its own account and
 * only with at least `min` role. Another account's resources are reported as not found, so a key
 * cannot even learn that they exist.
 */
export function requireRole(actor: Actor, accountId: string, min: Role): void {
  if (actor.type !== 'customer') return;
  if (actor.accountId !== accountId) throw new AppError('NOT_FOUND', 'Not found.', { resource: 'account' });
  if (RANK[actor.role] < RANK[min]) throw new AppError('FORBIDDEN', `This needs the ${min} role or higher; this key has ${actor.role}.`);
}

export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
