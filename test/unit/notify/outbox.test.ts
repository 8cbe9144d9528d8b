// The ONE outbox (notify/outbox.ts) on every engine: the signature a receiver checks, routing by
// account and topic, enqueue inside a transaction (rolled back: nothing sent), idempotent keys,
// and real HTTP deliveries to a local receiver with retries, exponential backoff and giving up.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../../src/accounts/accounts.ts';
import { createEndpoint, disableEndpoint, listDeliveries, retryDelivery } from '../../../src/notify/endpoints.ts';
import { backoffMs, deliverDue, enqueue, signPayload, verifySignature, type DeliveryPolicy } from '../../../src/notify/outbox.ts';
import { engines } from '../../helpers/engines.ts';
import { createTestApp, idem, type TestApp } from '../../helpers/runtime.ts';

test('the signature: HMAC-SHA256 over "t.body"; a changed body, another secret or a stale time fail', () => {
  const body = '{"id":"evt_1","topic":"incident.updated"}';
  const h = signPayload('whsec_abc', body, 1_700_000_000);
  assert.match(h, /^t=1700000000,v1=[0-9a-f]{64}$/);
  // The value a customer gets with `openssl dgst -sha256 -hmac whsec_abc` over "1700000000.<body>".
  assert.equal(h.split('v1=')[1], '0bb5008196263e71ec238a0aecac1b62af5034ae038025f3289c109994a1be34');
  assert.equal(verifySignature('whsec_abc', h, body, 1_700_000_010), true);
  assert.equal(verifySignature('whsec_abc', h, `${body} `, 1_700_000_010), false, 'body changed');
  assert.equal(verifySignature('whsec_other', h, body, 1_700_000_010), false, 'another secret');
  assert.equal(verifySignature('whsec_abc', h, body, 1_700_000_000 + 301), false, 'older than the 5-minute tolerance');
  assert.equal(verifySignature('whsec_abc', 'v1=deadbeef', body, 1_700_000_000), false, 'no timestamp');
  assert.equal(verifySignature('whsec_abc', `t=1700000000,v1=${'0'.repeat(64)},${h.split(',')[1]}`, body, 1_700_000_000), true, 'any of several v1 values');
});

test('backoff doubles from the base and stops at the cap', () => {
  const p = { baseDelayMs: 30_000, maxDelayMs: 3_600_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffMs(n, p)), [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]);
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real webhook receiver: answers each request with the next status of `script` (then 200). */
async function receiver(script: number[]): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(script.shift() ?? 200).end('ok');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const a = server.address() as { port: number };
  return { url: `http://127.0.0.1:${a.port}/hook`, got, server };
}

const FAST: DeliveryPolicy = { baseDelayMs: 1_000, maxDelayMs: 8_000, maxAttempts: 3, timeoutMs: 5_000, batch: 50 };

for (const engine of engines()) {
  describe(`outbox (${engine})`, () => {
    let t: TestApp;
    let a: string;
    let b: string;
    before(async () => {
      t = await createTestApp(engine);
      a = (await createAccount(t.op, { name: 'A' })).id;
      b = (await createAccount(t.op, { name: 'B' })).id;
    });
    after(async () => t?.close());

    const pending = async () => (await t.rt.db.all("SELECT * FROM outbox WHERE status = 'pending'")).length;
    const clear = () => t.rt.db.run("UPDATE outbox SET status = 'failed' WHERE status = 'pending'");

    test('routing: an account endpoint gets its account only, an operator endpoint every account, by topic; keys are idempotent; a rolled-back action sends nothing', async () => {
      await clear();
      const ea = (await createEndpoint(t.op, a, { url: 'http://127.0.0.1:9/a', topics: ['credit.*'] })).endpoint;
      const eb = (await createEndpoint(t.op, b, { url: 'http://127.0.0.1:9/b' })).endpoint;
      const eo = (await createEndpoint(t.op, null, { url: 'http://127.0.0.1:9/o', topics: ['credit.reissued', 'incident.*'] })).endpoint;
      const key = idem('evt');
      assert.equal(await t.rt.db.tx((q) => enqueue(q, { topic: 'credit.reissued', accountId: a, payload: { amount: '1.00' }, key })), 2, 'A and the operator');
      assert.equal(await t.rt.db.tx((q) => enqueue(q, { topic: 'credit.reissued', accountId: a, payload: { amount: '1.00' }, key })), 0, 'same key: nothing new');
      assert.equal(await t.rt.db.tx((q) => enqueue(q, { topic: 'incident.updated', accountId: a, payload: {}, key: idem() })), 1, "A's endpoint takes credit.* only");
      assert.equal(await t.rt.db.tx((q) => enqueue(q, { topic: 'status.changed', accountId: null, payload: {}, key: idem() })), 0, 'nobody listens');
      const onlyA = await t.rt.db.tx((q) => enqueue(q, { topic: 'credit.reissued', accountId: a, operator: false, payload: {}, key: idem() }));
      assert.equal(onlyA, 1, "operator: false — the account's endpoint only");
      await assert.rejects(
        t.rt.db.tx(async (q) => {
          await enqueue(q, { topic: 'credit.reissued', accountId: b, payload: {}, key: idem() });
          throw new Error('the action failed');
        }),
        /the action failed/,
      );
      const rows = await t.rt.db.all("SELECT endpoint_id, topic, event_id FROM outbox WHERE status = 'pending' ORDER BY id");
      assert.deepEqual(rows.map((r) => `${r.endpoint_id}:${r.topic}`), [`${ea.id}:credit.reissued`, `${eo.id}:credit.reissued`, `${eo.id}:incident.updated`, `${ea.id}:credit.reissued`]);
      assert.equal(rows[0]!.event_id, rows[1]!.event_id, 'one event id for every endpoint');
      assert.equal(eb.account_id, b);
      // A customer sees only its own account's deliveries.
      const custA = (await listDeliveries({ ...t.op, actor: { type: 'customer', accountId: a, keyId: 'k', memberId: null, role: 'admin' } }, a, {})).map((d) => d.endpoint_id);
      assert.ok(custA.length > 0 && custA.every((id) => id === ea.id));
      for (const [owner, e] of [[a, ea], [b, eb], [null, eo]] as const) await disableEndpoint(t.op, owner, e.id);
      assert.equal(await pending(), 0, 'disabled endpoints give up their pending deliveries');
    });

    test('delivery: signed POSTs, 500 then 200 delivered on the second attempt after the backoff; giving up after maxAttempts; a manual retry', async () => {
      await clear();
      const rcv = await receiver([500]);
      try {
        const { endpoint, secret } = await createEndpoint(t.op, a, { url: rcv.url, topics: ['*'] });
        const start = t.clock.now();
        await t.rt.db.tx((q) => enqueue(q, { topic: 'credit.reissued', accountId: a, payload: { incident_id: 'inc_1', amount: '2.50' }, key: idem(), at: start }));
        assert.deepEqual(await deliverDue(t.rt.db, t.clock.now, FAST), { delivered: 0, retried: 1, failed: 0 });
        assert.deepEqual(await deliverDue(t.rt.db, t.clock.now, FAST), { delivered: 0, retried: 0, failed: 0 }, 'not due before the backoff');
        t.clock.advance(1_000);
        assert.deepEqual(await deliverDue(t.rt.db, t.clock.now, FAST), { delivered: 1, retried: 0, failed: 0 });
        assert.equal(rcv.got.length, 2);
        for (const [i, r] of rcv.got.entries()) {
          assert.equal(r.headers['surety-attempt'], String(i + 1));
          assert.equal(verifySignature(secret, String(r.headers['surety-signature']), r.body, Math.floor(t.clock.now() / 1000)), true, 'the receiver can verify it');
          assert.equal(verifySignature('whsec_wrong', String(r.headers['surety-signature']), r.body, Math.floor(t.clock.now() / 1000)), false);
        }
        const ev = JSON.parse(rcv.got[1]!.body);
        assert.deepEqual([ev.topic, ev.account_id, ev.data], ['credit.reissued', a, { incident_id: 'inc_1', amount: '2.50' }]);
        assert.equal(rcv.got[0]!.headers['surety-event-id'], ev.id, 'the same event id on every attempt');
        const [d] = await listDeliveries(t.op, null, { endpoint_id: endpoint.id });
        assert.deepEqual([d!.status, d!.attempts, d!.last_status], ['delivered', 2, 200]);

        // A receiver that always fails: 1 s, then 2 s, then given up at the third attempt.
        rcv.got.length = 0;
        const fails = await receiver([503, 503, 503, 503]);
        try {
          const bad = await createEndpoint(t.op, b, { url: fails.url });
          await t.rt.db.tx((q) => enqueue(q, { topic: 'incident.updated', accountId: b, payload: {}, key: idem(), at: t.clock.now() }));
          await deliverDue(t.rt.db, t.clock.now, FAST);
          let [x] = await listDeliveries(t.op, null, { endpoint_id: bad.endpoint.id });
          assert.deepEqual([x!.status, x!.attempts, x!.next_attempt_at - t.clock.now(), x!.last_error], ['pending', 1, 1_000, 'HTTP 503']);
          t.clock.advance(1_000);
          await deliverDue(t.rt.db, t.clock.now, FAST);
          [x] = await listDeliveries(t.op, null, { endpoint_id: bad.endpoint.id });
          assert.deepEqual([x!.attempts, x!.next_attempt_at - t.clock.now()], [2, 2_000], 'the wait doubled');
          t.clock.advance(2_000);
          assert.deepEqual(await deliverDue(t.rt.db, t.clock.now, FAST), { delivered: 0, retried: 0, failed: 1 });
          [x] = await listDeliveries(t.op, null, { endpoint_id: bad.endpoint.id });
          assert.deepEqual([x!.status, x!.attempts], ['failed', 3]);
          assert.equal(fails.got.length, 3);
          // The operator queues it again: the receiver still fails once (503), then the next run after 1 s succeeds.
          await retryDelivery(t.op, x!.id);
          await deliverDue(t.rt.db, t.clock.now, FAST);
          t.clock.advance(1_000);
          await deliverDue(t.rt.db, t.clock.now, FAST);
          [x] = await listDeliveries(t.op, null, { endpoint_id: bad.endpoint.id });
          assert.deepEqual([x!.status, x!.attempts], ['delivered', 2]);
          // A disabled endpoint gets nothing more; its pending deliveries are given up.
          await t.rt.db.tx((q) => enqueue(q, { topic: 'incident.updated', accountId: b, payload: {}, key: idem(), at: t.clock.now() }));
          await disableEndpoint(t.op, b, bad.endpoint.id);
          assert.equal(await pending(), 0);
        } finally {
          fails.server.close();
        }
      } finally {
        rcv.server.close();
      }
    });

    test('HTTP: customers add their own endpoints (the secret once), never see another account\'s; bad URLs are a 400', async () => {
      const key = (await t.admin('POST', `/admin/v1/accounts/${a}/keys`, { name: 'hooks' })).key;
      const r = await t.req('POST', '/account/v1/webhooks', { key, body: { url: 'https://example.com/hook', topics: ['credit.*'] } });
      assert.equal(r.status, 201, r.text);
      assert.match(r.body.secret, /^whsec_/);
      const listed = await t.req('GET', '/account/v1/webhooks', { key });
      assert.ok(listed.body.data.every((e: any) => e.account_id === a && e.secret === undefined));
      const other = (await t.admin('POST', `/admin/v1/accounts/${b}/webhooks`, { url: 'https://example.com/b' })).id;
      assert.equal((await t.req('DELETE', `/account/v1/webhooks/${other}`, { key })).status, 404);
      for (const url of ['ftp://example.com/x', 'http://user:pw@example.com/', 'not a url']) {
        const bad = await t.req('POST', '/account/v1/webhooks', { key, body: { url } });
        assert.deepEqual([bad.status, bad.body.error.code, bad.body.error.field], [400, 'VALIDATION', 'url']);
      }
      const badTopic = await t.req('POST', '/admin/v1/webhooks', { body: { url: 'https://example.com/', topics: ['=cmd|x'] } });
      assert.deepEqual([badTopic.status, badTopic.body.error.field], [400, 'topics.0']);
      assert.equal((await t.req('POST', `/account/v1/webhooks/${r.body.id}/test`, { key })).body.queued, 1);
    });
  });
}
