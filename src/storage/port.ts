// The storage port. Services and repositories speak SQL through this interface only; the two
// adapters (SQLite through node:sqlite, PostgreSQL through pg) hide driver types and dialect.
//
// Conventions every adapter honours, so one SQL text runs on both engines:
// - placeholders are `?`; the PostgreSQL adapter rewrites them to $1..$n;
// - every integer column is read back as `bigint` (money, times in epoch ms, counts, flags);
// - sums are written `CAST(SUM(x) AS BIGINT)` so both engines return an integer;
// - `db.forUpdate` is ` FOR UPDATE` on PostgreSQL and empty on SQLite (which locks the database).

import { AppError } from '../kernel/errors.ts';

export type SqlValue = string | number | bigint | null | Uint8Array;
export type Row = Record<string, unknown>;

export interface Queryable {
  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

export type Engine = 'sqlite' | 'postgres';

export interface Db extends Queryable {
  readonly engine: Engine;
  readonly forUpdate: string;
  /** Runs fn in one transaction; commits on return, rolls back on throw. Retries serialisation failures. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Yields rows one by one without loading the whole result (exports). */
  stream<T = Row>(sql: string, params?: readonly SqlValue[], batchSize?: number): AsyncIterable<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Notices between processes sharing this database (PostgreSQL NOTIFY/LISTEN; absent on SQLite). */
  notify?(channel: string, payload: string): Promise<void>;
  listen?(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Storage cannot be reached or cannot write (PostgreSQL down or restarting, a read-only or full
 * disk under SQLite): the request fails as `503 STORAGE_UNAVAILABLE` (`platform_error`), never as
 * a 500. The driver's own error is kept as `cause`, for the process log; clients see only the code.
 */
export class StorageUnavailable extends AppError {
  constructor(cause: unknown) {
    super('STORAGE_UNAVAILABLE', 'Storage is not reachable; nothing was charged. Retry shortly.');
    this.cause = cause;
  }
}

export class UniqueViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UniqueViolation';
  }
}

export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
export const big = (v: unknown): bigint => (v === null || v === undefined ? 0n : BigInt(v as bigint));
export const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
export const optBig = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(v as bigint));
export const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
export const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
export const json = <T>(v: unknown, fallback: T): T => (v === null || v === undefined || v === '' ? fallback : (JSON.parse(String(v)) as T));
