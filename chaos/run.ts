// `npm run chaos [-- --quick] [-- --only=crash,faults,storage,overload,money] [-- --seed=N] [-- --budget-minutes=M]`
// Crash, upstream-fault, storage-fault, overload and money-race scenarios against real gateways
// (child processes), the real simulator, real SQLite and PostgreSQL (SURETY_TEST_DATABASE_URL),
// on loopback only. Prints a table of figures; exits 1 when an invariant broke. Not part of
// `npm test`. What each figure promises and how it is measured: docs/reliability.md.
import { parseArgs } from 'node:util';
import { Report, rng } from './harness.ts';
import { crashScenario } from './crash.ts';
import { faultScenario } from './faults.ts';
import { storageScenario } from './storage.ts';
import { overloadScenario } from './overload.ts';
import { moneyScenario } from './money.ts';

const SCENARIOS = ['crash', 'faults', 'storage', 'overload', 'money'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    seed: { type: 'string' },
    'budget-minutes': { type: 'string' },
  },
});
const quick = values.quick === true;
const only = (values.only ? values.only.split(',') : [...SCENARIOS]) as Scenario[];
for (const s of only) {
  if (!SCENARIOS.includes(s)) {
    process.stderr.write(`chaos: unknown scenario ${s} (one of ${SCENARIOS.join(', ')})\n`);
    process.exit(2);
  }
}
const seed = values.seed ? Number(values.seed) : Date.now() % 1_000_000;
const random = rng(seed);
const pgUrl = process.env.SURETY_TEST_DATABASE_URL;
const engines: Array<'sqlite' | 'postgres'> = pgUrl ? ['sqlite', 'postgres'] : ['sqlite'];
if (!pgUrl) process.stderr.write('chaos: SURETY_TEST_DATABASE_URL is not set: PostgreSQL scenarios are skipped\n');

const report = new Report();
const started = Date.now();
// A run is bounded: each scenario has its own budget, and the whole run stops at this deadline.
const budgetMs = (values['budget-minutes'] ? Number(values['budget-minutes']) : quick ? 5 : 10) * 60_000;
const watchdog = setTimeout(() => {
  process.stderr.write(`chaos: the run took longer than ${budgetMs / 60_000} minutes; stopping\n`);
  process.stdout.write(`${report.markdown()}\n`);
  process.exit(1);
}, budgetMs);
watchdog.unref();

process.stderr.write(`chaos: ${quick ? 'quick' : 'full'} run, seed ${seed}, engines ${engines.join(' + ')}, scenarios ${only.join(', ')}\n`);
const run: Record<Scenario, () => Promise<void>> = {
  crash: () => crashScenario(report, { kills: quick ? 4 : 20, engines, random, flushMs: 20 }),
  faults: () => faultScenario(report, { seconds: quick ? 10 : 60, random }),
  storage: () => storageScenario(report, { engines, random, quick }),
  overload: () => overloadScenario(report, { seconds: quick ? 8 : 30, random }),
  money: () => moneyScenario(report, { engines, random, rounds: quick ? 100 : 150 }),
};
for (const s of only) {
  const t0 = Date.now();
  process.stderr.write(`\n== ${s}\n`);
  try {
    await run[s]();
  } catch (e) {
    report.check(s, 'scenario ran to its end', (e as Error).stack?.split('\n').slice(0, 3).join(' ') ?? String(e), 'no error', false);
  }
  process.stderr.write(`   (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
}
clearTimeout(watchdog);
const seconds = ((Date.now() - started) / 1000).toFixed(0);
process.stdout.write(`\nchaos: ${quick ? 'quick' : 'full'} run, seed ${seed}, ${seconds} s, ${new Date().toISOString()}\n\n${report.markdown()}\n\n`);
const broken = report.broken;
process.stdout.write(broken.length === 0 ? 'Every invariant held.\n' : `${broken.length} invariant(s) BROKEN.\n`);
process.exit(broken.length === 0 ? 0 : 1);
