// What every chaos scenario uses: the figures table, a real gateway in a child process (started
// the way `npm start` starts it, so that SIGKILL kills a real process), the catalog it serves, an
// operator client, its storage opened beside it, and `surety ledger verify` run as a command.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDb } from '../src/storage/open.ts';
import type { Db } from '../src/storage/port.ts';

export const ROOT = join(import.meta.dirname, '..');
const COMPILE_CACHE = join(tmpdir(), 'surety-chaos-compile-cache');
export const ADMIN_KEY = 'sa-chaos-operator-key-0123456789abcdef';
const SECRET_KEY = 'chaos-secret-key-0123456789abcdef0123456789';

// ---- the figures table

export interface Figure {
  scenario: string;
  figure: string;
  value: string;
  target: string;
  /** true: the invariant holds; false: it broke; null: a measurement without a pass mark. */
  ok: boolean | null;
}

export class Report {
  readonly figures: Figure[] = [];
  add(scenario: string, figure: string, value: string | number, target = '', ok: boolean | null = null): void {
    this.figures.push({ scenario, figure, value: String(value), target, ok });
    const mark = ok === null ? ' ' : ok ? '✓' : '✗';
    process.stderr.write(`  ${mark} ${scenario}: ${figure} = ${value}${target ? ` (target ${target})` : ''}\n`);
  }
  /** A check that must hold; its value is what was found. */
  check(scenario: string, figure: string, value: string | number, target: string, ok: boolean): void {
    this.add(scenario, figure, value, target, ok);
  }
  get broken(): Figure[] {
    return this.figures.filter((f) => f.ok === false);
  }
  markdown(): string {
    const rows = this.figures.map((f) => `| ${f.scenario} | ${f.figure} | ${f.value} | ${f.target} | ${f.ok === null ? '' : f.ok ? 'ok' : '**BROKEN**'} |`);
    return ['| scenario | figure | measured | target | invariant |', '|---|---|---|---|---|', ...rows].join('\n');
  }
}

// ---- small things

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function pct(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Deterministic pseudo-random numbers (a run can be replayed with --seed). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- storage of a gateway under test

export interface Store {
  engine: 'sqlite' | 'postgres';
  /** The gateway's environment for this store. */
  env: Record<string, string>;
  dataDir: string;
  databaseUrl: string | null;
  /** Opens the store from this process (beside the gateway). */
  open(): Promise<Db>;
  dispose(): Promise<void>;
}

/** A fresh SQLite directory, or a fresh PostgreSQL database on SURETY_TEST_DATABASE_URL's server. */
export async function freshStore(engine: 'sqlite' | 'postgres', dataDir?: string): Promise<Store> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'surety-chaos-'));
  if (engine === 'sqlite') {
    return {
      engine,
      env: { SURETY_DATA_DIR: dir },
      dataDir: dir,
      databaseUrl: null,
      open: () => openDb({ dataDir: dir, migrate: false }),
      async dispose() {
        if (!dataDir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const base = process.env.SURETY_TEST_DATABASE_URL;
  if (!base) throw new Error('SURETY_TEST_DATABASE_URL is not set');
  const name = `chaos_${randomBytes(6).toString('hex')}`;
  await pgAdmin(base, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(base);
  u.pathname = `/${name}`;
  const url = u.toString();
  return {
    engine,
    env: { SURETY_DATA_DIR: dir, DATABASE_URL: url },
    dataDir: dir,
    databaseUrl: url,
    open: () => openDb({ dataDir: dir, databaseUrl: url, migrate: false }),
    async dispose() {
      await pgAdmin(base, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function pgAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

// ---- the catalog a chaos gateway serves

export const MODELS = {
  'gpt-4o-mini': { provider: 'openai', kind: 'chat', price: { input_per_mtok: '0.15', output_per_mtok: '0.60' }, default_max_output_tokens: 256 },
  'claude-sonnet-5-5': { provider: 'anthropic', kind: 'chat', price: { input_per_mtok: '3', output_per_mtok: '15' }, default_max_output_tokens: 256 },
  'gemini-2.5-flash': { provider: 'gemini', kind: 'chat', price: { input_per_mtok: '0.30', output_per_mtok: '2.50' }, default_max_output_tokens: 256 },
} as const;

/** Writes a catalog file: the three chat models, each on one channel per simulator URL (failover order = order given). */
export function writeCatalog(dir: string, simUrls: readonly string[], timeouts = { connect_ms: 1000, first_byte_ms: 3000, total_ms: 8000 }): string {
  const channels = simUrls.flatMap((url, i) =>
    (['openai', 'anthropic', 'gemini'] as const).map((provider) => ({
      name: `chaos-${provider}-${i}`,
      provider,
      base_url: url,
      keys: [`sk-chaos-upstream-${provider}-${i}`],
      models: Object.entries(MODELS).filter(([, m]) => m.provider === provider).map(([id]) => id),
      priority: 100 - i,
      timeouts,
    })),
  );
  const file = join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify({ models: MODELS, channels }));
  return file;
}

// ---- a gateway in a child process

export interface GatewayProc {
  url: string;
  child: ChildProcess;
  /** Resident memory of the gateway process, MB (from /proc). */
  rssMb(): number;
  /** Sends a signal and waits for the process to end. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** What it wrote to stderr lately. */
  stderr(): string;
}

/** Gateways started by this run: none outlives it, however it ends. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => process.exit(130));

/** Starts `src/main.ts` (npm start) with `env`, and waits until it listens. */
export async function spawnGateway(env: Record<string, string>, timeoutMs = 60_000): Promise<GatewayProc> {
  const child = spawn(process.execPath, ['--max-semi-space-size=12', '--heap-growing-percent=100', '--no-allocation-site-pretenuring', join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      SURETY_DEMO: '0',
      SURETY_ADMIN_KEY: ADMIN_KEY,
      SURETY_SECRET_KEY: SECRET_KEY,
      LOG_LEVEL: 'error',
      SURETY_SHUTDOWN_GRACE_SECONDS: '2',
      // Compiled modules cached between the many starts of a run (a cold start costs seconds on a busy machine).
      NODE_COMPILE_CACHE: COMPILE_CACHE,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gateway did not start in ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Surety listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? sig}) before listening: ${err}`));
    });
  });
  return {
    url,
    child,
    rssMb() {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) / 1024 : 0;
      } catch {
        return 0;
      }
    },
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    stderr: () => err,
  };
}

/** The simulator in a process of its own (so that a load generator's CPU does not slow the upstream). */
export async function spawnSim(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, 'src/sim/cli.ts'), '--port', '0', '--host', '127.0.0.1'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => (children.delete(child), resolve())));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)));
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---- the operator API

export interface Admin {
  raw(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any>;
}

export function admin(url: string): Admin {
  const raw: Admin['raw'] = async (method, path, body, headers = {}) => {
    const h: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const r = await fetch(url + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status: r.status, body: parsed, headers: r.headers };
  };
  return {
    raw,
    async call(method, path, body, headers) {
      const r = await raw(method, path, body, headers);
      if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
}

export interface ChaosKey {
  accountId: string;
  keyId: string;
  key: string;
}

/** `accounts` funded accounts with `keysEach` keys each; every other key has spend limits. */
export async function makeCustomers(a: Admin, accounts: number, keysEach: number, funds = '50.00'): Promise<ChaosKey[]> {
  const keys: ChaosKey[] = [];
  for (let i = 0; i < accounts; i++) {
    const acct = await a.call('POST', '/admin/v1/accounts', { name: `chaos ${i}` });
    await a.call('POST', `/admin/v1/accounts/${acct.id}/topups`, { amount: funds, method: 'other', reference: `chaos ${i}`, bonus: '1.00' }, { 'idempotency-key': `chaos-fund-${acct.id}` });
    for (let j = 0; j < keysEach; j++) {
      const limited = j % 2 === 1 ? { limits: { day: '5.00', total: '20.00' }, concurrency: 64 } : {};
      const k = await a.call('POST', `/admin/v1/accounts/${acct.id}/keys`, { name: `chaos ${i}.${j}`, ...limited });
      keys.push({ accountId: acct.id, keyId: k.id, key: k.key });
    }
  }
  return keys;
}

/** Runs `surety ledger verify` against a store, as an operator would; true when every invariant holds. */
export function cliVerify(store: Store): { ok: boolean; output: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/surety.js'), 'ledger', 'verify'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', SURETY_ADMIN_KEY: ADMIN_KEY, SURETY_SECRET_KEY: SECRET_KEY, LOG_LEVEL: 'error', NODE_COMPILE_CACHE: COMPILE_CACHE, ...store.env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Removes a directory tree, quietly. */
export function rmTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
