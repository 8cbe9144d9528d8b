import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Db } from '../storage/db.ts';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer'];

/** Who is acting. Every service call carries one; audit entries record it. */
export type Actor =
  | { type: 'operator'; id: string }
  | { type: 'customer'; accountId: string; keyId: string; memberId: string | null; role: Role }
  | { type: 'system'; id: string };

export function actorId(a: Actor): string {
  return a.type === 'customer' ? `key:${a.keyId}` : `${a.type}:${a.id}`;
}

/** Change notices for in-memory caches (auth, balances, channels) kept by the data plane. */
export interface Bus {
  keyChanged(keyId: string): void;
  accountChanged(accountId: string): void;
  balanceChanged(accountId: string): void;
  catalogChanged(): void;
}

export type BusListener = Partial<Bus>;

export class EventBus implements Bus {
  private readonly listeners: BusListener[] = [];
  on(l: BusListener): void {
    this.listeners.push(l);
  }
  keyChanged(keyId: string): void {
    for (const l of this.listeners) l.keyChanged?.(keyId);
  }
  accountChanged(accountId: string): void {
    for (const l of this.listeners) l.accountChanged?.(accountId);
  }
  balanceChanged(accountId: string): void {
    for (const l of this.listeners) l.balanceChanged?.(accountId);
  }
  catalogChanged(): void {
    for (const l of this.listeners) l.catalogChanged?.();
  }
}

/** What every service needs; built once at start. */
export interface Runtime {
  db: Db;
  config: Config;
  bus: Bus;
  log: Logger;
  now: () => number;
}

export interface ServiceContext extends Runtime {
  actor: Actor;
}

export function withActor(rt: Runtime, actor: Actor): ServiceContext {
  return { ...rt, actor };
}
