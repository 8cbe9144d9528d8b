// What customers see of their requests: the outcome and a public message, never channel names or
// ids, upstream models or the upstream's own error text (operators see all of it); exports are
// safe to open in a spreadsheet and ordered the same with or without a limit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

describe('customer views and exports (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  const ids: string[] = [];
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const send = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(g.url + path, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await r.text();
    ids.push(r.headers.get('x-request-id')!);
    return { status: r.status, text };
  };
  const customerGet = async (path: string) => {
    const r = await fetch(g.url + path, { headers: { authorization: `Bearer ${c.key}` } });
    return { status: r.status, text: await r.text() };
  };

  test('an upstream failure: the client and the customer API see a public message; operators see the channel and the upstream text', async () => {
    const failed = await send('/v1/messages', { model: 'claude-sonnet-5-5', max_tokens: 20, messages: [{ role: 'user', content: '[[sim:error=500]] fail' }] }, { 'anthropic-version': '2023-06-01' });
    assert.equal(failed.status, 502);
    assert.doesNotMatch(failed.text, /sim-anthropic|ch_/, 'no channel in the API error');
    await send('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fine' }] });
    await g.settle();
    const mine = JSON.parse((await customerGet('/account/v1/logs?limit=10')).text).data;
    const row = mine.find((r: any) => r.id === ids[0]);
    assert.equal(row.outcome, 'upstream_error');
    assert.equal(row.error, 'The upstream provider failed.');
    assert.equal('channel_id' in row, false);
    assert.equal('upstream_model' in row, false);
    assert.ok(row.attempts.length >= 1);
    for (const a of row.attempts) assert.deepEqual(Object.keys(a).sort(), ['ms', 'outcome', 'status']);
    assert.doesNotMatch(JSON.stringify(mine), /sim-|ch_/);
    const op = await g.log(ids[0]!);
    assert.match(op.error, /sim-anthropic/);
    assert.match(op.channel_id, /^ch_/);
    const exported = (await customerGet('/account/v1/logs?format=ndjson')).text;
    assert.doesNotMatch(exported, /sim-|ch_/);
    const refused = await customerGet(`/account/v1/logs?channel_id=${op.channel_id}`);
    assert.equal(refused.status, 400);
  });

  test('a customer-controlled text starting with = + - @ reaches the CSV neutralised', async () => {
    await send('/v1/chat/completions', { model: '=HYPERLINK("http://evil.example","click")', messages: [] });
    await send('/v1/chat/completions', { model: '@SUM(1+1)', messages: [] });
    await g.settle();
    for (const path of ['/admin/v1/logs?format=csv']) {
      const csv = (await g.adminRaw('GET', path)).text;
      assert.ok(csv.includes(`"'=HYPERLINK(""http://evil.example"",""click"")"`), 'the formula is quoted and prefixed');
      assert.ok(csv.includes("'@SUM(1+1)"));
      assert.ok(!/(^|,)=HYPERLINK/m.test(csv) && !/(^|,)@SUM/m.test(csv), 'no cell starts with a formula');
    }
    const mine = (await customerGet('/account/v1/logs?format=csv')).text;
    assert.ok(mine.includes("'@SUM(1+1)"));
  });

  test('exports are oldest first, with or without a limit (a limit takes the newest rows)', async () => {
    const ndjson = async (q: string) => (await g.adminRaw('GET', `/admin/v1/logs?format=ndjson${q}`)).text.trim().split('\n').map((l) => JSON.parse(l).id as string);
    const all = await ndjson('');
    assert.deepEqual(all, [...all].sort(), 'ascending');
    const last2 = await ndjson('&limit=2');
    assert.deepEqual(last2, all.slice(-2));
  });
});
