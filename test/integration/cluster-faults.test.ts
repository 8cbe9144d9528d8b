// Losing parts of a cluster under load: an instance killed with SIGKILL (its holds are released
// within the instance TTL and nothing is charged twice), Redis stopped and restarted (safe mode,
// then recovery by itself, no overspend), and background jobs that run on exactly one instance and
// move when it stops. Redis here is a server of this test's own on a free port, so that stopping
// it disturbs no other test; the SIGKILLed instance is a real `npm start` process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { CLUSTER_SKIP, REDIS_URL, startCluster, type Res, type TestCluster } from '../helpers/cluster.ts';

const node = process.execPath;
const ROOT = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TTL = 3;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
  return Date.now() - t0;
}

/** A Surety process started as `npm start` would, on the cluster's database and Redis. */
async function startProcess(c: TestCluster): Promise<{ proc: ChildProcess; url: string }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: '0',
    LOG_LEVEL: 'warn',
    SURETY_ADMIN_KEY: ADMIN_KEY,
    SURETY_DEMO: '0',
    DATABASE_URL: String(c.config.databaseUrl),
    REDIS_URL: String(c.config.redisUrl),
    SURETY_REDIS_PREFIX: c.prefix,
    SURETY_INSTANCE_TTL_SECONDS: String(TTL),
    SURETY_DATA_DIR: c.nodes[0]!.rt.config.dataDir,
  };
  const proc = spawn(node, [`${ROOT}src/main.ts`], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /Surety listening on (\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`the instance exited with ${code}`)));
  });
  return { proc, url };
}

describe('an instance killed under load', { skip: CLUSTER_SKIP }, () => {
  let c: TestCluster;
  let child: ChildProcess | null = null;
  after(async () => {
    child?.kill('SIGKILL');
    await c?.close();
  });

  test("SIGKILL: the dead instance's holds are released within its TTL and nothing is charged twice", async () => {
    c = await startCluster(2, { config: { instanceTtlSeconds: TTL } });
    const p = await startProcess(c);
    child = p.proc;
    const who = await c.customer('1.00');
    // 30 slow requests on the instance about to die: their holds ($0.30) are in Redis.
    const doomed = Array.from({ length: 30 }, () => c.chat(p.url, who.key, 'slow [[sim:latency=3000]]').catch(() => null));
    const redis = new Redis(REDIS_URL);
    const mirror = `${c.prefix}m:a:${who.accountId}`;
    try {
      await until('the holds are taken', async () => Number(await redis.hget(mirror, 'held')) === 300_000_000, 5000);
      child.kill('SIGKILL');
      await Promise.all(doomed);
      // Until the TTL runs out the survivors count the dead instance's holds: $0.70 is available.
      const during = await c.chat(c.nodes[0]!.url, who.key);
      assert.equal(during.status, 200);
      const ms = await until("the dead instance's holds are released", async () => Number((await redis.hget(mirror, 'held')) ?? 0) === 0, (TTL + 4) * 1000);
      assert.ok(ms <= (TTL + 2) * 1000, `released after ${ms} ms`);
    } finally {
      redis.disconnect();
    }
    await c.settle();
    // Nothing was charged for the killed requests: what is left is $1.00 less the one served since.
    assert.equal((await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`)).total, '0.99');
    const rs = await Promise.all(Array.from({ length: 120 }, (_, i) => c.chat(c.nodes[i % 2]!.url, who.key)));
    assert.equal(rs.filter((r) => r.status === 200).length, 99);
    await c.settle();
    assert.equal((await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`)).total, '0.00');
    const charged = await c.tdb.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM request_log WHERE account_id = ? AND amount > 0', [who.accountId]);
    assert.equal(Number(charged!.n), 100, 'one charged row per served request, none for the killed ones');
    assert.equal((await c.verify()).ok, true);
  });

  test("SIGKILL with allowances: the dead instance's unused slices are released within its TTL, like its holds", async () => {
    const p = await startProcess(c);
    child = p.proc;
    const who = await c.customer('10.00');
    // One after another on the instance about to die: it takes slices of the abundant balance.
    for (let i = 0; i < 20; i++) assert.equal((await c.chat(p.url, who.key)).status, 200);
    const redis = new Redis(REDIS_URL);
    const mirror = `${c.prefix}m:a:${who.accountId}`;
    try {
      await until('a slice is held', async () => Number((await redis.hget(mirror, 'lz')) ?? 0) > 0, 3000);
      await until('its rows are written', async () => Number((await c.tdb.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM request_log WHERE account_id = ?', [who.accountId]))!.n) === 20, 3000);
      assert.ok(Number(await redis.hget(mirror, 'held')) > 0);
      child.kill('SIGKILL');
      const gone = async () => Number((await redis.hget(mirror, 'held')) ?? 0) === 0 && Number((await redis.hget(mirror, 'lz')) ?? 0) === 0;
      const ms = await until("the dead instance's slices are released", gone, (TTL + 4) * 1000);
      assert.ok(ms <= (TTL + 2) * 1000, `released after ${ms} ms`);
    } finally {
      redis.disconnect();
    }
    // Each served request charged once; the survivors see the whole rest of the balance.
    assert.equal((await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`)).total, '9.80');
    assert.equal((await c.chat(c.nodes[1]!.url, who.key)).status, 200);
    await c.settle();
    assert.equal((await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`)).total, '9.79');
    assert.equal((await c.verify()).ok, true);
  });
});

describe('Redis stopped and restarted under load', { skip: CLUSTER_SKIP }, () => {
  let c: TestCluster;
  let redisProc: ChildProcess | null = null;
  let port = 0;
  const startRedis = async () => {
    redisProc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    await until('redis-server answers', async () => r.connect().then(() => true, () => false), 5000);
    r.disconnect();
  };
  after(async () => {
    await c?.close();
    redisProc?.kill('SIGKILL');
  });

  test('safe mode while Redis is away (503 CLUSTER_UNAVAILABLE, /readyz 503), recovery by itself, no overspend', async () => {
    port = await freePort();
    await startRedis();
    c = await startCluster(2, { redisUrl: `redis://127.0.0.1:${port}`, config: { instanceTtlSeconds: TTL } });
    const who = await c.customer('0.50');
    const results: Res[] = [];
    let stop = false;
    const worker = async (i: number) => {
      while (!stop) {
        const r = await c.chat(c.nodes[i % 2]!.url, who.key, 'hi [[sim:latency=20]]');
        results.push(r);
        if (r.status !== 200) await sleep(30);
      }
    };
    const workers = Array.from({ length: 6 }, (_, i) => worker(i));
    await until('some requests served', async () => results.some((r) => r.status === 200), 5000);
    redisProc!.kill('SIGKILL');
    await until('requests refused in safe mode', async () => results.some((r) => r.status === 503), 5000);
    const ready = await fetch(`${c.nodes[1]!.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as any).error.code, 'CLUSTER_UNAVAILABLE');
    await sleep(300);
    const servedBefore = results.filter((r) => r.status === 200).length;
    await startRedis();
    await until('requests served again (or the balance spent)', async () => results.filter((r) => r.status === 200 || r.status === 402).length > servedBefore + 3, 15_000);
    await until('the balance is spent', async () => results.filter((r) => r.status === 402).length >= 6, 20_000);
    stop = true;
    await Promise.all(workers);
    const refusals = results.filter((r) => r.status === 503);
    assert.ok(refusals.every((r) => r.body.error.code === 'CLUSTER_UNAVAILABLE'), JSON.stringify(refusals[0]?.body));
    assert.ok(refusals.every((r) => Number(r.headers.get('retry-after')) >= 1));
    await c.settle();
    assert.equal(results.filter((r) => r.status === 200).length, 50, 'exactly what the balance covers');
    const bal = await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`);
    assert.equal(bal.total, '0.00');
    assert.equal((await c.verify()).ok, true);
    assert.equal((await fetch(`${c.nodes[0]!.url}/readyz`)).status, 200);
  });
});

describe('background jobs on several instances', { skip: CLUSTER_SKIP }, () => {
  let c: TestCluster;
  after(async () => {
    await c?.close();
  });

  test('one runner per job at a time; the job moves when its runner stops', async () => {
    c = await startCluster(3, { config: { instanceTtlSeconds: TTL } });
    const runs: Array<{ who: number; from: number; to: number }> = [];
    c.nodes.forEach((s, who) =>
      s.rt.jobs.register({
        name: 'probe',
        intervalMs: 100,
        run: async () => {
          const from = Date.now();
          await sleep(30);
          runs.push({ who, from, to: Date.now() });
        },
      }),
    );
    await sleep(1200);
    const first = new Set(runs.map((r) => r.who));
    assert.equal(first.size, 1, `runners: ${[...first]}`);
    assert.ok(runs.length >= 5, `${runs.length} runs`);
    const sorted = [...runs].sort((a, b) => a.from - b.from);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]!.from >= sorted[i - 1]!.to, 'runs never overlap');
    // Its runner's scheduler stops (as if the process hung): the lease runs out, another takes the job.
    const holder = [...first][0]!;
    await c.nodes[holder]!.rt.jobs.stop();
    const stoppedAt = Date.now();
    await sleep(1200);
    const later = runs.filter((r) => r.from > stoppedAt);
    assert.ok(later.length >= 3, `${later.length} runs after the stop`);
    assert.equal(new Set(later.map((r) => r.who)).size, 1);
    assert.notEqual(later[0]!.who, holder);
    assert.ok(later[0]!.from - stoppedAt < 600, `taken over after ${later[0]!.from - stoppedAt} ms (lease: 300 ms)`);
  });
});
