// SURETY_DURABILITY=strict: an answer's last byte (a stream's end marker) goes out only once its log
// row and charge have committed, so a client that received an answer in full can always find its
// row — even if the gateway is killed the moment after. `batched` (the default) answers first.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

/** The row of a request as storage holds it right now (no flush asked for). */
const rowNow = (g: TestGateway, id: string) => g.s.rt.db.get<{ outcome: string; amount: bigint; tx_id: string | null }>('SELECT outcome, amount, tx_id FROM request_log WHERE id = ?', [id]);

for (const engine of engines()) {
  describe(`strict durability (${engine})`, () => {
    let g: TestGateway;
    let c: Customer;
    before(async () => {
      // A long flush interval: only a commit asked for by the answer itself can land the row in time.
      g = await startTestGateway({ engine, config: { durability: 'strict', flushMs: 1000 } });
      c = await g.customer('5.00');
    });
    after(() => g?.close());

    const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
      const r = await fetch(g.url + path, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'x-api-key': c.key, 'x-goog-api-key': c.key, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, id: r.headers.get('x-request-id')!, text };
    };
    const committed = async (r: { id: string }) => {
      const row = await rowNow(g, r.id);
      assert.ok(row, `row ${r.id} is in storage when the answer is complete`);
      assert.equal(row.outcome, 'ok');
      assert.ok(row.amount > 0n && row.tx_id, 'with its charge');
    };

    test('a JSON answer is complete only once its row and charge are committed', async () => {
      const r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'strict' }] });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.text).object, 'chat.completion', 'the whole body arrives');
      await committed(r);
    });

    test('a stream ends (its end marker arrives) only once its row is committed, for each API', async () => {
      const openai = await post('/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'strict stream' }] });
      assert.match(openai.text, /data: \[DONE\]\n\n$/);
      await committed(openai);
      const anthropic = await post('/v1/messages', { model: 'claude-sonnet-5-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'strict' }] }, { 'anthropic-version': '2023-06-01' });
      assert.match(anthropic.text, /event: message_stop\ndata: [^\n]+\n\n$/);
      await committed(anthropic);
      const geminiArray = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent', { contents: [{ parts: [{ text: 'strict' }] }] });
      const frames = JSON.parse(geminiArray.text);
      assert.ok(Array.isArray(frames) && frames.at(-1).candidates[0].finishReason, 'the whole JSON array, closed');
      await committed(geminiArray);
      const geminiSse = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: [{ parts: [{ text: 'strict' }] }] });
      assert.match(geminiSse.text, /finishReason/);
      await committed(geminiSse);
    });

    test('many answers at once share commits and each finds its row', async () => {
      const batches = await g.s.gateway.gateway.writer.stats.batches;
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => post('/v1/chat/completions', { model: 'gpt-4o-mini', stream: i % 2 === 0, messages: [{ role: 'user', content: `many ${i}` }] })));
      for (const r of rs) await committed(r);
      assert.ok(g.s.gateway.gateway.writer.stats.batches - batches <= 20);
      await g.settle();
      const report = await g.verify();
      assert.ok(report.ok, JSON.stringify(report.problems));
    });
  });
}

describe('batched durability (the default) answers before the commit', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway({ config: { flushMs: 1000 } });
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  test('the answer is complete while its row still waits for the next group commit', async () => {
    const r = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'batched' }] }) });
    await r.text();
    const id = r.headers.get('x-request-id')!;
    assert.equal(await rowNow(g, id), undefined, 'not yet in storage: a kill now would lose this row');
    await g.settle();
    assert.ok(await rowNow(g, id));
  });
});
