// HAProxy with deploy/haproxy.cfg in front of the instances given as argv[2..] (their URLs), on a
// free port; prints its URL once it answers. Stopped with the bench (SIGTERM).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const backends = process.argv.slice(2).map((u) => new URL(u).host);
const srv = createServer();
await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
const port = (srv.address() as { port: number }).port;
await new Promise((r) => srv.close(r));
const base = readFileSync(new URL('../deploy/haproxy.cfg', import.meta.url), 'utf8').replace('127.0.0.1:8080', `127.0.0.1:${port}`).replace(/^\s*log stdout.*$/m, '');
const servers = backends.map((h, i) => `    server surety${i + 1} ${h}`).join('\n');
const cfg = base.replace(/(    server surety\d .*\n?)+/, `${servers}\n`);
const dir = mkdtempSync(join(tmpdir(), 'surety-bench-lb-'));
writeFileSync(join(dir, 'haproxy.cfg'), cfg);
const lb = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'inherit'] });
process.once('SIGTERM', () => {
  lb.kill('SIGTERM');
  process.exit(0);
});
const url = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
  if ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) === 200) break;
  await new Promise((r) => setTimeout(r, 50));
}
// Its health checks see every instance up before the load starts.
await new Promise((r) => setTimeout(r, 2500));
process.stdout.write(`${JSON.stringify({ url, pid: lb.pid })}\n`);
