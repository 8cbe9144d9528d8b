import { parseDecimalRatio } from '../kernel/money.ts';
import type { Multiplier } from '../billing/pricing.ts';
import type { Runtime } from '../kernel/context.ts';
import { compilePrice, type CompiledPrice } from './price-book.ts';
import { listChannels, type ChannelConfig } from './channels.ts';
import { channelUsability, resolveChannelKeys } from './channel-keys.ts';
import { listGroupMultipliers } from './groups.ts';
import { listModels, type ModelConfig } from './models.ts';

// The compiled snapshot the data plane routes and prices with: enabled models with their compiled
// prices and their usable channels, highest priority first, and the group multipliers. It lives in
// memory and is rebuilt whenever a service changes the catalog (bus.catalogChanged), so changes
// apply to the next request without a restart; a request keeps the snapshot it was admitted with.

export interface LiveModel {
  config: ModelConfig;
  price: CompiledPrice;
  /** Channels that serve it, highest priority first. */
  channels: LiveChannel[];
}

export interface LiveChannel {
  config: ChannelConfig;
  /** Upstream keys with `env:NAME` resolved and stored keys decrypted. */
  keys: string[];
  nextKey: number;
}

export interface CatalogSnapshot {
  models: Map<string, LiveModel>;
  /** Usable channels only (enabled, with at least one key). */
  channels: Map<string, LiveChannel>;
  multipliers: Map<string, Multiplier>;
  loadedAt: number;
}

export async function loadSnapshot(rt: Runtime, env: NodeJS.ProcessEnv = process.env): Promise<CatalogSnapshot> {
  const [models, channels, groups] = await Promise.all([listModels(rt), listChannels(rt), listGroupMultipliers(rt)]);
  const liveChannels = new Map<string, LiveChannel>();
  for (const c of channels) {
    if (!c.enabled) continue;
    const keys = resolveChannelKeys(c.keys, env).keys;
    if (keys.length === 0) {
      rt.log.warn({ channel: c.name, reason: channelUsability(c, env).unusable_reason }, 'channel has no usable upstream key; not serving');
      continue;
    }
    liveChannels.set(c.id, { config: c, keys, nextKey: 0 });
  }
  const liveModels = new Map<string, LiveModel>();
  for (const m of models) {
    if (!m.enabled) continue;
    let price: CompiledPrice;
    try {
      price = compilePrice(m.price);
    } catch (err) {
      rt.log.error({ err, model: m.id }, 'model price does not compile; model disabled');
      continue;
    }
    const serving = [...liveChannels.values()].filter((c) => c.config.models.includes(m.id)).sort((a, b) => b.config.priority - a.config.priority);
    liveModels.set(m.id, { config: m, price, channels: serving });
  }
  const multipliers = new Map<string, Multiplier>();
  for (const g of groups) multipliers.set(g.group, parseDecimalRatio(g.multiplier));
  return { models: liveModels, channels: liveChannels, multipliers, loadedAt: rt.now() };
}

/** Holds the current snapshot; reloads (coalesced) when the catalog changes. */
export class Catalog {
  snapshot: CatalogSnapshot;
  /** The environment `env:` keys are read from (process.env; tests pass their own). */
  readonly env: NodeJS.ProcessEnv;
  private readonly rt: Runtime;
  private reloading: Promise<void> | null = null;
  private dirty = false;

  private constructor(rt: Runtime, env: NodeJS.ProcessEnv, s: CatalogSnapshot) {
    this.rt = rt;
    this.env = env;
    this.snapshot = s;
  }

  static async load(rt: Runtime, env: NodeJS.ProcessEnv = process.env): Promise<Catalog> {
    return new Catalog(rt, env, await loadSnapshot(rt, env));
  }

  /** Reload now; concurrent calls coalesce, and a change during a reload triggers one more. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.dirty = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.dirty = false;
        this.snapshot = await loadSnapshot(this.rt, this.env);
      } while (this.dirty);
    })().finally(() => (this.reloading = null));
    return this.reloading;
  }

  model(id: string): LiveModel | undefined {
    return this.snapshot.models.get(id);
  }

  multiplier(group: string): Multiplier | undefined {
    return this.snapshot.multipliers.get(group);
  }
}
