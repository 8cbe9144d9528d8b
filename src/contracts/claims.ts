import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { num, str, type Queryable, type Row } from '../storage/port.ts';
import { getContract, versionAt } from './contracts.ts';
import { DAY, PERIOD_RE } from './periods.ts';
import { windowOfPeriod } from './service.ts';

// Claims: where a contract pays SLA credits only on a claim, the customer files one per period,
// after the period has ended and before its deadline (the period's end + `claims.deadline_days`),
// with optional evidence (text and links). A late claim is refused, naming the deadline. Filing
// twice answers with the claim already filed.

export const ClaimInput = z
  .object({
    contract_id: z.string().min(1).max(200),
    period: z.string().regex(PERIOD_RE, 'must be a month like "2026-11"'),
    evidence: z.string().trim().max(20_000).optional(),
  })
  .strict();

const claimView = (r: Row) => ({ id: str(r.id), contract_id: str(r.contract_id), period: str(r.period), evidence: r.evidence === null ? null : str(r.evidence), filed_by: str(r.filed_by), filed_at: iso(num(r.filed_at)) });

export async function claimOf(q: Queryable, contractId: string, period: string): Promise<ReturnType<typeof claimView> | null> {
  const r = await q.get('SELECT * FROM sla_claims WHERE contract_id = ? AND period = ?', [contractId, period]);
  return r ? claimView(r) : null;
}

export async function fileClaim(ctx: ServiceContext, raw: unknown): Promise<{ claim: ReturnType<typeof claimView>; created: boolean }> {
  const input = parseInput(ClaimInput, raw);
  const c = await getContract(ctx, input.contract_id);
  requireRole(ctx.actor, c.account_id, 'admin');
  const w = windowOfPeriod(c, input.period);
  const terms = versionAt(c, w.to - 1).terms;
  const now = ctx.now();
  if (!terms.claims.required) throw new AppError('SLA_CLAIM_NOT_NEEDED', `Contract ${c.id} pays SLA credits automatically when its period is closed; no claim is needed.`);
  if (now < w.to) throw new AppError('SLA_PERIOD_NOT_OVER', `Period ${input.period} ends at ${iso(w.to)}; a claim can be filed after that.`, { field: 'period' });
  const deadline = w.to + terms.claims.deadline_days * DAY;
  const prior = await claimOf(ctx.db, c.id, input.period);
  if (prior) return { claim: prior, created: false };
  if (now > deadline) throw new AppError('SLA_CLAIM_LATE', `The claim deadline for ${input.period} was ${iso(deadline)} (${terms.claims.deadline_days} days after the period ended); this claim is too late.`, { deadline: iso(deadline) });
  const id = newId('slcl', now);
  const created = await ctx.db.tx(async (q) => {
    const ins = await q.run('INSERT INTO sla_claims (id, contract_id, account_id, period, evidence, filed_by, filed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (contract_id, period) DO NOTHING', [
      id, c.id, c.account_id, input.period, input.evidence ?? null, actorId(ctx.actor), now,
    ]);
    if (ins.changes > 0) await audit(q, ctx.actor, 'sla.claim.file', { type: 'sla_claim', id, accountId: c.account_id }, undefined, { period: input.period, evidence: input.evidence ?? null }, now);
    return ins.changes > 0;
  });
  return { claim: (await claimOf(ctx.db, c.id, input.period))!, created };
}

export async function listClaims(q: Queryable, contractId: string): Promise<Array<ReturnType<typeof claimView>>> {
  return (await q.all('SELECT * FROM sla_claims WHERE contract_id = ? ORDER BY period DESC', [contractId])).map(claimView);
}
