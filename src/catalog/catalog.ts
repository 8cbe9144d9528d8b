import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { parseDecimalRatio } from '../kernel/money.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { PriceSpecSchema, compilePrice, type CompiledPrice, type PriceSpec } from './price-book.ts';
import type { Multiplier } from '../billing/pricing.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { json, num, str, type Row } from '../storage/port.ts';
import type { Endpoint, Protocol } from '../providers/types.ts';

// The catalog: models (with their versioned prices) and the channels (upstreams) that serve
// them. It lives in the database; the data plane keeps a compiled in-memory snapshot that is
// rebuilt whenever a service changes it (bus.catalogChanged), so changes apply without restart.

export const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type Provider = (typeof PROVIDERS)[number];
export const MODEL_KINDS = ['chat', 'embeddings', 'images'] as const;

export interface Timeouts {
  connect_ms: number;
  first_byte_ms: number;
  total_ms: number;
}

export const DEFAULT_TIMEOUTS: Record<Endpoint, Timeouts> = {
  chat: { connect_ms: 5_000, first_byte_ms: 60_000, total_ms: 300_000 },
  embeddings: { connect_ms: 5_000, first_byte_ms: 30_000, total_ms: 60_000 },
  // Image generations legitimately take minutes (4K up to 600 s).
  images: { connect_ms: 5_000, first_byte_ms: 600_000, total_ms: 600_000 },
};

const TimeoutsInput = z
  .object({
    connect_ms: z.number().int().min(1).max(600_000).optional(),
    first_byte_ms: z.number().int().min(1).max(3_600_000).optional(),
    total_ms: z.number().int().min(1).max(3_600_000).optional(),
  })
  .strict();

export const modelName = z.string().min(1).max(200).regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/, 'letters, digits and . _ : / @ - only');

export const ChannelInput = z
  .object({
    name: z.string().trim().min(1).max(100),
    provider: z.enum(PROVIDERS),
    base_url: z.url({ protocol: /^https?$/ }),
    keys: z.array(z.string().min(1).max(4096)).min(1).max(100),
    models: z.array(modelName).min(1).max(1000),
    model_map: z.record(z.string(), z.string().min(1).max(200)).optional(),
    priority: z.number().int().min(-1000).max(1000).default(0),
    weight: z.number().int().min(1).max(1000).default(1),
    timeouts: TimeoutsInput.optional(),
    /** Per-endpoint overrides, e.g. {"images": {"total_ms": 900000}}. */
    endpoint_timeouts: z.partialRecord(z.enum(MODEL_KINDS), TimeoutsInput).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    enabled: z.boolean().default(true),
  })
  .strict();
// Without the defaults: a field a PATCH leaves out keeps its value (priority, weight, enabled
// would otherwise be reset to 0, 1 and true by every PATCH).
export const ChannelPatch = ChannelInput.extend({
  priority: ChannelInput.shape.priority.unwrap(),
  weight: ChannelInput.shape.weight.unwrap(),
  enabled: ChannelInput.shape.enabled.unwrap(),
})
  .partial()
  .strict();

export const ModelInput = z
  .object({
    family: z.enum(PROVIDERS),
    kind: z.enum(MODEL_KINDS).default('chat'),
    price: PriceSpecSchema,
    /** Output tokens assumed for the hold when the request sets no max_tokens. */
    default_max_output_tokens: z.number().int().min(1).max(10_000_000).optional(),
    /** Images assumed for the hold when the request does not say. */
    max_images: z.number().int().min(1).max(100).optional(),
    enabled: z.boolean().default(true),
  })
  .strict();

export interface ChannelConfig {
  id: string;
  name: string;
  provider: Provider;
  base_url: string;
  keys: string[];
  models: string[];
  model_map: Record<string, string>;
  priority: number;
  weight: number;
  timeouts: Partial<Timeouts>;
  endpoint_timeouts: Partial<Record<Endpoint, Partial<Timeouts>>>;
  headers: Record<string, string>;
  enabled: boolean;
  created_at: number;
  updated_at: number;
}

export interface ModelConfig {
  id: string;
  family: Provider;
  kind: Endpoint;
  price_version: number;
  price: PriceSpec;
  default_max_output_tokens: number | null;
  max_images: number | null;
  enabled: boolean;
  updated_at: number;
}

function toChannel(r: Row): ChannelConfig {
  const t = json<{ timeouts?: Partial<Timeouts>; endpoint_timeouts?: ChannelConfig['endpoint_timeouts'] }>(r.timeouts, {});
  return {
    id: str(r.id),
    name: str(r.name),
    provider: str(r.provider) as Provider,
    base_url: str(r.base_url),
    keys: json<string[]>(r.keys, []),
    models: json<string[]>(r.models, []),
    model_map: json<Record<string, string>>(r.model_map, {}),
    priority: num(r.priority),
    weight: num(r.weight),
    timeouts: t.timeouts ?? {},
    endpoint_timeouts: t.endpoint_timeouts ?? {},
    headers: json<Record<string, string>>(r.headers, {}),
    enabled: num(r.enabled) === 1,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

function toModel(r: Row): ModelConfig {
  const o = json<{ default_max_output_tokens?: number; max_images?: number }>(r.options, {});
  return {
    id: str(r.id),
    family: str(r.family) as Provider,
    kind: str(r.kind) as Endpoint,
    price_version: num(r.price_version),
    price: json<PriceSpec>(r.price, {}),
    default_max_output_tokens: o.default_max_output_tokens ?? null,
    max_images: o.max_images ?? null,
    enabled: num(r.enabled) === 1,
    updated_at: num(r.updated_at),
  };
}

/** Upstream keys are never shown back: only a short fingerprint of each. */
export function channelView(c: ChannelConfig): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    provider: c.provider,
    base_url: c.base_url,
    keys: c.keys.map((k) => (k.startsWith('env:') ? k : `…${k.slice(-4)}`)),
    models: c.models,
    model_map: c.model_map,
    priority: c.priority,
    weight: c.weight,
    timeouts: c.timeouts,
    endpoint_timeouts: c.endpoint_timeouts,
    enabled: c.enabled,
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
  };
}

export function modelView(m: ModelConfig): Record<string, unknown> {
  return {
    id: m.id,
    family: m.family,
    kind: m.kind,
    price_version: m.price_version,
    price: m.price,
    default_max_output_tokens: m.default_max_output_tokens,
    max_images: m.max_images,
    enabled: m.enabled,
    updated_at: iso(m.updated_at),
  };
}

function channelRowValues(c: ChannelConfig): unknown[] {
  return [
    c.name, c.provider, c.base_url, JSON.stringify(c.keys), JSON.stringify(c.models), JSON.stringify(c.model_map), c.priority, c.weight,
    JSON.stringify({ timeouts: c.timeouts, endpoint_timeouts: c.endpoint_timeouts }), JSON.stringify(c.headers), c.enabled ? 1 : 0, c.updated_at,
  ];
}

export async function createChannel(ctx: ServiceContext, raw: unknown): Promise<ChannelConfig> {
  requireOperator(ctx.actor);
  const input = parseInput(ChannelInput, raw);
  const now = ctx.now();
  const c: ChannelConfig = {
    id: newId('ch', now),
    name: input.name,
    provider: input.provider,
    base_url: input.base_url.replace(/\/+$/, ''),
    keys: input.keys,
    models: input.models,
    model_map: input.model_map ?? {},
    priority: input.priority,
    weight: input.weight,
    timeouts: input.timeouts ?? {},
    endpoint_timeouts: input.endpoint_timeouts ?? {},
    headers: input.headers ?? {},
    enabled: input.enabled,
    created_at: now,
    updated_at: now,
  };
  await ctx.db.tx(async (q) => {
    if (await q.get('SELECT id FROM channels WHERE name = ?', [c.name])) throw new AppError('CONFLICT', `A channel named ${c.name} exists.`);
    await q.run(
      'INSERT INTO channels (name, provider, base_url, keys, models, model_map, priority, weight, timeouts, headers, enabled, updated_at, id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [...channelRowValues(c), c.id, now] as never,
    );
    await audit(q, ctx.actor, 'channel.create', { type: 'channel', id: c.id }, undefined, channelView(c), now);
  });
  ctx.bus.catalogChanged();
  return c;
}

export async function updateChannel(ctx: ServiceContext, id: string, raw: unknown): Promise<ChannelConfig> {
  requireOperator(ctx.actor);
  const input = parseInput(ChannelPatch, raw);
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const r = await q.get('SELECT * FROM channels WHERE id = ? OR name = ?', [id, id]);
    if (!r) throw new AppError('NOT_FOUND', `channel ${id} not found`, { resource: 'channel' });
    const before = toChannel(r);
    const after: ChannelConfig = {
      ...before,
      ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
      base_url: (input.base_url ?? before.base_url).replace(/\/+$/, ''),
      updated_at: now,
    } as ChannelConfig;
    await q.run(
      'UPDATE channels SET name = ?, provider = ?, base_url = ?, keys = ?, models = ?, model_map = ?, priority = ?, weight = ?, timeouts = ?, headers = ?, enabled = ?, updated_at = ? WHERE id = ?',
      [...channelRowValues(after), before.id] as never,
    );
    await audit(q, ctx.actor, 'channel.update', { type: 'channel', id: before.id }, channelView(before), channelView(after), now);
    return after;
  });
  ctx.bus.catalogChanged();
  return out;
}

export async function listChannels(rt: Runtime): Promise<ChannelConfig[]> {
  return (await rt.db.all('SELECT * FROM channels ORDER BY priority DESC, name')).map(toChannel);
}

/** Creates or updates a model; a changed price becomes a new price-book version. */
export async function putModel(ctx: ServiceContext, id: string, raw: unknown): Promise<ModelConfig> {
  requireOperator(ctx.actor);
  const idCheck = modelName.safeParse(id);
  if (!idCheck.success) throw new AppError('VALIDATION', `model id: ${idCheck.error.issues[0]?.message}`, { field: 'id' });
  const input = parseInput(ModelInput, raw);
  try {
    compilePrice(input.price);
  } catch (e) {
    throw new AppError('VALIDATION', `price: ${(e as Error).message}`, { field: 'price' });
  }
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const r = await q.get(`SELECT * FROM models WHERE id = ?${ctx.db.forUpdate}`, [id]);
    const before = r ? toModel(r) : null;
    const priceJson = JSON.stringify(input.price);
    const priceChanged = !before || JSON.stringify(before.price) !== priceJson;
    const version = before ? (priceChanged ? before.price_version + 1 : before.price_version) : 1;
    const after: ModelConfig = {
      id,
      family: input.family,
      kind: input.kind,
      price_version: version,
      price: input.price,
      default_max_output_tokens: input.default_max_output_tokens ?? null,
      max_images: input.max_images ?? null,
      enabled: input.enabled,
      updated_at: now,
    };
    const options = JSON.stringify({ default_max_output_tokens: after.default_max_output_tokens ?? undefined, max_images: after.max_images ?? undefined });
    if (before) {
      await q.run('UPDATE models SET family = ?, kind = ?, price_version = ?, price = ?, options = ?, enabled = ?, updated_at = ? WHERE id = ?', [
        after.family, after.kind, version, priceJson, options, after.enabled ? 1 : 0, now, id,
      ]);
    } else {
      await q.run('INSERT INTO models (id, family, kind, price_version, price, options, enabled, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        id, after.family, after.kind, version, priceJson, options, after.enabled ? 1 : 0, now,
      ]);
    }
    if (priceChanged) {
      await q.run('INSERT INTO price_book (model_id, version, price, created_by, created_at) VALUES (?, ?, ?, ?, ?)', [id, version, priceJson, actorId(ctx.actor), now]);
    }
    await audit(q, ctx.actor, before ? 'model.update' : 'model.create', { type: 'model', id }, before ?? undefined, after, now);
    return after;
  });
  ctx.bus.catalogChanged();
  return out;
}

export async function listModels(rt: Runtime): Promise<ModelConfig[]> {
  return (await rt.db.all('SELECT * FROM models ORDER BY id')).map(toModel);
}

export async function priceHistory(rt: Runtime, modelId: string): Promise<Array<Record<string, unknown>>> {
  const rows = await rt.db.all('SELECT * FROM price_book WHERE model_id = ? ORDER BY version DESC', [modelId]);
  return rows.map((r) => ({ version: num(r.version), price: json(r.price, {}), created_by: str(r.created_by), created_at: iso(num(r.created_at)) }));
}

export const GroupInput = z.object({ multiplier: z.string().regex(/^\d+(\.\d{1,6})?$/, 'must be a decimal like "0.9" or "1.25"') }).strict();

export async function setGroupMultiplier(ctx: ServiceContext, group: string, raw: unknown): Promise<{ group: string; multiplier: string }> {
  requireOperator(ctx.actor);
  const input = parseInput(GroupInput, raw);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    const before = await q.get('SELECT multiplier FROM group_multipliers WHERE group_name = ?', [group]);
    await q.run(
      'INSERT INTO group_multipliers (group_name, multiplier, updated_at) VALUES (?, ?, ?) ON CONFLICT (group_name) DO UPDATE SET multiplier = excluded.multiplier, updated_at = excluded.updated_at',
      [group, input.multiplier, now],
    );
    await audit(q, ctx.actor, 'group.multiplier', { type: 'group', id: group }, before ?? undefined, input, now);
  });
  ctx.bus.catalogChanged();
  return { group, multiplier: input.multiplier };
}

// ---- the compiled snapshot used by the data plane ----

export interface LiveModel {
  config: ModelConfig;
  price: CompiledPrice;
  /** Channels that serve it, highest priority first. */
  channels: LiveChannel[];
}

export interface LiveChannel {
  config: ChannelConfig;
  /** Upstream keys with `env:NAME` resolved. */
  keys: string[];
  nextKey: number;
}

export interface CatalogSnapshot {
  models: Map<string, LiveModel>;
  channels: Map<string, LiveChannel>;
  multipliers: Map<string, Multiplier>;
  loadedAt: number;
}

function resolveKeys(keys: string[], env: NodeJS.ProcessEnv): string[] {
  return keys.map((k) => (k.startsWith('env:') ? (env[k.slice(4)] ?? '') : k)).filter(Boolean);
}

export async function loadSnapshot(rt: Runtime, env: NodeJS.ProcessEnv = process.env): Promise<CatalogSnapshot> {
  const [models, channels, groups] = await Promise.all([listModels(rt), listChannels(rt), rt.db.all('SELECT * FROM group_multipliers')]);
  const liveChannels = new Map<string, LiveChannel>();
  for (const c of channels) {
    if (!c.enabled) continue;
    const keys = resolveKeys(c.keys, env);
    // Every key an env: reference to an unset variable: the channel cannot authenticate upstream
    // (it would send "undefined" as the key), so it serves nothing until the variable is set.
    if (keys.length === 0) {
      rt.log.warn({ channel: c.name, keys: c.keys.filter((k) => k.startsWith('env:')) }, 'channel has no usable upstream key (environment variable unset); not serving');
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
  for (const g of groups) multipliers.set(str(g.group_name), parseDecimalRatio(str(g.multiplier)));
  return { models: liveModels, channels: liveChannels, multipliers, loadedAt: rt.now() };
}

/** Holds the current snapshot; reloads (debounced) when the catalog changes. */
export class Catalog {
  snapshot: CatalogSnapshot;
  private readonly rt: Runtime;
  private reloading: Promise<void> | null = null;
  private dirty = false;

  private constructor(rt: Runtime, s: CatalogSnapshot) {
    this.rt = rt;
    this.snapshot = s;
  }

  static async load(rt: Runtime): Promise<Catalog> {
    return new Catalog(rt, await loadSnapshot(rt));
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
        this.snapshot = await loadSnapshot(this.rt);
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

