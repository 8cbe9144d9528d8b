// Calling a channel: one pooled keep-alive undici Agent per channel, and where and with which
// timeouts a channel is called for an endpoint kind, computed once per catalog snapshot (no URL
// parsing on the hot path).

import type { IncomingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import { DEFAULT_TIMEOUTS, type LiveChannel, type Timeouts } from '../catalog/index.ts';
import type { ProviderModule } from '../providers/provider.ts';
import type { Endpoint } from '../providers/types.ts';

export interface Target {
  origin: string;
  prefix: string;
  timeouts: Timeouts;
}

export class UpstreamPool {
  private readonly agents = new Map<string, { agent: Agent; sig: string }>();
  private readonly targets = new WeakMap<LiveChannel, Map<Endpoint, Target>>();

  agentFor(ch: LiveChannel, connectMs: number): Dispatcher {
    const sig = `${ch.config.base_url}|${connectMs}`;
    const cur = this.agents.get(ch.config.id);
    if (cur && cur.sig === sig) return cur.agent;
    if (cur) void cur.agent.close();
    const agent = new Agent({ connect: { timeout: connectMs }, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: 512 });
    this.agents.set(ch.config.id, { agent, sig });
    return agent;
  }

  /** Where and with which timeouts `ch` is called for an endpoint kind. */
  target(ch: LiveChannel, endpoint: Endpoint, upstreamApi: ProviderModule): Target {
    let byEndpoint = this.targets.get(ch);
    if (!byEndpoint) this.targets.set(ch, (byEndpoint = new Map()));
    let t = byEndpoint.get(endpoint);
    if (!t) {
      const base = new URL(upstreamApi.normaliseBaseUrl(ch.config.base_url));
      t = {
        origin: base.origin,
        prefix: base.pathname.replace(/\/+$/, ''),
        timeouts: { ...DEFAULT_TIMEOUTS[endpoint], ...ch.config.timeouts, ...(ch.config.endpoint_timeouts[endpoint] ?? {}) },
      };
      byEndpoint.set(endpoint, t);
    }
    return t;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.agent.close().catch(() => {})));
  }
}

/**
 * Aborts one upstream call, with one listener slot: UpstreamAnswer listens on it. It keeps the
 * EventEmitter shape undici's `request()` also accepts as a signal (`on`/`once`/`removeListener`,
 * `aborted`, `reason`; tested), so a call made either way is cut the same way. An AbortController,
 * with its EventTarget listener added and removed, cost ~9 µs of CPU per request here against
 * ~0.2 µs for this; it was on every request's path before the upstream call.
 */
export class UpstreamAbort {
  aborted = false;
  reason: unknown = undefined;
  private listener: (() => void) | null = null;

  /** undici's check that this is an emitter; it then listens with `once`. */
  on(_event: 'abort', listener: () => void): this {
    return this.once(_event, listener);
  }
  once(_event: 'abort', listener: () => void): this {
    this.listener = listener;
    return this;
  }
  removeListener(_event: 'abort', listener: () => void): this {
    if (this.listener === listener) this.listener = null;
    return this;
  }
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const l = this.listener;
    this.listener = null;
    l?.();
  }
}

/**
 * One upstream call and its answer as it arrives, through undici's dispatch handler API (this
 * object is the handler): the chunks come straight to the reader, without the Readable body, the
 * promise per chunk and the consumer that `request()` builds for each call (measured here: ~40 µs
 * of CPU per request less at c=64, of ~450). `signal` cuts the call at any point, as it cuts
 * `request()`'s. Read the answer whole (`whole`), or chunk by chunk as it comes (`each`, streams),
 * once its headers are in (`started`). A failure rejects whichever of them is waited for;
 * `status` stays 0 when it came before the headers.
 */
export class UpstreamAnswer implements Dispatcher.DispatchHandler {
  status = 0;
  headers: IncomingHttpHeaders = {};
  headersAt: number | null = null;
  private state: 'waiting' | 'open' | 'ended' | 'failed' = 'waiting';
  private error: unknown = null;
  private chunks: Buffer[] = [];
  private sink: ((chunk: Buffer) => void) | null = null;
  private controller: Dispatcher.DispatchController | null = null;
  private headersWait: Waiter<void> | null = null;
  private endWait: Waiter<void> | null = null;
  private readonly signal: UpstreamAbort;
  private readonly cut = () => {
    if (this.controller) this.controller.abort(this.signal.reason as Error);
    else this.fail(this.signal.reason);
  };

  constructor(d: Dispatcher, opts: Dispatcher.DispatchOptions, signal: UpstreamAbort) {
    this.signal = signal;
    if (signal.aborted) {
      this.fail(signal.reason);
      return;
    }
    signal.once('abort', this.cut);
    d.dispatch(opts, this);
  }

  /** Resolves once the status and headers are in. */
  started(): Promise<void> {
    if (this.state === 'failed' && this.headersAt === null) return Promise.reject(this.error);
    if (this.state !== 'waiting') return Promise.resolve();
    return new Promise((resolve, reject) => (this.headersWait = { resolve, reject }));
  }

  /** The whole body, once the answer has ended. */
  async whole(): Promise<Buffer> {
    await this.ended();
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  /** Hands every chunk to `sink` as it comes (those already in at once); resolves at the end. */
  each(sink: (chunk: Buffer) => void): Promise<void> {
    const early = this.chunks;
    this.chunks = [];
    try {
      for (const c of early) sink(c);
    } catch (e) {
      this.controller?.abort(e as Error);
      this.fail(e);
    }
    this.sink = sink;
    return this.ended();
  }

  /** Stops reading the answer (the socket's window fills: the upstream slows down) until `resume`. */
  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  private ended(): Promise<void> {
    if (this.state === 'ended') return Promise.resolve();
    if (this.state === 'failed') return Promise.reject(this.error);
    return new Promise((resolve, reject) => (this.endWait = { resolve, reject }));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Cut while it waited for a connection of the pool: it is not sent at all.
    if (this.state === 'failed') controller.abort(this.error as Error);
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    // An informational answer (103 Early Hints…) comes before the real one: not the answer yet.
    if (status < 200 || this.state !== 'waiting') return;
    this.status = status;
    this.headers = headers;
    this.headersAt = Date.now();
    this.state = 'open';
    this.headersWait?.resolve();
    this.headersWait = null;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.sink) return void this.chunks.push(chunk);
    try {
      this.sink(chunk);
    } catch (e) {
      // The reader failed on this chunk: the call ends with its error, as a broken body would.
      controller.abort(e as Error);
    }
  }

  onResponseEnd(): void {
    if (this.state === 'ended' || this.state === 'failed') return;
    this.state = 'ended';
    this.signal.removeListener('abort', this.cut);
    this.endWait?.resolve();
    this.endWait = null;
  }

  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.state === 'ended' || this.state === 'failed') return;
    this.state = 'failed';
    this.error = error;
    this.signal.removeListener('abort', this.cut);
    this.headersWait?.reject(error);
    this.endWait?.reject(error);
    this.headersWait = this.endWait = null;
  }
}

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export class DeadlineError extends Error {
  constructor() {
    super('upstream deadline exceeded');
    this.name = 'DeadlineError';
  }
}

/** A transport failure: was it a timeout (ours or undici's), and what to tell operators. */
export function transportFailure(err: unknown): { timeout: boolean; detail: string } {
  const e = err as { code?: string; name?: string; message?: string; cause?: unknown };
  const cause = e?.cause as { name?: string } | undefined;
  const code = e?.code ?? '';
  const timeout =
    e instanceof DeadlineError ||
    cause instanceof DeadlineError ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'ETIMEDOUT';
  const msg = `${code ? `${code}: ` : ''}${e?.message ?? String(err)}`;
  return { timeout, detail: msg.length > 300 ? `${msg.slice(0, 300)}…` : msg };
}
