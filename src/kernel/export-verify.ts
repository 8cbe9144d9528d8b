// Reading an export back (docs/export.md): a streaming RFC 4180 reader for CSV, one JSON object
// per line for NDJSON, and the check behind `surety export verify <dir>` — every file's SHA-256,
// size, header, row count and sums per account recomputed from its bytes and compared with the
// manifest beside it. Constant memory in the rows (per-account sums only).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EXPORT_FORMAT_VERSION, EXPORT_FORMATS, MANIFEST_FILE, csvText, type AccountTally, type ExportFile, type ExportManifest } from './export.ts';
import { formatUsd, parseUsd } from './money.ts';

/** CSV records from text chunks; quoted cells may hold commas, doubled quotes and line breaks. */
export async function* readCsv(chunks: AsyncIterable<string>): AsyncIterable<string[]> {
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let afterQuote = false;
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk[i]!;
      if (quoted) {
        if (ch === '"') (quoted = false), (afterQuote = true);
        else cell += ch;
        continue;
      }
      if (ch === '"') {
        // A quote right after a closing one is an escaped quote ("").
        if (afterQuote) cell += '"';
        quoted = true;
        afterQuote = false;
        continue;
      }
      afterQuote = false;
      if (ch === ',') row.push(cell), (cell = '');
      else if (ch === '\n') {
        row.push(cell);
        yield row;
        row = [];
        cell = '';
      } else if (ch !== '\r') cell += ch;
    }
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    yield row;
  }
}

/** Lines of a text stream (a trailing line without its newline included). */
async function* readLines(chunks: AsyncIterable<string>): AsyncIterable<string> {
  let rest = '';
  for await (const chunk of chunks) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest !== '') yield rest;
}

/** The rows of an export file as column → text (CSV cells with the formula defence undone). */
export async function* readExportRows(path: string, format: ExportManifest['files'][number]['format'], columns: readonly string[]): AsyncIterable<Record<string, unknown>> {
  const chunks = createReadStream(path, { encoding: 'utf8' }) as AsyncIterable<string>;
  if (format === 'ndjson') {
    for await (const line of readLines(chunks)) yield JSON.parse(line) as Record<string, unknown>;
    return;
  }
  let header: string[] | null = null;
  for await (const rec of readCsv(chunks)) {
    if (!header) {
      header = rec;
      if (header.join(',') !== columns.join(',')) throw new VerifyFailure('columns', `the header is not the manifest's columns: ${header.slice(0, 5).join(',')}…`);
      continue;
    }
    if (rec.length !== header.length) throw new VerifyFailure('rows', `a row has ${rec.length} cells, the header ${header.length}`);
    const o: Record<string, unknown> = {};
    header.forEach((c, i) => (o[c] = csvText(rec[i]!)));
    yield o;
  }
}

class VerifyFailure extends Error {
  readonly check: string;
  constructor(check: string, message: string) {
    super(message);
    this.check = check;
  }
}

export interface VerifyProblem {
  file: string;
  check: string;
  detail: string;
}

export interface ExportVerifyReport {
  ok: boolean;
  dir: string;
  dataset: string | null;
  rows: number | null;
  files: Array<{ name: string; ok: boolean }>;
  problems: VerifyProblem[];
}

async function sha256(path: string): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const b of createReadStream(path)) {
    h.update(b as Buffer);
    bytes += (b as Buffer).length;
  }
  return { hex: h.digest('hex'), bytes };
}

/** Recounts a file's rows and sums per account, and compares them with the manifest. */
async function checkContent(path: string, f: ExportFile, m: ExportManifest): Promise<VerifyProblem[]> {
  const problems: VerifyProblem[] = [];
  const per = new Map<string | null, { rows: number; sums: bigint[] }>();
  let rows = 0;
  for await (const o of readExportRows(path, f.format, m.columns)) {
    rows++;
    if (f.format === 'ndjson' && Object.keys(o).join(',') !== m.columns.join(',')) throw new VerifyFailure('columns', `row ${rows} does not hold exactly the manifest's columns`);
    const raw = o[m.account_column];
    const key = raw === null || raw === undefined || raw === '' ? null : String(raw);
    let t = per.get(key);
    if (!t) per.set(key, (t = { rows: 0, sums: m.amount_columns.map(() => 0n) }));
    t.rows++;
    m.amount_columns.forEach((c, i) => {
      const v = o[c];
      if (v !== null && v !== undefined && v !== '') t.sums[i]! += parseUsd(String(v), { allowZero: true, allowNegative: true });
    });
  }
  if (rows !== f.rows) problems.push({ file: f.name, check: 'rows', detail: `${rows} rows, the manifest says ${f.rows}` });
  const expected = new Map<string | null, AccountTally>(m.accounts.map((a) => [a.account_id, a]));
  for (const [acct, t] of per) {
    const e = expected.get(acct);
    const got = Object.fromEntries(m.amount_columns.map((c, i) => [c, formatUsd(t.sums[i]!)]));
    if (!e || e.rows !== t.rows || m.amount_columns.some((c) => parseUsd(e.sums[c] ?? 'x', { allowZero: true, allowNegative: true }) !== parseUsd(got[c]!, { allowZero: true, allowNegative: true }))) {
      problems.push({ file: f.name, check: 'accounts', detail: `account ${acct ?? '(none)'}: ${t.rows} rows, ${JSON.stringify(got)}; the manifest says ${e ? `${e.rows} rows, ${JSON.stringify(e.sums)}` : 'nothing'}` });
    }
  }
  for (const acct of expected.keys()) if (!per.has(acct)) problems.push({ file: f.name, check: 'accounts', detail: `account ${acct ?? '(none)'} is in the manifest but has no rows` });
  return problems;
}

/** The manifest's own arithmetic: totals are the sums of the accounts, rows their count. */
function checkManifest(m: ExportManifest): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const p = (detail: string) => problems.push({ file: MANIFEST_FILE, check: 'manifest', detail });
  if (m.format !== 'surety-export') p(`format is ${JSON.stringify(m.format)}, not "surety-export"`);
  if (m.format_version !== EXPORT_FORMAT_VERSION) p(`format_version ${m.format_version} is not ${EXPORT_FORMAT_VERSION}, the version this Surety reads`);
  if (m.accounts.reduce((n, a) => n + a.rows, 0) !== m.rows) p(`the accounts' rows do not add up to rows (${m.rows})`);
  for (const c of m.amount_columns) {
    const sum = m.accounts.reduce((s, a) => s + parseUsd(a.sums[c] ?? '0', { allowZero: true, allowNegative: true }), 0n);
    if (sum !== parseUsd(m.totals[c] ?? 'x', { allowZero: true, allowNegative: true })) p(`the accounts' ${c} add up to ${formatUsd(sum)}, totals.${c} is ${m.totals[c]}`);
  }
  return problems;
}

function readManifest(dir: string): ExportManifest {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) throw new VerifyFailure('manifest', `no ${MANIFEST_FILE} in ${dir}`);
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as ExportManifest;
    if (!Array.isArray(m.files) || !Array.isArray(m.columns) || !Array.isArray(m.accounts) || !Array.isArray(m.amount_columns)) throw new Error('files, columns, accounts and amount_columns must be lists');
    return m;
  } catch (e) {
    throw new VerifyFailure('manifest', `${MANIFEST_FILE} is not a manifest: ${(e as Error).message}`);
  }
}

/** Checks an export directory against its manifest (read-only). */
export async function verifyExportDir(dir: string): Promise<ExportVerifyReport> {
  const report: ExportVerifyReport = { ok: false, dir, dataset: null, rows: null, files: [], problems: [] };
  let m: ExportManifest;
  try {
    m = readManifest(dir);
  } catch (e) {
    report.problems.push({ file: MANIFEST_FILE, check: 'manifest', detail: (e as Error).message });
    return report;
  }
  report.dataset = `${m.dataset}/${m.dataset_version}`;
  report.rows = m.rows;
  report.problems.push(...checkManifest(m));
  for (const f of m.files) {
    const before = report.problems.length;
    const path = join(dir, basename(f.name));
    try {
      if (!(EXPORT_FORMATS as readonly string[]).includes(f.format)) throw new VerifyFailure('format', `unknown format ${JSON.stringify(f.format)}`);
      if (!existsSync(path)) throw new VerifyFailure('missing', 'the file is not in the directory');
      const { hex, bytes } = await sha256(path);
      if (bytes !== f.bytes) report.problems.push({ file: f.name, check: 'bytes', detail: `${bytes} bytes, the manifest says ${f.bytes}` });
      if (hex !== f.sha256) report.problems.push({ file: f.name, check: 'sha256', detail: `SHA-256 ${hex}, the manifest says ${f.sha256}` });
      report.problems.push(...(await checkContent(path, f, m)));
    } catch (e) {
      report.problems.push({ file: f.name, check: e instanceof VerifyFailure ? e.check : 'content', detail: (e as Error).message });
    }
    report.files.push({ name: f.name, ok: report.problems.length === before });
  }
  if (m.files.length === 0) report.problems.push({ file: MANIFEST_FILE, check: 'manifest', detail: 'the manifest lists no files' });
  report.ok = report.problems.length === 0;
  return report;
}
