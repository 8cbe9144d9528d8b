import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { json, num, str, type Queryable, type Row } from '../storage/port.ts';
import { PROVIDERS, type Provider } from '../providers/provider.ts';
import type { Endpoint } from '../providers/types.ts';
import { MODEL_KINDS, modelName } from './models.ts';
import { isSealed, secretBox, type SecretBox } from './secret-box.ts';

// Channels: the upstreams that serve models (a provider API at a base URL, keys used in rotation,
// the models served, priority, weight, timeouts). Upstream keys are stored encrypted
// (secret-box.ts) and never shown back; `env:NAME` keys are stored as written and read from the
// environment when the catalog is loaded (channel-keys.ts).

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

const UpstreamKey = z
  .string()
  .min(1)
  .max(4096)
  .superRefine((k, ctx) => {
    if (k.startsWith('env:') && !/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      ctx.addIssue({ code: 'custom', message: 'env: must be followed by the name of an environment variable (letters, digits and _), e.g. env:OPENAI_API_KEY' });
    }
    // Stored keys look like this; taking one as a key would store it unencrypted and send it as is.
    if (isSealed(k)) ctx.addIssue({ code: 'custom', message: 'keys starting with enc: are reserved for stored encrypted keys' });
  });

export const ChannelInput = z
  .object({
    name: z.string().trim().min(1).max(100),
    provider: z.enum(PROVIDERS),
    base_url: z.url({ protocol: /^https?$/ }),
    keys: z.array(UpstreamKey).min(1).max(100),
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

export interface ChannelConfig {
  id: string;
  name: string;
  provider: Provider;
  base_url: string;
  /**
   * Upstream keys in plaintext, `env:NAME` references, and — only when it cannot be decrypted with
   * this process's secret key — a stored value as stored (kept so that saving the channel again
   * does not lose it).
   */
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

function openKey(box: SecretBox, k: string): string {
  if (!isSealed(k)) return k;
  try {
    return box.open(k);
  } catch {
    return k;
  }
}

function toChannel(r: Row, box: SecretBox): ChannelConfig {
  const t = json<{ timeouts?: Partial<Timeouts>; endpoint_timeouts?: ChannelConfig['endpoint_timeouts'] }>(r.timeouts, {});
  return {
    id: str(r.id),
    name: str(r.name),
    provider: str(r.provider) as Provider,
    base_url: str(r.base_url),
    keys: json<string[]>(r.keys, []).map((k) => openKey(box, k)),
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

/** Upstream keys are never shown back: only a short fingerprint of each. */
export function channelView(c: ChannelConfig): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    provider: c.provider,
    base_url: c.base_url,
    keys: c.keys.map((k) => (k.startsWith('env:') ? k : isSealed(k) ? '(cannot be decrypted)' : `…${k.slice(-4)}`)),
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

/** Sealed with a fresh IV at every write; env: references and undecryptable values as they are. */
function sealKeys(box: SecretBox, keys: readonly string[]): string {
  return JSON.stringify(keys.map((k) => (k.startsWith('env:') || isSealed(k) ? k : box.seal(k))));
}

function channelRowValues(c: ChannelConfig, box: SecretBox): unknown[] {
  return [
    c.name, c.provider, c.base_url, sealKeys(box, c.keys), JSON.stringify(c.models), JSON.stringify(c.model_map), c.priority, c.weight,
    JSON.stringify({ timeouts: c.timeouts, endpoint_timeouts: c.endpoint_timeouts }), JSON.stringify(c.headers), c.enabled ? 1 : 0, c.updated_at,
  ];
}

export async function createChannel(ctx: ServiceContext, raw: unknown): Promise<ChannelConfig> {
  requireOperator(ctx.actor);
  const input = parseInput(ChannelInput, raw);
  const box = secretBox(ctx);
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
      [...channelRowValues(c, box), c.id, now] as never,
    );
    await audit(q, ctx.actor, 'channel.create', { type: 'channel', id: c.id }, undefined, channelView(c), now);
  });
  ctx.bus.catalogChanged();
  return c;
}

const notFound = (id: string) => new AppError('NOT_FOUND', `channel ${id} not found`, { resource: 'channel' });

/** A channel by id or name, locked for the rest of the transaction (PostgreSQL). */
async function lockChannel(ctx: ServiceContext, q: Queryable, id: string, box: SecretBox): Promise<ChannelConfig> {
  const r = await q.get(`SELECT * FROM channels WHERE id = ? OR name = ?${ctx.db.forUpdate}`, [id, id]);
  if (!r) throw notFound(id);
  return toChannel(r, box);
}

/** Changes a channel (by id or name); fields left out keep their value. */
export async function updateChannel(ctx: ServiceContext, id: string, raw: unknown): Promise<ChannelConfig> {
  requireOperator(ctx.actor);
  const input = parseInput(ChannelPatch, raw);
  const box = secretBox(ctx);
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const before = await lockChannel(ctx, q, id, box);
    if (input.name !== undefined && input.name !== before.name && (await q.get('SELECT id FROM channels WHERE name = ?', [input.name]))) {
      throw new AppError('CONFLICT', `A channel named ${input.name} exists.`);
    }
    const after: ChannelConfig = {
      ...before,
      ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
      base_url: (input.base_url ?? before.base_url).replace(/\/+$/, ''),
      updated_at: now,
    } as ChannelConfig;
    await q.run(
      'UPDATE channels SET name = ?, provider = ?, base_url = ?, keys = ?, models = ?, model_map = ?, priority = ?, weight = ?, timeouts = ?, headers = ?, enabled = ?, updated_at = ? WHERE id = ?',
      [...channelRowValues(after, box), before.id] as never,
    );
    await audit(q, ctx.actor, 'channel.update', { type: 'channel', id: before.id }, channelView(before), channelView(after), now);
    return after;
  });
  ctx.bus.catalogChanged();
  return out;
}

/**
 * Deletes a channel (by id or name): the data plane stops routing to it at once; a request already
 * on it finishes there. Its models stay; a model no channel serves answers NO_CHANNEL. Request log
 * rows keep its id.
 */
export async function deleteChannel(ctx: ServiceContext, id: string): Promise<ChannelConfig> {
  requireOperator(ctx.actor);
  const box = secretBox(ctx);
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const before = await lockChannel(ctx, q, id, box);
    await q.run('DELETE FROM channels WHERE id = ?', [before.id]);
    await audit(q, ctx.actor, 'channel.delete', { type: 'channel', id: before.id }, channelView(before), undefined, now);
    return before;
  });
  ctx.bus.catalogChanged();
  return out;
}

export async function listChannels(rt: Runtime): Promise<ChannelConfig[]> {
  const box = secretBox(rt);
  return (await rt.db.all('SELECT * FROM channels ORDER BY priority DESC, name')).map((r) => toChannel(r, box));
}
