import type { Config } from './config/schema.ts';
import { buildApp, type App } from './app.ts';
import { bootstrapDemoAccount, isEmptyDatabase, type DemoInfo } from './demo.ts';
import { createRuntime, resolveAdminKey, type RuntimeHandle } from './runtime.ts';
import { serve, type Closable } from './server.ts';
import type { Logger } from 'pino';

export interface Started {
  url: string;
  rt: RuntimeHandle;
  app: App;
  adminKey: string | null;
  demo: DemoInfo | null;
  stop(): Promise<void>;
}

/** Composes and starts a gateway: storage, migrations, operator key, demo, HTTP, signals. */
export async function startSurety(config: Config, opts: { log?: Logger; handleSignals?: boolean } = {}): Promise<Started> {
  const rt = await createRuntime(config, opts.log ? { log: opts.log } : {});
  const closables: Closable[] = [];
  try {
    const admin = await resolveAdminKey(rt);
    const empty = await isEmptyDatabase(rt);
    const demo = empty && config.demo ? await bootstrapDemoAccount(rt) : null;
    const app = await buildApp(rt, { adminKeyHash: admin.hash });
    rt.startMaintenance();
    closables.push({ name: 'storage', close: () => rt.close() });
    const { url, stop } = await serve(app.app, { host: config.host, port: config.port, log: rt.log, graceSeconds: config.shutdownGraceSeconds, closables, handleSignals: opts.handleSignals ?? true });
    return { url, rt, app, adminKey: admin.generated ?? null, demo, stop };
  } catch (e) {
    await rt.close().catch(() => {});
    throw e;
  }
}
