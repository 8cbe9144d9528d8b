import type { Logger } from 'pino';
import type { Config } from './kernel/config/schema.ts';
import { buildApp, type App } from './http/app.ts';
import { applyCatalogFile, prepareUpstreamKeys, readCatalogFile } from './catalog/index.ts';
import { bootstrapDemoAccount, configureDemoCatalog, hasDemoChannels, isEmptyDatabase, repointDemoChannels, startDemoSimulator, type DemoInfo } from './demo.ts';
import { registerGateway, type GatewayHandle, type GatewayOptions } from './gateway/routes.ts';
import { createRuntime, resolveAdminKey, type RuntimeHandle } from './runtime.ts';
import { createCluster, type Cluster } from './cluster/index.ts';
import { AppError } from './kernel/errors.ts';
import { registerDetectionJobs } from './detection/jobs.ts';
import { applyDetectionConfig, checkDetectionConfig } from './detection/config-file.ts';
import { expireHolds } from './billing/holds.ts';
import { serve, type Closable } from './http/server.ts';
import { registerSlaJobs } from './contracts/jobs.ts';
import type { Simulator } from './sim/server.ts';
import { registerStatus, statusFileOf, type StatusHandle, type StatusOptions } from './status/index.ts';

export interface Started {
  url: string;
  rt: RuntimeHandle;
  app: App;
  gateway: GatewayHandle;
  adminKey: string | null;
  demo: DemoInfo | null;
  sim: Simulator | null;
  /** This instance among others: its id, the registry, shared quotas when REDIS_URL is set. */
  cluster: Cluster;
  /** The status page: its monitor, cache and probes. */
  status: StatusHandle;
  /**
   * Reads, validates and applies the SURETY_CONFIG file again (also on SIGHUP). A bad file
   * changes nothing and is reported; the running catalog stays as it was.
   */
  reloadCatalogFile(): Promise<{ models: number; channels: number; groups: number } | null>;
  stop(): Promise<void>;
}

/** Composes and starts a gateway: storage, migrations, operator key, demo, HTTP, signals. */
export async function startSurety(config: Config, opts: { log?: Logger; handleSignals?: boolean; simPort?: number; gateway?: GatewayOptions; status?: StatusOptions } = {}): Promise<Started> {
  // A bad catalog file stops the start before anything opens.
  const catalogFile = config.configFile ? readCatalogFile(config.configFile) : null;
  if (catalogFile) checkDetectionConfig(catalogFile, config.configFile!);
  const statusFile = statusFileOf(config.configFile, catalogFile?.status);
  const rt = await createRuntime(config, opts.log ? { log: opts.log } : {});
  const closables: Closable[] = [];
  let sim: Simulator | null = null;
  let cluster: Cluster | null = null;
  try {
    // Before anything reads channels: the wrong SURETY_SECRET_KEY stops the start here.
    await prepareUpstreamKeys(rt);
    const admin = await resolveAdminKey(rt);
    // Holds that expired while no gateway ran are voided before anything is served: the expiry job
    // runs only every few seconds, and a hold must not outlive its TTL across a restart.
    await expireHolds(rt);
    const empty = await isEmptyDatabase(rt);
    if (catalogFile) {
      const applied = await applyCatalogFile(rt, catalogFile);
      rt.log.info({ file: config.configFile, ...applied, detection: await applyDetectionConfig(rt, catalogFile) }, 'catalog file applied');
    }
    let demo: DemoInfo | null = null;
    if (config.demo && (empty || (await hasDemoChannels(rt)))) {
      sim = await startDemoSimulator(rt, opts.simPort ?? config.simPort);
      if (empty) {
        await configureDemoCatalog(rt, sim.url);
        demo = await bootstrapDemoAccount(rt);
      } else {
        await repointDemoChannels(rt, sim.url);
      }
    }
    const c = (cluster = await createCluster(rt, config));
    let gateway: GatewayHandle | undefined;
    let status: StatusHandle | undefined;
    const app = await buildApp(rt, {
      adminKeyHash: admin.hash,
      warnings: () => c.warnings(),
      plugins: [
        async (a, r, auth, routes, readiness, door) => {
          gateway = await registerGateway(a, r, auth, routes, door, { cancelledPolicy: config.cancelledPolicy, ...(c.quotas ? { sharedQuotas: c.quotas } : {}), ...opts.gateway });
          c.quotas?.allow.register(gateway.metrics.registry);
          readiness.push(() => gateway!.gateway.writer.problem());
          readiness.push(() => {
            const p = c.problem();
            return p ? new AppError('CLUSTER_UNAVAILABLE', `${p}: data-plane requests are refused until Redis is back`) : null;
          });
        },
        async (a, _r, _auth, routes) => void (status = await registerStatus(a, rt, routes, { jobs: rt.jobs, outboxChannels: rt.outboxChannels, file: statusFile, ...opts.status })),
      ],
    });
    registerDetectionJobs(rt);
    registerSlaJobs(rt);
    rt.startMaintenance();
    closables.push({ name: 'status', close: () => status!.close() });
    closables.push({ name: 'gateway', close: () => gateway!.gateway.drain(config.shutdownGraceSeconds * 1000) });
    closables.push({ name: 'cluster', close: () => c.close() });
    if (sim) closables.push({ name: 'simulator', close: () => sim!.close() });
    closables.push({ name: 'storage', close: () => rt.close() });
    const reloadCatalogFile = async () => {
      if (!config.configFile) return null;
      const file = readCatalogFile(config.configFile);
      const applied = await applyCatalogFile(rt, file);
      await gateway!.catalog.reload();
      rt.log.info({ file: config.configFile, ...applied }, 'catalog file applied');
      return applied;
    };
    const handleSignals = opts.handleSignals ?? true;
    const { url, stop } = await serve(app.app, { host: config.host, port: config.port, log: rt.log, graceSeconds: config.shutdownGraceSeconds, closables, handleSignals });
    await c.start(url);
    status!.start(url);
    if (handleSignals && config.configFile) {
      const onHup = () => {
        reloadCatalogFile().catch((err) => rt.log.error({ err: (err as Error).message }, 'catalog file not applied; the running catalog is unchanged'));
      };
      process.on('SIGHUP', onHup);
      closables.unshift({ name: 'SIGHUP handler', close: async () => void process.off('SIGHUP', onHup) });
    }
    return { url, rt, app, gateway: gateway!, status: status!, adminKey: admin.generated ?? null, demo, sim, cluster: c, reloadCatalogFile, stop };
  } catch (e) {
    await cluster?.close().catch(() => {});
    await sim?.close().catch(() => {});
    await rt.close().catch(() => {});
    throw e;
  }
}
