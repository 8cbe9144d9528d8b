// A stream goes at its client's pace: while the client's socket is full the gateway stops reading
// the upstream (backpressure), so a slow reader costs one socket's worth of memory, not the whole
// answer; that time is the client's, not the upstream's (the deadline and the attempt's time leave
// it out); a client that reads nothing for as long as an upstream may pause is cut, as if it left.
// The upstream is a real server that writes a large stream as fast as its socket takes it.
import assert from 'node:assert/strict';
import { createServer, request, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

const MB = 1024 * 1024;

/** An OpenAI-shaped upstream that streams `total` bytes of 4 KB content events, minding its own socket. */
function bigUpstream(total: number) {
  const state = { written: 0, finished: false, closedEarly: false };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.on('close', () => (state.closedEarly = !state.finished));
      const event = (choices: string, usage = '') => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"big-chat","choices":[${choices}]${usage}}\n\n`;
      const frame = event(`{"index":0,"delta":{"content":"${'x'.repeat(4096)}"},"finish_reason":null}`);
      const write = (s: string) => ((state.written += s.length), res.write(s));
      write(event('{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}'));
      let n = 0;
      while (state.written < total) {
        n++;
        if (!write(frame)) await new Promise((r) => res.once('drain', r));
        if (res.destroyed) return;
      }
      write(event('{"index":0,"delta":{},"finish_reason":"stop"}'));
      write(event('', `,"usage":{"prompt_tokens":5,"completion_tokens":${n * 1024},"total_tokens":${n * 1024 + 5}}`) + 'data: [DONE]\n\n');
      state.finished = true;
      res.end();
    });
  });
  return { server, state };
}

describe('a stream at its client pace (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  const ups: Server[] = [];
  const channel = async (name: string, total: number, timeouts: Record<string, number>) => {
    const up = bigUpstream(total);
    await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r));
    ups.push(up.server);
    const url = `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`;
    await g.admin('PUT', `/admin/v1/models/${name}`, { provider: 'openai', price: { input_per_mtok: '0.01', output_per_mtok: '0.01' } });
    await g.admin('POST', '/admin/v1/channels', { name, provider: 'openai', base_url: url, keys: [`sk-${name}`], models: [name], timeouts });
    return up.state;
  };
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('50.00');
  });
  after(async () => {
    for (const s of ups) s.closeAllConnections(), s.close();
    await g?.close();
  });

  /**
   * Streams `model`; the client reads 64 KB, then nothing for `holdMs` (never again when null: such a
   * reader does not see the gateway's close either, it waits behind the unread bytes; `req` ends it).
   */
  const slowReader = (model: string, holdMs: number | null, onHeld: () => void) => {
    const body = JSON.stringify({ model, stream: true, max_tokens: 10_000_000, messages: [{ role: 'user', content: 'hi' }] });
    let req!: ClientRequest;
    const done = new Promise<{ res: IncomingMessage; bytes: number; text: string; error: string | null }>((resolve) => {
      req = request(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' } }, (res) => {
        let bytes = 0;
        let tail = '';
        let held = false;
        res.on('data', (b: Buffer) => {
          bytes += b.length;
          tail = (tail + b.toString('latin1')).slice(-200);
          if (held || bytes < 64 * 1024) return;
          held = true;
          res.pause();
          onHeld();
          if (holdMs !== null) setTimeout(() => res.resume(), holdMs);
        });
        const end = (error: string | null) => resolve({ res, bytes, text: tail, error });
        res.on('end', () => end(null));
        res.on('error', (e) => end(e.message));
      });
      req.on('error', () => {});
      req.end(body);
    });
    return { req, done };
  };

  test('a client that stops reading holds the upstream back, then gets all of it, billed once; the wait is not the upstream time', async () => {
    const total = 40 * MB;
    // A 3 s deadline: the upstream needs well under it, the client's 3.5 s pause would pass it.
    const up = await channel('pace-chat', total, { total_ms: 3_000 });
    const seen: number[] = [];
    const { done } = slowReader('pace-chat', 3_500, async () => {
      await sleep(1_500);
      seen.push(up.written);
      await sleep(1_500);
      seen.push(up.written);
    });
    const got = await done;
    assert.equal(got.error, null);
    assert.equal(got.res.statusCode, 200);
    assert.ok(seen.length === 2, 'the client paused');
    assert.equal(seen[1], seen[0], `the upstream was not read while the client was not: ${seen.map((w) => (w / MB).toFixed(1)).join(' → ')} MB`);
    assert.ok(seen[1]! < total, `held back at ${(seen[1]! / MB).toFixed(1)} of ${total / MB} MB, not buffered whole`);
    assert.ok(got.bytes > total && got.text.endsWith('data: [DONE]\n\n'), 'the whole stream reached the client');
    assert.ok(up.finished);
    await g.settle();
    const [row] = await g.logsOfKey(c.keyId);
    assert.equal(row.outcome, 'ok', `not cut by the deadline: ${row.error}`);
    assert.ok(Number(row.amount) > 0);
    assert.equal(row.attempts.length, 1);
    assert.ok(row.attempts[0].ms < row.duration_ms - 1_500, `the attempt's time (${row.attempts[0].ms} ms) leaves out the client's wait (request: ${row.duration_ms} ms)`);
    const report = await g.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
  });

  test('a client that reads nothing for as long as an upstream may pause (first_byte_ms) is cut: client_cancelled, the upstream call ended', async () => {
    const up = await channel('stall-chat', 40 * MB, { first_byte_ms: 1_000 });
    let heldAt = 0;
    const { req } = slowReader('stall-chat', null, () => (heldAt = Date.now()));
    const rowOf = async () => (await g.logsOfKey(c.keyId)).find((r: { model: string }) => r.model === 'stall-chat');
    const until = Date.now() + 10_000;
    while (!(up.closedEarly && (await rowOf())) && Date.now() < until) await sleep(50);
    req.destroy();
    assert.ok(heldAt > 0, 'the client paused');
    assert.ok(up.closedEarly && !up.finished, 'the upstream call was ended, not read to its end');
    await g.settle();
    const row = await rowOf();
    assert.deepEqual([row.outcome, row.status, row.error_code], ['client_cancelled', 499, 'CLIENT_CANCELLED']);
    assert.match(row.error, /read nothing for 1000 ms/);
    const report = await g.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
  });
});
