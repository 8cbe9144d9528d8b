import { AppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import { compilePrice, type CompiledPrice, type PriceSpec } from '../catalog/index.ts';
import { lookupImagePrice } from '../billing/pricing.ts';
import { big, json, str, type Db, type Row } from '../storage/port.ts';
import type { RouteTable } from '../http/routes.ts';

// The cost breakdown of one request, for the log's detail drawer: each billable component of its
// usage times its rate in the price-book version the row records, exactly (as priceUsage sums
// it, before the one rounding), beside what was charged. A charge that differs from the subtotal
// is the group's price multiplier, or the outcome's billing policy (e.g. a cancelled request billed
// only for what was delivered, a failure never billed).

const MTOK = 1_000_000n;

export interface CostLine {
  component: string;
  quantity: number;
  /** USD per 1M tokens, per image or per request, as the price book says it. */
  rate: string;
  unit: 'per_mtok' | 'per_image' | 'per_request';
  /** quantity × rate, exact (up to 15 decimals of USD). */
  amount: string;
}

/** A numerator in nano-USD × 1M as an exact decimal string of USD. */
export function exactUsd(numerator: bigint): string {
  const neg = numerator < 0n;
  const v = neg ? -numerator : numerator;
  const scale = 1_000_000_000n * MTOK;
  const frac = (v % scale).toString().padStart(15, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${v / scale}${frac ? `.${frac.length < 2 ? frac.padEnd(2, '0') : frac}` : '.00'}`;
}

const TOKEN_LINES: Array<[string, keyof CompiledPrice, keyof CompiledPrice | null]> = [
  ['input_tokens', 'input_per_mtok', null],
  ['cached_input_tokens', 'cached_input_per_mtok', 'input_per_mtok'],
  ['cache_write_tokens', 'cache_write_per_mtok', 'input_per_mtok'],
  ['output_tokens', 'output_per_mtok', null],
  ['image_input_tokens', 'image_input_per_mtok', 'input_per_mtok'],
  ['image_output_tokens', 'image_output_per_mtok', 'output_per_mtok'],
];

export function costLines(price: CompiledPrice, usage: Record<string, unknown>): { lines: CostLine[]; subtotal: bigint } {
  const lines: CostLine[] = [];
  let subtotal = 0n;
  for (const [name, rateKey, fallback] of TOKEN_LINES) {
    const q = Number(usage[name] ?? 0);
    const rate = (price[rateKey] as bigint | null) ?? (fallback ? (price[fallback] as bigint | null) : null);
    if (!(q > 0) || rate === null) continue;
    const n = BigInt(q) * rate;
    subtotal += n;
    lines.push({ component: name, quantity: q, rate: formatUsd(rate), unit: 'per_mtok', amount: exactUsd(n) });
  }
  const images = Number(usage.images ?? 0);
  if (images > 0) {
    const each = lookupImagePrice(price, usage.image_size as string | undefined, usage.image_quality as string | undefined) ?? 0n;
    const n = BigInt(images) * each * MTOK;
    subtotal += n;
    lines.push({ component: 'images', quantity: images, rate: formatUsd(each), unit: 'per_image', amount: exactUsd(n) });
  }
  if (price.per_request !== null) {
    subtotal += price.per_request * MTOK;
    lines.push({ component: 'request', quantity: 1, rate: formatUsd(price.per_request), unit: 'per_request', amount: exactUsd(price.per_request * MTOK) });
  }
  return { lines, subtotal };
}

export async function costBreakdown(db: Db, row: Row): Promise<Record<string, unknown>> {
  const charged = formatUsd(big(row.amount ?? 0));
  const version = row.price_version === null || row.price_version === undefined ? null : Number(row.price_version);
  const usage = json<Record<string, unknown> | null>(row.usage_billable, null);
  if (!row.model || version === null || !usage) return { request_id: str(row.id), price_version: version, price: null, lines: [], subtotal: null, charged };
  const p = await db.get('SELECT price FROM price_book WHERE model_id = ? AND version = ?', [str(row.model), version]);
  if (!p) return { request_id: str(row.id), price_version: version, price: null, lines: [], subtotal: null, charged };
  const spec = json<PriceSpec>(p.price, {} as PriceSpec);
  const { lines, subtotal } = costLines(compilePrice(spec), usage);
  return { request_id: str(row.id), model: str(row.model), price_version: version, price: spec, lines, subtotal: exactUsd(subtotal), charged };
}

export function registerCostRoutes(t: RouteTable, db: Db): void {
  const load = async (id: string, accountId: string | null): Promise<Row> => {
    const r = await db.get('SELECT * FROM request_log WHERE id = ?', [id]);
    if (!r || (accountId !== null && r.account_id !== accountId)) throw new AppError('NOT_FOUND', `request ${id} not found`, { resource: 'request' });
    return r;
  };
  t.add({ method: 'GET', url: '/account/v1/logs/:id/cost', auth: 'customer', tag: 'account', summary: 'The cost breakdown of one of your requests: each usage component times its rate in the recorded price version' }, async (c) =>
    costBreakdown(db, await load(c.params.id!, c.actor.type === 'customer' ? c.actor.accountId : '')));
  t.add({ method: 'GET', url: '/admin/v1/logs/:id/cost', auth: 'operator', tag: 'logs', summary: 'The cost breakdown of one request: each usage component times its rate in the recorded price version' }, async (c) =>
    costBreakdown(db, await load(c.params.id!, null)));
}
