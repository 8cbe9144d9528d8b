// Overload: the sustainable rate is measured first (a closed loop), then requests are offered at
// ten times that rate, open loop, for 30 s. Memory must stay bounded, load must be shed with
// 429/503 and retry-after (never a 500, never a crash), every answered request must keep its row,
// and the time the gateway takes to serve normally again is reported.
import { admin, cliVerify, freshStore, makeCustomers, ms, pct, sleep, spawnGateway, spawnSim, writeCatalog, type ChaosKey, type Report } from './harness.ts';
import { closedLoop, shoot, target, type Kind, type Shot, type Target } from './load.ts';

export interface OverloadOptions {
  seconds: number;
  random: () => number;
}

/** Peak RSS the gateway may reach under overload (DESIGN's budget is 256 MB at its nominal load). */
const RSS_BOUND_MB = 512;

export async function overloadScenario(report: Report, o: OverloadOptions): Promise<void> {
  const name = 'overload';
  // The upstream in a process of its own: the overload is the gateway's, not the simulator's.
  const sim = await spawnSim();
  const store = await freshStore('sqlite');
  const catalog = writeCatalog(store.dataDir, [sim.url]);
  const gw = await spawnGateway({ ...store.env, SURETY_CONFIG: catalog });
  const t = target(gw.url, 1024);
  try {
    const keys = await makeCustomers(admin(gw.url), 2, 2, '100000.00');
    const kinds: Kind[] = ['openai', 'openai', 'anthropic', 'gemini', 'openai-stream'];
    // Baseline: the latency of one request at a time, then the sustainable rate (a closed loop).
    const base: number[] = [];
    for (let i = 0; i < 20; i++) base.push((await shoot(t, 'openai', keys[0]!)).ms);
    let stop = false;
    const t0 = Date.now();
    const closed = await (async () => {
      const p = closedLoop(t, { concurrency: 128, keys, random: o.random, kinds, stop: () => stop });
      await sleep(4000);
      stop = true;
      return p;
    })();
    const sustainable = closed.filter((s) => s.complete).length / ((Date.now() - t0) / 1000);
    report.add(name, 'sustainable rate (closed loop, 128 connections)', `${sustainable.toFixed(0)} req/s`);
    report.add(name, 'baseline latency, one at a time, p50', ms(pct(base, 50)));
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(gw.rssMb()), 250);
    const offered = Math.max(50, Math.round(sustainable * 10));
    const { shots, skipped, seconds, stoppedAt } = await openLoop(t, offered, o.seconds, keys, kinds, o.random);
    // From the moment the overload stops (outstanding requests still finishing).
    const probe = await timeToRecover(t, keys[0]!, pct(base, 50));
    const recovery = probe === null ? null : Date.now() - stoppedAt;
    clearInterval(sampler);
    const alive = gw.child.exitCode === null && gw.child.signalCode === null;
    report.check(name, 'gateway process alive', alive ? 'yes' : `exited: ${gw.stderr().slice(-300)}`, 'yes', alive);
    report.add(name, 'offered (10× sustainable), open loop', `${offered} req/s for ${o.seconds} s; sent ${(shots.length / seconds).toFixed(0)} req/s${skipped ? `, ${skipped} not sent (client-side cap on outstanding requests)` : ''}`);
    const served = shots.filter((s) => s.complete);
    const shedAnswers = shots.filter((s) => s.status === 429 || s.status === 503);
    const noRetryAfter = shedAnswers.filter((s) => !s.retryAfter).length;
    const byStatus = new Map<string, number>();
    for (const s of shots) byStatus.set(s.status === 0 ? 'no answer' : `${s.status}${s.code ? ` ${s.code}` : ''}`, (byStatus.get(s.status === 0 ? 'no answer' : `${s.status}${s.code ? ` ${s.code}` : ''}`) ?? 0) + 1);
    report.add(name, 'answers by status', [...byStatus].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', '));
    report.add(name, 'served during the overload', `${(served.length / seconds).toFixed(0)} req/s (${((100 * served.length) / Math.max(1, shots.length)).toFixed(1)} % of offered); p50 / p99 ${ms(pct(served.map((s) => s.ms), 50))} / ${ms(pct(served.map((s) => s.ms), 99))}`);
    report.check(name, 'shed answers (429/503) without retry-after', noRetryAfter, '0', noRetryAfter === 0);
    const bugs = shots.filter((s) => s.status === 500).length;
    report.check(name, 'answers 500 (a bug)', bugs, '0', bugs === 0);
    const peak = Math.max(0, ...rss);
    report.check(name, 'gateway peak RSS during the overload', `${peak.toFixed(0)} MB`, `≤ ${RSS_BOUND_MB} MB`, peak > 0 && peak <= RSS_BOUND_MB);
    report.check(name, 'time to recover after the overload stops (5 requests in a row served within 3× the baseline latency)', recovery === null ? 'did not recover in 60 s' : ms(recovery), 'recovers', recovery !== null);
    await gw.kill('SIGTERM');
    const db = await store.open();
    try {
      const ids = served.filter((s) => s.id).map((s) => s.id!);
      let found = 0;
      for (let i = 0; i < ids.length; i += 500) {
        const part = ids.slice(i, i + 500);
        found += (await db.all(`SELECT id FROM request_log WHERE id IN (${part.map(() => '?').join(', ')})`, part)).length;
      }
      report.check(name, 'served requests without a row (after a graceful stop)', ids.length - found, '0', ids.length === found);
    } finally {
      await db.close();
    }
    const v = cliVerify(store);
    report.check(name, 'surety ledger verify after the run', v.ok ? 'passes' : v.output.slice(0, 300), 'passes', v.ok);
  } finally {
    await gw.kill('SIGKILL').catch(() => {});
    await t.agent.close().catch(() => {});
    await sim.stop();
    await store.dispose();
  }
}

/** Requests at `rate` per second whatever happens to them (open loop), for `seconds`. */
async function openLoop(t: Target, rate: number, seconds: number, keys: ChaosKey[], kinds: Kind[], random: () => number): Promise<{ shots: Shot[]; skipped: number; seconds: number; stoppedAt: number }> {
  const shots: Shot[] = [];
  const pending = new Set<Promise<void>>();
  // The generator shares the machine: past this many outstanding requests it stops adding more.
  const maxOutstanding = 4000;
  let sent = 0;
  let skipped = 0;
  const start = Date.now();
  const until = start + seconds * 1000;
  while (Date.now() < until) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate);
    for (; sent < due; sent++) {
      if (pending.size >= maxOutstanding) {
        skipped++;
        continue;
      }
      const kind = kinds[Math.floor(random() * kinds.length)]!;
      const key = keys[Math.floor(random() * keys.length)]!;
      const p: Promise<void> = shoot(t, kind, key, '', AbortSignal.timeout(30_000)).then((s) => {
        shots.push(s);
        pending.delete(p);
      });
      pending.add(p);
    }
    await sleep(5);
  }
  const stoppedAt = Date.now();
  await Promise.all(pending);
  return { shots, skipped, seconds: (stoppedAt - start) / 1000, stoppedAt };
}

/** Milliseconds until 5 requests in a row are served within 3× the baseline latency; null after 60 s. */
async function timeToRecover(t: Target, key: ChaosKey, baseP50: number): Promise<number | null> {
  const start = Date.now();
  let inRow = 0;
  while (Date.now() - start < 60_000) {
    const s = await shoot(t, 'openai', key);
    inRow = s.complete && s.ms <= Math.max(3 * baseP50, 20) ? inRow + 1 : 0;
    if (inRow >= 5) return Date.now() - start;
    await sleep(20);
  }
  return null;
}
