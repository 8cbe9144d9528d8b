// `node bench/translate.ts`: the CPU that translation adds to a stream, measured in process CPU
// time (less disturbed than wall time on a loaded machine): for each pair, the first chunk (what
// delays the caller's first byte) and a whole 16-token stream, through the same SSE parser the
// gateway uses. The streams are the simulator's own frames. No assertions: numbers.
import { Buffer } from 'node:buffer';
import { SseParser } from '../src/providers/sse.ts';
import type { Provider } from '../src/providers/provider.ts';
import { streamTranslator, type Dialect } from '../src/providers/translate/index.ts';
import { startSimulator } from '../src/sim/server.ts';

const sim = await startSimulator({ port: 0, quiet: true });
const content = 'Say hello to the benchmark. [[sim:tokens=16]]';
const ask = async (path: string, body: unknown) => Buffer.from(await (await fetch(sim.url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer b' }, body: JSON.stringify(body) })).arrayBuffer());
const streams: Record<Provider, Buffer> = {
  openai: await ask('/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content }] }),
  anthropic: await ask('/v1/messages', { model: 'claude', max_tokens: 100, stream: true, messages: [{ role: 'user', content }] }),
  gemini: await ask('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: [{ role: 'user', parts: [{ text: content }] }] }),
};
await sim.close();

/** CPU µs per run of `fn`, median of 5 batches. */
function cpu(fn: () => void, n = 5000): number {
  for (let i = 0; i < 500; i++) fn();
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const d = process.cpuUsage(t0);
    batches.push((d.user + d.system) / n);
  }
  return batches.sort((a, b) => a - b)[2]!;
}

const ctx = { model: 'm', request: { stream_options: { include_usage: true } }, requestId: 'req_bench', created: 1 };
const rows: string[] = ['| upstream → caller | first chunk, µs CPU | whole stream (16 tokens), µs CPU | parse only (the untranslated path), µs CPU |', '|---|---:|---:|---:|'];
const pairs: Array<[Provider, Dialect]> = [['anthropic', 'openai'], ['gemini', 'openai'], ['openai', 'anthropic'], ['gemini', 'anthropic'], ['openai', 'gemini'], ['anthropic', 'responses']];
for (const [up, client] of pairs) {
  const bytes = streams[up];
  const end = /\r?\n\r?\n/.exec(bytes.toString('latin1'))!;
  const first = bytes.subarray(0, end.index + end[0].length);
  const run = (buf: Buffer, translate: boolean) => () => {
    const p = new SseParser();
    const tr = translate ? streamTranslator(up, client, ctx) : null;
    for (const ev of p.push(buf)) tr?.feed(ev);
    for (const ev of p.end()) tr?.feed(ev);
  };
  rows.push(`| ${up} → ${client} | ${cpu(run(first, true)).toFixed(1)} | ${cpu(run(bytes, true)).toFixed(1)} | ${cpu(run(bytes, false)).toFixed(1)} |`);
}
process.stdout.write(`${rows.join('\n')}\n`);
