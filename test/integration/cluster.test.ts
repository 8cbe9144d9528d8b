// Three gateway instances on one PostgreSQL and one Redis, loaded at once: balances, key spend
// limits and rate limits hold for all of them together, exactly; background jobs run on one
// instance at a time and move when it stops. (Losing an instance or Redis: cluster-faults.test.ts.)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLUSTER_SKIP, startCluster, type Res, type TestCluster } from '../helpers/cluster.ts';

const count = (rs: Res[], status: number) => rs.filter((r) => r.status === status).length;
const DEPLOY = new URL('../../deploy/', import.meta.url).pathname;
const haproxy = spawnSync('haproxy', ['-v']).status === 0;

describe('three instances on one PostgreSQL and Redis', { skip: CLUSTER_SKIP }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster(3);
  });
  after(async () => {
    await c?.close();
  });

  /** `n` requests at once, spread over the instances in turn. */
  const burst = (n: number, key: string, text = 'hi [[sim:latency=150]]') => Promise.all(Array.from({ length: n }, (_, i) => c.chat(c.nodes[i % c.nodes.length]!.url, key, text)));

  test('300 concurrent requests on a balance that covers exactly 40: 40 served, 260 refused 402, the ledger verifies', async () => {
    const who = await c.customer('0.40');
    const rs = await burst(300, who.key);
    assert.equal(count(rs, 200), 40, JSON.stringify(rs.filter((r) => r.status !== 200 && r.status !== 402).map((r) => r.body)));
    assert.equal(count(rs, 402), 260);
    assert.ok(rs.filter((r) => r.status === 402).every((r) => r.body.error.code === 'INSUFFICIENT_BALANCE'));
    // Every instance served some: the test would prove nothing if one took them all.
    await c.settle();
    const bal = await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`);
    assert.equal(bal.total, '0.00', 'spent to the nano-dollar, not beyond');
    assert.equal(bal.available, '0.00');
    const report = await c.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    // Holds released everywhere: the next request is refused for the balance, not for held money.
    const again = await c.chat(c.nodes[1]!.url, who.key);
    assert.equal(again.status, 402);
    assert.match(again.body.error.message, /has 0\.00 USD available/);
  });

  test('allowances: an abundant account is admitted in memory on every instance, then spent to the last cent across them (400 of 500)', async () => {
    // $4.00 covers 400 requests: abundant enough (16 times a slice of 16) for a slice on each instance.
    const who = await c.customer('4.00', { rpm: 100_000, tpm: 10_000_000, concurrency: 1000, limits: { day: '100.00' } });
    const local = () => c.nodes.reduce((n, s) => n + s.cluster.quotas!.allow.stats.local, 0);
    const before = local();
    // One after another on each instance (the first one last): after the first, slices are granted and used.
    let served = 0;
    for (const s of [c.nodes[1]!, c.nodes[2]!, c.nodes[0]!]) {
      for (let i = 0; i < 15; i++) {
        const r = await c.chat(s.url, who.key);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        served++;
      }
    }
    assert.ok(local() - before >= 20, `admitted under slices: ${local() - before} of ${served}`);
    // The rest at once on the two others: slices run dry or are recalled (unit test: allowances.test.ts),
    // and the balance is spent exactly.
    const rs = await Promise.all(Array.from({ length: 500 - served }, (_, i) => c.chat(c.nodes[1 + (i % 2)]!.url, who.key, 'hi [[sim:latency=50]]')));
    assert.equal(count(rs, 200) + served, 400, JSON.stringify(rs.filter((r) => r.status !== 200 && r.status !== 402).map((r) => r.body)));
    assert.ok(rs.filter((r) => r.status !== 200).every((r) => r.status === 402 && r.body.error.code === 'INSUFFICIENT_BALANCE'), JSON.stringify(rs.filter((r) => r.status !== 200 && r.body.error.code !== 'INSUFFICIENT_BALANCE').map((r) => [r.status, r.body])));
    await c.settle();
    const bal = await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`);
    assert.equal(bal.total, '0.00', 'spent to the nano-dollar, not beyond');
    const report = await c.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
  });

  test("a key's spend limit holds across instances under the same load", async () => {
    const who = await c.customer('5.00', { limits: { day: '0.25' } });
    const rs = await burst(120, who.key);
    assert.equal(count(rs, 200), 25, JSON.stringify(rs.filter((r) => r.status !== 200 && !(r.status === 402 && r.body.error.code === 'KEY_LIMIT_EXCEEDED')).map((r) => [r.status, r.body])));
    assert.equal(count(rs, 402), 95);
    assert.ok(rs.filter((r) => r.status === 402).every((r) => r.body.error.code === 'KEY_LIMIT_EXCEEDED'));
    await c.settle();
    const bal = await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`);
    assert.equal(bal.total, '4.75');
  });

  test('a global RPM of 60 across three instances: at most 60 accepted in the minute', async () => {
    const who = await c.customer('5.00', { rpm: 60 });
    const t0 = Date.now();
    const rs = await burst(150, who.key, 'hi');
    const more = await burst(30, who.key, 'hi');
    assert.ok(Date.now() - t0 < 60_000);
    assert.equal(count([...rs, ...more], 200), 60, 'three instances do not make three limits');
    const limited = [...rs, ...more].filter((r) => r.status === 429);
    assert.equal(limited.length, 120);
    assert.ok(limited.every((r) => r.body.error.code === 'RATE_LIMITED' && Number(r.headers.get('retry-after')) >= 1));
  });

  test('concurrency of a key is counted across instances', async () => {
    const who = await c.customer('5.00', { concurrency: 3 });
    const rs = await burst(12, who.key, 'slow [[sim:latency=400]]');
    assert.equal(count(rs, 200), 3);
    assert.equal(count(rs, 429), 9);
    // The slots come back when the requests end, on every instance.
    const after = await burst(3, who.key, 'hi');
    assert.equal(count(after, 200), 3);
  });

  test('redemption guessing is counted across instances', async () => {
    const who = await c.customer('0');
    const redeem = (i: number) =>
      fetch(`${c.nodes[i % 3]!.url}/account/v1/redeem`, { method: 'POST', headers: { authorization: `Bearer ${who.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ code: 'SR-AAAA-BBBB-CCCC-DDDD' }) });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await redeem(i)).status);
    // 10 failures in all, spread over three instances, then refused everywhere.
    assert.deepEqual(statuses, [...Array(10).fill(404), 429, 429]);
  });

  test('behind HAProxy with the config in deploy/: requests spread over the instances, the balance still exact', { skip: haproxy ? false : 'haproxy is not installed (apt-get install haproxy)' }, async () => {
    for (const f of ['haproxy.cfg', 'haproxy-compose.cfg']) {
      const check = spawnSync('haproxy', ['-c', '-f', join(DEPLOY, f)], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${f}: ${check.stdout}${check.stderr}`);
    }
    // deploy/haproxy.cfg as it is, with this test's ports.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const ports = c.nodes.map((s) => new URL(s.url).port);
    const cfg = readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8')
      .replace('127.0.0.1:8080', `127.0.0.1:${port}`)
      .replace(/127\.0\.0\.1:878([789])/g, (_m, d: string) => `127.0.0.1:${ports[Number(d) - 7]}`);
    const dir = mkdtempSync(join(tmpdir(), 'surety-lb-'));
    writeFileSync(join(dir, 'haproxy.cfg'), cfg);
    const lb = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
    try {
      const base = `http://127.0.0.1:${port}`;
      const t0 = Date.now();
      while ((await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) !== 200) {
        assert.ok(Date.now() - t0 < 5000, 'HAProxy did not come up');
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1500)); // its health checks have seen all three
      const who = await c.customer('0.20');
      const before = c.nodes.map((s) => s.gateway.gateway.writer.stats.queued);
      const rs = await Promise.all(Array.from({ length: 45 }, () => c.chat(base, who.key, 'hi [[sim:latency=100]]')));
      assert.equal(count(rs, 200), 20);
      assert.equal(count(rs, 402), 25);
      const served = c.nodes.map((s, i) => s.gateway.gateway.writer.stats.queued - before[i]!);
      assert.ok(served.every((n) => n > 0), `requests per instance: ${served}`);
      await c.settle();
      assert.equal((await c.admin('GET', `/admin/v1/accounts/${who.accountId}/balance`)).total, '0.00');
    } finally {
      lb.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('/readyz says the instances share their quotas (no warning)', async () => {
    const r = await fetch(`${c.nodes[2]!.url}/readyz`);
    const body = (await r.json()) as { status: string; warnings?: string[] };
    assert.equal(r.status, 200);
    assert.equal(body.warnings, undefined);
  });

  test('GET /admin/v1/instances lists the three, alive and sharing quotas, and who runs which job', async () => {
    const list = (await c.admin('GET', '/admin/v1/instances')).data as Array<{ id: string; alive: boolean; shared_quotas: boolean; url: string; jobs: string[] }>;
    const mine = list.filter((i) => c.nodes.some((s) => s.cluster.id === i.id));
    assert.equal(mine.length, 3);
    assert.ok(mine.every((i) => i.alive && i.shared_quotas));
    assert.deepEqual(new Set(mine.map((i) => i.url)), new Set(c.nodes.map((s) => s.url)));
    const holders = mine.filter((i) => i.jobs.includes('expire-holds'));
    assert.ok(holders.length <= 1, 'one runner per job');
  });
});
