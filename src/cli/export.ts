import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppError } from '../kernel/errors.ts';
import { EXPORT_FORMATS, writeExportDir, type Dataset, type ExportFormat, type ExportManifest } from '../kernel/export.ts';
import { verifyExportDir, type ExportVerifyReport } from '../kernel/export-verify.ts';
import { parseInput } from '../kernel/validation.ts';
import { LogFilter, logExport } from '../requests/logs.ts';
import { VERIFY_FAILED_EXIT } from './ledger.ts';
import { defined, flag, required, str, withServices, type Command, type Io, type OptionSpec } from './framework.ts';

// `surety export …`: exports materialised into a directory (files + manifest.json), and the check
// of such a directory against its manifest. The format is docs/export.md.

export const OUT_OPTIONS: Record<string, OptionSpec> = {
  out: { type: 'string', value: 'DIR', help: 'directory to write into (created; must not hold an export already)' },
  format: { type: 'string', value: 'F', help: 'csv, ndjson or both (default both)' },
};

/** The formats asked for with --format. */
export function formatsOf(v: Record<string, string | boolean | undefined>): ExportFormat[] {
  const f = str(v, 'format') ?? 'both';
  if (f === 'both') return [...EXPORT_FORMATS];
  if ((EXPORT_FORMATS as readonly string[]).includes(f)) return [f as ExportFormat];
  throw new AppError('VALIDATION', `--format: must be csv, ndjson or both, got ${JSON.stringify(f)}`, { field: 'format' });
}

/** Writes an export into `dir`, refusing to mix it with another one. */
export async function materialise(dir: string, base: string, dataset: Dataset, formats: ExportFormat[], rows: AsyncIterable<Record<string, unknown>>, filter: Record<string, unknown>): Promise<ExportManifest> {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new AppError('VALIDATION', `--out: ${dir} is not empty; give a new directory for each export`, { field: 'out' });
  return writeExportDir(dir, base, dataset, formats, rows, filter);
}

export function printManifest(io: Io, dir: string, m: ExportManifest): void {
  io.line(`Exported ${m.rows} row${m.rows === 1 ? '' : 's'} of ${m.dataset}/${m.dataset_version} to ${dir}:`);
  for (const f of m.files) io.line(`  ${f.name}  ${f.bytes} bytes  sha256 ${f.sha256}`);
  io.line(`  manifest.json  ${m.accounts.length} account${m.accounts.length === 1 ? '' : 's'}; totals ${Object.entries(m.totals).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  io.line(`Check it with: surety export verify ${dir}`);
}

function printVerify(io: Io, r: ExportVerifyReport): void {
  io.line(r.ok ? `Export verified: ${r.dataset}, ${r.rows} rows; every file matches its manifest.` : `Export verification FAILED in ${r.dir}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}.`);
  for (const f of r.files) io.line(`  ${f.ok ? 'ok  ' : 'FAIL'}  ${f.name}`);
  for (const p of r.problems) io.line(`  ${p.file}: ${p.check}: ${p.detail}`);
}

export const commands: Command[] = [
  {
    name: 'export logs',
    summary: 'Export request logs into a directory: CSV and/or NDJSON files and their manifest.json',
    options: {
      ...OUT_OPTIONS,
      account: { type: 'string', value: 'ID', help: 'only this account' },
      key: { type: 'string', value: 'ID', help: 'only this key' },
      model: { type: 'string', value: 'MODEL', help: 'only this model' },
      outcome: { type: 'string', value: 'OUTCOME', help: 'only this outcome (ok, platform_error, …)' },
      channel: { type: 'string', value: 'ID', help: 'only this channel' },
      from: { type: 'string', value: 'ISO', help: 'started at or after this time' },
      to: { type: 'string', value: 'ISO', help: 'started before this time' },
      customer: { type: 'boolean', help: "the customer's columns (no channels, upstream models or upstream texts)" },
    },
    details: 'Example: surety export logs --out ./march --from 2026-03-01T00:00:00Z --to 2026-04-01T00:00:00Z --account acct_…\nThe format (columns, escaping, manifest) is docs/export.md.',
    async run({ values: v, io }) {
      const dir = resolve(required(v, 'out', 'export logs'));
      const formats = formatsOf(v);
      const f = parseInput(LogFilter, defined({ account_id: str(v, 'account'), key_id: str(v, 'key'), model: str(v, 'model'), outcome: str(v, 'outcome'), channel_id: str(v, 'channel'), from: str(v, 'from'), to: str(v, 'to') }), 'options');
      const m = await withServices(async (_ctx, rt) => {
        const x = logExport(rt.db, f, flag(v, 'customer') ? 'customer' : 'operator');
        return materialise(dir, 'surety-logs', x.dataset, formats, x.rows, x.filter);
      });
      io.result(m, () => printManifest(io, dir, m));
    },
  },
  {
    name: 'export verify',
    summary: 'Check an export directory against its manifest.json; exit 3 when it does not match',
    args: ['dir'],
    details: [
      'Recomputes, from the files themselves: SHA-256 and size of each file, the header (CSV) or keys (NDJSON),',
      'the row count and the sums per account; and checks the manifest\'s own totals. Read-only.',
      'Exit status: 0 the export is intact, 3 it is not (the report says which file and what), 1 an error.',
    ].join('\n'),
    async run({ positionals: [dir], io }) {
      const r = await verifyExportDir(resolve(dir!));
      io.result(r, () => printVerify(io, r));
      return r.ok ? 0 : VERIFY_FAILED_EXIT;
    },
  },
];
