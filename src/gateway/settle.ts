// Settlement: once per request, whatever its outcome. The charge is decided (once: the
// x-surety-cost header and the row agree), holds and limits are released, and the log row is
// queued with its charge for the group-committed writer (one transaction per batch).

import { priceUsage } from '../billing/pricing.ts';
import { newDelivered } from '../providers/billable.ts';
import type { BillableUsage } from '../providers/types.ts';
import { billableUsage } from '../requests/policy.ts';
import type { RequestRow } from '../requests/schema.ts';
import type { Flight } from './flight.ts';
import type { AdmissionParts } from './admission.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface SettleParts extends AdmissionParts {
  metrics: GatewayMetrics;
  cancelledPolicy: 'delivered' | 'none';
}

/** The usage a request is billed for (policy), or null. */
function billed(p: SettleParts, f: Flight): BillableUsage | null {
  if (!f.live || !f.principal) return null;
  const r = f.response;
  const delivered = r?.delivered ?? newDelivered();
  return billableUsage({
    outcome: f.verdict.outcome,
    reported: r?.billable ?? null,
    delivered,
    reachedClient: f.reachedClient,
    final: f.final,
    estimate: () => f.api.estimateUsage(f.endpoint, f.call.body ?? { prompt: f.call.form?.prompt ?? '' }, delivered, f.facts?.image ?? {}),
    billedOnModeration: f.live.price.billed_on_moderation,
    cancelledPolicy: p.cancelledPolicy,
  });
}

/**
 * The charge: exactly the price of the billed usage at the request's price version and group
 * multiplier, rounded once (billing/pricing.ts). Never capped at the hold: a charge below its
 * usage's price would be an abnormal charge in itself. Decided once per request.
 */
export function chargeOf(p: SettleParts, f: Flight): bigint {
  if (f.amount !== null) return f.amount;
  const usage = billed(p, f);
  f.billable = usage;
  f.amount = usage && f.live ? priceUsage(f.live.price, usage, f.multiplier) : 0n;
  return f.amount;
}

/** Releases holds and limits, and queues the log row with its charge (returned). Runs once per request. */
export function settle(p: SettleParts, f: Flight): RequestRow {
  const end = Date.now();
  const endHr = performance.now();
  const principal = f.principal;
  const amount = chargeOf(p, f);
  if (f.quota) {
    const b = f.billable;
    // The rate windows count the tokens really used (output too) in place of the estimate.
    const used = b ? b.input_tokens + b.cached_input_tokens + b.cache_write_tokens + b.output_tokens - f.quota.tokens : 0;
    p.quotas.release(f.quota, amount, used, end);
  }
  const row: RequestRow = {
    id: f.call.requestId,
    account_id: principal?.key.account_id ?? null,
    key_id: principal?.key.id ?? null,
    member_id: principal?.key.member_id ?? null,
    endpoint: f.call.surface.operation,
    provider: f.call.surface.provider,
    model: f.live?.config.id ?? namedModel(f),
    upstream_model: f.upstreamModel,
    channel_id: f.channel?.config.id ?? null,
    attempts: f.attempts,
    started_at: f.call.started,
    first_byte_at: f.firstByteAt,
    ended_at: end,
    duration_ms: Math.max(0, Math.round(endHr - f.call.startedHr)),
    stream: f.stream,
    status: f.status,
    outcome: f.verdict.outcome,
    error_code: f.verdict.code,
    error: f.detail,
    usage_raw: f.response?.raw ?? null,
    usage_billable: f.billable,
    usage_estimated: f.billable?.estimated ?? false,
    price_version: f.live?.config.price_version ?? null,
    hold_amount: f.hold,
    amount,
    tx_id: null,
    delivered: delivered(f, amount),
    client_ip: f.call.clientIp || null,
    upstream_provider: f.upstreamProvider,
    client_ref: clientRef(f.call.headers),
  };
  p.writer.push(row);
  count(p.metrics, f, amount, (endHr - f.call.startedHr) / 1000);
  return row;
}

/** The client's own reference of the request: its Idempotency-Key, else its x-request-id (what a retry repeats). */
function clientRef(h: Flight['call']['headers']): string | null {
  const v = h['idempotency-key'] ?? h['x-request-id'];
  return typeof v === 'string' && v !== '' ? v.slice(0, 200) : null;
}

function namedModel(f: Flight): string | null {
  const m = f.call.pathModel ?? f.call.body?.model ?? f.call.form?.model;
  return typeof m === 'string' ? m.slice(0, 200) : null;
}

/** What was delivered, as the row keeps it; notes usage that a charge took past its hold. */
function delivered(f: Flight, amount: bigint): Record<string, unknown> {
  const d: Record<string, unknown> = { ...(f.response?.delivered ?? newDelivered()) };
  if (f.chunks) d.chunks = f.chunks;
  if (f.bytes) d.bytes = f.bytes;
  if (f.response?.unknownUsage.length) d.unknown_usage = f.response.unknownUsage;
  if (amount > f.hold && f.hold > 0n) d.over_hold = true;
  if ((f.response as { usageRegressed?: boolean } | null)?.usageRegressed) d.usage_regressed = true;
  return d;
}

function count(m: GatewayMetrics, f: Flight, amount: bigint, totalS: number): void {
  const model = f.live?.config.id ?? 'unknown';
  const outcome = f.verdict.outcome;
  m.requestsOf(model, f.channel?.config.name ?? 'none', outcome, f.call.surface.operation).inc();
  m.latencyOf(model, outcome).observe(totalS);
  if (outcome === 'ok' && !f.stream) m.overheadOf(f.call.surface.operation).observe(Math.max(0, totalS - f.upstreamMs / 1000));
  if (f.firstByteAt !== null) m.ttfbOf(model).observe((f.firstByteAt - f.call.started) / 1000);
  if (amount > 0n && f.billable) {
    const b = f.billable;
    m.chargedOf(model).inc(Number(amount));
    m.tokensOf(model, 'input').inc(b.input_tokens);
    m.tokensOf(model, 'output').inc(b.output_tokens);
    if (b.cached_input_tokens) m.tokensOf(model, 'cached_input').inc(b.cached_input_tokens);
    if (b.cache_write_tokens) m.tokensOf(model, 'cache_write').inc(b.cache_write_tokens);
  }
}
