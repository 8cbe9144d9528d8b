import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Pool } from 'undici';
import { DeadlineError, UpstreamAbort, transportFailure } from '../../../src/gateway/upstream.ts';

// The upstream call's abort signal (gateway/upstream.ts) through undici itself, against a real
// server that answers slowly: a headers wait and a body read are both cut, with our reason.

/** Runs `fn` with a pool on a server that answers slowly (`/slow-head`, `/slow-body`) or at once (`/fast`). */
async function withSlowServer(fn: (pool: Pool) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    if (req.url === '/slow-head') return void setTimeout(() => res.end('late'), 2_000);
    // Headers at once, the body's end much later.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"a":');
    setTimeout(() => res.end('1}'), req.url === '/slow-body' ? 2_000 : 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new Pool(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  try {
    await fn(pool);
  } finally {
    await pool.destroy();
    server.closeAllConnections();
    server.close();
  }
}

test('UpstreamAbort cuts an undici request waiting for headers, with its reason', async () => {
  await withSlowServer(async (pool) => {
    const ac = new UpstreamAbort();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new DeadlineError()), 50);
    const err = await pool.request({ path: '/slow-head', method: 'GET', signal: ac }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DeadlineError, `rejected with ${String(err)}`);
    assert.equal(transportFailure(err).timeout, true);
    assert.ok(Date.now() - t0 < 1_500, 'cut before the server answered');
  });
});

test('UpstreamAbort cuts a body being read; after a completed call it aborts nothing', async () => {
  await withSlowServer(async (pool) => {
    const ac = new UpstreamAbort();
    const res = await pool.request({ path: '/slow-body', method: 'GET', signal: ac });
    assert.equal(res.statusCode, 200);
    setTimeout(() => ac.abort(new Error('client disconnected')), 50);
    const err = await res.body.arrayBuffer().then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.match(String(err?.message), /client disconnected/);

    // A call that completed: undici took its listener back, so a late abort reaches nothing.
    const done = new UpstreamAbort();
    const ok = await pool.request({ path: '/fast', method: 'GET', signal: done });
    assert.equal(await ok.body.text(), '{"a":1}');
    // undici takes its listener back when the body stream closes (just after its end).
    await new Promise((r) => setImmediate(r));
    assert.equal((done as unknown as { listener: unknown }).listener, null, 'undici removed its listener');
    done.abort(new Error('too late'));
    assert.equal(done.aborted, true);
    const again = await pool.request({ path: '/fast', method: 'GET' });
    assert.equal(await again.body.text(), '{"a":1}', 'the pool still serves');
  });
});

test('UpstreamAbort already aborted refuses the call at once', async () => {
  await withSlowServer(async (pool) => {
    const ac = new UpstreamAbort();
    ac.abort(new DeadlineError());
    ac.abort(new Error('second'));
    assert.ok(ac.reason instanceof DeadlineError, 'the first reason stays');
    await assert.rejects(pool.request({ path: '/fast', method: 'GET', signal: ac }), DeadlineError);
  });
});
