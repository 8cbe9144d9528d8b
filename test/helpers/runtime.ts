// A Runtime and an app for tests: real storage (see engines.ts), silent logs, a clock the test
// moves, and an app with a known operator key driven through inject() (it never listens).
import type { Engine } from '../../src/storage/port.ts';
import { loadConfig } from '../../src/kernel/config/load.ts';
import type { ConfigKey } from '../../src/kernel/config/schema.ts';
import { createRuntime, type RuntimeHandle } from '../../src/runtime.ts';
import { buildApp, type App } from '../../src/http/app.ts';
import { sha256Hex } from '../../src/kernel/ids.ts';
import { withActor, type Actor, type ServiceContext } from '../../src/kernel/context.ts';
import { openTestDb, type TestDb } from './engines.ts';

export const ADMIN_KEY = 'sa-test-operator-key-0123456789abcdef';
export const OPERATOR: Actor = { type: 'operator', id: 'test' };

export type Overrides = Partial<Record<ConfigKey, unknown>>;

/** A clock the test moves forward; starts at a fixed, recent time. */
export class Clock {
  t: number;
  constructor(t = Date.UTC(2026, 0, 15, 12, 0, 0)) {
    this.t = t;
  }
  now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
  advanceDays(d: number): number {
    return this.advance(d * 86_400_000);
  }
}

export interface TestRuntime {
  tdb: TestDb;
  rt: RuntimeHandle;
  clock: Clock;
  /** A service context acting as the operator. */
  op: ServiceContext;
  /** Another runtime on the same database with other settings (sharing the clock and bus). */
  variant(overrides: Overrides): Promise<RuntimeHandle>;
  close(): Promise<void>;
}

export function testConfig(overrides: Overrides = {}) {
  return loadConfig({}, { logLevel: 'silent', demo: 'false', adminKey: ADMIN_KEY, ...overrides });
}

export async function createTestRuntime(engine: Engine, overrides: Overrides = {}): Promise<TestRuntime> {
  const tdb = await openTestDb(engine);
  const clock = new Clock();
  const rt = await createRuntime(testConfig(overrides), { db: tdb.db });
  rt.now = clock.now;
  return {
    tdb,
    rt,
    clock,
    get op() {
      return withActor(rt, OPERATOR);
    },
    async variant(more: Overrides) {
      const v = await createRuntime(testConfig({ ...overrides, ...more }), { db: tdb.db });
      v.now = clock.now;
      return v;
    },
    async close() {
      await tdb.dispose();
    },
  };
}

export interface Res {
  status: number;
  body: any;
  text: string;
  headers: Record<string, unknown>;
}

export interface TestApp extends TestRuntime {
  app: App;
  /** Sends a request; `key` is a bearer token (the operator key by default for /admin routes). */
  req(method: string, url: string, opts?: { key?: string | null; body?: unknown; raw?: string; idem?: string; headers?: Record<string, string>; ip?: string }): Promise<Res>;
  /** Operator request that must succeed (2xx); returns the JSON body. */
  admin(method: string, url: string, body?: unknown, idem?: string): Promise<any>;
}

export async function createTestApp(engine: Engine, overrides: Overrides = {}): Promise<TestApp> {
  const t = await createTestRuntime(engine, overrides);
  const app = await buildApp(t.rt, { adminKeyHash: sha256Hex(ADMIN_KEY) });
  await app.app.ready();
  const req: TestApp['req'] = async (method, url, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const key = opts.key === undefined ? (url.startsWith('/admin/') ? ADMIN_KEY : null) : opts.key;
    if (key) headers.authorization = `Bearer ${key}`;
    if (opts.idem) headers['idempotency-key'] = opts.idem;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const r = await app.app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}), ...(opts.ip ? { remoteAddress: opts.ip } : {}) });
    let body: unknown = null;
    try {
      body = r.body ? JSON.parse(r.body) : null;
    } catch {
      body = r.body;
    }
    return { status: r.statusCode, body, text: r.body, headers: r.headers as Record<string, unknown> };
  };
  const adminCall: TestApp['admin'] = async (method, url, body, idem) => {
    const r = await req(method, url, { body, ...(idem ? { idem } : {}) });
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${r.text}`);
    return r.body;
  };
  return {
    ...t,
    get op() {
      return t.op;
    },
    app,
    req,
    admin: adminCall,
    async close() {
      await app.app.close();
      await t.close();
    },
  };
}

let seq = 0;
/** A unique idempotency key per call. */
export function idem(prefix = 'k'): string {
  return `${prefix}-${process.pid}-${Date.now()}-${++seq}`;
}
