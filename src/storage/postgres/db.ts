import pg from 'pg';
import { StorageUnavailable, UniqueViolation, type Db, type Queryable, type Row, type SqlValue } from '../port.ts';

// Every integer column is BIGINT in our schema: read int8 as bigint (the port's convention).
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => BigInt(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

const placeholderCache = new Map<string, string>();
/** `?` → `$n`. Our SQL never holds a literal question mark, so a plain scan is enough. */
function toPg(sql: string): string {
  let out = placeholderCache.get(sql);
  if (out === undefined) {
    let i = 0;
    out = sql.replace(/\?/g, () => `$${++i}`);
    placeholderCache.set(sql, out);
  }
  return out;
}

// The server is down, restarting, refusing connections or dropped ours: storage is unavailable.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
const UNAVAILABLE_TEXT = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection ended|the database system is (starting up|shutting down)/i;

function mapError(e: unknown): never {
  const err = e as { code?: string; message?: string };
  if (err.code === '23505') throw new UniqueViolation(err.message ?? 'unique violation');
  if ((err.code && UNAVAILABLE_CODES.has(err.code)) || UNAVAILABLE_TEXT.test(err.message ?? '')) throw new StorageUnavailable(e);
  throw e;
}

/** Swallows a checked-out connection's 'error' event (its queries fail with the error anyway). */
const ignoreError = () => {};

/**
 * A pooled connection for a transaction or a cursor; a refused connection is storage unavailable.
 * While checked out, a pg client has no 'error' listener of the pool's: the server going away
 * mid-transaction would emit an unhandled 'error' and kill the process. Ours is removed on release
 * (`release`), and the pool drops a connection that died.
 */
async function connect(pool: pg.Pool): Promise<pg.PoolClient> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    return mapError(e);
  }
  client.on('error', ignoreError);
  return client;
}

function release(client: pg.PoolClient): void {
  client.off('error', ignoreError);
  client.release();
}

class PgQueryable implements Queryable {
  protected readonly client: pg.Pool | pg.PoolClient;
  constructor(client: pg.Pool | pg.PoolClient) {
    this.client = client;
  }
  async all<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    try {
      const r = await this.client.query({ text: toPg(sql), values: params as unknown[], types });
      return r.rows as T[];
    } catch (e) {
      return mapError(e);
    }
  }
  async get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    try {
      const r = await this.client.query({ text: toPg(sql), values: params as unknown[], types });
      return { changes: r.rowCount ?? 0 };
    } catch (e) {
      return mapError(e);
    }
  }
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization failure, deadlock

export class PostgresDb extends PgQueryable implements Db {
  readonly engine = 'postgres' as const;
  readonly forUpdate = ' FOR UPDATE';
  readonly pool: pg.Pool;
  private readonly url: string;
  /** Open LISTEN connections; closing the database ends them too. */
  private readonly listeners = new Set<() => Promise<void>>();

  constructor(url: string, opts: { max?: number } = {}) {
    const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, idleTimeoutMillis: 30_000 });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    super(pool);
    this.pool = pool;
    this.url = url;
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await connect(this.pool);
      try {
        await client.query('BEGIN').catch(mapError);
        const out = await fn(new PgQueryable(client));
        await client.query('COMMIT').catch(mapError);
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        const code = (e as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < 5) continue;
        throw e;
      } finally {
        release(client);
      }
    }
  }

  async *stream<T = Row>(sql: string, params: readonly SqlValue[] = [], batchSize = 1000): AsyncIterable<T> {
    // A server-side cursor inside a read-only transaction: constant memory however large the export.
    const client = await connect(this.pool);
    try {
      await client.query('BEGIN READ ONLY');
      await client.query({ text: `DECLARE surety_export NO SCROLL CURSOR FOR ${toPg(sql)}`, values: params as unknown[] });
      for (;;) {
        const r = await client.query({ text: `FETCH ${batchSize} FROM surety_export`, types });
        for (const row of r.rows) yield row as T;
        if (r.rows.length < batchSize) break;
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      release(client);
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /**
   * LISTENs on a dedicated connection (a pooled one would be returned and lose the LISTEN); it
   * reconnects after a connection loss. Returns a function that stops listening.
   */
  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>> {
    let client: pg.Client | null = null;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.url });
      c.on('notification', (m) => {
        if (m.channel === channel && m.payload !== undefined) onMessage(m.payload);
      });
      c.on('error', () => {
        c.end().catch(() => {});
        if (!stopped) retry = setTimeout(() => void connect().catch(() => {}), 1000);
      });
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      client = c;
    };
    await connect();
    const stop = async () => {
      stopped = true;
      clearTimeout(retry);
      this.listeners.delete(stop);
      await client?.end().catch(() => {});
    };
    this.listeners.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((stop) => stop()));
    await this.pool.end();
  }
}
