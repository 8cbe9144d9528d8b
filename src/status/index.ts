// The public status page (DESIGN guarantee 5): components and groups, the status that sets itself
// from live traffic and synthetic probes (with hysteresis, overrides, maintenance), the stored
// status history, 90-day uptime, the page, the Statuspage-compatible JSON API, feeds and a badge.
// docs/status.md explains the rules. Other modules read the history through statusIntervals
// (SLA contracts: what each component's status was over a period).
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../kernel/context.ts';
import type { Jobs } from '../kernel/jobs.ts';
import type { RouteTable } from '../http/routes.ts';
import { registerStatusAdminRoutes } from './admin-routes.ts';
import { PageCache } from './cache.ts';
import { pageSettings, seedStatus, type StatusFile } from './config-file.ts';
import { StatusMonitor } from './monitor.ts';
import type { ChangeSink, IncidentSource } from './notices.ts';
import { incidentsOf } from './incidents-source.ts';
import { announceChange, announceIncidentUpdates } from './subscribers.ts';
import { Prober, type ProberOptions } from './probes.ts';
import { registerPublicStatusRoutes } from './public-routes.ts';
import { pruneSamples } from './samples.ts';
import { loadSnapshot } from './snapshot.ts';
import { MemoryFailureLog } from '../kernel/failure-log.ts';
import { mailerOf } from '../notify/mailer.ts';
import type { OutboxChannels } from '../notify/outbox.ts';
import { EmailSubscriptions, expireUnconfirmed } from './email-subscribers.ts';
import { emailChannel } from './emails.ts';
import { registerEmailRoutes } from './subscribe-routes.ts';

export { statusIntervals, dailyUptime, rangeUptime, listChanges, type StatusInterval, type StatusChange, type DayUptime } from './history.ts';
export { listComponents, matchesModel, type StatusComponent } from './components.ts';
export { STATUSES, STATUS_NAMES, UPTIME_RULE, type ComponentStatus } from './vocabulary.ts';
export { STATUS_MIGRATION } from './schema.ts';
export { parseStatusFile, statusFileOf, StatusFileSchema, type StatusFile } from './config-file.ts';

export interface StatusOptions {
  /** Background jobs (evaluation, probes, pruning); none registered without. */
  jobs?: Jobs;
  /** The "status" section of the catalog file, validated (parseStatusFile). */
  file?: StatusFile | null;
  /** Incidents and maintenance shown (default: src/incidents/). */
  incidents?: IncidentSource;
  /** Where changes are announced (default: subscribers and operator endpoints, through the outbox). */
  sink?: ChangeSink;
  evaluateEveryMs?: number;
  probeTickMs?: number;
  /** How long a page snapshot is served (ms). */
  cacheTtlMs?: number;
  /** Synthetic probes on (default) or off, and their cadence (the demo probes soon and often). */
  probes?: boolean | ProberOptions;
  /** The outbox's channels (the runtime's): `email` is registered there when SMTP is configured. */
  outboxChannels?: OutboxChannels;
}

export interface StatusHandle {
  monitor: StatusMonitor;
  cache: PageCache;
  prober: Prober | null;
  /** E-mail subscriptions (enabled when SMTP_URL is set). */
  email: EmailSubscriptions;
  /** Starts the probes against this gateway's own URL (once it listens). */
  start(url: string): void;
  close(): Promise<void>;
}

/** Registers the status page's routes and jobs, and seeds the default page on a new database. */
export async function registerStatus(app: FastifyInstance, rt: Runtime, routes: RouteTable, opts: StatusOptions = {}): Promise<StatusHandle> {
  const incidents = opts.incidents ?? incidentsOf(rt);
  const mailer = mailerOf(rt.config);
  const settings = { ...pageSettings(opts.file ?? null), subscribe: mailer !== null };
  const email = new EmailSubscriptions(mailer, rt.failures ?? new MemoryFailureLog());
  // Links in e-mails: the page's public URL, else SURETY_PUBLIC_URL, else this gateway's own address (known once it listens).
  let linkBase = (settings.url ?? rt.config.publicUrl ?? `http://${rt.config.host.includes(':') ? `[${rt.config.host}]` : rt.config.host}:${rt.config.port}`).replace(/\/+$/, '');
  const configuredBase = Boolean(settings.url ?? rt.config.publicUrl);
  if (mailer) {
    opts.outboxChannels?.set('email', emailChannel(rt, mailer, () => ({ name: settings.name, base: linkBase })));
    // A wrong host or password shows in the log at start, not only on the first e-mail's retries.
    const smtpHost = new URL(rt.config.smtpUrl!).host;
    void mailer.verify().then((problem) => (problem ? rt.log.warn({ smtp: smtpHost, problem }, 'SMTP server not usable; status e-mails are retried until it is') : rt.log.info({ smtp: smtpHost }, 'status page e-mail subscriptions on')));
  }
  const seeded = await seedStatus(rt, opts.file ?? null);
  if (seeded) rt.log.info({ components: seeded }, 'status page components applied');
  const monitor = new StatusMonitor(rt, incidents, opts.sink ?? announceChange);
  const ttl = opts.cacheTtlMs ?? 5_000;
  const cache = new PageCache(() => loadSnapshot(rt, incidents, settings), ttl);
  cache.onError = (err) => rt.log.warn({ err }, 'status page not refreshed; the previous snapshot is served');
  registerPublicStatusRoutes(app, cache, Math.max(1, Math.round(ttl / 1000)));
  registerEmailRoutes(app, rt, email, cache);
  registerStatusAdminRoutes(routes, rt, { evaluate: () => monitor.evaluate(), changed: () => cache.invalidate(), email });
  const jobs = opts.jobs;
  if (jobs) {
    jobs.register({ name: 'status-evaluate', intervalMs: opts.evaluateEveryMs ?? 30_000, run: async () => (await monitor.evaluate()).length || null });
    jobs.register({ name: 'status-prune', intervalMs: 3_600_000, run: async () => (await pruneSamples(rt, rt.now())) + (await expireUnconfirmed(rt)) });
    // Incident updates to subscribers: each run looks back over the last hour (keys make repeats free).
    jobs.register({ name: 'status-incident-notices', intervalMs: opts.evaluateEveryMs ?? 30_000, run: async () => (await announceIncidentUpdates(rt, rt.now() - 3_600_000)) || null });
  }
  const handle: StatusHandle = {
    monitor,
    cache,
    prober: null,
    email,
    start(url) {
      if (!configuredBase) linkBase = url.replace(/\/+$/, '');
      if (!jobs || opts.probes === false || handle.prober) return;
      const prober = (handle.prober = new Prober(rt, url, typeof opts.probes === 'object' ? opts.probes : {}));
      jobs.register({ name: 'status-probes', intervalMs: opts.probeTickMs ?? 10_000, run: () => prober.tick() });
    },
    async close() {
      await handle.prober?.close();
      if (opts.outboxChannels?.get('email')) opts.outboxChannels.delete('email');
      mailer?.close();
    },
  };
  return handle;
}
