import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import type { Db } from '../storage/port.ts';
import type { FailureLog } from './failure-log.ts';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer'];

/** Who is acting. Every service call carries one; audit entries record it. */
export type Actor =
  | { type: 'operator'; id: string }
  // keyId is null for a member signed in to the console with their password (no key acts).
  | { type: 'customer'; accountId: string; keyId: string | null; memberId: string | null; role: Role }
  | { type: 'system'; id: string };

export function actorId(a: Actor): string {
  if (a.type === 'customer') return a.keyId ? `key:${a.keyId}` : `member:${a.memberId}`;
  return `${a.type}:${a.id}`;
}

/** Change notices for in-memory caches (auth, balances, channels) kept by the data plane. */
export interface Bus {
  keyChanged(keyId: string): void;
  accountChanged(accountId: string): void;
  balanceChanged(accountId: string): void;
  catalogChanged(): void;
}

export type BusListener = Partial<Bus>;

export type BusKind = 'key' | 'account' | 'balance' | 'catalog';

/**
 * In-process change notices, optionally relayed to other processes (several gateway instances and
 * the CLI on one PostgreSQL: `relay` publishes, `deliver` hands in what others published).
 */
export class EventBus implements Bus {
  private readonly listeners: BusListener[] = [];
  /** Set by the runtime when storage can carry notices between processes. */
  relay: ((kind: BusKind, id: string) => void) | null = null;
  on(l: BusListener): void {
    this.listeners.push(l);
  }
  /** A notice from another process: local listeners only, never relayed again. */
  deliver(kind: BusKind, id: string): void {
    for (const l of this.listeners) {
      if (kind === 'key') l.keyChanged?.(id);
      else if (kind === 'account') l.accountChanged?.(id);
      else if (kind === 'balance') l.balanceChanged?.(id);
      else l.catalogChanged?.();
    }
  }
  private emit(kind: BusKind, id: string): void {
    this.deliver(kind, id);
    this.relay?.(kind, id);
  }
  keyChanged(keyId: string): void {
    this.emit('key', keyId);
  }
  accountChanged(accountId: string): void {
    this.emit('account', accountId);
  }
  balanceChanged(accountId: string): void {
    this.emit('balance', accountId);
  }
  catalogChanged(): void {
    this.emit('catalog', '');
  }
}

/** What every service needs; built once at start. */
export interface Runtime {
  db: Db;
  config: Config;
  bus: Bus;
  log: Logger;
  now: () => number;
  /** Failure counts for throttles, shared by every instance when REDIS_URL is set; absent: each service keeps its own. */
  failures?: FailureLog;
}

export interface ServiceContext extends Runtime {
  actor: Actor;
}

export function withActor(rt: Runtime, actor: Actor): ServiceContext {
  return { ...rt, actor };
}
