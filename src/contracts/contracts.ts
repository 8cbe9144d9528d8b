import { z } from 'zod';
import { sortedPage, type Paged, type SortSpec, type Sorting } from '../kernel/sorting.ts';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { requireOperator, requireRole } from '../kernel/authorisation.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { iso, isoTime, parseInput } from '../kernel/validation.ts';
import { json, num, str, type Queryable, type Row } from '../storage/port.ts';
import { compileTerms, parseTerms, type Compiled, type Terms } from './terms.ts';
import { floorMinute, type Window } from './periods.ts';

// SLA contracts and their versions. A contract belongs to one account; its terms live in versions:
// version 1 is in force from the term's start, and each amendment is a new version in force from
// its effective date until the next one. Closed periods are never re-measured, so an amendment
// cannot take effect before the end of the last closed period.

export interface ContractVersion {
  version: number;
  effective_from: number;
  terms: Terms;
  reason: string | null;
  created_by: string;
  created_at: number;
}

export interface Contract {
  id: string;
  account_id: string;
  name: string;
  created_at: number;
  versions: ContractVersion[];
}

export const CreateContractInput = z.object({ account_id: z.string().min(1).max(200), name: z.string().trim().min(1).max(200), terms: z.record(z.string(), z.unknown()) }).strict();
export const AmendmentInput = z
  .object({ effective_from: isoTime, reason: z.string().trim().min(1).max(2000), terms: z.record(z.string(), z.unknown()) })
  .strict();

const toVersion = (r: Row): ContractVersion => ({
  version: num(r.version),
  effective_from: num(r.effective_from),
  terms: json<Terms>(r.terms, {} as Terms),
  reason: r.reason === null ? null : str(r.reason),
  created_by: str(r.created_by),
  created_at: num(r.created_at),
});

async function load(q: Queryable, id: string): Promise<Contract | null> {
  const c = await q.get('SELECT * FROM sla_contracts WHERE id = ?', [id]);
  if (!c) return null;
  const versions = (await q.all('SELECT * FROM sla_contract_versions WHERE contract_id = ? ORDER BY version', [id])).map(toVersion);
  return { id: str(c.id), account_id: str(c.account_id), name: str(c.name), created_at: num(c.created_at), versions };
}

/** A contract an actor may see (a customer: only its own account's, else not found). */
export async function getContract(ctx: ServiceContext, id: string): Promise<Contract> {
  const c = await load(ctx.db, id);
  if (!c) throw new AppError('NOT_FOUND', `contract ${id} not found`, { resource: 'contract' });
  if (ctx.actor.type === 'customer') {
    if (ctx.actor.accountId !== c.account_id) throw new AppError('NOT_FOUND', `contract ${id} not found`, { resource: 'contract' });
    requireRole(ctx.actor, c.account_id, 'viewer');
  }
  return c;
}

/** How SLA contracts sort. */
export const CONTRACT_SORT: SortSpec = {
  columns: { id: 'id', name: 'name', account_id: 'account_id', created_at: 'created_at', updated_at: 'updated_at' },
  text: ['id', 'name', 'account_id'],
  default: 'id',
};

export async function listContracts(ctx: ServiceContext, opts: { accountId?: string | undefined; limit: number; after?: string | undefined }): Promise<Contract[]> {
  return (await pageContracts(ctx, opts)).rows;
}

/** SLA contracts (of an account) in the asked order (default: by id), a page after the cursor (`after`: the legacy id cursor). */
export async function pageContracts(ctx: ServiceContext, opts: Sorting & { accountId?: string | undefined; limit: number; after?: string | undefined }): Promise<Paged<Contract>> {
  if (ctx.actor.type === 'customer') requireRole(ctx.actor, opts.accountId ?? '', 'viewer');
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (opts.accountId) (where.push('account_id = ?'), params.push(opts.accountId));
  if (opts.after) (where.push('id > ?'), params.push(opts.after));
  const p = await sortedPage(ctx.db, { from: 'sla_contracts', select: 'id', where, params, spec: CONTRACT_SORT, sort: opts.sort, cursor: opts.cursor, limit: opts.limit });
  const out: Contract[] = [];
  for (const r of p.rows) out.push((await load(ctx.db, str(r.id)))!);
  return { rows: out, next_cursor: p.next_cursor };
}

export async function createContract(ctx: ServiceContext, raw: unknown): Promise<Contract> {
  requireOperator(ctx.actor);
  const input = parseInput(CreateContractInput, raw);
  const terms = parseTerms(input.terms);
  const now = ctx.now();
  const id = newId('sla', now);
  await ctx.db.tx(async (q) => {
    const a = await q.get('SELECT id FROM accounts WHERE id = ?', [input.account_id]);
    if (!a) throw new AppError('NOT_FOUND', `account ${input.account_id} not found`, { resource: 'account', field: 'account_id' });
    await q.run('INSERT INTO sla_contracts (id, account_id, name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [id, input.account_id, input.name, actorId(ctx.actor), now, now]);
    await q.run('INSERT INTO sla_contract_versions (contract_id, version, effective_from, terms, reason, created_by, created_at) VALUES (?, 1, ?, ?, ?, ?, ?)', [
      id, floorMinute(Date.parse(terms.term.start)), JSON.stringify(terms), 'signed', actorId(ctx.actor), now,
    ]);
    await audit(q, ctx.actor, 'sla.contract.create', { type: 'sla_contract', id, accountId: input.account_id }, undefined, { name: input.name, terms }, now);
  });
  return (await load(ctx.db, id))!;
}

/** An amendment: the given top-level terms replace the current version's, from `effective_from`. */
export async function amendContract(ctx: ServiceContext, id: string, raw: unknown): Promise<Contract> {
  requireOperator(ctx.actor);
  const input = parseInput(AmendmentInput, raw);
  const now = ctx.now();
  const from = floorMinute(input.effective_from);
  await ctx.db.tx(async (q) => {
    const c = await load(q, id);
    if (!c) throw new AppError('NOT_FOUND', `contract ${id} not found`, { resource: 'contract' });
    await q.run(`UPDATE sla_contracts SET updated_at = ? WHERE id = ?`, [now, id]);
    const last = c.versions.at(-1)!;
    if (from <= last.effective_from) {
      throw new AppError('VALIDATION', `effective_from: must be after version ${last.version}'s effective date ${iso(last.effective_from)}`, { field: 'effective_from' });
    }
    const closed = await q.get<{ to_at: bigint }>('SELECT MAX(to_at) AS to_at FROM sla_periods WHERE contract_id = ?', [id]);
    if (closed?.to_at !== null && closed?.to_at !== undefined && from < Number(closed.to_at)) {
      throw new AppError('CONFLICT', `effective_from: periods up to ${iso(Number(closed.to_at))} are closed; an amendment cannot change them (use a correction)`, { field: 'effective_from' });
    }
    const terms = parseTerms({ ...last.terms, ...input.terms });
    await q.run('INSERT INTO sla_contract_versions (contract_id, version, effective_from, terms, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      id, last.version + 1, from, JSON.stringify(terms), input.reason, actorId(ctx.actor), now,
    ]);
    await audit(q, ctx.actor, 'sla.contract.amend', { type: 'sla_contract', id, accountId: c.account_id }, last.terms, { version: last.version + 1, effective_from: iso(from), reason: input.reason, terms }, now);
  });
  return (await load(ctx.db, id))!;
}

export interface Segment extends Window {
  version: number;
  compiled: Compiled;
}

/** The parts of a window under each version, clipped to each version's term. */
export function segments(c: Contract, w: Window): Segment[] {
  const out: Segment[] = [];
  c.versions.forEach((v, i) => {
    const compiled = compileTerms(v.terms);
    const next = c.versions[i + 1]?.effective_from ?? Infinity;
    const from = Math.max(w.from, v.effective_from, floorMinute(compiled.termStart));
    const to = Math.min(w.to, next, compiled.termEnd === null ? Infinity : floorMinute(compiled.termEnd));
    if (from < to) out.push({ from, to, version: v.version, compiled });
  });
  return out;
}

/** The version in force at an instant (the last whose effective date is not after it). */
export function versionAt(c: Contract, at: number): ContractVersion {
  let v = c.versions[0]!;
  for (const x of c.versions) if (x.effective_from <= at) v = x;
  return v;
}

export function contractView(c: Contract, audience: 'operator' | 'customer' = 'operator'): Record<string, unknown> {
  const current = c.versions.at(-1)!;
  return {
    id: c.id,
    account_id: c.account_id,
    name: c.name,
    created_at: iso(c.created_at),
    version: current.version,
    terms: current.terms,
    versions: c.versions.map((v) => ({
      version: v.version,
      effective_from: iso(v.effective_from),
      reason: v.reason,
      ...(audience === 'operator' ? { created_by: v.created_by } : {}),
      created_at: iso(v.created_at),
      terms: v.terms,
    })),
  };
}
