// One request/response pair: timers tied to the socket's life, response helpers (single-buffer
// JSON, paced SSE with optional cut, reset), and outcome bookkeeping.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ErrorSpec } from './errors.ts';
import type { Stats } from './state.ts';
import type { Directives, Provider, SimRequestRecord } from './types.ts';

export interface SimContext {
  /** Real delay = simulated delay × timeScale. */
  timeScale: number;
  /** Base URL of this simulator, for `response_format: "url"` images. */
  baseUrl: string;
  stats: Stats;
}

export const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8';
export const JSON_CONTENT_TYPE = 'application/json';

export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly ctx: SimContext;
  readonly provider: Provider;
  readonly path: string;
  readonly query: string;
  model = '';
  key: string | null = null;
  record: SimRequestRecord | null = null;
  requestId = '';
  closed = false;
  outcome = 'pending';
  /** Unscaled simulated duration reported in `x-sim-simulated-ms`. */
  simulatedMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(req: IncomingMessage, res: ServerResponse, ctx: SimContext, provider: Provider, path: string, query: string) {
    this.req = req;
    this.res = res;
    this.ctx = ctx;
    this.provider = provider;
    this.path = path;
    this.query = query;
    ctx.stats.inFlight++;
    res.once('close', this.onClose);
  }

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const stats = this.ctx.stats;
    stats.inFlight--;
    if (this.outcome === 'pending') this.outcome = 'aborted';
    stats.countOutcome(this.outcome);
    if (this.record !== null) this.record.outcome = this.outcome;
  };

  /** Run `fn` after `simMs` simulated milliseconds (scaled); never runs once the socket closed. */
  after(simMs: number, fn: () => void): void {
    const real = simMs * this.ctx.timeScale;
    if (real <= 0) {
      if (!this.closed) fn();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) fn();
    }, real);
  }

  private mark(status: number, outcome: string): void {
    this.outcome = outcome;
    this.ctx.stats.countStatus(status);
    if (this.record !== null) {
      this.record.status = status;
      this.record.outcome = outcome;
    }
  }

  private headers(contentType: string, extra: string[] | undefined): string[] {
    const h = ['content-type', contentType, 'x-sim-simulated-ms', String(Math.round(this.simulatedMs))];
    if (this.requestId !== '') {
      h.push(this.provider === 'anthropic' ? 'request-id' : 'x-request-id', this.requestId);
    }
    if (extra !== undefined) for (let i = 0; i < extra.length; i++) h.push(extra[i]);
    return h;
  }

  /** Whole response as one buffer. */
  sendJson(status: number, body: string | Buffer, outcome = 'ok', extra?: string[], contentType = JSON_CONTENT_TYPE): void {
    if (this.closed) return;
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const h = this.headers(contentType, extra);
    h.push('content-length', String(buf.length));
    this.mark(status, outcome);
    this.res.writeHead(status, h);
    this.res.end(buf);
  }

  sendError(spec: ErrorSpec, outcome = 'error', d?: Readonly<Directives>): void {
    let extra: string[] | undefined;
    if (spec.status === 429) extra = ['retry-after', String(d !== undefined ? d.retryAfter : 1)];
    else if (spec.status === 529 || spec.status === 503) extra = ['retry-after', '1'];
    this.sendJson(spec.status, spec.body, outcome, extra);
  }

  /** Headers with the full content-length, then half the body, then the socket is destroyed. */
  sendTruncatedJson(status: number, body: string): void {
    if (this.closed) return;
    const buf = Buffer.from(body);
    const h = this.headers(JSON_CONTENT_TYPE, undefined);
    h.push('content-length', String(buf.length));
    this.mark(status, 'cut');
    this.res.writeHead(status, h);
    this.res.write(buf.subarray(0, buf.length >> 1));
    this.destroySoon();
  }

  /**
   * Stream pre-rendered frames. The first frame goes out immediately (with the headers), each next
   * one `chunkMs` simulated ms later; due frames are coalesced into one write. With `cut >= 0`
   * only min(cut, frames-1) frames are written and the socket is then destroyed, so the
   * terminating frame never arrives.
   */
  sendStream(
    status: number, frames: string[], chunkMs: number, cut: number,
    outcome = 'ok', contentType = SSE_CONTENT_TYPE, extra?: string[],
  ): void {
    if (this.closed) return;
    const res = this.res;
    const cutting = cut >= 0;
    const n = cutting ? Math.max(0, Math.min(cut, frames.length - 1)) : frames.length;
    this.simulatedMs += chunkMs * Math.max(0, n - 1);
    const h = this.headers(contentType, extra);
    h.push('cache-control', 'no-cache');
    this.mark(status, cutting ? 'cut' : outcome);
    res.writeHead(status, h);
    const real = chunkMs * this.ctx.timeScale;
    if (real <= 0 || n <= 1) {
      if (!cutting) {
        res.end(frames.length === 1 ? frames[0] : frames.join(''));
      } else {
        if (n > 0) res.write(n === 1 ? frames[0] : frames.slice(0, n).join(''));
        else res.flushHeaders();
        this.destroySoon();
      }
      return;
    }
    const start = performance.now();
    let i = 0;
    const tick = (): void => {
      this.timer = null;
      if (this.closed) return;
      const now = performance.now();
      let chunk = '';
      while (i < n && start + i * real <= now + 0.5) chunk += frames[i++];
      if (i >= n) {
        if (!cutting) {
          res.end(chunk);
        } else {
          if (chunk !== '') res.write(chunk);
          this.destroySoon();
        }
        return;
      }
      if (chunk !== '') res.write(chunk);
      this.timer = setTimeout(tick, start + i * real - now);
    };
    tick();
  }

  /** Connection reset before any response (RST where the platform supports it). */
  reset(outcome = 'reset'): void {
    if (this.closed) return;
    this.outcome = outcome;
    if (this.record !== null) this.record.outcome = outcome;
    const s = this.req.socket;
    if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
    else s.destroy();
  }

  /** Hold the request open and never answer; it ends when the client (or `close()`) goes away. */
  hold(outcome = 'timeout'): void {
    this.outcome = outcome;
    if (this.record !== null) this.record.outcome = outcome;
  }

  /** Flush what was written, then close the socket without finishing the HTTP message. */
  private destroySoon(): void {
    const s = this.res.socket;
    if (s !== null) s.destroySoon();
  }
}
