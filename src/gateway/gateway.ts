// The data plane's request lifecycle:
//   admission (auth → model → key rules → limits → worst-case hold, in memory)
//   → forward (upstream attempts, failover within the deadline; each attempt judged by the policy)
//   → settle (the charge decided once; holds released; log row + charge queued for the
//     group-committed writer, in one transaction).
// Every path ends in exactly one outcome (requests/policy.ts) and one log row.

import type { ServerResponse } from 'node:http';
import type { KeyAuthenticator } from '../accounts/keys.ts';
import { Balances } from '../billing/balances.ts';
import type { Catalog } from '../catalog/index.ts';
import type { Runtime } from '../kernel/context.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { PROVIDER_MODULES } from '../providers/modules.ts';
import { outcomeOfRefusal } from '../requests/policy.ts';
import { LogWriter, type ChargeObserver } from '../requests/writer.ts';
import type { RequestRow } from '../requests/schema.ts';
import { admit, type Refusal } from './admission.ts';
import { newFlight, type Flight, type IncomingCall } from './flight.ts';
import { forward, type ForwardParts } from './forward.ts';
import { Concurrency, KeySpendTracker, RateLimiter } from './limits.ts';
import { MemoryQuotas, type Quotas } from './quotas.ts';
import type { GatewayMetrics } from './metrics.ts';
import { answerError } from './respond.ts';
import { LoadShedder } from './overload.ts';
import { Router } from './router.ts';
import { chargeOf, settle, type SettleParts } from './settle.ts';
import { countTokens } from './count.ts';
import { UpstreamPool } from './upstream.ts';

export type { IncomingCall, Surface } from './flight.ts';

export interface ProxyOptions {
  maxAttempts?: number;
  /** Bill what was delivered before the client went away (default) or nothing. */
  cancelledPolicy?: 'delivered' | 'none';
  /** Output tokens assumed for the hold when neither request nor model says. */
  defaultMaxOutputTokens?: number;
  /** Quotas shared with other instances (cluster/quotas.ts); this process's memory when absent. */
  sharedQuotas?: Quotas & ChargeObserver;
}

export class Gateway {
  /** The in-memory account money (the single-instance default; unused when quotas are shared). */
  readonly balances: Balances;
  readonly quotas: Quotas;
  readonly writer: LogWriter;
  readonly router: Router;
  readonly pool = new UpstreamPool();
  /** Requests in flight per operation; /metrics reads it at scrape time (no per-request metric work). */
  readonly inFlightByOperation = new Map<string, number>();
  private readonly rt: Runtime;
  private readonly parts: SettleParts;
  private readonly forwarding: ForwardParts;
  private inFlight = 0;
  private draining = false;
  readonly shedder: LoadShedder;

  constructor(rt: Runtime, catalog: Catalog, auth: KeyAuthenticator, metrics: GatewayMetrics, opts: ProxyOptions = {}, router = new Router()) {
    this.rt = rt;
    this.router = router;
    this.shedder = new LoadShedder({ maxInFlight: rt.config.maxInFlight, maxLagMs: rt.config.shedLagMs });
    this.balances = new Balances(rt);
    const balances = this.balances;
    if (opts.sharedQuotas) {
      this.quotas = opts.sharedQuotas;
      this.writer = new LogWriter(rt, opts.sharedQuotas);
    } else {
      this.quotas = new MemoryQuotas({ limiter: new RateLimiter(), concurrency: new Concurrency(), spend: new KeySpendTracker(rt), balances });
      this.writer = new LogWriter(rt, {
        committed: (accountId, charged, after) => balances.committed(accountId, charged, after),
        dropped: (c) => balances.dropped(c.accountId, c.amount),
      });
    }
    this.parts = {
      auth,
      catalog,
      quotas: this.quotas,
      writer: this.writer,
      metrics,
      defaultMaxOutputTokens: opts.defaultMaxOutputTokens ?? 8192,
      cancelledPolicy: opts.cancelledPolicy ?? 'delivered',
    };
    const parts = this.parts;
    this.forwarding = { router, pool: this.pool, metrics, maxAttempts: opts.maxAttempts ?? 3, charge: (f) => chargeOf(parts, f) };
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Handles one data-plane request end to end, writing the response to `res`. */
  async handle(call: IncomingCall, res: ServerResponse): Promise<void> {
    const f = newFlight(call, PROVIDER_MODULES[call.surface.provider]);
    f.strict = this.rt.config.durability === 'strict';
    this.inFlight++;
    const op = call.surface.operation;
    this.inFlightByOperation.set(op, (this.inFlightByOperation.get(op) ?? 0) + 1);
    const onClose = () => {
      if (!res.writableFinished) {
        f.clientGone = true;
        f.abortUpstream?.();
      }
    };
    res.on('close', onClose);
    try {
      const refusal = this.draining ? { error: new AppError('SHUTTING_DOWN'), headers: { connection: 'close' } } : (this.overloaded() ?? (await admit(this.parts, f)));
      if (refusal) this.refuse(f, res, refusal);
      else await forward(this.forwarding, f, res);
    } catch (e) {
      if (isAppError(e) && f.attempts.length === 0) {
        // Refused while reading the request (a provider module found a field invalid).
        this.refuse(f, res, { error: e });
      } else {
        // Our own fault: never billed, always logged.
        this.rt.log.error({ err: e, request_id: call.requestId }, 'gateway error');
        f.verdict = { outcome: 'platform_error', next: 'end', code: 'INTERNAL' };
        f.billable = null;
        f.amount = 0n;
        answerError(f, res, new AppError('INTERNAL', 'The gateway failed while handling this request.'));
      }
    } finally {
      res.off('close', onClose);
      const row = settle(this.parts, f);
      if (f.tail) await this.endWhenCommitted(f, row, res);
      this.inFlight--;
      this.inFlightByOperation.set(op, this.inFlightByOperation.get(op)! - 1);
    }
  }

  /** Token counting (Anthropic count_tokens, Gemini countTokens): not billed, rate-limited (gateway/count.ts). */
  countTokens(call: IncomingCall, res: ServerResponse): Promise<void> {
    return countTokens({ auth: this.parts.auth, catalog: this.parts.catalog, quotas: this.quotas, router: this.router, pool: this.pool }, call, res);
  }

  /**
   * Strict durability: the answer's last byte (a stream's end marker) goes out only once its row
   * and charge have committed, so no answer a client received in full can lack its row. When the
   * writer gives up on the row (shutdown with storage down) the answer is cut off instead.
   */
  private async endWhenCommitted(f: Flight, row: RequestRow, res: ServerResponse): Promise<void> {
    const committed = await this.writer.committedOf(row);
    if (res.destroyed) return;
    if (committed) f.tail!();
    else res.destroy();
  }

  /** Load shedding: a refusal when the process has more work than it can do (gateway/overload.ts). */
  private overloaded(): Refusal | null {
    // This request is already counted in inFlight.
    const wait = this.shedder.refuse(this.inFlight - 1);
    return wait === null ? null : { error: new AppError('OVERLOADED'), headers: { 'retry-after': String(wait) } };
  }

  /** A request refused before any upstream call: its outcome follows from the error that refused it. */
  private refuse(f: Flight, res: ServerResponse, r: Refusal): void {
    f.verdict = { outcome: outcomeOfRefusal(r.error.code), next: 'end', code: r.error.code };
    f.detail = r.error.message.length > 500 ? `${r.error.message.slice(0, 500)}…` : r.error.message;
    answerError(f, res, r.error, r.headers);
  }

  /**
   * Errors raised before the handler (bad JSON, too large, wrong content type) answer in the
   * caller's shape and are logged like any request. A key that was presented but is invalid is
   * told first: a client with a revoked key learns that, not that its body is malformed.
   */
  async rejectEarly(call: IncomingCall, res: ServerResponse, e: AppError): Promise<void> {
    const f = newFlight(call, PROVIDER_MODULES[call.surface.provider]);
    let error = e;
    try {
      f.principal = await this.parts.auth.authenticate(call.key);
    } catch (authError) {
      // A bad request with a bad key is still logged: with its account when the key is known.
      f.principal = this.parts.auth.known(call.key);
      if (call.key && isAppError(authError) && e.code !== 'INTERNAL') error = authError;
    }
    this.refuse(f, res, { error });
    settle(this.parts, f);
  }

  /** From now on, new requests are refused (SHUTTING_DOWN); those in flight go on. */
  refuseNew(): void {
    this.draining = true;
  }

  /** Stop taking new requests; wait for in-flight ones (up to `ms`); flush the writer. */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    const until = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.writer.close();
    await this.pool.close();
    this.shedder.close();
  }

  static newRequestId(): string {
    return newId('req');
  }
}
