// Load shedding: past SURETY_MAX_IN_FLIGHT the data plane refuses new requests at once with
// 503 OVERLOADED and retry-after, in the caller's API shape, before any hold or upstream call;
// they are logged as platform_error and never billed; the control plane still answers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

describe('load shedding (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway({ config: { maxInFlight: 2 } });
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const chat = async (content: string) => {
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
    });
    return { status: r.status, retryAfter: r.headers.get('retry-after'), id: r.headers.get('x-request-id')!, body: (await r.json()) as any };
  };

  test('beyond the in-flight limit: 503 OVERLOADED with retry-after, not sent upstream, not billed', async () => {
    const sim = g.s.sim!;
    const upstreamBefore = sim.requests().length;
    // Two slow requests fill the gateway; the next ones arrive while they are in flight.
    const slow = [chat('[[sim:latency=3000]] one'), chat('[[sim:latency=3000]] two')];
    while (g.s.gateway.gateway.requestsInFlight < 2) await new Promise((r) => setTimeout(r, 5));
    const shed = await Promise.all([chat('three'), chat('four')]);
    for (const r of shed) {
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'OVERLOADED');
      assert.equal(r.retryAfter, '1');
    }
    const admin = await g.adminRaw('GET', `/admin/v1/accounts/${c.accountId}/balance`);
    assert.equal(admin.status, 200, 'the control plane is not shed');
    const done = await Promise.all(slow);
    assert.deepEqual(done.map((r) => r.status), [200, 200]);
    assert.equal(sim.requests().length - upstreamBefore, 2, 'only the admitted requests went upstream');
    assert.equal((await chat('after')).status, 200, 'served again once there is room');
    await g.settle();
    for (const r of shed) {
      const row = await g.log(r.id);
      assert.equal(row.outcome, 'platform_error');
      assert.equal(row.error_code, 'OVERLOADED');
      assert.equal(row.amount, '0.00');
    }
    assert.ok(g.s.gateway.gateway.shedder.shed >= 2);
  });
});
