// The one way Surety writes rows out: CSV and NDJSON, streamed with constant memory. Every export
// (request logs today; incident scopes, findings and SLA reports as they come) goes through here,
// so escaping and formula-injection defence exist once.

export type ExportFormat = 'csv' | 'ndjson';

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
};

const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;
/** A spreadsheet treats a cell starting with one of these as a formula (CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180): objects as JSON; a text that a spreadsheet would run as a formula
 * (starting with = + - @, a tab or a CR) gets a leading apostrophe, as OWASP advises; numbers
 * (also negative ones) are left as they are; quotes when the cell holds a comma, quote or line break.
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (typeof v === 'string' && FORMULA_START.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\n`;
}

/** The header line (CSV) for a format; nothing for NDJSON. */
export function exportHeader(format: ExportFormat, columns: readonly string[]): string {
  return format === 'csv' ? csvLine(columns) : '';
}

/** One row as a line of the format; `view` is the row as the API shows it. */
export function exportLine(format: ExportFormat, columns: readonly string[], view: Record<string, unknown>): string {
  return format === 'csv' ? csvLine(columns.map((c) => view[c])) : `${JSON.stringify(view)}\n`;
}
