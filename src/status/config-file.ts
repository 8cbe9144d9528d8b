import { z } from 'zod';
import { ConfigError } from '../kernel/config/load.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { parseInput } from '../kernel/validation.ts';
import { ComponentInput, GroupInput, listComponents, listGroups, putComponent, putGroup, slug } from './components.ts';
import { DEFAULT_PAGE, type PageSettings } from './snapshot.ts';

// The status page in the catalog file (SURETY_CONFIG, key "status"): the page's name and URL,
// groups and components, applied through the same services as the admin API (audited as operator
// "config-file"). Components and groups absent from the file stay. Without a "status" key, a new
// database gets the default page: the platform (API, console) and the upstream model families.

export const StatusFileSchema = z
  .object({
    page: z.object({ name: z.string().min(1).max(100).optional(), url: z.url().max(500).optional(), days: z.number().int().min(7).max(90).optional() }).strict().optional(),
    groups: z.record(slug, GroupInput).default({}),
    components: z.record(slug, ComponentInput).default({}),
  })
  .strict();
export type StatusFile = z.infer<typeof StatusFileSchema>;

/** Validates the "status" section of the catalog file (a bad one stops the start, naming the field). */
export function parseStatusFile(raw: unknown): StatusFile {
  return parseInput(StatusFileSchema, raw ?? {}, 'status');
}

export function pageSettings(file: StatusFile | null): PageSettings {
  return { ...DEFAULT_PAGE, ...(file?.page ?? {}), url: file?.page?.url ?? null };
}

/** Applies the file's groups and components; returns how many were written. */
export async function applyStatusFile(rt: Runtime, file: StatusFile): Promise<number> {
  const ctx = withActor(rt, { type: 'operator', id: 'config-file' });
  let n = 0;
  const groups = new Map((await listGroups(rt)).map((g) => [g.id, g]));
  for (const [id, g] of Object.entries(file.groups)) {
    const cur = groups.get(id);
    if (cur && cur.name === g.name && cur.description === (g.description ?? null) && (g.position === undefined || g.position === cur.position)) continue;
    await putGroup(ctx, id, g);
    n++;
  }
  const comps = new Map((await listComponents(rt)).map((c) => [c.id, c]));
  for (const [id, c] of Object.entries(file.components)) {
    const cur = comps.get(id);
    const same =
      cur &&
      cur.name === c.name &&
      cur.description === (c.description ?? null) &&
      cur.group_id === (c.group ?? null) &&
      cur.platform === (c.platform ?? false) &&
      JSON.stringify(cur.models) === JSON.stringify(c.models ?? []) &&
      JSON.stringify(cur.channels) === JSON.stringify(c.channels ?? []) &&
      JSON.stringify(cur.probe) === JSON.stringify(c.probe ?? null) &&
      (c.rules === undefined || JSON.stringify(cur.rules) === JSON.stringify(c.rules)) &&
      (c.position === undefined || c.position === cur.position);
    if (same) continue;
    await putComponent(ctx, id, c);
    n++;
  }
  return n;
}

/** The default page of a new database: the platform, and the upstream model families. */
export const DEFAULT_STATUS_FILE: StatusFile = parseStatusFile({
  groups: {
    platform: { name: 'Platform', position: 0 },
    upstreams: { name: 'Upstream models', description: 'Model families as served through this gateway', position: 1 },
  },
  components: {
    api: { name: 'API', description: 'The gateway API (/v1)', group: 'platform', platform: true, probe: { kind: 'http', path: '/readyz', every_seconds: 60 } },
    console: { name: 'Console', description: 'The web console', group: 'platform', probe: { kind: 'http', path: '/console', every_seconds: 120 } },
    'openai-gpt': { name: 'OpenAI GPT', group: 'upstreams', models: ['gpt-3*', 'gpt-4*', 'gpt-5*', 'o1*', 'o3*', 'o4*', 'chatgpt-*', 'text-embedding-*'], probe: { kind: 'model', every_seconds: 300, max_usd_per_day: '0.10' } },
    'anthropic-claude': { name: 'Anthropic Claude', group: 'upstreams', models: ['claude-*'], probe: { kind: 'model', every_seconds: 300, max_usd_per_day: '0.25' } },
    'google-gemini': { name: 'Google Gemini', group: 'upstreams', models: ['gemini-*'], probe: { kind: 'model', every_seconds: 300, max_usd_per_day: '0.10' } },
    'nano-banana': { name: 'Nano Banana image', group: 'upstreams', models: ['nano-banana*', 'gemini-*-image*'], probe: { kind: 'model', every_seconds: 3600, max_usd_per_day: '0.50' } },
    'gpt-image': { name: 'GPT-Image', group: 'upstreams', models: ['gpt-image-*', 'dall-e-*'], probe: { kind: 'model', every_seconds: 3600, max_usd_per_day: '0.50' } },
  },
});

/** On a database that never had a status component, the file's section or else the defaults. */
export async function seedStatus(rt: Runtime, file: StatusFile | null): Promise<number> {
  if (file) return applyStatusFile(rt, file);
  const ever = await rt.db.get('SELECT id FROM status_changes LIMIT 1');
  if (ever) return 0;
  return applyStatusFile(rt, DEFAULT_STATUS_FILE);
}

/** The catalog file's "status" section, validated at boot: a bad one stops the start, naming the file and field. */
export function statusFileOf(path: string | undefined, raw: unknown): StatusFile | null {
  if (raw === undefined) return null;
  try {
    return parseStatusFile(raw);
  } catch (e) {
    throw new ConfigError(`SURETY_CONFIG: ${path} is invalid:\n  ${(e as Error).message}`);
  }
}
