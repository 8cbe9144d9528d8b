// Storage faults under load: PostgreSQL restarted (a private cluster of our own, so that nobody
// else's database goes down), SQLite's filesystem made read-only, then full (a small tmpfs).
// Requests must fail as platform_error with a clear error (never a 500), nothing may be charged
// twice, no answered request may lack its row, and the gateway must recover by itself once
// storage is back; the time to recover is reported.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, writeFileSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../src/sim/server.ts';
import { admin, cliVerify, freshStore, makeCustomers, ms, sleep, spawnGateway, writeCatalog, type ChaosKey, type Report, type Store } from './harness.ts';
import { closedLoop, target, type Shot } from './load.ts';

export interface StorageOptions {
  engines: Array<'sqlite' | 'postgres'>;
  random: () => number;
  quick: boolean;
}

interface Fault {
  name: string;
  store: Store;
  brk(): void;
  repair(): void;
  /** Storage comes back only under a new process (the gateway is stopped before `repair`, started after). */
  restart?: boolean;
  cleanup(): void;
}

export async function storageScenario(report: Report, o: StorageOptions): Promise<void> {
  const sim = await startSimulator({ port: 0, quiet: true });
  try {
    const faults: Array<() => Promise<Fault>> = [() => fullDisk(), () => readOnlyDisk()].filter((_, i) => !process.env.CHAOS_STORAGE_ONLY || process.env.CHAOS_STORAGE_ONLY === String(i));
    if (o.engines.includes('postgres')) faults.unshift(() => pgRestart());
    for (const make of faults) {
      let f: Fault | null = null;
      try {
        f = await make();
        await underFault(report, f, sim.url, o);
      } finally {
        await f?.cleanup();
      }
    }
  } finally {
    await sim.close();
  }
}

async function underFault(report: Report, f: Fault, simUrl: string, o: StorageOptions): Promise<void> {
  const name = `storage: ${f.name}`;
  const catalog = writeCatalog(mkdtempSync(join(tmpdir(), 'surety-chaos-cat-')), [simUrl]);
  const env = { ...f.store.env, SURETY_CONFIG: catalog };
  let gw = await spawnGateway(env);
  const t = target(gw.url);
  let stop = false;
  try {
    const keys = await makeCustomers(admin(gw.url), 2, 2, '100.00');
    const funded = await fundedTotal(gw.url, keys);
    const load = closedLoop(t, { concurrency: 8, keys, random: o.random, stop: () => stop, pauseMs: 5 });
    await sleep(1500);
    const brokeAt = Date.now();
    f.brk();
    await sleep(o.quick ? 2500 : 4000);
    if (f.restart) {
      // The operator's way back: stop the gateway (its backlog cannot be written anyway), repair, start it.
      await gw.kill('SIGKILL');
    }
    const repairedAt = Date.now();
    f.repair();
    if (f.restart) {
      gw = await spawnGateway(env);
      await t.agent.close().catch(() => {});
      Object.assign(t, target(gw.url));
    }
    // Recovered: /readyz answers 200 again (storage reachable and the backlog written).
    const died = gw.child.exitCode !== null || gw.child.signalCode !== null;
    report.check(name, 'gateway process alive through the fault', died ? `exited: ${gw.stderr().slice(-2500)}` : 'yes', 'yes', !died);
    let recoveredAt = 0;
    while (!died && Date.now() - repairedAt < 60_000) {
      const r = await fetch(`${gw.url}/readyz`).catch(() => null);
      if (r?.status === 200) {
        recoveredAt = Date.now();
        break;
      }
      await sleep(50);
    }
    await sleep(1500);
    stop = true;
    const shots = await load;
    await gw.kill('SIGTERM');
    const during = shots.filter((s) => s.start >= brokeAt && s.start < repairedAt);
    const refused = during.filter((s) => s.status === 503 && s.code === 'STORAGE_UNAVAILABLE').length;
    const bad = shots.filter((s) => s.status >= 500 && s.code !== 'STORAGE_UNAVAILABLE' && !(f.restart && s.status === 0));
    report.add(name, 'requests during the fault: served / refused 503 STORAGE_UNAVAILABLE', `${during.filter((s) => s.complete).length} / ${refused} of ${during.length}`);
    report.add(name, 'answers during the fault, by status', histogram(during));
    report.check(name, 'answers 5xx other than STORAGE_UNAVAILABLE', bad.length ? `${bad.length} (${[...new Set(bad.map((s) => `${s.status} ${s.code}`))].join(', ')})` : 0, '0', bad.length === 0);
    const how = f.restart ? 'after repair and a restart' : 'by itself';
    report.check(name, `recovered ${how} (/readyz 200 after storage is back)`, recoveredAt ? ms(recoveredAt - repairedAt) : 'no', 'yes', recoveredAt > 0);
    const after = shots.filter((s) => s.start >= (recoveredAt || Infinity));
    report.check(name, 'requests after recovery served', `${after.filter((s) => s.complete).length} of ${after.length}`, 'all', after.length > 0 && after.every((s) => s.complete));
    if (!after.every((s) => s.complete)) report.add(name, 'answers after recovery, by status', histogram(after));
    await money(report, name, f.store, shots, funded, f.restart ? { from: brokeAt, to: repairedAt } : null);
  } finally {
    stop = true;
    await gw.kill('SIGKILL').catch(() => {});
    await t.agent.close().catch(() => {});
  }
}

/** What the accounts were given (paid + bonus), from their balances before the load. */
async function fundedTotal(url: string, keys: ChaosKey[]): Promise<Map<string, bigint>> {
  const a = admin(url);
  const out = new Map<string, bigint>();
  for (const k of keys) {
    if (out.has(k.accountId)) continue;
    const b = await a.call('GET', `/admin/v1/accounts/${k.accountId}/balance`);
    out.set(k.accountId, usd(b.total));
  }
  return out;
}

const usd = (s: string) => {
  const neg = s.startsWith('-');
  const [i, f = ''] = s.replace('-', '').split('.');
  const v = BigInt(i!) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9));
  return neg ? -v : v;
};

/**
 * Every answered request has its row; each account moved by exactly its logged charges; verify
 * passes. With `unwritten` (storage came back only through a restart), answers served while
 * storage could not write are counted apart: their rows and charges died with the process.
 */
async function money(report: Report, name: string, store: Store, shots: Shot[], funded: Map<string, bigint>, unwritten: { from: number; to: number } | null): Promise<void> {
  const db = await store.open();
  try {
    const answered = shots.filter((s) => s.complete && s.id);
    const found = new Set<string>();
    for (let i = 0; i < answered.length; i += 500) {
      const ids = answered.slice(i, i + 500).map((s) => s.id!);
      for (const r of await db.all<{ id: string }>(`SELECT id FROM request_log WHERE id IN (${ids.map(() => '?').join(', ')})`, ids)) found.add(r.id);
    }
    const missing = answered.filter((s) => !found.has(s.id!));
    const inFault = unwritten ? missing.filter((s) => s.end >= unwritten.from - 1000 && s.end <= unwritten.to) : [];
    if (unwritten) report.add(name, 'answered while storage could not write, row and charge lost at the restart (not billed)', inFault.length);
    const other = missing.length - inFault.length;
    report.check(name, 'answered requests without a row', other, '0', other === 0);
    let wrong = 0;
    for (const [accountId, total] of funded) {
      const charged = await db.get<{ s: bigint | null }>('SELECT SUM(amount) AS s FROM request_log WHERE account_id = ?', [accountId]);
      const books = await db.get<{ s: bigint | null }>('SELECT SUM(balance) AS s FROM books WHERE account_id = ?', [accountId]);
      if (BigInt(books?.s ?? 0) !== total - BigInt(charged?.s ?? 0)) wrong++;
    }
    report.check(name, 'accounts whose balance ≠ funds − logged charges (a double or lost charge)', wrong, '0', wrong === 0);
  } finally {
    await db.close();
  }
  const v = cliVerify(store);
  report.check(name, 'surety ledger verify', v.ok ? 'passes' : v.output.slice(0, 300), 'passes', v.ok);
}

function histogram(shots: Shot[]): string {
  const m = new Map<string, number>();
  for (const s of shots) {
    const k = s.status === 0 ? 'no answer' : `${s.status}${s.code ? ` ${s.code}` : ''}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
}

// ---- the faults

/** SQLite on a small tmpfs of its own (size=16m), filled up and emptied again. */
async function fullDisk(): Promise<Fault> {
  const dir = mkdtempSync(join(tmpdir(), 'surety-chaos-fs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir]);
  const store = await freshStore('sqlite', dir);
  const filler = join(dir, 'filler');
  return {
    name: 'sqlite disk full',
    store,
    brk: () => fill(filler),
    repair: () => rmSync(filler, { force: true }),
    cleanup() {
      unmount(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * SQLite on an ext4 image (a loop device) mounted errors=remount-ro, then an error triggered in the
 * filesystem (/sys/fs/ext4/<dev>/trigger_fs_error): the kernel makes it read-only under the open
 * database, as with a failing disk. (A plain `mount -o remount,ro` is refused while files are open
 * for writing, and root ignores file modes.) A disk in that state comes back only through a
 * repair and a remount, which an open file cannot follow: the gateway is restarted after it.
 */
async function readOnlyDisk(): Promise<Fault> {
  const base = mkdtempSync(join(tmpdir(), 'surety-chaos-ro-'));
  const image = join(base, 'disk.img');
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  execFileSync('truncate', ['-s', '64M', image]);
  execFileSync('mkfs.ext4', ['-q', image]);
  const mount = () => execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
  mount();
  const store = await freshStore('sqlite', dir);
  return {
    name: 'sqlite disk read-only',
    store,
    restart: true,
    brk() {
      // What was written so far reaches the disk first: the fault is a disk that stops taking
      // writes, not a power loss (SQLite's synchronous=NORMAL leaves recent commits in the page cache).
      execFileSync('sync', ['-f', join(dir, 'surety.db')]);
      const dev = execFileSync('findmnt', ['-no', 'SOURCE', dir], { encoding: 'utf8' }).trim().split('/').pop()!;
      writeFileSync(`/sys/fs/ext4/${dev}/trigger_fs_error`, '1');
    },
    repair() {
      unmount(dir);
      try {
        execFileSync('e2fsck', ['-fy', image], { stdio: 'ignore' });
      } catch {
        // exit 1: errors corrected
      }
      mount();
    },
    cleanup() {
      unmount(dir);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
  }
}

/** Writes zeros until the filesystem is full. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch {
    // ENOSPC: full
  } finally {
    closeSync(fd);
  }
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A PostgreSQL cluster of our own (initdb as the postgres user), stopped and started again. */
async function pgRestart(): Promise<Fault> {
  const base = mkdtempSync(join(tmpdir(), 'surety-chaos-pg-'));
  chownSync(base, uid('postgres'), gid('postgres'));
  const data = join(base, 'data');
  const port = String(56000 + Math.floor(Math.random() * 2000));
  const opts = `-p ${port} -k ${base} -c listen_addresses=127.0.0.1 -c fsync=on`;
  const pgctl = (...args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', data, ...args], { stdio: 'ignore' });
  execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres'], { stdio: 'ignore' });
  pgctl('-o', opts, '-l', join(base, 'log'), '-w', 'start');
  const dir = mkdtempSync(join(tmpdir(), 'surety-chaos-'));
  mkdirSync(dir, { recursive: true });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const store: Store = {
    engine: 'postgres',
    env: { SURETY_DATA_DIR: dir, DATABASE_URL: url },
    dataDir: dir,
    databaseUrl: url,
    open: async () => new (await import('../src/storage/postgres/db.ts')).PostgresDb(url),
    async dispose() {},
  };
  writeFileSync(join(base, 'note'), 'surety chaos: a private PostgreSQL cluster');
  return {
    name: 'postgresql restarted',
    store,
    brk: () => void pgctl('-m', 'fast', '-w', 'stop'),
    repair: () => void pgctl('-o', opts, '-l', join(base, 'log'), '-w', 'start'),
    cleanup() {
      try {
        pgctl('-m', 'immediate', '-w', 'stop');
      } catch {
        // already stopped
      }
      rmSync(base, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const uid = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
const gid = (user: string) => Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
