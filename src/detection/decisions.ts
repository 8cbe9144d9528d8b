import { z } from 'zod';
import { requireOperator } from '../kernel/authorisation.ts';
import type { ServiceContext } from '../kernel/context.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validation.ts';
import { compensate, markRejected, markVerified } from './compensation.ts';
import { FindingFilter, findingWhere, getFinding, toFinding, type Finding } from './findings.ts';

// The operator's decisions on the queue, in bulk: by ids, or by the same filter as the list.
// Verifying is the decision to pay: a verified finding is compensated at once (its credit is
// idempotent by the finding's id). Rejecting needs a reason, which the customer sees.

const MAX_BULK = 10_000;

export const DecisionInput = z
  .object({
    ids: z.array(z.string().min(1).max(100)).min(1).max(MAX_BULK).optional(),
    filter: FindingFilter.optional(),
    /** Why (required to reject; shown to the customer). */
    reason: z.string().trim().min(1).max(1000).optional(),
  })
  .strict();

export interface DecisionResult {
  /** Findings this call moved (verified and compensated, or rejected). */
  done: string[];
  /** Findings left as they were, with why. */
  skipped: Array<{ id: string; status: string | null; why: string }>;
  /** The filter matched more than one call decides: call again. */
  more: boolean;
}

async function select(ctx: ServiceContext, input: z.output<typeof DecisionInput>): Promise<{ findings: Array<Finding | string>; more: boolean }> {
  if ((input.ids === undefined) === (input.filter === undefined)) throw new AppError('VALIDATION', 'ids: give either ids or filter', { field: 'ids' });
  if (input.ids) {
    const out: Array<Finding | string> = [];
    for (const id of [...new Set(input.ids)]) out.push((await getFinding(ctx.db, id)) ?? id);
    return { findings: out, more: false };
  }
  const w = findingWhere(input.filter!);
  const rows = await ctx.db.all(`SELECT * FROM findings ${w.sql} ORDER BY id LIMIT ?`, [...w.params, MAX_BULK + 1]);
  return { findings: rows.slice(0, MAX_BULK).map(toFinding), more: rows.length > MAX_BULK };
}

export async function verifyFindings(ctx: ServiceContext, raw: unknown): Promise<DecisionResult> {
  requireOperator(ctx.actor);
  const input = parseInput(DecisionInput, raw);
  const { findings, more } = await select(ctx, input);
  const out: DecisionResult = { done: [], skipped: [], more };
  for (const f of findings) {
    if (typeof f === 'string') {
      out.skipped.push({ id: f, status: null, why: 'not found' });
      continue;
    }
    if (f.status !== 'open' && f.status !== 'verified') {
      out.skipped.push({ id: f.id, status: f.status, why: `already ${f.status}` });
      continue;
    }
    if (f.status === 'open' && !(await markVerified(ctx, f, input.reason ?? null))) {
      out.skipped.push({ id: f.id, status: null, why: 'decided meanwhile' });
      continue;
    }
    try {
      await compensate(ctx, (await getFinding(ctx.db, f.id))!);
      out.done.push(f.id);
    } catch (e) {
      // Verified, not paid (e.g. a closed account): it stays verified and can be retried.
      out.skipped.push({ id: f.id, status: 'verified', why: isAppError(e) ? `verified but not compensated: ${e.message}` : 'verified but not compensated' });
    }
  }
  return out;
}

export async function rejectFindings(ctx: ServiceContext, raw: unknown): Promise<DecisionResult> {
  requireOperator(ctx.actor);
  const input = parseInput(DecisionInput, raw);
  if (input.reason === undefined) throw new AppError('VALIDATION', 'reason: is required to reject (the customer sees it)', { field: 'reason' });
  const { findings, more } = await select(ctx, input);
  const out: DecisionResult = { done: [], skipped: [], more };
  for (const f of findings) {
    if (typeof f === 'string') out.skipped.push({ id: f, status: null, why: 'not found' });
    else if (f.status === 'compensated' || f.status === 'rejected') out.skipped.push({ id: f.id, status: f.status, why: `already ${f.status}` });
    else if (await markRejected(ctx, f, input.reason)) out.done.push(f.id);
    else out.skipped.push({ id: f.id, status: null, why: 'decided meanwhile' });
  }
  return out;
}
