import type { CatalogFile } from '../catalog/index.ts';
import { ConfigError } from '../kernel/config/load.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { DetectionSettingsSchema, ProgrammeSettingsSchema, detectionSettings, programmeSettings, saveDetectionSettings, saveProgrammeSettings } from './settings.ts';

// The `detection` and `programme` sections of the catalog file (SURETY_CONFIG): the same documents
// as PUT /admin/v1/detection and PUT /admin/v1/programme, checked at boot (a bad section stops the
// start, naming the path) and applied at every start, audited as operator "config-file". A file
// without them leaves the settings made through the admin API as they are.

const SECTIONS = { detection: DetectionSettingsSchema, programme: ProgrammeSettingsSchema } as const;

export function checkDetectionConfig(file: CatalogFile, path: string): void {
  for (const [name, schema] of Object.entries(SECTIONS)) {
    const raw = file[name as keyof typeof SECTIONS];
    if (raw === undefined) continue;
    const r = schema.safeParse(raw);
    if (!r.success) {
      const i = r.error.issues[0]!;
      const at = [name, ...i.path.map(String), ...(i.code === 'unrecognized_keys' ? [i.keys[0]!] : [])].join('.');
      throw new ConfigError(`SURETY_CONFIG: ${path} is invalid:\n  ${at}: ${i.code === 'unrecognized_keys' ? 'unknown field' : i.message}`);
    }
  }
}

/** Applies the sections that differ from what is stored; returns how many changed. */
export async function applyDetectionConfig(rt: Runtime, file: CatalogFile): Promise<number> {
  const ctx = withActor(rt, { type: 'operator', id: 'config-file' });
  let changed = 0;
  if (file.detection !== undefined) {
    const want = DetectionSettingsSchema.parse(file.detection);
    if (JSON.stringify(want) !== JSON.stringify(await detectionSettings(rt))) (await saveDetectionSettings(ctx, file.detection), changed++);
  }
  if (file.programme !== undefined) {
    const want = ProgrammeSettingsSchema.parse(file.programme);
    if (JSON.stringify(want) !== JSON.stringify(await programmeSettings(rt))) (await saveProgrammeSettings(ctx, file.programme), changed++);
  }
  return changed;
}
