// Abnormal-billing detection end to end: real traffic through the gateway to the simulator (time
// scale 0.01: 1 simulated second is 10 real ms), the scanner, the programme's automatic
// compensation, the operator's queue, the customer's view and disputes — each case checks the
// exact findings and credits. Nothing is mocked; faults under the writer are the writer's own
// test-only hooks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/server.ts';
import { startTestGateway, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

let sim: Simulator;
let g: TestGateway;

const IMAGE = 'det-image';
const BANANA = 'det-banana';
const CHAT = 'det-chat';

async function post(path: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; id: string; cost: bigint; body: any }> {
  const r = await fetch(g.url + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, id: r.headers.get('x-request-id') ?? '', cost: usd(r.headers.get('x-surety-cost') ?? '0'), body: text ? JSON.parse(text) : null };
}
const image = (c: Customer, prompt: string) => post('/v1/images/generations', c.key, { model: IMAGE, prompt, size: '1024x1024' });
const banana = (c: Customer, text: string) => post(`/v1beta/models/${BANANA}:generateContent`, c.key, { contents: [{ role: 'user', parts: [{ text }] }] });
const chat = (c: Customer, text: string, headers: Record<string, string> = {}) => post('/v1/chat/completions', c.key, { model: CHAT, max_tokens: 64, messages: [{ role: 'user', content: text }] }, headers);

async function scan(): Promise<any> {
  await g.settle();
  return g.admin('POST', '/admin/v1/findings/scan', { from: '2020-01-01T00:00:00Z', to: new Date(Date.now() + 60_000).toISOString() });
}
const findings = async (accountId: string) => (await g.admin('GET', `/admin/v1/findings?account_id=${accountId}`)).data as any[];
const credits = async (accountId: string) => (await g.admin('GET', `/admin/v1/accounts/${accountId}/credits`)).data as any[];
const runJob = () => g.s.rt.jobs.runNow('detection-scan');
const enrol = (c: Customer) => g.admin('PUT', `/admin/v1/accounts/${c.accountId}/programme`, { enrolled: true });

before(async () => {
  sim = await startSimulator({ port: 0, quiet: true, timeScale: 0.01 });
  g = await startTestGateway({ demo: false });
  await g.admin('PUT', `/admin/v1/models/${IMAGE}`, { provider: 'openai', kind: 'images', price: { per_image: { default: '0.09' } } });
  await g.admin('PUT', `/admin/v1/models/${BANANA}`, { provider: 'gemini', kind: 'images', price: { per_request: '0.01', per_image: { default: '0.08' }, billed_on_moderation: true } });
  await g.admin('PUT', `/admin/v1/models/${CHAT}`, { provider: 'openai', price: { input_per_mtok: '1', output_per_mtok: '2' } });
  await g.admin('POST', '/admin/v1/channels', { name: 'det-openai', provider: 'openai', base_url: sim.url, keys: ['sk-det'], models: [IMAGE, CHAT], model_map: { [IMAGE]: 'gpt-image-1' } });
  await g.admin('POST', '/admin/v1/channels', { name: 'det-gemini', provider: 'gemini', base_url: `${sim.url}/v1beta`, keys: ['AIza-det'], models: [BANANA], model_map: { [BANANA]: 'gemini-3-pro-image-preview' } });
  // Time-scaled: the image threshold of 300 s is 3 s here (a quick image stays far below it even
  // on a loaded machine; a 320 s one is always above it); the scan runs with no lag.
  await g.admin('PUT', '/admin/v1/detection', { models: { [IMAGE]: { abnormal_timeout_seconds: 3 } }, scan_lag_seconds: 0 });
  // A low programme threshold, so that test accounts become eligible with a few requests.
  await g.admin('PUT', '/admin/v1/programme', { threshold: '0.15', models: [IMAGE, BANANA] });
});

after(async () => {
  await g?.close();
  await sim?.close();
});

describe('abnormal-billing detection (sqlite, simulator at time scale 0.01)', () => {
  test('a slow image of 320 s that is still charged: found with its evidence, compensated once for an eligible enrolled account', async () => {
    const c = await g.customer('10.00');
    await enrol(c);
    const ok = await image(c, 'a quick cathedral');
    const slow = await image(c, '[[sim:slow_image=320]] a slow cathedral');
    assert.equal(slow.status, 200);
    assert.equal(slow.cost, 90_000_000n, 'the gateway charged the slow image');
    await scan();
    const f = await findings(c.accountId);
    assert.deepEqual(f.map((x) => [x.rule, x.request_ids[0], x.amount, x.status]), [['billed_after_timeout', slow.id, '0.09', 'open']], `only the slow one (not ${ok.id})`);
    const one = await g.admin('GET', `/admin/v1/findings/${f[0].id}`);
    assert.equal(one.evidence.threshold_ms, 3000);
    assert.ok(one.evidence.duration_ms > 3000);
    assert.equal(one.requests[0].id, slow.id);
    assert.match(one.reason, /longer than the abnormal-timeout threshold of 3 s for det-image/);
    // Spend $0.18 ≥ $0.15 this month: eligible; billed_after_timeout is auto-verified by default.
    await runJob();
    await runJob();
    const after = await g.admin('GET', `/admin/v1/findings/${f[0].id}`);
    assert.equal(after.status, 'compensated');
    assert.equal(after.compensated, '0.09');
    const cr = await credits(c.accountId);
    assert.deepEqual(cr.map((x: any) => [x.kind, x.amount, x.ref_type, x.ref_id]), [['compensation', '0.09', 'finding', f[0].id]]);
    const line = (await g.ledger(c.accountId)).find((l: any) => l.kind === 'credit');
    assert.match(line.memo, new RegExp(`^Compensation for finding ${f[0].id} \\(billed_after_timeout\\)`));
    assert.equal(line.granted, '0.09');
    // Rescanning and running again pay nothing more.
    await scan();
    await runJob();
    assert.equal((await credits(c.accountId)).length, 1);
    assert.equal((await findings(c.accountId)).length, 1);
    assert.equal((await g.verify()).ok, true);
  });

  test('a Gemini image model answering 200 with no image on a model with billed_on_moderation: billed_nothing_delivered', async () => {
    const c = await g.customer('10.00');
    const r = await banana(c, '[[sim:moderation]] a forbidden image');
    assert.equal(r.status, 200);
    assert.equal(r.cost, 10_000_000n, 'the refusal was billed per the model policy');
    await scan();
    const f = await findings(c.accountId);
    assert.deepEqual(f.map((x) => [x.rule, x.request_ids[0], x.amount]), [['billed_nothing_delivered', r.id, '0.01']]);
    assert.match(f[0].reason, /refused on content policy \(the model bills refusals\) and no image was delivered/);
    // Not enrolled: it waits for the operator, who verifies it (and so pays it).
    await runJob();
    assert.equal((await findings(c.accountId))[0].status, 'open');
    const v = await g.admin('POST', '/admin/v1/findings/verify', { ids: [f[0].id], reason: 'confirmed' });
    assert.deepEqual(v.done, [f[0].id]);
    const again = await g.admin('POST', '/admin/v1/findings/verify', { ids: [f[0].id] });
    assert.deepEqual(again.skipped, [{ id: f[0].id, status: 'compensated', why: 'already compensated' }]);
    assert.deepEqual((await credits(c.accountId)).map((x: any) => x.amount), ['0.01']);
  });

  test('a double charge injected under the writer: the copy is found and paid back, the original stands', async () => {
    const c = await g.customer('10.00');
    const writer = g.s.gateway.gateway.writer;
    writer.faults = { duplicateCharge: (row) => row.account_id === c.accountId };
    let r;
    try {
      r = await chat(c, 'hello twice');
      await g.settle();
    } finally {
      writer.faults = null;
    }
    const rows = await g.logsOfKey(c.keyId);
    assert.equal(rows.length, 2, 'the request was stored and charged twice');
    await scan();
    const f = await findings(c.accountId);
    assert.equal(f.length, 1);
    assert.equal(f[0].rule, 'double_charge');
    const copy = rows.find((x: any) => x.id !== r.id);
    // The first id is the charge that stands; the other one is paid back.
    const [first, second] = [copy.id, r.id].sort();
    assert.deepEqual(f[0].request_ids, [second, first]);
    assert.equal(usd(f[0].amount), r.cost);
    await g.admin('POST', '/admin/v1/findings/verify', { ids: [f[0].id] });
    assert.deepEqual((await credits(c.accountId)).map((x: any) => usd(x.amount)), [r.cost]);
  });

  test('a client retry with the same Idempotency-Key charged twice: double_charge by client reference', async () => {
    const c = await g.customer('10.00');
    const a = await chat(c, 'retry me', { 'idempotency-key': 'client-retry-7' });
    const b = await chat(c, 'retry me', { 'idempotency-key': 'client-retry-7' });
    await scan();
    const f = await findings(c.accountId);
    assert.deepEqual(f.map((x) => [x.rule, x.request_ids]), [['double_charge', [b.id > a.id ? b.id : a.id, b.id > a.id ? a.id : b.id]]]);
    assert.match(f[0].reason, /same client reference "client-retry-7"/);
  });

  test('a row whose amount disagrees with its price version: off_price pays back the difference only', async () => {
    const c = await g.customer('10.00');
    const writer = g.s.gateway.gateway.writer;
    writer.faults = { overcharge: (row) => (row.account_id === c.accountId ? 1234n : 0n) };
    let r;
    try {
      r = await chat(c, 'price me');
      await g.settle();
    } finally {
      writer.faults = null;
    }
    const row = await g.log(r.id);
    assert.equal(usd(row.amount), r.cost + 1234n);
    await scan();
    const f = await findings(c.accountId);
    assert.deepEqual(f.map((x) => [x.rule, usd(x.amount)]), [['off_price', 1234n]]);
    await g.admin('POST', '/admin/v1/findings/verify', { filter: { account_id: c.accountId, rule: 'off_price' } });
    assert.deepEqual((await credits(c.accountId)).map((x: any) => usd(x.amount)), [1234n]);
  });

  test('the programme threshold crossed in the middle of a month: an earlier finding is compensated once the account is eligible', async () => {
    const c = await g.customer('10.00');
    await enrol(c);
    const slow = await image(c, '[[sim:slow_image=320]] first slow');
    await scan();
    await runJob();
    const [f] = await findings(c.accountId);
    assert.equal(f.status, 'open', '$0.09 spent: below the $0.15 threshold');
    const prog = await g.admin('GET', `/admin/v1/accounts/${c.accountId}/programme`);
    assert.deepEqual([prog.enrolled, prog.eligible, prog.spend, prog.threshold], [true, false, '0.09', '0.15']);
    await image(c, 'an ordinary one');
    await g.settle();
    await runJob();
    const [after] = await findings(c.accountId);
    assert.equal(after.status, 'compensated');
    assert.deepEqual((await credits(c.accountId)).map((x: any) => [x.amount, x.ref_id]), [['0.09', f.id]]);
    assert.equal(f.request_ids[0], slow.id);
  });

  test('the operator queue: filters, reject with a reason, export with its manifest; bad input is a clear error', async () => {
    const c = await g.customer('10.00');
    const r = await banana(c, '[[sim:moderation]] again');
    await scan();
    const [f] = await findings(c.accountId);
    const bad = await g.adminRaw('GET', '/admin/v1/findings?rule=nope');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'VALIDATION');
    assert.equal(bad.body.error.field, 'rule');
    const noReason = await g.adminRaw('POST', '/admin/v1/findings/reject', { ids: [f.id] });
    assert.equal(noReason.status, 400);
    assert.equal(noReason.body.error.field, 'reason');
    const min = await g.admin('GET', `/admin/v1/findings?account_id=${c.accountId}&min_amount=0.02`);
    assert.equal(min.data.length, 0);
    const rej = await g.admin('POST', '/admin/v1/findings/reject', { ids: [f.id, 'fnd_nope'], reason: 'the customer asked for this refusal test' });
    assert.deepEqual(rej.done, [f.id]);
    assert.deepEqual(rej.skipped, [{ id: 'fnd_nope', status: null, why: 'not found' }]);
    const csv = await g.adminRaw('GET', `/admin/v1/findings/export?format=csv&account_id=${c.accountId}`);
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get('x-surety-export'), 'findings/1; format=1');
    const lines = csv.text.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.ok(lines[1]!.includes(r.id) && lines[1]!.includes('rejected'));
    const m = await g.admin('GET', `/admin/v1/findings/export/manifest?format=csv&account_id=${c.accountId}`);
    assert.equal(m.rows, 1);
    assert.equal(m.totals.amount, '0.01');
    assert.equal(m.files[0].sha256, (await import('node:crypto')).createHash('sha256').update(csv.text).digest('hex'));
    // The customer sees the rejection and its reason.
    const mine = await fetch(`${g.url}/account/v1/findings`, { headers: { authorization: `Bearer ${c.key}` } }).then((x) => x.json() as any);
    assert.deepEqual(mine.data.map((x: any) => [x.id, x.status, x.decision_note]), [[f.id, 'rejected', 'the customer asked for this refusal test']]);
    assert.equal(mine.data[0].decided_by, undefined);
  });

  test('customers: their findings with evidence, no one else\'s; disputes that match a rule or go to the queue', async () => {
    const c = await g.customer('10.00');
    const other = await g.customer('10.00');
    const slow = await image(c, '[[sim:slow_image=320]] disputed');
    const fine = await chat(c, 'this one was fine');
    const theirs = await chat(other, 'not yours');
    await g.settle();
    const call = (method: string, path: string, body?: unknown, key = c.key) =>
      fetch(g.url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) }).then(async (x) => ({ status: x.status, body: (await x.json()) as any }));
    const notMine = await call('POST', '/account/v1/disputes', { request_ids: [theirs.id], reason: 'not mine' });
    assert.equal(notMine.status, 404);
    assert.equal(notMine.body.error.field, 'request_ids.0');
    const d = await call('POST', '/account/v1/disputes', { request_ids: [slow.id, fine.id], reason: 'the image took forever and I was charged' });
    assert.equal(d.status, 201, JSON.stringify(d.body));
    assert.equal(d.body.status, 'under_review');
    assert.deepEqual(d.body.findings.map((x: any) => x.rule).sort(), ['billed_after_timeout', 'customer_dispute']);
    const mine = await call('GET', '/account/v1/findings');
    assert.equal(mine.body.data.length, 2);
    const timeout = mine.body.data.find((x: any) => x.rule === 'billed_after_timeout');
    const detail = await call('GET', `/account/v1/findings/${timeout.id}`);
    assert.equal(detail.body.requests[0].id, slow.id);
    assert.equal(detail.body.requests[0].channel_id, undefined, 'no channels for customers');
    assert.equal(detail.body.dispute_id, d.body.id);
    assert.equal((await call('GET', `/account/v1/findings/${timeout.id}`, undefined, other.key)).status, 404);
    // The operator answers: pays the timeout, rejects the rest with a reason.
    await g.admin('POST', '/admin/v1/findings/verify', { filter: { dispute_id: d.body.id, rule: 'billed_after_timeout' } });
    await g.admin('POST', '/admin/v1/findings/reject', { filter: { dispute_id: d.body.id, rule: 'customer_dispute' }, reason: 'that chat answer was delivered in full' });
    const after = await call('GET', `/account/v1/disputes/${d.body.id}`);
    assert.equal(after.body.status, 'compensated');
    assert.deepEqual(after.body.findings.map((x: any) => [x.rule, x.status, x.answer]).sort(), [
      ['billed_after_timeout', 'compensated', null],
      ['customer_dispute', 'rejected', 'that chat answer was delivered in full'],
    ]);
    const statement = await call('GET', '/account/v1/ledger');
    assert.ok(statement.body.data.some((l: any) => l.kind === 'credit' && l.memo.includes(timeout.id)), 'the statement line names the finding');
  });
});
