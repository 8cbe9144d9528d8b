import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export interface Closable {
  name: string;
  close(): Promise<void>;
}

/**
 * Listens and handles SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish
 * (up to the grace period), then close the rest in order (batch writers flush, storage closes).
 */
export async function serve(app: FastifyInstance, opts: { host: string; port: number; log: Logger; graceSeconds: number; closables: Closable[]; handleSignals?: boolean }): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = await app.listen({ host: opts.host, port: opts.port });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      opts.log.info('shutting down: finishing in-flight requests');
      const grace = setTimeout(() => {
        opts.log.warn('grace period over: closing remaining connections');
        app.server.closeAllConnections();
      }, opts.graceSeconds * 1000);
      grace.unref();
      app.server.closeIdleConnections();
      // A keep-alive connection busy at the signal turns idle when its response ends; close it then,
      // or the client holding it open keeps the process alive until the grace period (72 s keep-alive).
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      reaper.unref();
      try {
        await app.close();
      } finally {
        clearInterval(reaper);
        clearTimeout(grace);
      }
      for (const c of opts.closables) {
        try {
          await c.close();
        } catch (err) {
          opts.log.error({ err }, `closing ${c.name} failed`);
        }
      }
      opts.log.info('stopped');
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    opts.log.info({ signal: sig }, 'signal received');
    stop().then(
      () => process.exit(0),
      (err) => {
        opts.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  if (opts.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { url, stop };
}
