import { z } from 'zod';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { AppError } from '../kernel/errors.ts';
import { formatUsd, parseUsd } from '../kernel/money.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { big, num, str, type Queryable } from '../storage/port.ts';
import { programmeSettings, type ProgrammeSettings } from './settings.ts';

// The compensation programme: accounts an operator enrolled are compensated automatically when
// they are eligible — by default, when their spend on image models in a calendar month (in the
// programme's time zone) reached $10,000, that month or the month before (look-back). Spend is
// what the ledger charged them: request rows posted to the journal (tx_id set), by model.

// ---- calendar months in a time zone ----

/** Minutes the zone is ahead of UTC at `t`. */
function zoneOffsetMinutes(t: number, tz: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(t));
  const p = (type: string) => Number(parts.find((x) => x.type === type)!.value);
  const local = Date.UTC(p('year'), p('month') - 1, p('day'), p('hour'), p('minute'), p('second'));
  return Math.round((local - Math.floor(t / 1000) * 1000) / 60_000);
}

/** The calendar month ("2026-11") of a time in a zone. */
export function monthOf(t: number, tz: string): string {
  const d = new Date(t + zoneOffsetMinutes(t, tz) * 60_000);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The first millisecond of a month in a zone, and of the next one. */
export function monthBounds(month: string, tz: string): [number, number] {
  const m = MONTH.exec(month);
  if (!m) throw new AppError('VALIDATION', `month: must look like 2026-11, got ${JSON.stringify(month)}`, { field: 'month' });
  const startOf = (y: number, mo: number) => {
    const guess = Date.UTC(y, mo, 1);
    let t = guess - zoneOffsetMinutes(guess, tz) * 60_000;
    t = guess - zoneOffsetMinutes(t, tz) * 60_000;
    return t;
  };
  const y = Number(m[1]);
  const mo = Number(m[2]) - 1;
  return [startOf(y, mo), startOf(mo === 11 ? y + 1 : y, (mo + 1) % 12)];
}

export function addMonths(month: string, k: number): string {
  const m = MONTH.exec(month)!;
  const i = Number(m[1]) * 12 + Number(m[2]) - 1 + k;
  return `${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')}`;
}

// ---- spend ----

/** The models whose spend counts: the setting, or every image model. */
export async function programmeModels(q: Queryable, s: ProgrammeSettings): Promise<string[]> {
  if (s.models !== null) return s.models;
  return (await q.all("SELECT id FROM models WHERE kind = 'images' ORDER BY id")).map((r) => str(r.id));
}

/** What the ledger charged an account in [from, to) for requests of these models (all models: null). */
export async function spend(q: Queryable, accountId: string, from: number, to: number, models: readonly string[] | null): Promise<bigint> {
  if (models !== null && models.length === 0) return 0n;
  const byModel = models === null ? '' : ` AND model IN (${models.map(() => '?').join(', ')})`;
  // started_at bounds the index range (a charge ends after it starts, within a day); ended_at decides.
  const r = await q.get(
    `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS s FROM request_log WHERE account_id = ? AND started_at >= ? AND started_at < ? AND ended_at >= ? AND ended_at < ? AND tx_id IS NOT NULL AND amount > 0${byModel}`,
    [accountId, from - 86_400_000, to, from, to, ...(models ?? [])],
  );
  return big(r?.s);
}

export interface Eligibility {
  eligible: boolean;
  /** The month that made it eligible (or the finding's month when none did). */
  month: string;
  spend: bigint;
  threshold: bigint;
}

/** Whether an account is eligible for a charge at `at`: its month, or one of the look-back months before, reached the threshold. */
export async function eligibility(q: Queryable, accountId: string, at: number, s: ProgrammeSettings, models: readonly string[]): Promise<Eligibility> {
  const threshold = parseUsd(s.threshold, { allowZero: true });
  const month = monthOf(at, s.time_zone);
  let first: Eligibility | null = null;
  for (let k = 0; k <= s.lookback_months; k++) {
    const m = addMonths(month, -k);
    const [from, to] = monthBounds(m, s.time_zone);
    const got = await spend(q, accountId, from, to, models);
    const e = { eligible: got >= threshold, month: m, spend: got, threshold };
    if (e.eligible) return e;
    first ??= e;
  }
  return first!;
}

// ---- enrolment ----

export const EnrolmentInput = z.object({ enrolled: z.boolean() }).strict();

export async function isEnrolled(q: Queryable, accountId: string): Promise<boolean> {
  const r = await q.get('SELECT enrolled FROM programme_enrolment WHERE account_id = ?', [accountId]);
  return r !== undefined && num(r.enrolled) === 1;
}

export async function enrolledAccounts(q: Queryable): Promise<string[]> {
  return (await q.all('SELECT account_id FROM programme_enrolment WHERE enrolled = 1 ORDER BY account_id')).map((r) => str(r.account_id));
}

/** An account's place in the programme: enrolled, and eligible as of now. */
export async function enrolmentView(rt: Pick<Runtime, 'db' | 'now'>, accountId: string): Promise<Record<string, unknown>> {
  const s = await programmeSettings(rt);
  const e = await eligibility(rt.db, accountId, rt.now(), s, await programmeModels(rt.db, s));
  const r = await rt.db.get('SELECT * FROM programme_enrolment WHERE account_id = ?', [accountId]);
  return {
    account_id: accountId,
    enrolled: r !== undefined && num(r.enrolled) === 1,
    eligible: e.eligible,
    month: e.month,
    spend: formatUsd(e.spend),
    threshold: formatUsd(e.threshold),
    updated_at: r ? iso(num(r.updated_at)) : null,
  };
}

/** Enrols an account in the programme, or takes it out (audited). */
export async function setEnrolment(ctx: ServiceContext, accountId: string, raw: unknown): Promise<Record<string, unknown>> {
  requireOperator(ctx.actor);
  const input = parseInput(EnrolmentInput, raw);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    if (!(await q.get('SELECT id FROM accounts WHERE id = ?', [accountId]))) throw new AppError('NOT_FOUND', `account ${accountId} not found`, { resource: 'account' });
    const before = await isEnrolled(q, accountId);
    await q.run(
      'INSERT INTO programme_enrolment (account_id, enrolled, updated_by, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET enrolled = excluded.enrolled, updated_by = excluded.updated_by, updated_at = excluded.updated_at',
      [accountId, input.enrolled ? 1 : 0, ctx.actor.type === 'customer' ? 'customer' : `${ctx.actor.type}:${ctx.actor.id}`, now],
    );
    await audit(q, ctx.actor, 'programme.enrolment', { type: 'account', id: accountId, accountId }, { enrolled: before }, input, now);
  });
  return enrolmentView(ctx, accountId);
}
