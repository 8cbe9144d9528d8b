import { z } from 'zod';
import { AppError } from './errors.ts';
import type { Engine, Queryable, Row, SqlValue } from '../storage/port.ts';

// Server-side sorting and keyset paging for every list route, one convention everywhere:
//   ?sort=created_at     ascending by a column the route whitelists
//   ?sort=-amount        descending (a leading minus)
//   ?cursor=<next_cursor of the previous page>
// A route declares its sortable columns once (a SortSpec). Ties are broken by the row's unique
// id, in the same direction, so the order is total and a page boundary never drops or repeats a
// row. The cursor encodes (sort, sort value, id) of the last row; it is refused under another
// sort. Text is compared byte-wise (COLLATE "C" on PostgreSQL, SQLite's BINARY), NULLs are
// mapped by the spec's expression (COALESCE), so both engines give the same order. Sorting by
// the id, or by an indexed column, walks the index from the cursor (a test EXPLAINs it).

export interface SortSpec {
  /** Sortable names → SQL expressions over the table's row (never NULL: COALESCE nullable columns). */
  columns: Record<string, string>;
  /** Names among `columns` whose values are text; the others are integers. */
  text?: readonly string[];
  /** The order without `sort`, e.g. '-created_at'. */
  default: string;
  /** The unique column breaking ties (default `id`, text). */
  id?: string;
  /** Whether that id is an integer (the audit log) rather than text. */
  numericId?: boolean;
}

/** The query parameters of a sorted list, to extend a route's query schema with. */
export const SortQuery = z.object({ sort: z.string().max(64).optional(), cursor: z.string().max(2048).optional() });

export interface SortPlan {
  /** The normalised sort, e.g. '-amount'. */
  sort: string;
  desc: boolean;
  text: boolean;
  expr: string;
  id: string;
  numericId: boolean;
}

/** The plan of `sort` under a spec; an unknown column is a 400 naming `sort`. */
export function sortPlan(spec: SortSpec, sort: string | undefined, engine: Engine): SortPlan {
  const s = sort === undefined || sort === '' ? spec.default : sort;
  const desc = s.startsWith('-');
  const name = desc ? s.slice(1) : s;
  if (!Object.hasOwn(spec.columns, name)) {
    const allowed = Object.keys(spec.columns).join(', ');
    throw new AppError('VALIDATION', `sort: unknown column "${name}" (sortable: ${allowed}; prefix with - for descending)`, { field: 'sort' });
  }
  const text = spec.text?.includes(name) ?? false;
  const id = spec.id ?? 'id';
  const expr = spec.columns[name]!;
  // Text compares byte-wise: COLLATE "C" on PostgreSQL (SQLite's default is already binary). Not
  // on the id, though: ids are ASCII with a fixed prefix per table, which every collation orders
  // as bytes do, and a collated id could not use the primary-key index (a full sort instead).
  const collate = text && engine === 'postgres' && expr !== id ? `${expr} COLLATE "C"` : expr;
  return { sort: s, desc, text, expr: collate, id, numericId: spec.numericId ?? false };
}

const badCursor = (why: string) => new AppError('VALIDATION', `cursor: ${why}`, { field: 'cursor' });

/** The opaque cursor after a row: the sort it was made under, the row's sort value and id (base64url JSON). */
export function encodeCursor(plan: SortPlan, value: unknown, id: unknown): string {
  return Buffer.from(JSON.stringify([plan.sort, String(value), String(id)])).toString('base64url');
}

/** The (sort value, id) a cursor points after, checked against the plan. */
export function decodeCursor(plan: SortPlan, cursor: string): [SqlValue, SqlValue] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor('is not a cursor this API gave (pass next_cursor as it is)');
  }
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'string')) throw badCursor('is not a cursor this API gave (pass next_cursor as it is)');
  const [sort, value, id] = v as [string, string, string];
  if (sort !== plan.sort) throw badCursor(`was made for sort=${sort}, not sort=${plan.sort}; start again without a cursor`);
  const int = (x: string): bigint => {
    if (!/^-?\d{1,20}$/.test(x)) throw badCursor('is not a cursor this API gave (pass next_cursor as it is)');
    return BigInt(x);
  };
  return [plan.text ? value : int(value), plan.numericId ? int(id) : id];
}

/** ORDER BY and, after a cursor, the keyset condition (with its parameters). */
export function sortSql(plan: SortPlan, cursor: string | undefined): { orderBy: string; where: string | null; params: SqlValue[] } {
  const dir = plan.desc ? 'DESC' : 'ASC';
  const byId = plan.expr === plan.id;
  const orderBy = byId ? `ORDER BY ${plan.id} ${dir}` : `ORDER BY ${plan.expr} ${dir}, ${plan.id} ${dir}`;
  if (cursor === undefined || cursor === '') return { orderBy, where: null, params: [] };
  const [value, id] = decodeCursor(plan, cursor);
  const op = plan.desc ? '<' : '>';
  if (byId) return { orderBy, where: `${plan.id} ${op} ?`, params: [id] };
  // The leading `expr <= v` (or >=) lets an index on the sort column start at the cursor.
  return { orderBy, where: `${plan.expr} ${op}= ? AND (${plan.expr} ${op} ? OR ${plan.id} ${op} ?)`, params: [value, value, id] };
}

export interface PageQuery {
  /** The table (or a FROM clause whose rows carry the spec's columns). */
  from: string;
  /** Filter conditions, ANDed, and their parameters in order. */
  where: readonly string[];
  params: readonly SqlValue[];
  spec: SortSpec;
  sort?: string | undefined;
  cursor?: string | undefined;
  limit: number;
  /** What to select (default `*`). */
  select?: string;
}

export interface Page {
  rows: Row[];
  /** The cursor of the next page, null on the last. */
  next_cursor: string | null;
}

/** The SQL of one page (with the sort value and id selected as sort_value and sort_id) and its parameters. */
export function pageSql(q: PageQuery, engine: Engine): { sql: string; params: SqlValue[]; plan: SortPlan } {
  const plan = sortPlan(q.spec, q.sort, engine);
  const s = sortSql(plan, q.cursor);
  const where = s.where ? [...q.where, s.where] : [...q.where];
  const sql = `SELECT ${q.select ?? '*'}, ${plan.expr} AS sort_value, ${plan.id} AS sort_id FROM ${q.from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${s.orderBy} LIMIT ?`;
  return { sql, params: [...q.params, ...s.params, q.limit], plan };
}

/** One page of a sorted list: filters, keyset after the cursor, order, limit; and the next cursor. */
export async function sortedPage(db: Queryable & { engine: Engine }, q: PageQuery): Promise<Page> {
  const { sql, params, plan } = pageSql(q, db.engine);
  const rows = await db.all(sql, params);
  const last = rows.at(-1);
  const next_cursor = rows.length === q.limit && last ? encodeCursor(plan, last.sort_value, last.sort_id) : null;
  for (const r of rows) {
    delete r.sort_value;
    delete r.sort_id;
  }
  return { rows, next_cursor };
}

/** What a list call asks of the order: `sort` and the previous page's `cursor`. */
export interface Sorting {
  sort?: string | undefined;
  cursor?: string | undefined;
}

/** A page of domain rows and the cursor of the next page. */
export interface Paged<T> {
  rows: T[];
  next_cursor: string | null;
}

/** How a small, unpaged list (the catalog's channels and models) sorts: fields of its rows' views. */
export interface ItemSortSpec {
  /** Sortable fields of the shown objects (numbers, booleans or text). */
  columns: readonly string[];
  /** The unique field breaking ties (default `id`). */
  id?: string;
}

/**
 * Sorts an unpaged list in memory by `sort`, with the same convention, errors and byte-wise order
 * as sortedPage; without `sort`, the list keeps the service's own order.
 */
export function sortItems<T extends Record<string, unknown>>(items: T[], spec: ItemSortSpec, sort: string | undefined): T[] {
  if (sort === undefined || sort === '') return items;
  const s = sort;
  const desc = s.startsWith('-');
  const name = desc ? s.slice(1) : s;
  if (!spec.columns.includes(name)) {
    throw new AppError('VALIDATION', `sort: unknown column "${name}" (sortable: ${spec.columns.join(', ')}; prefix with - for descending)`, { field: 'sort' });
  }
  const id = spec.id ?? 'id';
  const cmp = (a: unknown, b: unknown): number => {
    if (a === b) return 0;
    if (a === null || a === undefined) return -1;
    if (b === null || b === undefined) return 1;
    if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b));
    return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
  };
  const sign = desc ? -1 : 1;
  return [...items].sort((a, b) => sign * (cmp(a[name], b[name]) || cmp(a[id], b[id])));
}
