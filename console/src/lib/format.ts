// Pure helpers of the console (no DOM): unit-tested in test/unit/console/. Amounts stay the
// decimal strings the API gives — they are shown as they are and compared exactly, never as floats.

/** "$12.50", "−$0.000123" from an API amount ("12.50", "-0.000123"); null/undefined as "—". */
export function money(s: string | null | undefined): string {
  if (s === null || s === undefined || s === '') return '—';
  return s.startsWith('-') ? `−$${s.slice(1)}` : `$${s}`;
}

/** A decimal string as an exact integer of nano-units, for comparing and sorting (not for display). */
export function nanos(s: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(s.trim());
  if (!m) throw new Error(`not a decimal amount: ${s}`);
  const v = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -v : v;
}

export function compareUsd(a: string, b: string): number {
  const d = nanos(a) - nanos(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** A time in the viewer's zone and language ("1 Dec 2026, 14:03:05"), and its UTC form for the hover title. */
export function localTime(iso: string | null | undefined, locale: string, timeZone?: string): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium', ...(timeZone ? { timeZone } : {}) }).format(d);
}

export function utcTitle(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
}

/** The viewer's offset from UTC in minutes at `d` (UTC+8 → 480), as the API's tz_offset_minutes. */
export function tzOffsetMinutes(d: Date = new Date()): number {
  return -d.getTimezoneOffset();
}

/** A query string of the defined, non-empty parameters ("?a=1&b=x"), or "". */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const RANGES = ['today', '7d', '30d', '90d', 'custom'] as const;
export type Range = (typeof RANGES)[number];

/**
 * The [from, to) of a preset range as ISO strings, in the viewer's zone: "today" from local
 * midnight, "7d" the last 7 calendar days including today, etc.; `to` is the next local midnight.
 */
export function rangeBounds(range: Exclude<Range, 'custom'>, now: Date): { from: string; to: string } {
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = range === 'today' ? 1 : Number(range.slice(0, -1));
  const from = new Date(midnight.getFullYear(), midnight.getMonth(), midnight.getDate() - (days - 1));
  const to = new Date(midnight.getFullYear(), midnight.getMonth(), midnight.getDate() + 1);
  return { from: from.toISOString(), to: to.toISOString() };
}

/** A custom range from two <input type="date"> values (local days, both included). */
export function dateInputBounds(from: string, to: string): { from: string; to: string } | null {
  const f = /^(\d{4})-(\d{2})-(\d{2})$/.exec(from);
  const t = /^(\d{4})-(\d{2})-(\d{2})$/.exec(to);
  if (!f || !t) return null;
  const a = new Date(Number(f[1]), Number(f[2]) - 1, Number(f[3]));
  const b = new Date(Number(t[1]), Number(t[2]) - 1, Number(t[3]) + 1);
  return b > a ? { from: a.toISOString(), to: b.toISOString() } : null;
}

/** An API error body's message, else the HTTP status. */
export function errorMessage(status: number, body: unknown): { code: string; message: string } {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (e && typeof e.code === 'string') return { code: e.code, message: typeof e.message === 'string' ? e.message : e.code };
  return { code: `HTTP_${status}`, message: `The server answered ${status}.` };
}

/** Integers with thousands separators in the viewer's language. */
export function count(n: number | null | undefined, locale: string): string {
  return n === null || n === undefined ? '—' : new Intl.NumberFormat(locale).format(n);
}

/** What is wrong with a typed USD amount (positive, at most 9 decimals, not above `max`), or null. */
export function usdProblem(s: string, max?: string): 'format' | 'zero' | 'over' | null {
  const v = s.trim();
  if (!/^\d+(\.\d{1,9})?$/.test(v)) return 'format';
  if (nanos(v) <= 0n) return 'zero';
  if (max !== undefined && compareUsd(v, max) > 0) return 'over';
  return null;
}

/** The next sort after a click on the header of `key` ("-amount": descending): the same column flips, another starts ascending. */
export function nextSort(current: string, key: string): string {
  const desc = current.startsWith('-');
  const col = desc ? current.slice(1) : current;
  return col === key && !desc ? `-${key}` : key;
}
