import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { DeadlineError, UpstreamAbort, UpstreamAnswer, transportFailure } from '../../../src/gateway/upstream.ts';

// The upstream call (gateway/upstream.ts) through undici itself, against a real server that
// answers slowly: its abort signal cuts a headers wait and a body read, with our reason, for
// `request()` and for the gateway's own UpstreamAnswer (undici's dispatch handler API).

/** The paths the slow server was asked for, in order. */
const seen: string[] = [];

/** Runs `fn` with a pool on a server that answers slowly (`/slow-head`, `/slow-body`) or at once (`/fast`). */
async function withSlowServer(fn: (pool: Pool, origin: string) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/refuse') return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' }).end('{"error":"slow down"}');
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      return void setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"b":2}'), 20);
    }
    if (req.url === '/chunks') {
      // Three chunks, apart: a stream.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('one ');
      setTimeout(() => res.write('two '), 20);
      return void setTimeout(() => res.end('three'), 40);
    }
    if (req.url === '/slow-head') return void setTimeout(() => res.end('late'), 2_000);
    // Headers at once, the body's end much later.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"a":');
    setTimeout(() => res.end('1}'), req.url === '/slow-body' ? 2_000 : 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const pool = new Pool(origin);
  try {
    await fn(pool, origin);
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


/** An answer read whole through UpstreamAnswer, as the gateway reads every answer but a stream's. */
async function callWhole(d: Dispatcher, opts: Dispatcher.DispatchOptions, ac: UpstreamAbort) {
  const a = new UpstreamAnswer(d, opts, ac);
  try {
    const body = await a.whole();
    return { ok: true as const, status: a.status, headers: a.headers, headersAt: a.headersAt!, body };
  } catch (error) {
    return { ok: false as const, status: a.status, headersAt: a.headersAt, error };
  }
}

test('UpstreamAnswer.whole reads an answer whole: status, headers and every chunk; it leaves no listener behind', async () => {
  await withSlowServer(async (pool, origin) => {
    const ac = new UpstreamAbort();
    const before = Date.now();
    const a = await callWhole(pool, { origin, path: '/fast', method: 'GET' }, ac);
    assert.ok(a.ok, `failed: ${a.ok ? '' : String(a.error)}`);
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/json');
    assert.equal(a.body.toString(), '{"a":1}', 'both chunks, in order');
    assert.ok(a.headersAt >= before && a.headersAt <= Date.now());
    assert.equal((ac as unknown as { listener: unknown }).listener, null, 'no listener left on the signal');
    ac.abort(new Error('too late'));
    // An error status is an answer too, read whole with its headers.
    const r = await callWhole(pool, { origin, path: '/refuse', method: 'POST', body: '{}' }, new UpstreamAbort());
    assert.ok(r.ok);
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '3');
    assert.equal(r.body.toString(), '{"error":"slow down"}');
    // An informational answer first (103 Early Hints): the answer starts with the one after it.
    const h = new UpstreamAnswer(pool, { origin, path: '/hints', method: 'GET' }, new UpstreamAbort());
    await h.started();
    assert.equal(h.status, 200, 'started at the final answer, not at the 103');
    assert.equal(h.headers['content-type'], 'application/json');
    assert.equal((await h.whole()).toString(), '{"b":2}');
  });
});

test('UpstreamAnswer.whole cut while waiting for headers: status 0, our reason, a timeout', async () => {
  await withSlowServer(async (pool, origin) => {
    const ac = new UpstreamAbort();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new DeadlineError()), 50);
    const a = await callWhole(pool, { origin, path: '/slow-head', method: 'GET' }, ac);
    assert.equal(a.ok, false);
    assert.equal(a.status, 0);
    assert.equal(a.headersAt, null);
    assert.ok(!a.ok && a.error instanceof DeadlineError, `failed with ${a.ok ? '' : String(a.error)}`);
    assert.equal(transportFailure(!a.ok && a.error).timeout, true);
    assert.ok(Date.now() - t0 < 1_500, 'cut before the server answered');
    // undici's own headers timeout is a timeout as well.
    const late = await callWhole(pool, { origin, path: '/slow-head', method: 'GET', headersTimeout: 50 }, new UpstreamAbort());
    assert.equal(late.ok, false);
    assert.equal(transportFailure(!late.ok && late.error).timeout, true);
  });
});

test('UpstreamAnswer.whole cut in the body: the status that came is kept, with the reason', async () => {
  await withSlowServer(async (pool, origin) => {
    const ac = new UpstreamAbort();
    setTimeout(() => ac.abort(new Error('client disconnected')), 50);
    const a = await callWhole(pool, { origin, path: '/slow-body', method: 'GET' }, ac);
    assert.equal(a.ok, false);
    assert.equal(a.status, 200);
    assert.ok(a.headersAt !== null);
    assert.match(String(!a.ok && (a.error as Error).message), /client disconnected/);
    // Already aborted: refused at once, nothing sent.
    const gone = new UpstreamAbort();
    gone.abort(new DeadlineError());
    const b = await callWhole(pool, { origin, path: '/fast', method: 'GET' }, gone);
    assert.ok(!b.ok && b.error instanceof DeadlineError);
    // The pool still serves after both.
    const c = await callWhole(pool, { origin, path: '/fast', method: 'GET' }, new UpstreamAbort());
    assert.ok(c.ok && c.body.toString() === '{"a":1}');
  });
});

test('UpstreamAnswer.whole to a closed port: a transport failure before any status', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await new Promise((r) => server.close(r));
  const pool = new Pool(origin);
  try {
    const a = await callWhole(pool, { origin, path: '/', method: 'GET' }, new UpstreamAbort());
    assert.equal(a.ok, false);
    assert.equal(a.status, 0);
    assert.match(transportFailure(!a.ok && a.error).detail, /ECONNREFUSED/);
  } finally {
    await pool.destroy();
  }
});

test('UpstreamAnswer.each hands over every chunk as it comes, those in before it was called too', async () => {
  await withSlowServer(async (pool, origin) => {
    const a = new UpstreamAnswer(pool, { origin, path: '/chunks', method: 'GET' }, new UpstreamAbort());
    await a.started();
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'text/event-stream');
    // The first chunk arrives before anyone reads: it is kept, then handed over first.
    await new Promise((r) => setTimeout(r, 10));
    const got: string[] = [];
    await a.each((c) => got.push(c.toString()));
    assert.deepEqual(got.join(''), 'one two three');
    assert.ok(got.length >= 2, `chunks as they came: ${JSON.stringify(got)}`);
  });
});

test('UpstreamAnswer.each: a reader that throws ends the call with its error; a cut mid-stream rejects', async () => {
  await withSlowServer(async (pool, origin) => {
    const a = new UpstreamAnswer(pool, { origin, path: '/chunks', method: 'GET' }, new UpstreamAbort());
    await a.started();
    const seen: string[] = [];
    const err = await a
      .each((c) => {
        seen.push(c.toString());
        if (c.toString().includes('two')) throw new Error('reader failed');
      })
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    assert.match(String(err?.message), /reader failed/);
    assert.ok(!seen.join('').includes('three'), 'nothing handed over after the failure');

    const ac = new UpstreamAbort();
    const b = new UpstreamAnswer(pool, { origin, path: '/slow-body', method: 'GET' }, ac);
    await b.started();
    setTimeout(() => ac.abort(new Error('client disconnected')), 30);
    const parts: string[] = [];
    const cut = await b.each((c) => parts.push(c.toString())).then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.match(String(cut?.message), /client disconnected/);
    assert.equal(parts.join(''), '{"a":', 'what came before the cut was handed over');
  });
});

test('UpstreamAnswer cut while it waits for a connection of the pool is never sent', async () => {
  await withSlowServer(async (_pool, origin) => {
    const one = new Pool(origin, { connections: 1 });
    try {
      const first = new UpstreamAnswer(one, { origin, path: '/slow-head', method: 'GET' }, new UpstreamAbort());
      const ac = new UpstreamAbort();
      const queued = new UpstreamAnswer(one, { origin, path: '/queued', method: 'GET' }, ac);
      ac.abort(new DeadlineError());
      await assert.rejects(queued.started(), DeadlineError);
      assert.ok(first.headersAt === null);
      await first.whole();
      // The connection is free again: had the cut call been sent, it would have been by now.
      const after = new UpstreamAnswer(one, { origin, path: '/fast', method: 'GET' }, new UpstreamAbort());
      assert.equal((await after.whole()).toString(), '{"a":1}');
      assert.ok(!seen.includes('/queued'), `the server was asked for ${JSON.stringify(seen)}`);
    } finally {
      await one.destroy();
    }
  });
});
