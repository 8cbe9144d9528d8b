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

export async function loadRuleContext(rt: Pick<Runtime, 'db' | 'now'>, settings: DetectionSettings): Promise<RuleContext> {
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
  const specs = new Map<string, string>();
  for (const r of await rt.db.all('SELECT model_id, version, price FROM price_book')) specs.set(`${str(r.model_id)}\u0000${num(r.version)}`, str(r.price));
  const compiled = new Map<string, CompiledPrice | null>();
  const multipliers = new Map<string, Multiplier>();
  for (const r of await rt.db.all('SELECT a.id, g.multiplier FROM accounts a JOIN group_multipliers g ON g.group_name = a.group_name')) {
    multipliers.set(str(r.id), parseDecimalRatio(str(r.multiplier)));
  }
  return {
    model: (id) => models.get(id) ?? null,
    price(model, version) {
      const k = `${model}\u0000${version}`;
      let p = compiled.get(k);
      if (p === undefined) {
        const spec = specs.get(k);
        try {
          p = spec === undefined ? null : compilePrice(json<PriceSpec>(spec, {}));
        } catch {
          p = null;
        }
        compiled.set(k, p);
      }
      return p;
    },
    multiplier: (accountId) => multipliers.get(accountId) ?? ONE,
    staleHoldGraceMs: settings.stale_hold_grace_seconds * 1000,
    now: rt.now(),
  };
}
