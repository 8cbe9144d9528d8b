import pino, { type Logger } from 'pino';
import type { Config } from './kernel/config/schema.ts';
import { secretToken } from './kernel/ids.ts';
import { expireHolds } from './billing/holds.ts';
import { expireBalances } from './billing/topups.ts';
import { EventBus, type BusKind, type Runtime } from './kernel/context.ts';
import { openDb } from './storage/open.ts';
import { Jobs } from './kernel/jobs.ts';
import { outboxJob, type OutboxChannels } from './notify/outbox.ts';
import { detectorJob } from './incidents/detector.ts';
import type { Db } from './storage/port.ts';

export interface RuntimeHandle extends Runtime {
  bus: EventBus;
  /** Background jobs of this process (kernel/jobs.ts); the upkeep jobs are registered already. */
  jobs: Jobs;
  /** The outbox's channels besides webhooks, by name (the status page registers `email` when SMTP is configured). */
  outboxChannels: OutboxChannels;
  /** Starts the background jobs: expired holds voided, balances expired (when enabled), the outbox delivered, draft incidents from traffic, and any registered since. */
  startMaintenance(intervalMs?: number): void;
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: undefined, redact: ['*.authorization', '*.key', '*.secret', '*.adminKey', '*.secretKey', '*.databaseUrl', '*.redisUrl', '*.smtpUrl'] });
}

export async function createRuntime(config: Config, opts: { log?: Logger; db?: Db } = {}): Promise<RuntimeHandle> {
  const log = opts.log ?? createLogger(config);
  const db = opts.db ?? (await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const bus = new EventBus();
  const jobs = new Jobs(log);
  const outboxChannels: OutboxChannels = new Map();
  // Several processes on one PostgreSQL (gateway instances, the CLI): relay change notices so that
  // a revoked key, a top-up or a catalog change reaches every instance at once, not at cache expiry.
  let unlisten: (() => Promise<void>) | null = null;
  if (db.notify && db.listen) {
    const me = secretToken(12);
    // One channel per schema: deployments (and tests) sharing a database in schemas of their own
    // must not hear each other's notices (NOTIFY channels are database-wide).
    const schema = (await db.get<{ s: string }>('SELECT current_schema() AS s'))?.s ?? 'public';
    const channel = `surety_bus:${schema}`;
    const notify = db.notify.bind(db);
    try {
      unlisten = await db.listen(channel, (payload) => {
        try {
          const m = JSON.parse(payload) as { from: string; kind: BusKind; id: string };
          if (m.from !== me) bus.deliver(m.kind, m.id);
        } catch {
          // Not ours: ignore.
        }
      });
      bus.relay = (kind, id) => void notify(channel, JSON.stringify({ from: me, kind, id })).catch((err) => log.warn({ err }, 'change notice not relayed'));
    } catch (err) {
      log.warn({ err }, 'no change notices between instances (LISTEN failed); caches expire instead');
    }
  }
  const rt: RuntimeHandle = {
    db,
    config,
    bus,
    log,
    now: Date.now,
    jobs,
    outboxChannels,
    startMaintenance(intervalMs = 10_000) {
      if (!jobs.names.includes('expire-holds')) {
        jobs.register({
          name: 'expire-holds',
          intervalMs,
          run: async () => {
            const n = await expireHolds(rt);
            if (n) log.info({ holds_expired: n }, 'maintenance');
            return n;
          },
        });
        jobs.register(outboxJob(db, () => rt.now(), undefined, undefined, outboxChannels));
        jobs.register(detectorJob(rt));
        if (config.balanceExpiryDays > 0) {
          jobs.register({
            name: 'expire-balances',
            intervalMs,
            run: async () => {
              const n = await expireBalances(rt);
              if (n) log.info({ balances_expired: n }, 'maintenance');
              return n;
            },
          });
        }
      }
      jobs.start();
    },
    async close() {
      await jobs.stop();
      bus.relay = null;
      await unlisten?.();
      await db.close();
    },
  };
  return rt;
}

// The operator key at start is the operator-key service's (it alone writes the stored hash).
export { resolveAdminKey } from './accounts/operator-key.ts';
