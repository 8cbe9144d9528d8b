// `npm run bench`: the simulator directly, a bare Node passthrough and Surety with every feature
// on, measured interleaved in one run (this machine is noisy: only ratios against the baseline
// measured in the same run mean anything). Each target and the load generator run in their own
// processes. Prints a table and writes .bench/results.json. No assertions: numbers, not tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const node = process.execPath;
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const secs = Number(process.env.BENCH_SECONDS ?? 3);
const here = new URL('.', import.meta.url).pathname;

interface Target {
  name: string;
  url: string;
  key: string;
  proc: ChildProcess;
}

// Surety runs with the flags `npm start` gives it (a smaller young generation: same throughput
// here, ~60 MB less peak RSS; 8 MB would save more but triples the time in GC).
const START_FLAGS = (/"start":\s*"node ([^"]*?)src\/main\.ts"/.exec(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean);

function start(script: string, args: string[], flags: string[] = []): Promise<{ proc: ChildProcess; info: { url: string; key?: string } }> {
  const proc = spawn(node, [...flags, here + script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', (line) => resolve({ proc, info: JSON.parse(line) }));
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000; // utime + stime, in clock ticks of 10 ms
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

interface Run {
  n: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  ttfb50: number | null;
  ttfb99: number | null;
  cpuPerReq: number;
}

async function load(t: Target, c: number, stream: boolean, seconds: number): Promise<Run> {
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello to the benchmark. [[sim:tokens=16]]' }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  const cpu0 = cpuMicros(t.proc.pid!);
  const p = spawn(node, [here + 'load.ts', t.url, '/v1/chat/completions', t.key, body, String(c), String(seconds), stream ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  await new Promise((r) => p.once('exit', r));
  const cpu1 = cpuMicros(t.proc.pid!);
  const r = JSON.parse(out.trim().split('\n').pop()!) as Omit<Run, 'cpuPerReq'>;
  // The warm-up half second is in the CPU figure too; count its requests in by rate.
  const totalReq = r.n + r.rps * 0.5;
  return { ...r, cpuPerReq: totalReq > 0 ? (cpu1 - cpu0) / totalReq : 0 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

const children: ChildProcess[] = [];
const started = async (script: string, args: string[], flags: string[] = []) => {
  try {
    const s = await start(script, args, flags);
    children.push(s.proc);
    return s;
  } catch (e) {
    for (const c of children) c.kill('SIGTERM');
    throw e;
  }
};
const simP = await started('sim-target.ts', []);
const sim: Target = { name: 'simulator', url: simP.info.url, key: 'sk-bench', proc: simP.proc };
const ptP = await started('passthrough.ts', [sim.url]);
const pt: Target = { name: 'passthrough', url: ptP.info.url, key: 'sk-bench', proc: ptP.proc };
const suP = await started('surety-target.ts', [sim.url], START_FLAGS);
const su: Target = { name: 'surety', url: suP.info.url, key: suP.info.key!, proc: suP.proc };
const targets = [sim, pt, su];

const scenarios = [
  { id: 'c1', c: 1, stream: false, seconds: Math.max(2, secs - 1) },
  { id: 'c64', c: 64, stream: false, seconds: secs },
  { id: 'stream-c1', c: 1, stream: true, seconds: Math.max(2, secs - 1) },
] as const;

const results: Record<string, Record<string, Run[]>> = {};
for (let round = 0; round < rounds; round++) {
  for (const sc of scenarios) {
    // Rotate the order each round so no target always runs first (or last).
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of order) {
      const r = await load(t, sc.c, sc.stream, sc.seconds);
      ((results[sc.id] ??= {})[t.name] ??= []).push(r);
      process.stderr.write(`round ${round + 1}/${rounds} ${sc.id.padEnd(9)} ${t.name.padEnd(11)} ${r.rps.toFixed(0).padStart(6)} req/s p50 ${(r.p50 / 1000).toFixed(3)} ms${r.errors ? ` errors ${r.errors}` : ''}\n`);
    }
  }
}

const agg = (sc: string, t: string) => {
  const rs = results[sc]![t]!;
  return {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)) / 1000,
    p99: median(rs.map((r) => r.p99)) / 1000,
    ttfb50: rs[0]!.ttfb50 === null ? null : median(rs.map((r) => r.ttfb50!)) / 1000,
    cpu: median(rs.map((r) => r.cpuPerReq)),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  };
};

const rss = Object.fromEntries(targets.map((t) => [t.name, peakRssMb(t.proc.pid!)]));
const lines: string[] = [];
const row = (cells: string[]) => lines.push(`| ${cells.join(' | ')} |`);
row(['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'TTFB p50 ms', 'CPU µs/req', 'errors']);
row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:']);
for (const sc of scenarios) {
  for (const t of targets) {
    const a = agg(sc.id, t.name);
    row([sc.id, t.name, a.rps.toFixed(0), a.p50.toFixed(3), a.p99.toFixed(3), a.ttfb50 === null ? '' : a.ttfb50.toFixed(3), a.cpu.toFixed(0), String(a.errors)]);
  }
}
const c1 = { sim: agg('c1', 'simulator'), pt: agg('c1', 'passthrough'), su: agg('c1', 'surety') };
const c64 = { sim: agg('c64', 'simulator'), pt: agg('c64', 'passthrough'), su: agg('c64', 'surety') };
const st = { sim: agg('stream-c1', 'simulator'), pt: agg('stream-c1', 'passthrough'), su: agg('stream-c1', 'surety') };
const verdict = (ok: boolean) => (ok ? 'within budget' : 'OVER BUDGET');
const summary = {
  overhead_p50_ms: c1.su.p50 - c1.sim.p50,
  passthrough_overhead_p50_ms: c1.pt.p50 - c1.sim.p50,
  throughput_ratio_vs_passthrough: c64.su.rps / c64.pt.rps,
  cpu_us_per_request: c64.su.cpu,
  peak_rss_mb: rss.surety!,
  ttfb_overhead_ms: (st.su.ttfb50 ?? 0) - (st.sim.ttfb50 ?? 0),
};
lines.push('');
lines.push(`overhead p50 at c=1: ${summary.overhead_p50_ms.toFixed(3)} ms (passthrough ${summary.passthrough_overhead_p50_ms.toFixed(3)} ms; budget ≤ 0.2 ms) — ${verdict(summary.overhead_p50_ms <= 0.2)}`);
lines.push(`throughput at c=64: ${(summary.throughput_ratio_vs_passthrough * 100).toFixed(0)} % of the passthrough (budget ≥ 60 %) — ${verdict(summary.throughput_ratio_vs_passthrough >= 0.6)}`);
lines.push(`CPU per request: ${summary.cpu_us_per_request.toFixed(0)} µs (budget ≤ 200 µs) — ${verdict(summary.cpu_us_per_request <= 200)}`);
lines.push(`peak RSS: ${summary.peak_rss_mb.toFixed(0)} MB (budget ≤ 256 MB) — ${verdict(summary.peak_rss_mb <= 256)}`);
lines.push(`first-chunk overhead: ${summary.ttfb_overhead_ms.toFixed(3)} ms (budget ≤ 1 ms) — ${verdict(summary.ttfb_overhead_ms <= 1)}`);
process.stdout.write(`\n${lines.join('\n')}\n`);
mkdirSync('.bench', { recursive: true });
writeFileSync('.bench/results.json', JSON.stringify({ at: new Date().toISOString(), rounds, seconds: secs, results, summary, peak_rss_mb: rss }, null, 2));
for (const t of targets) t.proc.kill('SIGTERM');
