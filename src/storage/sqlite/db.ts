import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StorageUnavailable, UniqueViolation, type Db, type Queryable, type Row, type SqlValue } from '../port.ts';

/**
 * SQLite adapter over node:sqlite. node:sqlite is synchronous, so a transaction cannot interleave
 * with another inside this process as long as it does not await I/O; the adapter still serialises
 * transactions through a promise chain because callers may await between statements.
 * BEGIN IMMEDIATE takes the write lock up front so two processes never deadlock on upgrade.
 */
export class SqliteDb implements Db {
  readonly engine = 'sqlite' as const;
  readonly forUpdate = '';
  readonly path: string;
  private readonly db: DatabaseSync;
  /** Reads outside a transaction use their own connection: with WAL they see committed data only,
   *  never the half-done work of a transaction that is awaiting between its statements. */
  private readonly reader: DatabaseSync;
  private readonly cache = new Map<string, StatementSync>();
  private readonly readCache = new Map<string, StatementSync>();
  private readonly txq: Queryable;
  private chain: Promise<unknown> = Promise.resolve();
  private inTx = false;

  constructor(path: string) {
    this.path = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec('PRAGMA busy_timeout = 5000');
    this.db.exec('PRAGMA foreign_keys = ON');
    // Checkpoint the WAL every 10,000 pages (~40 MB) rather than SQLite's 1,000: a checkpoint runs
    // inside the COMMIT that crosses the mark, on the event loop, and copies each page changed
    // since the last one, with two fsyncs. The request log's batches change the same few pages of
    // each index and book again and again, so ten times fewer checkpoints copy far fewer pages:
    // the writer's CPU per row fell ~10 % and its wall time ~20 % (bench/writer.ts).
    this.db.exec('PRAGMA wal_autocheckpoint = 10000');
    if (path === ':memory:') {
      this.reader = this.db;
    } else {
      this.reader = new DatabaseSync(path);
      this.reader.exec('PRAGMA busy_timeout = 5000');
      // Pages are read in (not mapped: PRAGMA mmap_size stays 0). A mapped file counts in the
      // process's RSS for every page a scan touches: the detection scan every 15 s under load raised
      // the gateway's peak RSS by 50–90 MB, for no measurable gain in scan rate (docs/detection.md).
    }
    const self = this;
    this.txq = {
      async all<T = Row>(sql: string, params?: readonly SqlValue[]) {
        return self.allSync<T>(sql, params);
      },
      async get<T = Row>(sql: string, params?: readonly SqlValue[]) {
        return self.getSync<T>(sql, params);
      },
      async run(sql: string, params?: readonly SqlValue[]) {
        return self.runSync(sql, params);
      },
    };
  }

  private stmt(sql: string, conn: DatabaseSync = this.db, cache = this.cache): StatementSync {
    let s = cache.get(sql);
    if (!s) {
      s = conn.prepare(sql);
      s.setReadBigInts(true);
      cache.set(sql, s);
    }
    return s;
  }

  // Synchronous primitives on the writing connection (inside transactions).
  allSync<T = Row>(sql: string, params: readonly SqlValue[] = []): T[] {
    return wrap(() => this.stmt(sql).all(...(params as SqlValue[])) as T[]);
  }
  getSync<T = Row>(sql: string, params: readonly SqlValue[] = []): T | undefined {
    return wrap(() => this.stmt(sql).get(...(params as SqlValue[])) as T | undefined);
  }
  runSync(sql: string, params: readonly SqlValue[] = []): { changes: number } {
    return wrap(() => ({ changes: Number(this.stmt(sql).run(...(params as SqlValue[])).changes) }));
  }
  exec(sql: string): void {
    this.db.exec(sql);
  }

  async all<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return wrap(() => this.stmt(sql, this.reader, this.readCache).all(...(params as SqlValue[])) as T[]);
  }
  async get<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return wrap(() => this.stmt(sql, this.reader, this.readCache).get(...(params as SqlValue[])) as T | undefined);
  }
  /** A write outside a transaction is a transaction of its own (never joins another's). */
  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    if (this.reader === this.db && !this.inTx) return this.runSync(sql, params);
    return this.tx(async () => this.runSync(sql, params));
  }

  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.inTx = true;
      try {
        wrap(() => this.db.exec('BEGIN IMMEDIATE'));
      } catch (e) {
        this.inTx = false;
        throw e;
      }
      try {
        const out = await fn(this.txq);
        wrap(() => this.db.exec('COMMIT'));
        return out;
      } catch (e) {
        // A failed COMMIT may already have rolled back; the first error is the one that matters.
        if (this.db.isTransaction) {
          try {
            this.db.exec('ROLLBACK');
          } catch {
            // storage is failing: the transaction is gone either way
          }
        }
        throw e;
      } finally {
        this.inTx = false;
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  async *stream<T = Row>(sql: string, params: readonly SqlValue[] = []): AsyncIterable<T> {
    // A dedicated statement: iterate() holds a cursor that must not be shared with the cache.
    const s = this.reader.prepare(sql);
    s.setReadBigInts(true);
    let n = 0;
    for (const row of s.iterate(...(params as SqlValue[]))) {
      yield row as T;
      // Let other work run now and then during a long export.
      if (++n % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  async ping(): Promise<void> {
    this.getSync('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.chain;
    this.cache.clear();
    this.readCache.clear();
    if (this.reader !== this.db && this.reader.isOpen) this.reader.close();
    if (this.db.isOpen) this.db.close();
  }
}

// SQLITE_BUSY (locked past busy_timeout), SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN:
// the file cannot be written (a read-only or full disk, another process holding the lock).
const UNAVAILABLE = new Set([5, 8, 10, 13, 14]);

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const err = e as { code?: string; errcode?: number; message?: string };
    if (err.errcode === 2067 || err.errcode === 1555 || /UNIQUE constraint failed/.test(err.message ?? '')) {
      throw new UniqueViolation(err.message ?? 'unique violation');
    }
    if (err.errcode !== undefined && UNAVAILABLE.has(err.errcode & 0xff)) throw new StorageUnavailable(e);
    throw e;
  }
}
