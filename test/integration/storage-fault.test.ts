// Storage down under the data plane: charges and rows wait in memory and are retried; once several
// flushes have failed, billable requests are refused as platform_error (503) before anything goes
// upstream; when storage is back every row lands with its charge, and the ledger still verifies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const CHAT = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

describe('storage faults (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const chat = async (content: string) => {
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(CHAT(content)),
    });
    return { status: r.status, id: r.headers.get('x-request-id')!, body: (await r.json()) as any };
  };
  const waitFor = async (what: string, cond: () => boolean, ms = 10_000) => {
    const until = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  test('refuses billable work while the log cannot be written, and loses nothing', async () => {
    const writer = g.s.gateway.gateway.writer;
    const sim = g.s.sim!;
    const first = await chat('before the fault');
    assert.equal(first.status, 200);
    await g.settle();

    // Storage breaks: the request log table is gone.
    await g.s.rt.db.run('ALTER TABLE request_log RENAME TO request_log_away');
    const during = await chat('while storage is failing');
    assert.equal(during.status, 200, 'served: its row and charge wait in memory');
    await waitFor('the writer to give up accepting work', () => !writer.healthy);

    const upstreamBefore = sim.requests().length;
    const refused = await chat('refused');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'STORAGE_UNAVAILABLE');
    assert.equal(sim.requests().length, upstreamBefore, 'nothing was sent upstream');
    const unready = await fetch(`${g.url}/readyz`);
    assert.equal(unready.status, 503, '/readyz tells the truth while the log cannot be written');
    assert.match(((await unready.json()) as any).error.message, /request log cannot be written/);

    // Storage is back: the backlog lands, in order, with its charges.
    await g.s.rt.db.run('ALTER TABLE request_log_away RENAME TO request_log');
    await waitFor('the backlog to flush', () => writer.healthy && writer.pending === 0);
    assert.equal((await fetch(`${g.url}/readyz`)).status, 200);
    const okAgain = await chat('after the fault');
    assert.equal(okAgain.status, 200);
    await g.settle();

    const rows = await Promise.all([first, during, refused, okAgain].map((r) => g.log(r.id)));
    assert.deepEqual(rows.map((r) => r.outcome), ['ok', 'ok', 'platform_error', 'ok']);
    assert.equal(rows[2].amount, '0.00');
    assert.equal(rows[2].error_code, 'STORAGE_UNAVAILABLE');
    for (const r of [rows[0], rows[1], rows[3]]) assert.ok(usd(r.amount) > 0n && r.tx_id, `${r.id} charged with its usage transaction`);
    const charged = rows.reduce((s, r) => s + usd(r.amount), 0n);
    const b = await g.balance(c.accountId);
    assert.equal(usd('5.00') - usd(b.total), charged, 'the balance moved by exactly the logged charges');
    assert.equal(b.held, '0.00');
    const report = await g.verify();
    assert.ok(report.ok, JSON.stringify(report.problems));
  });
});
