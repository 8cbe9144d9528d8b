import type { Multiplier } from '../billing/pricing.ts';
import { compilePrice, listModels, type CompiledPrice, type PriceSpec } from '../catalog/index.ts';
import type { Runtime } from '../kernel/context.ts';
import { parseDecimalRatio } from '../kernel/money.ts';
import { json, num, str } from '../storage/port.ts';
import type { ModelFacts, RuleContext } from './rules/types.ts';
import type { DetectionSettings } from './settings.ts';

// The read-only world the rules judge rows against, loaded once per scan: every model's kind,
// limit and abnormal-timeout threshold, every price-book version (compiled on first use), and the
// group multiplier of every account whose group has one.

const ONE: Multiplier = { num: 1n, den: 1n };

/** What the rule context is built from, for the SQL prefilter (prefilter.ts). */
export interface CatalogFacts {
  models: ReadonlyMap<string, ModelFacts>;
  /** Every (model, version) of the price book, compiled (null: a spec that no longer compiles). */
  prices: ReadonlyMap<string, { model: string; version: number; price: CompiledPrice | null }>;
  /** Group name → multiplier, for groups that have one. */
  groups: ReadonlyMap<string, Multiplier>;
}

export async function loadRuleContext(rt: Pick<Runtime, 'db' | 'now'>, settings: DetectionSettings): Promise<RuleContext & { facts: CatalogFacts }> {
  const models = new Map<string, ModelFacts>();
  for (const m of await listModels(rt as Runtime)) {
    const own = settings.models[m.id];
    const seconds = own !== undefined ? own.abnormal_timeout_seconds : m.kind === 'images' ? settings.image_timeout_seconds : null;
    models.set(m.id, { kind: m.kind, max_output_tokens: m.default_max_output_tokens, abnormal_timeout_ms: seconds === null ? null : Math.round(seconds * 1000) });
  }
  // A model deleted since keeps its threshold from the settings (its kind is unknown: chat).
  for (const [id, own] of Object.entries(settings.models)) {
    if (!models.has(id)) models.set(id, { kind: 'chat', max_output_tokens: null, abnormal_timeout_ms: own.abnormal_timeout_seconds === null ? null : Math.round(own.abnormal_timeout_seconds * 1000) });
  }
  const prices = new Map<string, { model: string; version: number; price: CompiledPrice | null }>();
  for (const r of await rt.db.all('SELECT model_id, version, price FROM price_book')) {
    let price: CompiledPrice | null;
    try {
      price = compilePrice(json<PriceSpec>(r.price, {}));
    } catch {
      price = null;
    }
    prices.set(`${str(r.model_id)}\u0000${num(r.version)}`, { model: str(r.model_id), version: num(r.version), price });
  }
  const multipliers = new Map<string, Multiplier>();
  for (const r of await rt.db.all('SELECT a.id, g.multiplier FROM accounts a JOIN group_multipliers g ON g.group_name = a.group_name')) {
    multipliers.set(str(r.id), parseDecimalRatio(str(r.multiplier)));
  }
  const groups = new Map<string, Multiplier>();
  for (const r of await rt.db.all('SELECT group_name, multiplier FROM group_multipliers')) groups.set(str(r.group_name), parseDecimalRatio(str(r.multiplier)));
  return {
    facts: { models, prices, groups },
    model: (id) => models.get(id) ?? null,
    price: (model, version) => prices.get(`${model}\u0000${version}`)?.price ?? null,
    multiplier: (accountId) => multipliers.get(accountId) ?? ONE,
    staleHoldGraceMs: settings.stale_hold_grace_seconds * 1000,
    now: rt.now(),
  };
}
