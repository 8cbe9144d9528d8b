// Crash: the gateway serves a mixed load (JSON and streams, three APIs, several accounts, keys with
// spend limits) and is killed with SIGKILL at a random moment; after each restart the invariants
// must hold. Kills alternate between the two durability modes, so that both are measured in one
// run: rows lost per kill (answers the client received in full that have no row) and latency.
import { startSimulator } from '../src/sim/server.ts';
import type { Db } from '../src/storage/port.ts';
import { verifyLedger } from '../src/billing/verify.ts';
import { admin, cliVerify, freshStore, makeCustomers, ms, pct, sleep, spawnGateway, writeCatalog, type ChaosKey, type Report, type Store } from './harness.ts';
import { closedLoop, target, type Shot } from './load.ts';

type Mode = 'batched' | 'strict';

interface ModeFigures {
  kills: number;
  lost: number[];
  oldestLostMs: number;
  latencies: number[];
  completed: number;
  /** Lost rows answered before rows that were kept (not the unflushed tail). */
  holes: number;
}

/** How far the client's view of answer order may differ from the order the gateway settled them in. */
const HOLE_SLACK_MS = 250;

export interface CrashOptions {
  kills: number;
  engines: Array<'sqlite' | 'postgres'>;
  random: () => number;
  flushMs: number;
}

export async function crashScenario(report: Report, o: CrashOptions): Promise<void> {
  const sim = await startSimulator({ port: 0, quiet: true });
  try {
    for (const engine of o.engines) await crashEngine(report, o, engine, sim.url);
  } finally {
    await sim.close();
  }
}

async function crashEngine(report: Report, o: CrashOptions, engine: 'sqlite' | 'postgres', simUrl: string): Promise<void> {
  const store = await freshStore(engine);
  const name = `crash (${engine})`;
  const catalog = writeCatalog(store.dataDir, [simUrl]);
  const envOf = (mode: Mode) => ({ ...store.env, SURETY_CONFIG: catalog, SURETY_DURABILITY: mode, SURETY_FLUSH_MS: String(o.flushMs) });
  const figures: Record<Mode, ModeFigures> = {
    batched: { kills: 0, lost: [], oldestLostMs: 0, latencies: [], completed: 0, holes: 0 },
    strict: { kills: 0, lost: [], oldestLostMs: 0, latencies: [], completed: 0, holes: 0 },
  };
  const broken: string[] = [];
  const modeOf = (i: number): Mode => (i % 2 === 0 ? 'batched' : 'strict');
  let gw = await spawnGateway(envOf(modeOf(0)));
  const keys = await makeCustomers(admin(gw.url), 3, 3);
  const db = await store.open();
  try {
    for (let i = 0; i < o.kills; i++) {
      const mode = modeOf(i);
      const { shots, killedAt } = await loadThenKill(gw, keys, o.random, 300 + o.random() * 900);
      // The restart (in the next round's mode): before any new load, the invariants must hold.
      gw = await spawnGateway(envOf(modeOf(i + 1)));
      // `surety ledger verify` itself after the last kill; its checks (verifyLedger) after every one.
      broken.push(...(await invariants(db, store, `after kill ${i + 1}`, i === o.kills - 1)));
      const f = figures[mode];
      f.kills++;
      const { lost, newestKept } = await missingRows(db, shots);
      f.lost.push(lost.length);
      for (const s of lost) {
        f.oldestLostMs = Math.max(f.oldestLostMs, killedAt - s.end);
        // Rows are committed in the order requests settle: a lost row answered well before the
        // newest row that was kept is a hole in the log, not the unflushed tail.
        if (s.end < newestKept - HOLE_SLACK_MS) f.holes++;
      }
      const done = shots.filter((s) => s.complete);
      f.completed += done.length;
      for (const s of done) if (!s.kind.endsWith('stream')) f.latencies.push(s.ms);
      process.stderr.write(`    ${name} kill ${i + 1}/${o.kills} (${mode}): ${done.length} answered in full, ${lost.length} without a row\n`);
    }
  } finally {
    await gw.kill('SIGTERM').catch(() => {});
    await db.close().catch(() => {});
    await store.dispose();
  }
  report.check(name, 'kills (SIGKILL under load)', figures.batched.kills + figures.strict.kills, `${o.kills}`, figures.batched.kills + figures.strict.kills === o.kills);
  report.check(name, 'restarts with an invariant broken (ledger verify, charge without row, hold past TTL, key spend ≠ charges)', broken.length, '0', broken.length === 0);
  for (const b of broken.slice(0, 5)) process.stderr.write(`      ${b}\n`);
  for (const mode of ['batched', 'strict'] as const) {
    const f = figures[mode];
    const lost = f.lost.reduce((a, b) => a + b, 0);
    const lostText = `${lost} in ${f.kills} kills (max ${Math.max(0, ...f.lost)} per kill; ${f.completed} answered in full)`;
    if (mode === 'strict') report.check(name, 'strict: answered in full, row lost', lostText, '0', lost === 0);
    // Batched: only answers from the last group-commit interval (plus the commit in progress) may be lost.
    else {
      report.add(name, 'batched: answered in full, row lost', `${lostText}; oldest ${f.oldestLostMs} ms before the kill`, `the unflushed tail only (${o.flushMs} ms + the commit in progress)`);
      report.check(name, 'batched: rows lost that were not in the unflushed tail', f.holes, '0', f.holes === 0);
    }
    report.add(name, `${mode}: latency of JSON answers p50 / p99`, `${ms(pct(f.latencies, 50))} / ${ms(pct(f.latencies, 99))}`);
  }
}

/** Load until a random moment, then SIGKILL: the moment of the kill and every shot. */
async function loadThenKill(gw: Awaited<ReturnType<typeof spawnGateway>>, keys: ChaosKey[], random: () => number, afterMs: number): Promise<{ shots: Shot[]; killedAt: number }> {
  const t = target(gw.url);
  let killed = false;
  // Streams long enough to be cut by the kill; JSON answers with a little latency.
  const extra = (kind: string) => (kind.endsWith('stream') ? `[[sim:tokens=${8 + Math.floor(random() * 24)}]][[sim:chunk_ms=2]]` : '[[sim:latency=2]]');
  const loop = closedLoop(t, { concurrency: 12, keys, random, extra, stop: () => killed });
  // A hold that expires while the gateway is down: it must not survive the restart.
  const k = keys[Math.floor(random() * keys.length)]!;
  await admin(gw.url).raw('POST', `/admin/v1/accounts/${k.accountId}/holds`, { amount: '0.01', ttl_seconds: 1 }, { 'idempotency-key': `chaos-hold-${Date.now()}-${random()}` });
  await sleep(afterMs);
  const killedAt = Date.now();
  killed = true;
  await gw.kill('SIGKILL');
  const shots = await loop;
  await t.agent.close().catch(() => {});
  return { shots, killedAt };
}

/** Answers the client received in full whose row is not in storage, and when the newest kept one ended. */
async function missingRows(db: Db, shots: Shot[]): Promise<{ lost: Shot[]; newestKept: number }> {
  const done = shots.filter((s) => s.complete && s.id);
  const found = new Set<string>();
  for (let i = 0; i < done.length; i += 500) {
    const ids = done.slice(i, i + 500).map((s) => s.id!);
    const rows = await db.all<{ id: string }>(`SELECT id FROM request_log WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
    for (const r of rows) found.add(r.id);
  }
  const newestKept = Math.max(0, ...done.filter((s) => found.has(s.id!)).map((s) => s.end));
  return { lost: done.filter((s) => !found.has(s.id!)), newestKept };
}

/** The invariants after a restart; each broken one as a line. */
export async function invariants(db: Db, store: Store, when: string, command: boolean): Promise<string[]> {
  const out: string[] = [];
  if (command) {
    const v = cliVerify(store);
    if (!v.ok) out.push(`${when}: surety ledger verify failed: ${v.output.slice(0, 600)}`);
  } else {
    const r = await verifyLedger(db);
    if (!r.ok) out.push(`${when}: ledger verification failed: ${JSON.stringify(r.problems.slice(0, 3))}`);
  }
  const now = Date.now();
  const holds = await db.get<{ n: bigint }>("SELECT COUNT(*) AS n FROM holds WHERE status = 'open' AND expires_at <= ?", [now]);
  if (Number(holds?.n ?? 0) > 0) out.push(`${when}: ${holds!.n} open holds past their TTL`);
  const charged = await db.get<{ n: bigint }>("SELECT COUNT(*) AS n FROM ledger_tx t WHERE t.kind = 'usage' AND NOT EXISTS (SELECT 1 FROM request_log l WHERE l.tx_id = t.id)");
  if (Number(charged?.n ?? 0) > 0) out.push(`${when}: ${charged!.n} usage charges without a log row`);
  const spend = await db.all<{ key_id: string; spent: bigint; logged: bigint }>(
    `SELECT k.id AS key_id, COALESCE(s.amount, 0) AS spent, COALESCE(l.total, 0) AS logged
       FROM api_keys k
       LEFT JOIN key_spend s ON s.key_id = k.id AND s.period = 't'
       LEFT JOIN (SELECT key_id, SUM(amount) AS total FROM request_log WHERE key_id IS NOT NULL GROUP BY key_id) l ON l.key_id = k.id`,
  );
  for (const r of spend) if (BigInt(r.spent) !== BigInt(r.logged)) out.push(`${when}: key ${r.key_id} spend counter ${r.spent} ≠ its charges ${r.logged}`);
  return out;
}
