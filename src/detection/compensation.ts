import { issueCredit } from '../billing/credits.ts';
import { lockAccount } from '../billing/books.ts';
import { voidHold } from '../billing/holds.ts';
import { audit } from '../kernel/audit.ts';
import { actorId, withActor, type Actor, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import { big, type Queryable } from '../storage/port.ts';
import { getFinding, toFinding, type Finding } from './findings.ts';
import { eligibility, enrolledAccounts, monthOf, programmeModels } from './programme.ts';
import { programmeSettings } from './settings.ts';

// Compensation: a verified finding is paid back as ONE credit into the customer's `granted`
// bucket (billing/credits.ts, kind `compensation`, pointing at the finding), whose idempotency key
// is the finding's id: however often it is retried, rescanned or run by two instances, it is paid
// once. A request is never paid back more than it was charged, whichever findings (or moderation
// settlements) name it: each source first *claims* its part of each request under the account's
// lock, and pays only what it claimed.

export const SYSTEM: Actor = { type: 'system', id: 'detection' };

/** What a request (or a posted hold, `hold:<id>`) was charged: the cap of what may be paid back on it. */
async function chargeOf(q: Queryable, key: string): Promise<bigint> {
  if (key.startsWith('hold:')) return big((await q.get('SELECT posted FROM holds WHERE id = ?', [key.slice(5)]))?.posted);
  return big((await q.get('SELECT amount FROM request_log WHERE id = ?', [key]))?.amount);
}

/**
 * Claims, for `source`, up to `stakes` of each request: what is left of its charge after every
 * other source's claims. Runs under the account's lock, so two sources never claim the same money.
 * Claimed before (a retry after a crash): returns the earlier claims unchanged.
 */
export async function claim(q: Queryable, db: Runtime['db'], accountId: string, source: string, stakes: Record<string, bigint>, now: number): Promise<Map<string, bigint>> {
  await lockAccount(db, q, accountId);
  const mine = await q.all('SELECT request_id, amount FROM compensation_claims WHERE source = ?', [source]);
  if (mine.length > 0) return new Map(mine.map((r) => [String(r.request_id), big(r.amount)]));
  const out = new Map<string, bigint>();
  for (const [key, stake] of Object.entries(stakes)) {
    const others = big((await q.get('SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS s FROM compensation_claims WHERE request_id = ?', [key]))?.s);
    const left = (await chargeOf(q, key)) - others;
    const pay = stake < left ? stake : left;
    out.set(key, pay > 0n ? pay : 0n);
    if (pay > 0n) await q.run('INSERT INTO compensation_claims (request_id, source, account_id, amount, created_at) VALUES (?, ?, ?, ?, ?)', [key, source, accountId, pay, now]);
  }
  return out;
}

const total = (m: Map<string, bigint>) => [...m.values()].reduce((a, b) => a + b, 0n);

/** Pays back a verified finding (once). A stale open hold is voided instead: nothing was charged. */
export async function compensate(ctx: ServiceContext, f: Finding): Promise<Finding> {
  if (f.status !== 'verified') throw new AppError('CONFLICT', `finding ${f.id} is ${f.status}; only a verified finding is compensated`);
  if (f.account_id === null) throw new AppError('CONFLICT', `finding ${f.id} has no account to compensate`);
  const accountId = f.account_id;
  if (f.rule === 'stale_hold' && Object.keys(f.stakes).length === 0) await voidHold(ctx, f.subject).catch((e) => (isAppError(e) && e.code === 'HOLD_NOT_OPEN' ? null : Promise.reject(e)));
  const claimed = await ctx.db.tx((q) => claim(q, ctx.db, accountId, `finding:${f.id}`, f.stakes, ctx.now()));
  const amount = total(claimed);
  let creditId: string | null = null;
  if (amount > 0n) {
    const memo = `Compensation for finding ${f.id} (${f.rule}): ${f.reason}`.slice(0, 1000);
    const { credit } = await issueCredit(ctx, { accountId, kind: 'compensation', amount, refType: 'finding', refId: f.id, memo }, `finding:${f.id}`);
    creditId = credit.id;
  }
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    await q.run("UPDATE findings SET status = 'compensated', credit_id = ?, compensated = ?, updated_at = ? WHERE id = ? AND status = 'verified'", [creditId, amount, now, f.id]);
    await audit(q, ctx.actor, 'finding.compensate', { type: 'finding', id: f.id, accountId }, { status: 'verified' }, { status: 'compensated', credit_id: creditId, compensated: amount }, now);
  });
  return (await getFinding(ctx.db, f.id))!;
}

/** Moves an open finding to verified (audited); false when it was not open any more. */
export async function markVerified(ctx: ServiceContext, f: Finding, note: string | null): Promise<boolean> {
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const r = await q.run("UPDATE findings SET status = 'verified', decision_note = ?, decided_by = ?, updated_at = ? WHERE id = ? AND status = 'open'", [note, actorId(ctx.actor), now, f.id]);
    if (r.changes === 0) return false;
    await audit(q, ctx.actor, 'finding.verify', { type: 'finding', id: f.id, accountId: f.account_id }, { status: 'open' }, { status: 'verified', note }, now);
    return true;
  });
}

/** Rejects an open or verified finding with a reason (audited); false when it was decided already. */
export async function markRejected(ctx: ServiceContext, f: Finding, reason: string): Promise<boolean> {
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const r = await q.run("UPDATE findings SET status = 'rejected', decision_note = ?, decided_by = ?, updated_at = ? WHERE id = ? AND status IN ('open', 'verified')", [reason, actorId(ctx.actor), now, f.id]);
    if (r.changes === 0) return false;
    await audit(q, ctx.actor, 'finding.reject', { type: 'finding', id: f.id, accountId: f.account_id }, { status: f.status }, { status: 'rejected', reason }, now);
    return true;
  });
}

export interface AutoRun {
  verified: number;
  compensated: number;
  failed: number;
}

/**
 * The programme's automatic part: for every enrolled account, open findings of the auto-verified
 * rules are verified when the account is eligible for the month of the charge, and every
 * verified finding is compensated (also one left verified by an earlier failure).
 */
export async function autoCompensate(rt: Runtime, limit = 1000): Promise<AutoRun> {
  const ctx = withActor(rt, SYSTEM);
  const s = await programmeSettings(rt);
  const models = await programmeModels(rt.db, s);
  const run: AutoRun = { verified: 0, compensated: 0, failed: 0 };
  for (const accountId of await enrolledAccounts(rt.db)) {
    const rules = s.auto_verify;
    if (rules.length === 0) continue;
    const rows = await rt.db.all(
      `SELECT * FROM findings WHERE account_id = ? AND (status = 'verified' OR (status = 'open' AND rule IN (${rules.map(() => '?').join(', ')}))) ORDER BY id LIMIT ?`,
      [accountId, ...rules, limit],
    );
    // Eligibility is per calendar month of the charge: asked once per month in a run.
    const months = new Map<string, Awaited<ReturnType<typeof eligibility>>>();
    for (const f of rows.map(toFinding)) {
      try {
        if (f.status === 'open') {
          const month = monthOf(f.occurred_at, s.time_zone);
          const e = months.get(month) ?? (await eligibility(rt.db, accountId, f.occurred_at, s, models));
          months.set(month, e);
          if (!e.eligible) continue;
          if (!(await markVerified(ctx, f, `auto-verified: enrolled and eligible (${e.month} spend $${formatUsd(e.spend)})`))) continue;
          run.verified++;
        }
        const fresh = (await getFinding(rt.db, f.id))!;
        if (fresh.status !== 'verified') continue;
        await compensate(ctx, fresh);
        run.compensated++;
      } catch (err) {
        run.failed++;
        rt.log.warn({ err, finding: f.id }, 'finding not compensated; will retry');
      }
    }
  }
  return run;
}
