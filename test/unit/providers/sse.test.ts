import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createSseParser, SseLineTooLongError, SseParser, type SseEvent } from '../../../src/providers/sse.ts';

function parseChunks(chunks: Uint8Array[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

function splitAt(buf: Uint8Array, offsets: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const o of offsets) {
    chunks.push(buf.subarray(prev, o));
    prev = o;
  }
  chunks.push(buf.subarray(prev));
  return chunks;
}

// A stream exercising the format: LF, CRLF and lone CR line ends, comments, event names, multi-line
// data, a field without a colon, no space after the colon, two spaces, id/retry, unknown fields,
// an event without data (not dispatched), multi-byte UTF-8, and an empty data field.
const tricky =
  '\uFEFF: a comment line\n' +
  'retry: 3000\n' +
  'event: message_start\n' +
  'data: {"type":"message_start","text":"héllo wörld 日本語 🙂"}\n' +
  '\n' +
  'data:first line\r\n' +
  'data:  second line with two spaces\r\n' +
  'id: 42\r\n' +
  '\r\n' +
  'event: ping\r' +
  'data: cr only 🙂\r' +
  '\r' +
  'event: lonely\n' +
  '\n' +
  'data\n' +
  '\n' +
  'data:\n' +
  'data:\n' +
  '\n' +
  'foo: bar\n' +
  ': keep-alive\n' +
  'data: [DONE]\n' +
  '\n';

const trickyExpected: SseEvent[] = [
  { event: 'message_start', data: '{"type":"message_start","text":"héllo wörld 日本語 🙂"}' },
  { data: 'first line\n second line with two spaces' },
  { event: 'ping', data: 'cr only 🙂' },
  { data: '' },
  { data: '\n' },
  { data: '[DONE]' },
];

test('parses the event stream format', () => {
  assert.deepEqual(parseChunks([Buffer.from(tricky)]), trickyExpected);
});

test('same events whatever the split: every single byte offset', () => {
  const buf = Buffer.from(tricky);
  for (let i = 0; i <= buf.length; i++) {
    assert.deepEqual(parseChunks(splitAt(buf, [i])), trickyExpected, `split at ${i}`);
  }
});

test('same events whatever the split: every pair of offsets', () => {
  const buf = Buffer.from(tricky.slice(0, 140) + 'data: 🙂\r\n\r\n');
  const expected = parseChunks([buf]);
  for (let i = 0; i <= buf.length; i++) {
    for (let j = i; j <= buf.length; j++) {
      assert.deepEqual(parseChunks(splitAt(buf, [i, j])), expected, `split at ${i},${j}`);
    }
  }
});

test('same events whatever the split: byte by byte and random chunkings', () => {
  const buf = Buffer.from(tricky.repeat(5));
  const expected = [...trickyExpected, ...trickyExpected, ...trickyExpected, ...trickyExpected, ...trickyExpected];
  const single: Uint8Array[] = [];
  for (let i = 0; i < buf.length; i++) single.push(buf.subarray(i, i + 1));
  assert.deepEqual(parseChunks(single), expected);
  let seed = 1;
  for (let round = 0; round < 300; round++) {
    const offsets: number[] = [];
    let o = 0;
    for (;;) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      o += seed % 23;
      if (o >= buf.length) break;
      offsets.push(o);
    }
    assert.deepEqual(parseChunks(splitAt(buf, offsets)), expected, `round ${round}`);
  }
});

test('events are returned as soon as they complete', () => {
  const p = createSseParser();
  assert.deepEqual(p.push(Buffer.from('data: a\n')), []);
  assert.deepEqual(p.push(Buffer.from('\ndata: b')), [{ data: 'a' }]);
  assert.deepEqual(p.push(Buffer.from('\r')), []);
  assert.deepEqual(p.push(Buffer.from('\n')), []);
  assert.deepEqual(p.push(Buffer.from('\r\n')), [{ data: 'b' }]);
  assert.deepEqual(p.push(new Uint8Array(0)), []);
  assert.deepEqual(p.end(), []);
});

test('CR at a chunk end followed by LF is one line end, not two', () => {
  const p = new SseParser();
  const out = [...p.push(Buffer.from('data: x\r')), ...p.push(Buffer.from('\ndata: y\r')), ...p.push(Buffer.from('\n\r\n'))];
  assert.deepEqual(out, [{ data: 'x\ny' }]);
});

test('a multi-byte character split across chunks is decoded once', () => {
  const buf = Buffer.from('data: 🙂日\n\n');
  for (let i = 6; i < buf.length - 2; i++) assert.deepEqual(parseChunks(splitAt(buf, [i])), [{ data: '🙂日' }]);
});

test('end() keeps an unterminated last event; a bare stream end dispatches nothing extra', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(Buffer.from('data: {"usage":1}')), []);
  assert.deepEqual(p.end(), [{ data: '{"usage":1}' }]);
  const q = new SseParser();
  q.push(Buffer.from('data: a\ndata: b\n'));
  assert.deepEqual(q.end(), [{ data: 'a\nb' }]);
  const r = new SseParser();
  r.push(Buffer.from('event: x\n'));
  assert.deepEqual(r.end(), []);
});

test('long lines spanning many chunks stay linear and intact', () => {
  const b64 = 'A'.repeat(4 * 1024 * 1024);
  const body = Buffer.from(`event: image_generation.completed\ndata: {"b64_json":"${b64}"}\n\n`);
  const p = new SseParser();
  const out: SseEvent[] = [];
  const t0 = performance.now();
  for (let i = 0; i < body.length; i += 16 * 1024) out.push(...p.push(body.subarray(i, i + 16 * 1024)));
  const ms = performance.now() - t0;
  assert.equal(out.length, 1);
  assert.equal(out[0].event, 'image_generation.completed');
  assert.equal(out[0].data.length, b64.length + 15);
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test('maxLineLength guards against unbounded lines', () => {
  const p = new SseParser({ maxLineLength: 10 });
  assert.deepEqual(p.push(Buffer.from('data: 1\n\n')), [{ data: '1' }]);
  assert.throws(() => p.push(Buffer.from('data: 0123456789')), SseLineTooLongError);
  const q = new SseParser({ maxLineLength: 10 });
  q.push(Buffer.from('data: 01'));
  assert.throws(() => q.push(Buffer.from('23456789\n')), SseLineTooLongError);
});

test('throughput: many small OpenAI chunks', () => {
  const chunk = 'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}\n\n';
  const buf = Buffer.from(chunk.repeat(5000));
  const p = new SseParser();
  let n = 0;
  const t0 = performance.now();
  for (let i = 0; i < buf.length; i += 1400) n += p.push(buf.subarray(i, i + 1400)).length;
  const ms = performance.now() - t0;
  assert.equal(n, 5000);
  assert.ok(ms < 500, `took ${ms} ms`);
});
