import { AppError } from '../kernel/errors.ts';

// Measurement periods are calendar months in the contract's time zone: "2026-11" in Asia/Shanghai
// is [2026-10-31T16:00Z, 2026-11-30T16:00Z). Offsets come from the platform's time-zone data
// (Intl), so daylight-saving months are 1 hour shorter or longer, as the calendar says.

export const PERIOD_RE = /^(\d{4})-(0[1-9]|1[0-2])$/;
export const MINUTE = 60_000;
export const DAY = 86_400_000;

/** The offset (ms east of UTC) of a time zone at an instant. */
const formats = new Map<string, Intl.DateTimeFormat>();

export function zoneOffset(tz: string, at: number): number {
  let f = formats.get(tz);
  if (!f) formats.set(tz, (f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })));
  const parts = f.formatToParts(new Date(at));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return local - Math.floor(at / 1000) * 1000;
}

/** The instant a local wall-clock time (y, m 1-12, d, h) happens in a zone (the later one in a gap). */
export function zonedTime(tz: string, y: number, m: number, d = 1, h = 0): number {
  const wall = Date.UTC(y, m - 1, d, h);
  let t = wall - zoneOffset(tz, wall);
  t = wall - zoneOffset(tz, t);
  return t;
}

export interface Window {
  from: number;
  to: number;
}

/** "2026-11" → the month's window in the zone. */
export function periodWindow(period: string, tz: string): Window {
  const m = PERIOD_RE.exec(period);
  if (!m) throw new AppError('VALIDATION', `period: must be a month like "2026-11", got ${JSON.stringify(period)}`, { field: 'period' });
  const y = Number(m[1]);
  const mo = Number(m[2]);
  return { from: zonedTime(tz, y, mo), to: mo === 12 ? zonedTime(tz, y + 1, 1) : zonedTime(tz, y, mo + 1) };
}

/** The period (month in the zone) an instant falls in. */
export function periodOf(at: number, tz: string): string {
  const local = new Date(at + zoneOffset(tz, at));
  return `${local.getUTCFullYear()}-${String(local.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function previousPeriod(period: string): string {
  const [y, m] = period.split('-').map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

// Offsets change on quarter-hour boundaries at the finest (every zone in use today), so one
// lookup per quarter hour serves the 40,000 minutes of a month.
const quarterOffsets = new Map<string, number>();
const QUARTER = 900_000;

/** The local date (YYYY-MM-DD in the zone) of an instant: the day a minute is charted under. */
export function localDay(at: number, tz: string): string {
  const k = `${tz}|${Math.floor(at / QUARTER)}`;
  let off = quarterOffsets.get(k);
  if (off === undefined) {
    if (quarterOffsets.size > 200_000) quarterOffsets.clear();
    quarterOffsets.set(k, (off = zoneOffset(tz, Math.floor(at / QUARTER) * QUARTER)));
  }
  return new Date(at + off).toISOString().slice(0, 10);
}

export const floorMinute = (t: number) => Math.floor(t / MINUTE) * MINUTE;
export const ceilMinute = (t: number) => Math.ceil(t / MINUTE) * MINUTE;
