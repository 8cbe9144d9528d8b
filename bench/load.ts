// A closed-loop load generator in its own process: `c` connections each send the next request as
// soon as the previous one completes, for `seconds`. Latency in microseconds (hrtime); for
// streams, also time to the first body chunk. Prints one JSON line.
import { Pool } from 'undici';

const [url, path, key, body, cStr, secStr, streamStr] = process.argv.slice(2);
const c = Number(cStr);
const seconds = Number(secStr);
const stream = streamStr === '1';
const origin = new URL(url!).origin;
const pool = new Pool(origin, { connections: c, pipelining: 1, keepAliveTimeout: 30_000 });
// A body of "-" is a GET (the status page), asked for as a browser asks: gzip accepted.
const get = body === '-';
const headers: Record<string, string> = get ? { 'accept-encoding': 'gzip' } : { 'content-type': 'application/json', authorization: `Bearer ${key}` };
const lat: number[] = [];
const ttfb: number[] = [];
let errors = 0;
let running = true;

async function loop(): Promise<void> {
  while (running) {
    const t0 = process.hrtime.bigint();
    try {
      const r = get ? await pool.request({ path: path!, method: 'GET', headers }) : await pool.request({ path: path!, method: 'POST', headers, body });
      let first = true;
      for await (const _chunk of r.body) {
        if (first) {
          ttfb.push(Number(process.hrtime.bigint() - t0) / 1000);
          first = false;
        }
      }
      if (r.statusCode !== 200) errors++;
      else lat.push(Number(process.hrtime.bigint() - t0) / 1000);
    } catch {
      errors++;
    }
  }
}

// Warm-up: connections open, JIT warm, then measure.
running = true;
const warm = Array.from({ length: c }, loop);
await new Promise((r) => setTimeout(r, 500));
running = false;
await Promise.all(warm);
lat.length = 0;
ttfb.length = 0;
errors = 0;
running = true;
const start = process.hrtime.bigint();
const loops = Array.from({ length: c }, loop);
await new Promise((r) => setTimeout(r, seconds * 1000));
running = false;
await Promise.all(loops);
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
const pct = (a: number[], p: number) => {
  if (a.length === 0) return 0;
  const s = Float64Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
process.stdout.write(
  `${JSON.stringify({ n: lat.length, errors, rps: lat.length / elapsed, p50: pct(lat, 50), p99: pct(lat, 99), ttfb50: stream ? pct(ttfb, 50) : null, ttfb99: stream ? pct(ttfb, 99) : null })}\n`,
);
await pool.close();
