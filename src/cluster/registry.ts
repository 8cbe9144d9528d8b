// The instance registry: every running gateway signs in to storage (the `instances` table) and
// signs again on each heartbeat, with or without Redis — so that several instances on one database
// without shared quotas are seen, and said loudly (at start, in the log and in /readyz), and so
// that operators can list what runs (GET /admin/v1/instances).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Runtime } from '../kernel/context.ts';
import { num, optNum, str } from '../storage/port.ts';

export interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  url: string | null;
  shared: boolean;
  started_at: number;
  seen_at: number;
  stopped_at: number | null;
}

function toInstance(r: Record<string, unknown>): InstanceRow {
  return {
    id: str(r.id),
    host: str(r.host),
    pid: num(r.pid),
    url: (r.url as string | null) ?? null,
    shared: num(r.shared) === 1,
    started_at: num(r.started_at),
    seen_at: num(r.seen_at),
    stopped_at: optNum(r.stopped_at),
  };
}

/** The instances signed in within the last day, newest first, each with the job leases it holds (operators). */
export async function listInstances(rt: Runtime, ttlMs: number): Promise<Array<Record<string, unknown>>> {
  const now = rt.now();
  const rows = (await rt.db.all('SELECT * FROM instances WHERE seen_at > ? ORDER BY started_at DESC LIMIT 500', [now - 86_400_000])).map(toInstance);
  const leases = await rt.db.all('SELECT job, holder FROM job_leases WHERE expires_at > ? ORDER BY job', [now]);
  const iso = (v: number | null) => (v === null ? null : new Date(v).toISOString());
  return rows.map((i) => ({
    id: i.id,
    host: i.host,
    pid: i.pid,
    url: i.url,
    shared_quotas: i.shared,
    started_at: iso(i.started_at),
    seen_at: iso(i.seen_at),
    stopped_at: iso(i.stopped_at),
    alive: i.stopped_at === null && i.seen_at > now - ttlMs,
    jobs: leases.filter((l) => l.holder === i.id).map((l) => str(l.job)),
  }));
}

export function newInstanceId(): string {
  return `${hostname().replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class InstanceRegistry {
  readonly id: string;
  private readonly rt: Runtime;
  private readonly shared: boolean;
  readonly ttlMs: number;
  /** Set by each heartbeat: what an operator must know about the instances on this database. */
  warning: string | null = null;

  constructor(rt: Runtime, opts: { id: string; shared: boolean; ttlMs: number }) {
    this.rt = rt;
    this.id = opts.id;
    this.shared = opts.shared;
    this.ttlMs = opts.ttlMs;
  }

  async register(url: string | null): Promise<void> {
    const now = this.rt.now();
    await this.rt.db.run('INSERT INTO instances (id, host, pid, url, shared, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      this.id, hostname(), process.pid, url, this.shared ? 1 : 0, now, now,
    ]);
    await this.check();
  }

  /** Signs in again; forgets instances not seen for a week. */
  async beat(): Promise<void> {
    const now = this.rt.now();
    await this.rt.db.run('UPDATE instances SET seen_at = ? WHERE id = ?', [now, this.id]);
    await this.rt.db.run('DELETE FROM instances WHERE seen_at < ?', [now - 7 * 86_400_000]);
    await this.check();
  }

  async stop(): Promise<void> {
    await this.rt.db.run('UPDATE instances SET stopped_at = ? WHERE id = ?', [this.rt.now(), this.id]);
  }

  /** Every instance signed in within the TTL and not stopped (this one included). */
  async live(): Promise<InstanceRow[]> {
    const rows = await this.rt.db.all('SELECT * FROM instances WHERE stopped_at IS NULL AND seen_at > ? ORDER BY started_at', [this.rt.now() - this.ttlMs]);
    return rows.map(toInstance);
  }

  private async check(): Promise<void> {
    const live = await this.live();
    const unshared = live.filter((i) => !i.shared);
    const before = this.warning;
    this.warning =
      live.length > 1 && unshared.length > 0
        ? `${live.length} gateway instances run on this ${this.rt.db.engine === 'sqlite' ? 'SQLite database' : 'database'} and ${unshared.length} of them without REDIS_URL: holds, rate limits and concurrency are then each instance's own, so together they can overspend balances and exceed limits. Set REDIS_URL on every instance (docs/scale-out.md).`
        : null;
    if (this.warning && this.warning !== before) this.rt.log.error({ instances: live.map((i) => ({ id: i.id, host: i.host, shared: i.shared })) }, this.warning);
  }
}
