// Money races: on one account, at once — data-plane spends, top-ups (some retried with the same
// Idempotency-Key), refunds asked and approved, redemption codes (each redeemed twice at once),
// goodwill credits (some retried), holds posted or voided. Afterwards `surety ledger verify`
// passes and the balance is exactly what the clients were told moved, and what the ledger says.
import { startSimulator } from '../src/sim/server.ts';
import { admin, cliVerify, freshStore, spawnGateway, writeCatalog, type Admin, type Report } from './harness.ts';
import { shoot, target } from './load.ts';

export interface MoneyOptions {
  engines: Array<'sqlite' | 'postgres'>;
  random: () => number;
  rounds: number;
}

const nano = (s: string): bigint => {
  const neg = s.startsWith('-');
  const [i, f = ''] = s.replace('-', '').split('.');
  const v = BigInt(i!) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9));
  return neg ? -v : v;
};

export async function moneyScenario(report: Report, o: MoneyOptions): Promise<void> {
  const sim = await startSimulator({ port: 0, quiet: true });
  try {
    for (const engine of o.engines) await race(report, o, engine, sim.url);
  } finally {
    await sim.close();
  }
}

/** What the clients were told moved, in nano-USD. */
interface Told {
  moved: bigint;
  ops: Map<string, number>;
}

async function race(report: Report, o: MoneyOptions, engine: 'sqlite' | 'postgres', simUrl: string): Promise<void> {
  const name = `money races (${engine})`;
  const store = await freshStore(engine);
  const gw = await spawnGateway({ ...store.env, SURETY_CONFIG: writeCatalog(store.dataDir, [simUrl]) });
  const t = target(gw.url);
  try {
    const a = admin(gw.url);
    const acct = await a.call('POST', '/admin/v1/accounts', { name: 'racer' });
    const key = await a.call('POST', `/admin/v1/accounts/${acct.id}/keys`, { name: 'racer' });
    const told: Told = { moved: 0n, ops: new Map() };
    const note = (op: string, amount: bigint) => {
      told.moved += amount;
      told.ops.set(op, (told.ops.get(op) ?? 0) + 1);
    };
    const first = await a.call('POST', `/admin/v1/accounts/${acct.id}/topups`, { amount: '500.00', method: 'other', reference: 'race', refundable: true }, { 'idempotency-key': 'race-fund' });
    note('top-up', nano(first.amount));
    const codes: string[] = (await a.call('POST', '/admin/v1/redemption-batches', { count: Math.ceil(o.rounds / 10), amount: '1.00' })).codes;
    const ck = { accountId: acct.id, keyId: key.id, key: key.key };
    let next = 0;
    const op = async (i: number): Promise<void> => {
      const r = o.random();
      if (r < 0.4) {
        const s = await shoot(t, o.random() < 0.5 ? 'openai' : 'openai-stream', ck);
        if (s.complete) note('spend', -(await costOf(a, s.id!, s.text)));
      } else if (r < 0.5) {
        // The same top-up twice at once: one movement.
        const idem = `race-top-${i}`;
        const body = { amount: '2.00', method: 'other', reference: `race ${i}`, refundable: true };
        const rs = await Promise.all([0, 1].map(() => a.raw('POST', `/admin/v1/accounts/${acct.id}/topups`, body, { 'idempotency-key': idem })));
        const fresh = rs.filter((x) => x.status === 201 && x.headers.get('idempotent-replayed') !== 'true');
        for (const x of fresh) note('top-up', nano(x.body.amount));
      } else if (r < 0.6) {
        const code = codes[next++ % codes.length]!;
        const rs = await Promise.all([0, 1].map(() => a.raw('POST', `/admin/v1/accounts/${acct.id}/redeem`, { code })));
        for (const x of rs) if (x.status < 300) note('redemption', nano(x.body.amount));
      } else if (r < 0.7) {
        const idem = `race-credit-${i}`;
        const rs = await Promise.all([0, 1].map(() => a.raw('POST', `/admin/v1/accounts/${acct.id}/credits`, { amount: '0.50', memo: `race ${i}` }, { 'idempotency-key': idem })));
        const fresh = rs.filter((x) => x.status === 201 && x.headers.get('idempotent-replayed') !== 'true');
        for (const x of fresh) note('credit', nano(x.body.amount));
      } else if (r < 0.8) {
        const rq = await a.raw('POST', `/admin/v1/accounts/${acct.id}/refunds`, { topup_id: first.id, amount: '0.25', reason: 'race' }, { 'idempotency-key': `race-refund-${i}` });
        if (rq.status === 201) {
          const ap = await a.raw('POST', `/admin/v1/refunds/${rq.body.id}/approve`, {});
          if (ap.status === 200) note('refund', -(nano(ap.body.payout) + nano(ap.body.fee) + nano(ap.body.bonus_clawback ?? '0')));
        }
      } else {
        const h = await a.raw('POST', `/admin/v1/accounts/${acct.id}/holds`, { amount: '0.30', ttl_seconds: 60 }, { 'idempotency-key': `race-hold-${i}` });
        if (h.status === 201) {
          if (o.random() < 0.5) {
            const p = await a.raw('POST', `/admin/v1/holds/${h.body.id}/post`, { amount: '0.20' }, { 'idempotency-key': `race-post-${i}` });
            if (p.status < 300) note('hold posted', -nano('0.20'));
          } else {
            await a.raw('POST', `/admin/v1/holds/${h.body.id}/void`);
          }
        }
      }
    };
    let i = 0;
    await Promise.all(Array.from({ length: 12 }, async () => {
      while (i < o.rounds) await op(i++);
    }));
    // Let the group commit land the last charges, then compare.
    await new Promise((r) => setTimeout(r, 500));
    const b = await a.call('GET', `/admin/v1/accounts/${acct.id}/balance`);
    report.add(name, 'operations (each money-moving call sent twice at once where it takes a key)', [...told.ops].map(([k, n]) => `${k} ${n}`).join(', '));
    report.check(name, 'balance − what the clients were told moved', `${(nano(b.total) - told.moved).toString()} nano-USD`, '0', nano(b.total) === told.moved);
    const db = await store.open();
    try {
      const sum = await db.get<{ s: bigint | null }>('SELECT CAST(SUM(e.amount) AS BIGINT) AS s FROM ledger_entries e JOIN books k ON k.code = e.book WHERE k.account_id = ?', [acct.id]);
      const fromLedger = -BigInt(sum?.s ?? 0);
      const agree = fromLedger === nano(b.total) || BigInt(sum?.s ?? 0) === nano(b.total);
      report.check(name, 'balance = the sum of the account\'s journal entries', agree ? 'equal' : `${b.total} vs ${sum?.s}`, 'equal', agree);
    } finally {
      await db.close();
    }
    const v = cliVerify(store);
    report.check(name, 'surety ledger verify', v.ok ? 'passes' : v.output.slice(0, 300), 'passes', v.ok);
  } finally {
    await gw.kill('SIGKILL').catch(() => {});
    await t.agent.close().catch(() => {});
    await store.dispose();
  }
}

/** What a served request cost: x-surety-cost for JSON; the log row's amount for a stream. */
async function costOf(a: Admin, id: string, _text: string): Promise<bigint> {
  for (let tries = 0; tries < 100; tries++) {
    const r = await a.raw('GET', `/admin/v1/logs/${id}`);
    if (r.status === 200) return nano(r.body.amount);
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no row for ${id}`);
}

