// Several Surety instances on one PostgreSQL schema and one Redis (a key prefix of their own), each
// started as `npm start` would (startSurety), in this test process. The first runs the demo
// simulator and catalog; the others start without a demo and route to the same simulator.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/kernel/config/load.ts';
import type { ConfigKey } from '../../src/kernel/config/schema.ts';
import { startSurety, type Started } from '../../src/start.ts';
import { verifyLedger } from '../../src/billing/verify.ts';
import { PG_URL, openTestDb, type TestDb } from './engines.ts';
import { ADMIN_KEY } from './gateway.ts';

export const REDIS_URL = process.env.SURETY_TEST_REDIS_URL || '';
export const CLUSTER_SKIP = PG_URL && REDIS_URL ? false : 'needs SURETY_TEST_DATABASE_URL and SURETY_TEST_REDIS_URL';

/** A model priced per request only: its hold is exactly its charge, so "covers exactly n" is exact. */
export const FLAT = 'flat-cent';

export interface Res {
  status: number;
  headers: Headers;
  body: any;
}

export interface TestCluster {
  tdb: TestDb;
  prefix: string;
  nodes: Started[];
  config: Partial<Record<ConfigKey, unknown>>;
  /** Starts one more instance (demo off). */
  add(extra?: Partial<Record<ConfigKey, unknown>>): Promise<Started>;
  admin(method: string, path: string, body?: unknown): Promise<any>;
  /** An account funded with `usd` and a key with `key` options. */
  customer(usd: string, key?: Record<string, unknown>, account?: Record<string, unknown>): Promise<{ accountId: string; keyId: string; key: string }>;
  chat(base: string, key: string, text?: string, model?: string): Promise<Res>;
  /** Every instance's writer flushed. */
  settle(): Promise<void>;
  verify(): ReturnType<typeof verifyLedger>;
  close(): Promise<void>;
}

export async function startCluster(n: number, opts: { config?: Partial<Record<ConfigKey, unknown>>; redisUrl?: string } = {}): Promise<TestCluster> {
  const tdb = await openTestDb('postgres');
  const prefix = `t${randomBytes(5).toString('hex')}:`;
  // shedLagMs 0: the instances share this process's event loop with each other and with the test's
  // own client, so its lag is the harness's, not an instance's; shedding on it would refuse a burst
  // the test means to serve (the lag rule's own test: test/unit/gateway/overload.test.ts).
  const config: Partial<Record<ConfigKey, unknown>> = { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, databaseUrl: tdb.url!, redisUrl: opts.redisUrl ?? REDIS_URL, redisPrefix: prefix, shedLagMs: 0, ...opts.config };
  const nodes: Started[] = [];
  const start = async (demo: boolean, extra: Partial<Record<ConfigKey, unknown>> = {}) => {
    const s = await startSurety(loadConfig({}, { ...config, demo: String(demo), ...extra }), { handleSignals: false, simPort: 0 });
    nodes.push(s);
    return s;
  };
  await start(true);
  for (let i = 1; i < n; i++) await start(false);
  const base = nodes[0]!.url;
  const call = async (url: string, method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<Res> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST' && path.endsWith('/topups')) headers['idempotency-key'] = randomBytes(8).toString('hex');
    const r = await fetch(url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
  };
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await call(base, method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  await admin('PUT', `/admin/v1/models/${FLAT}`, { provider: 'openai', kind: 'chat', price: { per_request: '0.01' } });
  const ch = (await admin('GET', '/admin/v1/channels')).data.find((c: { name: string }) => c.name === 'sim-openai');
  await admin('PATCH', `/admin/v1/channels/${ch.id}`, { models: [...ch.models, FLAT] });
  let k = 0;
  return {
    tdb,
    prefix,
    nodes,
    config,
    add: (extra) => start(false, extra),
    admin,
    async customer(usd, key = {}, account = {}) {
      const a = await admin('POST', '/admin/v1/accounts', { name: `cluster customer ${++k}`, ...account });
      if (usd !== '0') await admin('POST', `/admin/v1/accounts/${a.id}/topups`, { amount: usd, method: 'other', reference: `t${k}` });
      const kk = await admin('POST', `/admin/v1/accounts/${a.id}/keys`, { name: `k${k}`, ...key });
      return { accountId: a.id, keyId: kk.id, key: kk.key };
    },
    chat: (url, key, text = 'hello', model = FLAT) => call(url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: text }] }, key),
    async settle() {
      for (const s of nodes) {
        const until = Date.now() + 15_000;
        while (s.gateway.gateway.requestsInFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        while (s.gateway.gateway.writer.pending > 0 && Date.now() < until) await s.gateway.gateway.writer.flush();
        await s.gateway.gateway.writer.flush();
      }
    },
    verify: () => verifyLedger(nodes[0]!.rt.db),
    async close() {
      for (const s of nodes.reverse()) await s.stop().catch(() => {});
      await tdb.dispose();
      if (REDIS_URL) {
        const r = new Redis(opts.redisUrl ?? REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
        try {
          await r.connect();
          const keys = await r.keys(`${prefix}*`);
          if (keys.length > 0) await r.del(...keys);
        } catch {
          // Redis away (an outage test): nothing to clean.
        } finally {
          r.disconnect();
        }
      }
    },
  };
}
