// Plain values for the rules' unit tests: a charged row and a context with two models and prices.
import { compilePrice, type CompiledPrice } from '../../../../src/catalog/price-book.ts';
import type { ModelFacts, RuleContext, ScanRow } from '../../../../src/detection/rules/types.ts';

const T = Date.UTC(2026, 10, 15, 12);
let n = 0;

/** A chat row charged 11,400 nano-USD for 12 input and 16 output tokens at gpt-4o-mini's price (0.15/0.60 per 1M → 1.8 + 9.6 = 11.4 nano-USD… ×1000). */
export function row(over: Partial<ScanRow> = {}): ScanRow {
  n++;
  return {
    id: `req_${String(n).padStart(6, '0')}`,
    account_id: 'acct_a',
    key_id: 'key_a',
    model: 'chat-model',
    endpoint: 'chat',
    started_at: T + n * 1000,
    first_byte_at: T + n * 1000 + 100,
    ended_at: T + n * 1000 + 500,
    duration_ms: 500,
    stream: false,
    status: 200,
    outcome: 'ok',
    usage_billable: { input_tokens: 1000, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 2000, reasoning_tokens: 0, images: 0, estimated: false },
    price_version: 1,
    hold_amount: 5_000_000n,
    // 1000 × $1/M + 2000 × $2/M = $0.005
    amount: 5_000_000n,
    delivered: { images: 0, text_chars: 400, text_bytes: 400 },
    client_ref: null,
    attempts: '[{"channel":"ch_a","status":200,"outcome":"ok","ms":412.345}]',
    ...over,
  };
}

export function imageRow(over: Partial<ScanRow> = {}): ScanRow {
  return row({
    model: 'image-model',
    endpoint: 'images.generations',
    usage_billable: { input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, images: 1, estimated: false },
    hold_amount: 90_000_000n,
    amount: 90_000_000n,
    delivered: { images: 1, text_chars: 0, text_bytes: 0 },
    duration_ms: 40_000,
    ...over,
  });
}

const PRICES: Record<string, CompiledPrice> = {
  'chat-model\u00001': compilePrice({ input_per_mtok: '1', output_per_mtok: '2' }),
  'image-model\u00001': compilePrice({ per_image: { default: '0.09' } }),
};
const MODELS: Record<string, ModelFacts> = {
  'chat-model': { kind: 'chat', max_output_tokens: 4096, abnormal_timeout_ms: null },
  'image-model': { kind: 'images', max_output_tokens: null, abnormal_timeout_ms: 300_000 },
};

export function ctx(over: Partial<RuleContext> = {}): RuleContext {
  return {
    model: (id) => MODELS[id] ?? null,
    price: (m, v) => PRICES[`${m}\u0000${v}`] ?? null,
    multiplier: (a) => (a === 'acct_vip' ? { num: 9n, den: 10n } : { num: 1n, den: 1n }),
    staleHoldGraceMs: 60_000,
    now: T + 10_000_000,
    ...over,
  };
}
