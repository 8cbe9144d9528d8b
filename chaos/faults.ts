// Upstream faults: for a minute of mixed traffic, every fault kind the simulator has is injected
// at 20 %, one kind after another. Kinds of the fault schedule (errors, timeouts, resets, an
// upstream out of credit) hit the primary simulator only, so failover to the second one can save
// the request; kinds written into the request (a cut stream, a malformed body, a moderation
// refusal, no usage reported) hit every channel. Figures: requests billed on a not-billed
// outcome (target 0), the failover success rate, the p99 latency of the successful requests.
import { startSimulator } from '../src/sim/server.ts';
import type { SimFault } from '../src/sim/types.ts';
import { mayBill, type Outcome } from '../src/requests/outcomes.ts';
import { admin, cliVerify, freshStore, makeCustomers, ms, pct, sleep, spawnGateway, writeCatalog, type Report } from './harness.ts';
import { closedLoop, target, type Shot } from './load.ts';

interface FaultKind {
  name: string;
  /** On the primary simulator's schedule (failover can save the request). */
  schedule?: Omit<SimFault, 'model' | 'error_rate'>;
  /** Written into 20 % of the requests (every channel sees it); streams only when `streamOnly`. */
  directive?: string;
}

// Kinds of the schedule first, an upstream out of credit last of them (it takes the primary
// channels out for the longest cool-down); then the kinds written into requests. A request that
// fails on every channel also counts against the backup's circuit breaker, which sees only such
// requests: had they come first, the backup could be open when the primary needs it.
const KINDS: FaultKind[] = [
  { name: 'upstream 500', schedule: { mode: 'error', status: 500 } },
  { name: 'upstream 503', schedule: { mode: 'error', status: 503 } },
  { name: 'upstream 429', schedule: { mode: 'error', status: 429 } },
  { name: 'connection reset', schedule: { mode: 'reset', status: 503 } },
  { name: 'no answer (timeout)', schedule: { mode: 'timeout', status: 503 } },
  { name: 'upstream out of credit', schedule: { mode: 'quota', status: 429 } },
  { name: 'stream cut', directive: '[[sim:cut=3]][[sim:tokens=12]]' },
  { name: 'malformed body', directive: '[[sim:malformed]]' },
  { name: 'moderation refusal', directive: '[[sim:moderation]]' },
  { name: 'no usage reported', directive: '[[sim:usage=none]]' },
  { name: 'reset (every channel)', directive: '[[sim:reset]]' },
  { name: 'error 500 (every channel)', directive: '[[sim:error=500]]' },
];

export interface FaultOptions {
  seconds: number;
  random: () => number;
}

interface Row {
  id: string;
  outcome: Outcome;
  amount: bigint;
  attempts: string;
}

export async function faultScenario(report: Report, o: FaultOptions): Promise<void> {
  const name = 'upstream faults';
  const primary = await startSimulator({ port: 0, quiet: true });
  const backup = await startSimulator({ port: 0, quiet: true });
  const store = await freshStore('sqlite');
  // A short first-byte timeout, so that a held connection costs seconds, not minutes.
  const catalog = writeCatalog(store.dataDir, [primary.url, backup.url], { connect_ms: 1000, first_byte_ms: 2000, total_ms: 6000 });
  const gw = await spawnGateway({ ...store.env, SURETY_CONFIG: catalog });
  const t = target(gw.url);
  try {
    const keys = await makeCustomers(admin(gw.url), 3, 2, '500.00');
    let current: FaultKind = KINDS[0]!;
    let stop = false;
    const extra = () => (current.directive && o.random() < 0.2 ? current.directive : '');
    const shotsP = closedLoop(t, { concurrency: 16, keys, random: o.random, extra, stop: () => stop });
    const slot = (o.seconds * 1000) / KINDS.length;
    for (const kind of KINDS) {
      current = kind;
      primary.setFaults(kind.schedule ? [{ model: '*', error_rate: 0.2, ...kind.schedule }] : []);
      process.stderr.write(`    ${name}: ${kind.name} at 20 % for ${(slot / 1000).toFixed(1)} s\n`);
      await sleep(slot);
    }
    primary.setFaults([]);
    stop = true;
    const shots = await shotsP;
    await gw.kill('SIGTERM');
    const db = await store.open();
    let rows: Row[];
    try {
      rows = await db.all<Row>('SELECT id, outcome, amount, attempts FROM request_log');
    } finally {
      await db.close();
    }
    figures(report, name, shots, rows);
    const v = cliVerify(store);
    report.check(name, 'surety ledger verify after the run', v.ok ? 'passes' : v.output.slice(0, 300), 'passes', v.ok);
  } finally {
    await gw.kill('SIGKILL').catch(() => {});
    await t.agent.close().catch(() => {});
    await primary.close();
    await backup.close();
    await store.dispose();
  }
}

function figures(report: Report, name: string, shots: Shot[], rows: Row[]): void {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const answered = shots.filter((s) => s.id);
  const missing = answered.filter((s) => !byId.has(s.id!)).length;
  report.add(name, 'requests sent', `${shots.length} (${rows.length} rows)`);
  report.check(name, 'answered requests without a row (after a graceful stop)', missing, '0', missing === 0);
  const outcomes = new Map<string, number>();
  for (const r of rows) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
  report.add(name, 'outcomes', [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', '));
  const wronglyBilled = rows.filter((r) => !mayBill(r.outcome) && BigInt(r.amount) > 0n).length;
  report.check(name, 'requests billed on a not-billed outcome', wronglyBilled, '0', wronglyBilled === 0);
  // Failover: requests whose first attempt failed on the primary's schedule (a fault written into
  // the request fails on every channel alike); how many still ended ok.
  const everywhere = new Set(shots.filter((s) => s.extra && s.id).map((s) => s.id!));
  let firstFailed = 0;
  let saved = 0;
  const lostAs = new Map<string, number>();
  for (const r of rows) {
    if (everywhere.has(r.id)) continue;
    const attempts = JSON.parse(r.attempts || '[]') as Array<{ outcome: string }>;
    if (attempts.length === 0 || attempts[0]!.outcome === 'ok') continue;
    firstFailed++;
    if (r.outcome === 'ok') saved++;
    else {
      const how = `${attempts.map((a) => a.outcome).join('→')} ⇒ ${r.outcome}`;
      lostAs.set(how, (lostAs.get(how) ?? 0) + 1);
    }
  }
  if (lostAs.size) report.add(name, 'first attempt failed and not saved, by path', [...lostAs].map(([k, n]) => `${k}: ${n}`).join('; '));
  report.add(name, 'failover success rate (first attempt failed, request ended ok)', `${firstFailed ? ((100 * saved) / firstFailed).toFixed(1) : '—'} % (${saved} of ${firstFailed})`);
  const okLatency = shots.filter((s) => s.complete).map((s) => s.ms);
  report.add(name, 'latency of successful requests p50 / p99', `${ms(pct(okLatency, 50))} / ${ms(pct(okLatency, 99))}`);
  const crashed = shots.filter((s) => s.status >= 500 && s.code === 'INTERNAL').length;
  report.check(name, 'answers 500 INTERNAL (a bug)', crashed, '0', crashed === 0);
}
