// The ONE export format of Surety (docs/export.md): every export — request logs, incident scopes,
// findings, SLA reports — is a *dataset* (a fixed, versioned list of columns) written as CSV or
// NDJSON, streamed with constant memory, and described by a *manifest*: the format and dataset
// versions, the filter that produced it, the row count, the sums of its money columns in total and
// per account, and the SHA-256 and size of each file. Escaping and formula-injection defence exist
// here once; export-verify.ts reads the files back and checks them against their manifest.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { formatUsd, parseUsd } from './money.ts';

/** Version of the container: file layout, escaping, manifest shape. Datasets version their columns. */
export const EXPORT_FORMAT_VERSION = 1;
export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
};

/**
 * A fixed, versioned column set. Rows are views (`Record<column, value>`) whose times are already
 * ISO 8601 UTC strings and whose amounts are decimal strings of USD; a change to the columns is a
 * new `version`, never an edit of a released one (tests pin each version's columns).
 */
export interface Dataset {
  name: string;
  version: number;
  columns: readonly string[];
  /** The column holding the account id: rows are counted and money summed per account. */
  accountColumn: string;
  /** Money columns (decimal-string USD) summed in the manifest. */
  amountColumns: readonly string[];
}

const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;
/** A spreadsheet treats a cell starting with one of these as a formula (CSV injection). */
const FORMULA_START = /^'*[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180): objects as JSON; a text that a spreadsheet would run as a formula
 * (starting with = + - @, a tab or a CR, after any apostrophes) gets one more leading apostrophe, as
 * OWASP advises — reversibly (`csvText` takes exactly one off); numbers (also negative ones) are
 * left as they are; quotes when the cell holds a comma, quote or line break.
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (typeof v === 'string' && FORMULA_START.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The text a CSV cell stood for (its quoting already undone by the reader): the defence removed. */
export function csvText(cell: string): string {
  return cell.startsWith("'") && FORMULA_START.test(cell.slice(1)) ? cell.slice(1) : cell;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\n`;
}

/** The header line (CSV) for a format; nothing for NDJSON. */
export function exportHeader(format: ExportFormat, columns: readonly string[]): string {
  return format === 'csv' ? csvLine(columns) : '';
}

/** One row as a line of the format: exactly the dataset's columns, in order (NDJSON too). */
export function exportLine(format: ExportFormat, columns: readonly string[], view: Record<string, unknown>): string {
  if (format === 'csv') return csvLine(columns.map((c) => view[c]));
  const o: Record<string, unknown> = {};
  for (const c of columns) o[c] = view[c] ?? null;
  return `${JSON.stringify(o)}\n`;
}

// ---- the manifest ----

export interface ExportFile {
  name: string;
  format: ExportFormat;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface AccountTally {
  account_id: string | null;
  rows: number;
  /** Per money column, a decimal string of USD. */
  sums: Record<string, string>;
}

export interface ExportManifest {
  format: 'surety-export';
  format_version: number;
  dataset: string;
  dataset_version: number;
  columns: string[];
  account_column: string;
  amount_columns: string[];
  generated_at: string;
  /** The filter that selected the rows, as given (times as ISO strings). */
  filter: Record<string, unknown>;
  rows: number;
  /** Per money column, the sum over every row. */
  totals: Record<string, string>;
  /** One entry per account (sorted by id; rows without an account last). */
  accounts: AccountTally[];
  files: ExportFile[];
}

/** Rows and money per account, counted as rows are written. Memory grows with accounts, never rows. */
class Tally {
  rows = 0;
  private readonly dataset: Dataset;
  private readonly accounts = new Map<string | null, { rows: number; sums: bigint[] }>();
  constructor(dataset: Dataset) {
    this.dataset = dataset;
  }
  add(view: Record<string, unknown>): void {
    this.rows++;
    const raw = view[this.dataset.accountColumn];
    const key = raw === null || raw === undefined || raw === '' ? null : String(raw);
    let t = this.accounts.get(key);
    if (!t) this.accounts.set(key, (t = { rows: 0, sums: this.dataset.amountColumns.map(() => 0n) }));
    t.rows++;
    this.dataset.amountColumns.forEach((c, i) => {
      const v = view[c];
      if (v !== null && v !== undefined && v !== '') t.sums[i]! += parseUsd(String(v), { allowZero: true, allowNegative: true });
    });
  }
  result(): Pick<ExportManifest, 'rows' | 'totals' | 'accounts'> {
    const cols = this.dataset.amountColumns;
    const totals = cols.map(() => 0n);
    const keys = [...this.accounts.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a < b ? -1 : a > b ? 1 : 0));
    const accounts = keys.map((k) => {
      const t = this.accounts.get(k)!;
      t.sums.forEach((s, i) => (totals[i]! += s));
      return { account_id: k, rows: t.rows, sums: Object.fromEntries(cols.map((c, i) => [c, formatUsd(t.sums[i]!)])) };
    });
    return { rows: this.rows, totals: Object.fromEntries(cols.map((c, i) => [c, formatUsd(totals[i]!)])), accounts };
  }
}

/** Where one file of an export goes: `write` may return a promise (backpressure). */
export interface ExportOutput {
  name: string;
  format: ExportFormat;
  write(chunk: string): void | Promise<void>;
}

const CHUNK_CHARS = 64 * 1024;

class FileWriter {
  readonly out: ExportOutput;
  private readonly hash: Hash = createHash('sha256');
  private readonly columns: readonly string[];
  private buf = '';
  bytes = 0;
  constructor(out: ExportOutput, columns: readonly string[]) {
    this.out = out;
    this.columns = columns;
    this.buf = exportHeader(out.format, columns);
  }
  async line(view: Record<string, unknown>): Promise<void> {
    this.buf += exportLine(this.out.format, this.columns, view);
    if (this.buf.length >= CHUNK_CHARS) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.buf) return;
    const chunk = this.buf;
    this.buf = '';
    this.hash.update(chunk, 'utf8');
    this.bytes += Buffer.byteLength(chunk, 'utf8');
    await this.out.write(chunk);
  }
  file(rows: number): ExportFile {
    return { name: this.out.name, format: this.out.format, rows, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

/**
 * Writes the rows of a dataset to one or more outputs in one pass (the same rows as CSV and NDJSON
 * at once, or to a hash only), and returns the manifest describing what was written. `stop` is
 * checked between rows (a client that went away).
 */
export async function writeExport(
  dataset: Dataset,
  rows: AsyncIterable<Record<string, unknown>>,
  outputs: readonly ExportOutput[],
  filter: Record<string, unknown>,
  stop: () => boolean = () => false,
): Promise<ExportManifest> {
  const writers = outputs.map((o) => new FileWriter(o, dataset.columns));
  const tally = new Tally(dataset);
  for await (const view of rows) {
    tally.add(view);
    for (const w of writers) await w.line(view);
    if (stop()) break;
  }
  for (const w of writers) await w.flush();
  return {
    format: 'surety-export',
    format_version: EXPORT_FORMAT_VERSION,
    dataset: dataset.name,
    dataset_version: dataset.version,
    columns: [...dataset.columns],
    account_column: dataset.accountColumn,
    amount_columns: [...dataset.amountColumns],
    generated_at: new Date().toISOString(),
    filter,
    ...tally.result(),
    files: writers.map((w) => w.file(tally.rows)),
  };
}

/** The manifest of an export without writing it anywhere: the same rows hashed as they would be sent. */
export function exportManifest(dataset: Dataset, rows: AsyncIterable<Record<string, unknown>>, files: ReadonlyArray<{ name: string; format: ExportFormat }>, filter: Record<string, unknown>): Promise<ExportManifest> {
  return writeExport(dataset, rows, files.map((f) => ({ ...f, write: () => {} })), filter);
}

/**
 * Streams one export as an HTTP response (the caller has taken the response over from its
 * framework). Writes wait for the socket to drain; a client that goes away stops the query.
 */
export async function sendExport(res: ServerResponse, dataset: Dataset, format: ExportFormat, name: string, rows: AsyncIterable<Record<string, unknown>>, filter: Record<string, unknown>): Promise<ExportManifest> {
  res.writeHead(200, {
    'content-type': EXPORT_CONTENT_TYPES[format],
    'content-disposition': `attachment; filename="${name}"`,
    'x-surety-export': `${dataset.name}/${dataset.version}; format=${EXPORT_FORMAT_VERSION}`,
  });
  const write = (chunk: string) => (res.write(chunk) || res.destroyed ? undefined : new Promise<void>((ok) => (res.once('drain', ok), res.once('close', ok))));
  try {
    return await writeExport(dataset, rows, [{ name, format, write }], filter, () => res.destroyed);
  } finally {
    res.end();
  }
}

/** The file name of an export in a format: `<base>.csv`, `<base>.ndjson`. */
export const exportFileName = (base: string, format: ExportFormat) => `${base}.${format}`;

/**
 * Materialises an export into a directory: one file per format and `manifest.json` beside them,
 * which `surety export verify <dir>` checks. Files are written as they stream (constant memory).
 */
export async function writeExportDir(dir: string, base: string, dataset: Dataset, formats: readonly ExportFormat[], rows: AsyncIterable<Record<string, unknown>>, filter: Record<string, unknown>): Promise<ExportManifest> {
  mkdirSync(dir, { recursive: true });
  if (existsSync(join(dir, MANIFEST_FILE))) throw Object.assign(new Error(`EEXIST: ${join(dir, MANIFEST_FILE)} exists`), { code: 'EEXIST' });
  // Opened up front and exclusively (a file that exists is an error now, not an event later).
  const files: Array<{ format: ExportFormat; name: string; fd: number }> = [];
  try {
    for (const format of formats) files.push({ format, name: exportFileName(base, format), fd: openSync(join(dir, exportFileName(base, format)), 'wx') });
  } catch (e) {
    for (const f of files) closeSync(f.fd);
    throw e;
  }
  const streams = files.map((f) => {
    const stream = createWriteStream('', { fd: f.fd });
    let failure: Error | null = null;
    stream.on('error', (e) => (failure = e));
    return { ...f, stream, failed: () => failure };
  });
  const outputs: ExportOutput[] = streams.map((s) => ({
    name: s.name,
    format: s.format,
    write: (chunk) => {
      const f = s.failed();
      if (f) throw f;
      if (s.stream.write(chunk)) return undefined;
      // Both listeners go when either fires: one per backpressure would pile up on a long export.
      return new Promise<void>((ok, fail) => {
        const drained = () => (s.stream.off('error', failed), ok());
        const failed = (e: Error) => (s.stream.off('drain', drained), fail(e));
        s.stream.once('drain', drained);
        s.stream.once('error', failed);
      });
    },
  }));
  const close = () => Promise.all(streams.map((s) => new Promise<void>((ok, fail) => s.stream.end((err?: Error | null) => (err ? fail(err) : ok())))));
  let manifest: ExportManifest;
  try {
    manifest = await writeExport(dataset, rows, outputs, filter);
  } finally {
    await close();
  }
  // Written last, once every file is complete: a directory with a manifest is a finished export.
  writeFileSync(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
  return manifest;
}

export const MANIFEST_FILE = 'manifest.json';
