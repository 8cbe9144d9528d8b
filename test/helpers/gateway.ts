// A whole Surety for data-plane tests, started the way `npm start` starts it (startSurety): real
// HTTP on a free port, real storage — a fresh SQLite directory, or a fresh PostgreSQL schema when
// asked (engines.ts) — and, with the demo on, the in-process simulator with the demo catalog.
// Everything is driven through HTTP: the admin API for accounts, keys, top-ups, channels and
// models; the data plane for requests. Nothing is mocked.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/kernel/config/load.ts';
import type { ConfigKey } from '../../src/kernel/config/schema.ts';
import { verifyLedger, type VerifyReport } from '../../src/billing/verify.ts';
import { parseUsd } from '../../src/kernel/money.ts';
import type { GatewayOptions } from '../../src/gateway/routes.ts';
import { startSurety, type Started } from '../../src/start.ts';
import type { Engine } from '../../src/storage/port.ts';
import { openTestDb } from './engines.ts';

export const ADMIN_KEY = 'sa-test-operator-key-0123456789abcdef';

export interface HttpRes {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

export interface Customer {
  accountId: string;
  keyId: string;
  key: string;
}

export interface TestGateway {
  engine: Engine;
  s: Started;
  url: string;
  /** Operator call; returns status, headers and parsed body whatever the status. */
  adminRaw(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpRes>;
  /** Operator call that must succeed (2xx); returns the JSON body. */
  admin(method: string, path: string, body?: unknown): Promise<any>;
  /** An account funded with `balance` USD (none when "0") and one key with `key` options. */
  customer(balance?: string, key?: Record<string, unknown>, account?: Record<string, unknown>): Promise<Customer>;
  /** Waits until no data-plane request is in flight, then flushes the writer (rows and charges committed). */
  settle(): Promise<void>;
  /** The log row of a request (after settle()). */
  log(requestId: string): Promise<any>;
  /** Every log row of a key, newest first (after settle()). */
  logsOfKey(keyId: string): Promise<any[]>;
  /** The account's journal, newest first. */
  ledger(accountId: string): Promise<any[]>;
  balance(accountId: string): Promise<any>;
  /** Total rows in request_log. */
  rowCount(): Promise<number>;
  verify(): Promise<VerifyReport>;
  close(): Promise<void>;
}

export interface GatewayStartOptions {
  engine?: Engine;
  /** The demo catalog on the in-process simulator (default true). */
  demo?: boolean;
  config?: Partial<Record<ConfigKey, unknown>>;
  gateway?: GatewayOptions;
}

export async function startTestGateway(opts: GatewayStartOptions = {}): Promise<TestGateway> {
  const engine = opts.engine ?? 'sqlite';
  // A data directory of its own on both engines (on PostgreSQL it holds the generated secret key).
  const dir = mkdtempSync(join(tmpdir(), 'surety-gw-'));
  const storage: Partial<Record<ConfigKey, unknown>> = { dataDir: dir };
  let dispose = async () => rmSync(dir, { recursive: true, force: true });
  if (engine === 'postgres') {
    // A fresh schema; the gateway opens its own pool on it (search_path in the URL).
    const tdb = await openTestDb('postgres', { migrate: false });
    await tdb.db.close();
    storage.databaseUrl = tdb.url!;
    const rmDir = dispose;
    dispose = async () => {
      await tdb.dispose();
      await rmDir();
    };
  }
  // An empty env: nothing from the developer's shell (DATABASE_URL…) leaks in. shedLagMs 0: the
  // gateway shares this process's event loop with the test's client, whose load is not the gateway's.
  const config = loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: String(opts.demo ?? true), shedLagMs: 0, ...storage, ...opts.config });
  let s: Started;
  try {
    s = await startSurety(config, { handleSignals: false, simPort: 0, ...(opts.gateway ? { gateway: opts.gateway } : {}) });
  } catch (e) {
    await dispose();
    throw e;
  }
  const url = s.url;

  const adminRaw: TestGateway['adminRaw'] = async (method, path, body, headers = {}) => {
    const h: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const r = await fetch(url + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: r.status, headers: r.headers, text, body: parsed };
  };
  const admin: TestGateway['admin'] = async (method, path, body) => {
    const r = await adminRaw(method, path, body, method === 'POST' && /\/topups$/.test(path) ? { 'idempotency-key': `t-${Math.random()}` } : {});
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${r.text}`);
    return r.body;
  };
  let n = 0;
  const settle = async () => {
    const until = Date.now() + 10_000;
    while (s.gateway.gateway.requestsInFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.equal(s.gateway.gateway.requestsInFlight, 0, 'requests still in flight');
    await s.gateway.gateway.writer.flush();
    // A flush that found another one running returns that one: flush until nothing is queued.
    while (s.gateway.gateway.writer.pending > 0) {
      assert.ok(Date.now() < until, `the request log did not flush: ${s.gateway.gateway.writer.stats.lastError}`);
      await s.gateway.gateway.writer.flush();
    }
  };

  return {
    engine,
    s,
    url,
    adminRaw,
    admin,
    async customer(balance = '10.00', key = {}, account = {}) {
      const a = await admin('POST', '/admin/v1/accounts', { name: `test customer ${++n}`, ...account });
      if (balance !== '0') await admin('POST', `/admin/v1/accounts/${a.id}/topups`, { amount: balance, method: 'other', reference: `test ${n}` });
      const k = await admin('POST', `/admin/v1/accounts/${a.id}/keys`, { name: `test key ${n}`, ...key });
      return { accountId: a.id as string, keyId: k.id as string, key: k.key as string };
    },
    settle,
    async log(requestId) {
      return admin('GET', `/admin/v1/logs/${requestId}`);
    },
    async logsOfKey(keyId) {
      return (await admin('GET', `/admin/v1/logs?key_id=${keyId}&limit=1000`)).data;
    },
    async ledger(accountId) {
      return (await admin('GET', `/admin/v1/accounts/${accountId}/ledger?limit=1000`)).data;
    },
    async balance(accountId) {
      return admin('GET', `/admin/v1/accounts/${accountId}/balance`);
    },
    async rowCount() {
      return Number((await s.rt.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM request_log'))!.n);
    },
    verify: () => verifyLedger(s.rt.db),
    async close() {
      try {
        await s.stop();
      } finally {
        await dispose();
      }
    },
  };
}

/** nano-USD for `tokens` at `usdPerMTok` USD per 1M tokens, computed without the product's code (exact prices only). */
export function tokenCost(tokens: number, usdPerMTok: string): bigint {
  const [i, f = ''] = usdPerMTok.split('.');
  const microPerMTok = BigInt(i!) * 1_000_000n + BigInt((f + '000000').slice(0, 6));
  // nano-USD = tokens × micro-USD per 1M × 1000 / 1M
  const scaled = BigInt(tokens) * microPerMTok;
  if (scaled % 1000n !== 0n) throw new Error(`tokenCost: ${tokens} × ${usdPerMTok} is not a whole nano-USD`);
  return scaled / 1000n;
}

/** Parses a decimal USD string from the API to nano-USD (negative allowed). */
export function usd(s: string): bigint {
  return parseUsd(s, { allowZero: true, allowNegative: true });
}

/** Tokens the simulator counts for a text: ceil(chars / 4), at least 1 (docs/simulator.md). */
export function simTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
