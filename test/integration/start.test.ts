// The two README commands' promises, as a user sees them: `npm start` (the real entry point,
// src/main.ts, as a child process on a fresh data directory) prints a banner with the operator
// key, the demo customer key and a ready curl line; the curl line works and bills exactly what
// it says; SIGTERM lets an in-flight request finish, flushes its row and charge and exits 0; a
// restart on the same data directory prints no new keys and keeps the old ones working;
// SURETY_DEMO=0 sets up no demo. Nothing is mocked: real processes, real HTTP, real SQLite.
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseUsd } from '../../src/kernel/money.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;

const usd = (s: string) => parseUsd(s, { allowZero: true, allowNegative: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A clean environment: nothing from the developer's shell (DATABASE_URL, SURETY_ADMIN_KEY…) leaks in. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), NODE_COMPILE_CACHE: join(tmpdir(), 'surety-start-test-compile-cache'), PORT: '0', SURETY_SIM_PORT: '0', ...extra };
}

interface Gateway {
  proc: ChildProcess;
  out: string;
  err: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
}

const children = new Set<Gateway>();

/** `npm start`: node bin/surety.js start in the project directory. */
function start(extra: Record<string, string>): Gateway {
  const proc = spawn(NODE, [join(ROOT, 'bin/surety.js'), 'start'], { cwd: ROOT, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  const g: Gateway = { proc, out: '', err: '', exited: false, exit: null as never };
  g.exit = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      g.exited = true;
      children.delete(g);
      resolve({ code, signal });
    });
  });
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (g.out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (g.err += d));
  children.add(g);
  return g;
}

function describeOutput(g: Gateway): string {
  return `\n--- stdout ---\n${g.out}\n--- stderr ---\n${g.err}`;
}

/** Waits until the whole banner is out: the listening line, then (the banner is written in one go) a round trip. */
async function banner(g: Gateway, ms = 20_000): Promise<{ url: string; out: string }> {
  const until = Date.now() + ms;
  let m: RegExpMatchArray | null = null;
  while (!(m = g.out.match(/^Surety listening on (http:\/\/\S+) \(storage: sqlite, (.+)\)$/m))) {
    if (g.exited) assert.fail(`the gateway exited before listening${describeOutput(g)}`);
    if (Date.now() > until) assert.fail(`no banner within ${ms} ms${describeOutput(g)}`);
    await sleep(20);
  }
  const url = m[1]!;
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  await sleep(100);
  return { url, out: g.out };
}

async function waitExit(g: Gateway, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running ${ms} ms later${describeOutput(g)}`)), ms)));
  try {
    return await Promise.race([g.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function stop(g: Gateway | undefined): Promise<void> {
  if (!g || g.exited) return;
  g.proc.kill('SIGTERM');
  try {
    await waitExit(g, 10_000);
  } catch {
    g.proc.kill('SIGKILL');
    await g.exit;
  }
}

async function call(url: string, key: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any; headers: Headers; ms: number }> {
  const t0 = Date.now();
  const r = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: r.status, body: parsed, headers: r.headers, ms: Date.now() - t0 };
}

/** The log row of a request, once the writer has flushed it (polled: it is committed off the hot path). */
async function logRow(url: string, adminKey: string, requestId: string): Promise<any> {
  const until = Date.now() + 5000;
  for (;;) {
    const r = await call(`${url}/admin/v1/logs/${requestId}`, adminKey);
    if (r.status === 200) return r.body;
    assert.equal(r.status, 404, JSON.stringify(r.body));
    if (Date.now() > until) assert.fail(`no log row for ${requestId}`);
    await sleep(20);
  }
}

function ledgerVerify(dataDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [join(ROOT, 'src/cli/main.ts'), 'ledger', 'verify'], { cwd: ROOT, env: env({ SURETY_DATA_DIR: dataDir }), timeout: 30_000 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}

// gpt-4o-mini in the demo catalog: $0.15 / $0.60 per 1M input / output tokens = 150 / 600 nano-USD a token.
const demoChatCost = (u: { prompt_tokens: number; completion_tokens: number }) => BigInt(u.prompt_tokens) * 150n + BigInt(u.completion_tokens) * 600n;

after(async () => {
  // Whatever failed, no gateway outlives the tests.
  for (const g of [...children]) {
    g.proc.kill('SIGKILL');
    await g.exit;
  }
});

describe('npm start on an empty data directory, SIGTERM, and a restart', () => {
  let dir: string;
  let g: Gateway | undefined;
  let url = '';
  let adminKey = '';
  let accountId = '';
  let demoKey = '';
  let simUrl = '';
  let chat: { url: string; body: string } | undefined;
  const charged: bigint[] = [];
  let slowId = '';
  let slowCost = '';

  // The longest group-commit interval: the row of the request finished during shutdown is then
  // still queued when the process exits, unless the shutdown flushes it (as it must).
  const flush = { SURETY_FLUSH_MS: '1000' };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'surety-start-'));
  });
  after(async () => {
    await stop(g);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the banner: where it listens, the operator key, the demo customer and key, a ready curl line', async () => {
    g = start({ SURETY_DATA_DIR: dir, ...flush });
    const b = await banner(g);
    url = b.url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(url).port, '8787', 'PORT=0 picks a free port');
    assert.match(b.out, new RegExp(`\\(storage: sqlite, ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    const op = b.out.match(/^Operator key \(shown once; set SURETY_ADMIN_KEY to choose your own\):\n {2}(sa-sur-[A-Za-z0-9]{40})$/m);
    assert.ok(op, `no operator key in the banner${describeOutput(g)}`);
    adminKey = op[1]!;
    const demo = b.out.match(/^Demo customer (acct_[0-9a-z]+) \(\$25\.00 paid \+ \$5\.00 bonus\), key \(shown once\):\n {2}(sk-sur-[A-Za-z0-9]+)$/m);
    assert.ok(demo, `no demo customer in the banner${describeOutput(g)}`);
    [, accountId, demoKey] = demo as unknown as [string, string, string];
    // The console and the status page, on the same port, are announced and answer.
    assert.ok(b.out.includes(`Web console: ${url}/console `), `no console line${describeOutput(g)}`);
    assert.equal((await fetch(`${url}/console`)).status, 200);
    assert.ok(b.out.includes(`Status page: ${url}/status`), 'the status page is announced');
    const sim = b.out.match(/^Demo upstream simulator on (http:\/\/127\.0\.0\.1:\d+) /m);
    assert.ok(sim, 'the simulator is announced');
    simUrl = sim[1]!;
    // The curl line, as printed, with this gateway's URL and the demo key.
    const curl = b.out.match(/^ {2}curl -s (\S+) -H "Authorization: Bearer (\S+)" -H "Content-Type: application\/json" \\\n {4}-d '(.+)'$/m);
    assert.ok(curl, `no chat curl line in the banner${describeOutput(g)}`);
    assert.equal(curl[1], `${url}/v1/chat/completions`);
    assert.equal(curl[2], demoKey);
    chat = { url: curl[1]!, body: curl[3]! };
    assert.equal(JSON.parse(chat.body).model, 'gpt-4o-mini');
    // Each key is printed exactly once, and nothing secret goes to stderr.
    assert.equal(b.out.split(adminKey).length - 1, 1, 'the operator key is printed once');
    assert.ok(!g.err.includes(adminKey) && !g.err.includes(demoKey), g.err);
  });

  test('the curl line: 200 with usage, x-request-id, x-surety-cost > 0, charged exactly from the demo balance', async () => {
    assert.ok(chat, 'the banner test ran');
    // The balance curl line from the banner, before.
    const before = await call(`${url}/account/v1/balance`, demoKey);
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.deepEqual(
      { account_id: before.body.account_id, paid: before.body.paid, granted: before.body.granted, total: before.body.total, held: before.body.held },
      { account_id: accountId, paid: '25.00', granted: '5.00', total: '30.00', held: '0.00' },
    );

    const r = await call(chat.url, demoKey, 'POST', chat.body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.object, 'chat.completion');
    assert.ok(r.body.choices[0].message.content.length > 0);
    const u = r.body.usage;
    assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0, JSON.stringify(u));
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    const requestId = r.headers.get('x-request-id');
    assert.ok(requestId, 'x-request-id');
    const cost = r.headers.get('x-surety-cost');
    assert.ok(cost, 'x-surety-cost');
    assert.ok(usd(cost) > 0n, cost);
    assert.equal(usd(cost), demoChatCost(u), 'usage × the demo price');
    charged.push(usd(cost));

    // The operator key opens the admin API: the demo account is the only one.
    const accounts = await call(`${url}/admin/v1/accounts`, adminKey);
    assert.equal(accounts.status, 200, JSON.stringify(accounts.body));
    assert.deepEqual(accounts.body.data.map((a: { id: string }) => a.id), [accountId]);
    assert.equal((await call(`${url}/admin/v1/accounts`, demoKey)).status, 403, 'a customer key does not open the admin API');

    const row = await logRow(url, adminKey, requestId);
    assert.equal(row.outcome, 'ok');
    assert.equal(row.account_id, accountId);
    assert.equal(row.amount, cost);
    assert.ok(row.tx_id, 'the charge has its ledger transaction');
    // The customer sees the same row.
    const own = await call(`${url}/account/v1/logs?limit=10`, demoKey);
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.data.map((x: { id: string }) => x.id), [requestId]);

    const afterB = await call(`${url}/account/v1/balance`, demoKey);
    assert.equal(usd(afterB.body.total), usd('30.00') - usd(cost));
    // Granted first (the default spending order): the bonus pays, the paid bucket is untouched.
    assert.equal(usd(afterB.body.granted), usd('5.00') - usd(cost));
    assert.equal(afterB.body.paid, '25.00');
    assert.equal(afterB.body.held, '0.00');
  });

  test('SIGTERM: the request in flight finishes with 200, the process exits 0, new connections are refused', async () => {
    assert.ok(g && !g.exited);
    const slow = call(`${url}/v1/chat/completions`, demoKey, 'POST', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi [[sim:latency=1500]]' }] });
    await sleep(200);
    const sent = Date.now();
    g.proc.kill('SIGTERM');
    await sleep(300);
    assert.ok(!g.exited, `the process must wait for the request in flight${describeOutput(g)}`);
    // While draining, the gateway takes no new work.
    const late = await fetch(`${url}/healthz`).then((r) => r.status, (e: Error) => e.message);
    assert.notEqual(late, 200, 'a new request during shutdown is not served');

    const r = await slow;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.ms >= 1400, `the simulated latency was honoured (${r.ms} ms)`);
    assert.ok(r.body.usage.completion_tokens > 0);
    slowId = r.headers.get('x-request-id')!;
    slowCost = r.headers.get('x-surety-cost')!;
    assert.ok(slowId && usd(slowCost) > 0n, `${slowId} ${slowCost}`);
    charged.push(usd(slowCost));

    const { code, signal } = await waitExit(g, 5000);
    assert.equal(signal, null);
    assert.equal(code, 0, describeOutput(g));
    assert.ok(Date.now() - sent < 5000);
    assert.ok(!g.err.includes('INTERNAL') && !/"level":(50|60)/.test(g.out), `no error while shutting down${describeOutput(g)}`);
  });

  test('restart on the same directory: no new keys, the old keys work, the flushed row and charge are there, demo channels follow the simulator', async () => {
    assert.ok(slowId, 'the SIGTERM test ran');
    g = start({ SURETY_DATA_DIR: dir, ...flush });
    const b = await banner(g);
    url = b.url;
    assert.doesNotMatch(b.out, /sa-sur-/, 'the operator key is not printed again');
    assert.doesNotMatch(b.out, /sk-sur-/, 'no new demo key');
    assert.doesNotMatch(b.out, /Operator key|Demo customer|curl/);
    const sim = b.out.match(/^Demo upstream simulator on (http:\/\/127\.0\.0\.1:\d+) /m);
    assert.ok(sim, `the demo simulator runs again${describeOutput(g)}`);
    const newSim = sim[1]!;

    // The old operator key opens the admin API; still one account: no second demo.
    const accounts = await call(`${url}/admin/v1/accounts`, adminKey);
    assert.equal(accounts.status, 200, JSON.stringify(accounts.body));
    assert.deepEqual(accounts.body.data.map((a: { id: string }) => a.id), [accountId]);

    // The request finished during shutdown was flushed with its charge before the exit.
    const row = await call(`${url}/admin/v1/logs/${slowId}`, adminKey);
    assert.equal(row.status, 200, `the row of the request in flight at SIGTERM: ${JSON.stringify(row.body)}`);
    assert.equal(row.body.outcome, 'ok');
    assert.equal(row.body.amount, slowCost);
    assert.ok(row.body.tx_id);
    const bal = await call(`${url}/account/v1/balance`, demoKey);
    assert.equal(bal.status, 200, 'the demo key still works');
    assert.equal(usd(bal.body.total), usd('30.00') - charged[0]! - charged[1]!);
    assert.equal(bal.body.held, '0.00');

    // The demo channels point at the simulator of this start.
    const channels = await call(`${url}/admin/v1/channels`, adminKey);
    const sims = channels.body.data.filter((c: { name: string }) => c.name.startsWith('sim-'));
    assert.ok(sims.length >= 2, JSON.stringify(channels.body));
    for (const c of sims) assert.equal(c.base_url, newSim, `${c.name} follows the simulator`);
    if (newSim !== simUrl) assert.ok(sims.every((c: { base_url: string }) => c.base_url !== simUrl));

    // And the demo request works again, billed.
    const again = await call(`${url}/v1/chat/completions`, demoKey, 'POST', chat!.body);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.ok(usd(again.headers.get('x-surety-cost')!) > 0n);
    const againRow = await logRow(url, adminKey, again.headers.get('x-request-id')!);
    assert.equal(againRow.outcome, 'ok');
    assert.equal(againRow.amount, again.headers.get('x-surety-cost'));

    // `surety ledger verify` on the same directory (it may run while the gateway runs).
    const v = await ledgerVerify(dir);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    assert.match(v.stdout, /Ledger verified: every invariant holds\./);

    await stop(g);
    assert.equal((await g.exit).code, 0);
  });
});

describe('npm start with SURETY_DEMO=0', () => {
  let dir: string;
  let g: Gateway | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'surety-start-nodemo-'));
  });
  after(async () => {
    await stop(g);
    rmSync(dir, { recursive: true, force: true });
  });

  test('prints the operator key but no demo; a key created through the admin API sees no models', async () => {
    g = start({ SURETY_DATA_DIR: dir, SURETY_DEMO: '0' });
    const { url, out } = await banner(g);
    const op = out.match(/^ {2}(sa-sur-[A-Za-z0-9]{40})$/m);
    assert.ok(op, `the operator key is printed${describeOutput(g)}`);
    const adminKey = op[1]!;
    assert.doesNotMatch(out, /sk-sur-|Demo customer|simulator|curl/);

    const accounts = await call(`${url}/admin/v1/accounts`, adminKey);
    assert.equal(accounts.status, 200);
    assert.deepEqual(accounts.body.data, [], 'no demo account');
    const models = await call(`${url}/admin/v1/models`, adminKey);
    assert.deepEqual(models.body.data, [], 'no demo models');
    const channels = await call(`${url}/admin/v1/channels`, adminKey);
    assert.deepEqual(channels.body.data, [], 'no demo channels');

    const a = await call(`${url}/admin/v1/accounts`, adminKey, 'POST', { name: 'First customer' });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const k = await call(`${url}/admin/v1/accounts/${a.body.id}/keys`, adminKey, 'POST', { name: 'k' });
    assert.equal(k.status, 201, JSON.stringify(k.body));
    const list = await call(`${url}/v1/models`, k.body.key);
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual(list.body, { object: 'list', data: [] });
    const r = await call(`${url}/v1/chat/completions`, k.body.key, 'POST', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.status, 404, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'UNKNOWN_MODEL');
  });
});
