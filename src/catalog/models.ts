import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { json, num, str, type Queryable, type Row } from '../storage/port.ts';
import { PROVIDERS, type Provider } from '../providers/provider.ts';
import type { Endpoint } from '../providers/types.ts';
import { PriceSpecSchema, compilePrice, type PriceSpec } from './price-book.ts';
import { apisOf } from '../providers/translate/index.ts';

// Models and their versioned prices. A model's provider is the API it is called through (the same
// vocabulary as a channel's provider). Every price a model ever had stays in the price book under
// its version; a request log row records the version it was priced with. Deleting a model keeps
// its price book, and a model created again under the same id continues its version numbers, so
// (model, version) always names one price.

export const MODEL_KINDS = ['chat', 'embeddings', 'images'] as const satisfies readonly Endpoint[];

export const modelName = z.string().min(1).max(200).regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/, 'letters, digits and . _ : / @ - only');

export const ModelInput = z
  .object({
    provider: z.enum(PROVIDERS, {
      // Earlier versions called this field "family"; a request or file still using it learns why it fails.
      error: (issue) => (issue.input === undefined ? `is required: ${PROVIDERS.join(', ')} (earlier versions called it "family")` : undefined),
    }),
    kind: z.enum(MODEL_KINDS).default('chat'),
    price: PriceSpecSchema,
    /** Output tokens assumed for the hold when the request sets no max_tokens. */
    default_max_output_tokens: z.number().int().min(1).max(10_000_000).optional(),
    /** Images assumed for the hold when the request does not say. */
    max_images: z.number().int().min(1).max(100).optional(),
    enabled: z.boolean().default(true),
  })
  .strict();

export interface ModelConfig {
  id: string;
  provider: Provider;
  kind: Endpoint;
  price_version: number;
  price: PriceSpec;
  default_max_output_tokens: number | null;
  max_images: number | null;
  enabled: boolean;
  updated_at: number;
}

function toModel(r: Row): ModelConfig {
  const o = json<{ default_max_output_tokens?: number; max_images?: number }>(r.options, {});
  return {
    id: str(r.id),
    provider: str(r.provider) as Provider,
    kind: str(r.kind) as Endpoint,
    price_version: num(r.price_version),
    price: json<PriceSpec>(r.price, {}),
    default_max_output_tokens: o.default_max_output_tokens ?? null,
    max_images: o.max_images ?? null,
    enabled: num(r.enabled) === 1,
    updated_at: num(r.updated_at),
  };
}

export function modelView(m: ModelConfig): Record<string, unknown> {
  return {
    id: m.id,
    provider: m.provider,
    kind: m.kind,
    // The client APIs it can be reached through (translated where they are not its provider's).
    apis: apisOf(m.provider, m.kind),
    price_version: m.price_version,
    price: m.price,
    default_max_output_tokens: m.default_max_output_tokens,
    max_images: m.max_images,
    enabled: m.enabled,
    updated_at: iso(m.updated_at),
  };
}

function checkModelId(id: string): void {
  const r = modelName.safeParse(id);
  if (!r.success) throw new AppError('VALIDATION', `model id: ${r.error.issues[0]?.message}`, { field: 'id' });
}

/** The next price-book version of a model: after every version it ever had (also before a delete). */
async function nextVersion(q: Queryable, id: string): Promise<number> {
  const r = await q.get<{ v: bigint | null }>('SELECT MAX(version) AS v FROM price_book WHERE model_id = ?', [id]);
  return num(r?.v) + 1;
}

/** Creates or updates a model; a changed price becomes a new price-book version. */
export async function putModel(ctx: ServiceContext, id: string, raw: unknown): Promise<ModelConfig> {
  requireOperator(ctx.actor);
  checkModelId(id);
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
    const version = priceChanged ? await nextVersion(q, id) : before.price_version;
    const after: ModelConfig = {
      id,
      provider: input.provider,
      kind: input.kind,
      price_version: version,
      price: input.price,
      default_max_output_tokens: input.default_max_output_tokens ?? null,
      max_images: input.max_images ?? null,
      enabled: input.enabled,
      updated_at: now,
    };
    const options = JSON.stringify({ default_max_output_tokens: after.default_max_output_tokens ?? undefined, max_images: after.max_images ?? undefined });
    const values = [after.provider, after.kind, version, priceJson, options, after.enabled ? 1 : 0, now, id];
    if (before) {
      await q.run('UPDATE models SET provider = ?, kind = ?, price_version = ?, price = ?, options = ?, enabled = ?, updated_at = ? WHERE id = ?', values);
    } else {
      await q.run('INSERT INTO models (provider, kind, price_version, price, options, enabled, updated_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', values);
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

/**
 * Deletes a model: the data plane stops serving it at once (UNKNOWN_MODEL). Its price book is
 * kept; channels keep its name in their lists (they serve it again if it is created again).
 */
export async function deleteModel(ctx: ServiceContext, id: string): Promise<ModelConfig> {
  requireOperator(ctx.actor);
  const now = ctx.now();
  const out = await ctx.db.tx(async (q) => {
    const r = await q.get(`SELECT * FROM models WHERE id = ?${ctx.db.forUpdate}`, [id]);
    if (!r) throw new AppError('NOT_FOUND', `model ${id} not found`, { resource: 'model' });
    const before = toModel(r);
    await q.run('DELETE FROM models WHERE id = ?', [id]);
    await audit(q, ctx.actor, 'model.delete', { type: 'model', id }, before, undefined, now);
    return before;
  });
  ctx.bus.catalogChanged();
  return out;
}

export async function listModels(rt: Runtime): Promise<ModelConfig[]> {
  return (await rt.db.all('SELECT * FROM models ORDER BY id')).map(toModel);
}

/** Every price a model had, newest first; also of a deleted model. NOT_FOUND when it never existed. */
export async function priceHistory(rt: Runtime, modelId: string): Promise<Array<Record<string, unknown>>> {
  const rows = await rt.db.all('SELECT * FROM price_book WHERE model_id = ? ORDER BY version DESC', [modelId]);
  if (rows.length === 0 && !(await rt.db.get('SELECT id FROM models WHERE id = ?', [modelId]))) {
    throw new AppError('NOT_FOUND', `model ${modelId} not found`, { resource: 'model' });
  }
  return rows.map((r) => ({ version: num(r.version), price: json(r.price, {}), created_by: str(r.created_by), created_at: iso(num(r.created_at)) }));
}
