import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../kernel/config/load.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { ChannelInput, createChannel, listChannels, updateChannel } from './channels.ts';
import { GroupInput, listGroupMultipliers, setGroupMultiplier } from './groups.ts';
import { ModelInput, listModels, modelName, putModel } from './models.ts';

// The catalog file (SURETY_CONFIG): channels, models with prices, group multipliers, as JSON.
// Validated at boot (a bad file stops the start, naming the path of the bad value), then applied
// through the same services as the admin API (audited as operator "config-file"): models are
// created or updated (a changed price is a new price-book version), channels are matched by
// name and created or updated. Entries made through the admin API and absent from the file stay.
// Upstream keys may be written as "env:NAME" to be read from the environment at load. With the demo
// on, the demo is set up after the file on an empty database and leaves the file's models alone.

export const CatalogFileSchema = z
  .object({
    channels: z.array(ChannelInput).default([]),
    // Model ids checked here as PUT /admin/v1/models/{id} checks them, so a bad one stops the start
    // before anything is applied (not halfway through the file).
    models: z.record(modelName, ModelInput).default({}),
    groups: z.record(z.string(), GroupInput.shape.multiplier).default({}),
    // Abnormal-billing detection and the compensation programme: validated and applied by detection/config-file.ts.
    detection: z.unknown().optional(),
    programme: z.unknown().optional(),
    // The status page's section: validated and applied by src/status/ (config-file.ts).
    status: z.unknown().optional(),
  })
  .strict();

export type CatalogFile = z.infer<typeof CatalogFileSchema>;

export function readCatalogFile(path: string): CatalogFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`SURETY_CONFIG: cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`SURETY_CONFIG: ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const r = CatalogFileSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 10).map((i) => {
      // A bad record key (a model id) says why, not only that it is invalid.
      let why = i.code === 'invalid_key' ? `${i.message} (${i.issues.map((x) => x.message).join('; ')})` : i.message;
      // Files written for earlier versions name a model's provider "family".
      if (i.code === 'unrecognized_keys' && i.keys.includes('family')) why += ' ("family" is now called "provider")';
      return `${i.path.map(String).join('.') || '(root)'}: ${why}`;
    });
    throw new ConfigError(`SURETY_CONFIG: ${path} is invalid:\n  ${lines.join('\n  ')}`);
  }
  const names = new Set<string>();
  for (const c of r.data.channels) {
    if (names.has(c.name)) throw new ConfigError(`SURETY_CONFIG: ${path}: channels: the name ${c.name} is used twice`);
    names.add(c.name);
  }
  return r.data;
}

/** Applies the file; returns what changed. Idempotent: applying the same file again changes nothing. */
export async function applyCatalogFile(rt: Runtime, file: CatalogFile): Promise<{ models: number; channels: number; groups: number }> {
  const ctx = withActor(rt, { type: 'operator', id: 'config-file' });
  let models = 0;
  let channels = 0;
  let groups = 0;
  const existingModels = new Map((await listModels(rt)).map((m) => [m.id, m]));
  for (const [id, m] of Object.entries(file.models)) {
    const cur = existingModels.get(id);
    const same =
      cur &&
      cur.provider === m.provider &&
      cur.kind === m.kind &&
      cur.enabled === m.enabled &&
      JSON.stringify(cur.price) === JSON.stringify(m.price) &&
      cur.default_max_output_tokens === (m.default_max_output_tokens ?? null) &&
      cur.max_images === (m.max_images ?? null);
    if (!same) {
      await putModel(ctx, id, m);
      models++;
    }
  }
  const existing = new Map((await listChannels(rt)).map((c) => [c.name, c]));
  for (const c of file.channels) {
    const cur = existing.get(c.name);
    if (!cur) {
      await createChannel(ctx, c);
      channels++;
      continue;
    }
    const want = { ...c, base_url: c.base_url.replace(/\/+$/, '') };
    const have = {
      name: cur.name, provider: cur.provider, base_url: cur.base_url, keys: cur.keys, models: cur.models, model_map: cur.model_map, priority: cur.priority,
      weight: cur.weight, timeouts: cur.timeouts, endpoint_timeouts: cur.endpoint_timeouts, headers: cur.headers, enabled: cur.enabled,
    };
    const norm = (o: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries({ model_map: {}, timeouts: {}, endpoint_timeouts: {}, headers: {}, ...o }).sort()));
    if (norm(want) !== norm(have)) {
      await updateChannel(ctx, cur.id, c);
      channels++;
    }
  }
  const have = new Map((await listGroupMultipliers(rt)).map((g) => [g.group, g.multiplier]));
  for (const [g, multiplier] of Object.entries(file.groups)) {
    if (have.get(g) !== multiplier) {
      await setGroupMultiplier(ctx, g, { multiplier });
      groups++;
    }
  }
  return { models, channels, groups };
}
