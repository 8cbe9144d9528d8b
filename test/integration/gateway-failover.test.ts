// Channels under failure, through a real gateway and real simulators: failover to the next
// priority, weighted spreading, the circuit breaker opening and closing after a probe, upstream key
// rotation, model-name mapping, channel changes applied without restart, and image timeouts that
// let a 320 s generation through. Every request is billed once, for what the channel that answered
// delivered; verifyLedger passes at the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type Simulator } from '../../src/sim/server.ts';
import { simTokens, startTestGateway, tokenCost, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const COOLDOWN_MS = 300;
const PRICE = { input_per_mtok: '0.15', output_per_mtok: '0.60' };
const costOf = (content: string) => tokenCost(simTokens(content), '0.15') + tokenCost(16, '0.60');

let g: TestGateway;
let simA: Simulator;
let simB: Simulator;
let simFast: Simulator;
let c: Customer;
const channels: Record<string, string> = {};

async function channel(name: string, body: Record<string, unknown>): Promise<string> {
  const ch = await g.admin('POST', '/admin/v1/channels', { name, provider: 'openai', keys: [`sk-${name}`], ...body });
  channels[name] = ch.id;
  return ch.id;
}

async function model(id: string, body: Record<string, unknown> = {}): Promise<void> {
  await g.admin('PUT', `/admin/v1/models/${id}`, { provider: 'openai', price: PRICE, ...body });
}

async function chat(modelId: string, content: string): Promise<{ status: number; id: string; body: any }> {
  const r = await fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: modelId, max_tokens: 64, messages: [{ role: 'user', content }] }),
  });
  return { status: r.status, id: r.headers.get('x-request-id')!, body: await r.json() };
}

async function row(id: string): Promise<any> {
  await g.settle();
  return g.log(id);
}

async function health(name: string): Promise<{ state: string; failures: number }> {
  const list = (await g.admin('GET', '/admin/v1/channels')).data;
  const ch = list.find((x: any) => x.id === channels[name]);
  assert.ok(ch, `channel ${name} listed`);
  return ch.health;
}

const seen = (sim: Simulator, upstreamModel: string) => sim.requests().filter((r) => r.model === upstreamModel);

describe('gateway failover and circuit breaker (sqlite, two simulators)', () => {
  before(async () => {
    [simA, simB, simFast] = await Promise.all([
      startSimulator({ port: 0, quiet: true }),
      startSimulator({ port: 0, quiet: true }),
      startSimulator({ port: 0, quiet: true, timeScale: 0.001 }),
    ]);
    g = await startTestGateway({ demo: false, gateway: { router: { cooldownMs: COOLDOWN_MS } } });
    c = await g.customer('50.00');
    await model('fo-failover');
    await channel('fo-primary', { base_url: simA.url, models: ['fo-failover'], priority: 10 });
    await channel('fo-backup', { base_url: simB.url, models: ['fo-failover'], priority: 0 });
    await model('fo-weights');
    await channel('fo-heavy', { base_url: simA.url, models: ['fo-weights'], weight: 3 });
    await channel('fo-light', { base_url: simB.url, models: ['fo-weights'], weight: 1 });
    await model('fo-breaker');
    await channel('br-primary', { base_url: simA.url, models: ['fo-breaker'], priority: 10 });
    await channel('br-backup', { base_url: simB.url, models: ['fo-breaker'], priority: 0 });
    await model('fo-rotate');
    await channel('rotating', { base_url: simA.url, models: ['fo-rotate'], keys: ['sk-rot-one', 'sk-rot-two'] });
    await model('fo-mapped');
    await channel('mapping', { base_url: `${simB.url}/v1`, models: ['fo-mapped'], model_map: { 'fo-mapped': 'gpt-4o-2024-08-06' } });
    await model('fo-patch');
    await channel('patch-primary', { base_url: simA.url, models: ['fo-patch'], priority: 10 });
    await channel('patch-backup', { base_url: simB.url, models: ['fo-patch'], priority: 0 });
    await model('fo-image', { kind: 'images', price: { per_image: { default: '0.04', '1024x1024/high': '0.167' } } });
    await channel('slow-images', {
      base_url: simFast.url,
      models: ['fo-image', 'fo-chat-fast'],
      model_map: { 'fo-image': 'gpt-image-1' },
      // Chat on this channel must answer within 250 ms; images get minutes (scaled by the simulator's time scale).
      timeouts: { first_byte_ms: 250, total_ms: 2_000 },
      endpoint_timeouts: { images: { first_byte_ms: 5_000, total_ms: 5_000 } },
    });
    await model('fo-chat-fast');
    await model('fo-quota');
    await channel('quota-broke', { base_url: simA.url, models: ['fo-quota', 'fo-quota-lone'], priority: 10 });
    await channel('quota-funded', { base_url: simB.url, models: ['fo-quota'], priority: 0 });
    await model('fo-quota-lone');
  });

  after(async () => {
    if (g) {
      await g.settle();
      const report = await g.verify();
      await g.close();
      assert.deepEqual(report.problems, []);
    }
    await Promise.all([simA?.close(), simB?.close(), simFast?.close()]);
  });

  test('the primary answers 500: the request succeeds on the backup, both attempts on the row, billed once', async () => {
    simA.setFaults([{ model: 'fo-failover', status: 500 }]);
    try {
      const content = 'failover please';
      const r = await chat('fo-failover', content);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const log = await row(r.id);
      assert.equal(log.outcome, 'ok');
      assert.deepEqual(log.attempts.map((a: any) => [a.channel, a.status, a.outcome]), [
        [channels['fo-primary'], 500, 'upstream_error'],
        [channels['fo-backup'], 200, 'ok'],
      ]);
      assert.equal(log.channel_id, channels['fo-backup'], 'the row names the channel that answered');
      assert.equal(usd(log.amount), costOf(content));
      assert.equal(seen(simA, 'fo-failover').length, 1);
      assert.equal(seen(simB, 'fo-failover').length, 1);
      const charges = (await g.ledger(c.accountId)).filter((t: any) => t.ref_id === r.id);
      assert.equal(charges.length, 1);
      assert.equal(usd(charges[0].amount), -costOf(content));
    } finally {
      simA.setFaults([]);
    }
  });

  test('same priority: traffic spreads roughly by weight (3:1)', async () => {
    const N = 160;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => chat('fo-weights', `weighted ${i}`)));
    assert.ok(results.every((r) => r.status === 200));
    const a = seen(simA, 'fo-weights').length;
    const b = seen(simB, 'fo-weights').length;
    assert.equal(a + b, N, 'each request went upstream once');
    const share = a / N;
    assert.ok(share > 0.6 && share < 0.9, `heavy channel share ${share} (expected ≈ 0.75)`);
    assert.ok(b > 0, 'the light channel gets some traffic');
  });

  test('5 consecutive failures open the circuit; requests skip the channel; a probe after the cool-down closes it', async () => {
    simA.setFaults([{ model: 'fo-breaker', status: 500 }]);
    try {
      for (let i = 0; i < 4; i++) assert.equal((await chat('fo-breaker', `breaker ${i}`)).status, 200);
      assert.equal((await health('br-primary')).state, 'closed', 'still closed after 4 failures');
      assert.equal((await chat('fo-breaker', 'breaker 4')).status, 200);
      const h = await health('br-primary');
      assert.equal(h.state, 'open', 'open after the 5th consecutive failure');
      assert.equal(h.failures, 5);
      assert.equal((await health('br-backup')).state, 'closed');
      assert.equal(seen(simA, 'fo-breaker').length, 5);

      // Open: straight to the backup, the primary is not even tried.
      const skip = await chat('fo-breaker', 'breaker skips');
      assert.equal(skip.status, 200);
      const skipped = await row(skip.id);
      assert.deepEqual(skipped.attempts.map((x: any) => x.channel), [channels['br-backup']]);
      assert.equal(seen(simA, 'fo-breaker').length, 5, 'no request reached the open channel');

      // After the cool-down one probe goes through; it fails (still faulted): open again, the request still succeeds.
      await sleep(COOLDOWN_MS + 50);
      const probe1 = await chat('fo-breaker', 'failed probe');
      assert.equal(probe1.status, 200);
      assert.deepEqual((await row(probe1.id)).attempts.map((x: any) => [x.channel, x.outcome]), [
        [channels['br-primary'], 'upstream_error'],
        [channels['br-backup'], 'ok'],
      ]);
      assert.equal((await health('br-primary')).state, 'open', 'a failed probe re-opens the circuit');
      const after1 = await chat('fo-breaker', 'still open');
      assert.equal((await row(after1.id)).attempts.length, 1);

      // The upstream recovers; after the (doubled) cool-down the probe succeeds and closes the circuit.
      simA.setFaults([]);
      await sleep(COOLDOWN_MS * 2 + 50);
      const probe2 = await chat('fo-breaker', 'good probe');
      assert.equal(probe2.status, 200);
      const p2 = await row(probe2.id);
      assert.deepEqual(p2.attempts.map((x: any) => [x.channel, x.outcome]), [[channels['br-primary'], 'ok']]);
      const closed = await health('br-primary');
      assert.equal(closed.state, 'closed');
      assert.equal(closed.failures, 0);
      const next = await chat('fo-breaker', 'back to normal');
      assert.equal((await row(next.id)).channel_id, channels['br-primary'], 'the primary serves again');
    } finally {
      simA.setFaults([]);
    }
  });

  test('an upstream account out of credit (429 insufficient_quota): no pointless retry, failover at once, the channel is taken out and says why', async () => {
    simA.setFaults([{ model: 'fo-quota', mode: 'quota' }, { model: 'fo-quota-lone', mode: 'quota' }]);
    try {
      const t0 = Date.now();
      const r = await chat('fo-quota', 'out of credit');
      assert.equal(r.status, 200, 'served by the funded channel');
      assert.ok(Date.now() - t0 < 900, 'no pause before failing over');
      const first = await row(r.id);
      assert.deepEqual(first.attempts.map((a: any) => [a.channel, a.status, a.outcome]), [[channels['quota-broke'], 429, 'platform_error'], [channels['quota-funded'], 200, 'ok']]);
      const h = await health('quota-broke');
      assert.deepEqual([h.state, (h as any).reason], ['open', 'out_of_credit']);
      const second = await row((await chat('fo-quota', 'again')).id);
      assert.deepEqual(second.attempts.map((a: any) => a.channel), [channels['quota-funded']], 'the broke channel is skipped');
      // A lone channel out of credit: one attempt, no wait-and-retry (a 429 rate limit would get one).
      const lone = await chat('fo-quota-lone', 'alone');
      assert.equal(lone.status, 503, 'its circuit is open: no channel');
      assert.equal(lone.body.error.code, 'NO_CHANNEL');
      assert.equal(seen(simA, 'fo-quota-lone').length, 0);
    } finally {
      simA.setFaults([]);
    }
  });

  test('upstream keys are rotated across requests', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await chat('fo-rotate', `rotate ${i}`)).status, 200);
    const keys = seen(simA, 'fo-rotate').map((r) => r.key);
    assert.equal(keys.length, 4);
    assert.deepEqual(new Set(keys), new Set(['sk-rot-one', 'sk-rot-two']));
    assert.equal(keys.filter((k) => k === 'sk-rot-one').length, 2, `round robin: ${keys.join(',')}`);
  });

  test('model_map: the upstream receives its own model name; the client and the row keep both', async () => {
    const r = await chat('fo-mapped', 'mapped model');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const up = simB.requests().filter((x) => x.body.includes('mapped model'));
    assert.equal(up.length, 1);
    assert.equal(up[0]!.model, 'gpt-4o-2024-08-06');
    assert.equal(seen(simB, 'fo-mapped').length, 0, 'the public name never reaches the upstream');
    const log = await row(r.id);
    assert.equal(log.model, 'fo-mapped');
    assert.equal(log.upstream_model, 'gpt-4o-2024-08-06');
  });

  test('PATCH /admin/v1/channels/:id applies without restart (disable, re-enable, re-prioritise)', async () => {
    const first = await row((await chat('fo-patch', 'patch 1')).id);
    assert.equal(first.channel_id, channels['patch-primary']);
    const disabled = await g.admin('PATCH', `/admin/v1/channels/${channels['patch-primary']}`, { enabled: false });
    assert.deepEqual([disabled.enabled, disabled.priority, disabled.weight], [false, 10, 1], 'a PATCH changes only what it names');
    const second = await row((await chat('fo-patch', 'patch 2')).id);
    assert.equal(second.channel_id, channels['patch-backup']);
    assert.equal(second.attempts.length, 1, 'the disabled channel is not tried');
    const enabled = await g.admin('PATCH', `/admin/v1/channels/${channels['patch-primary']}`, { enabled: true });
    assert.equal(enabled.priority, 10);
    await g.admin('PATCH', `/admin/v1/channels/${channels['patch-backup']}`, { priority: 20 });
    const third = await row((await chat('fo-patch', 'patch 3')).id);
    assert.equal(third.channel_id, channels['patch-backup'], 'the new priority applies at once');
    await g.admin('PATCH', `/admin/v1/channels/${channels['patch-backup']}`, { priority: 0 });
    const fourth = await row((await chat('fo-patch', 'patch 4')).id);
    assert.equal(fourth.channel_id, channels['patch-primary']);
  });

  test('a 320 s image generation ([[sim:slow_image=320]], time scale 0.001) succeeds within the image timeouts and is billed', async () => {
    const t0 = Date.now();
    const r = await fetch(`${g.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fo-image', prompt: '[[sim:slow_image=320]] a slow cathedral', size: '1024x1024', quality: 'high' }),
    });
    const body = (await r.json()) as any;
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.ok(Date.now() - t0 >= 300, 'the generation really took its (scaled) time');
    assert.equal(body.data.length, 1);
    const log = await row(r.headers.get('x-request-id')!);
    assert.equal(log.outcome, 'ok');
    assert.equal(log.delivered.images, 1);
    assert.equal(usd(log.amount), 167_000_000n, '1024x1024/high at $0.167');
    assert.ok(log.tx_id);
    // The same channel's chat timeout (250 ms to first byte) would not have waited that long.
    const slowChat = await chat('fo-chat-fast', '[[sim:latency=1500000]] slow chat');
    assert.equal(slowChat.status, 504);
    const sc = await row(slowChat.id);
    assert.equal(sc.outcome, 'upstream_timeout');
    assert.equal(usd(sc.amount), 0n);
  });
});
