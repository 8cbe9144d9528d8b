import type { Logger } from 'pino';
import { isAppError } from '../kernel/errors.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import type { Jobs } from '../kernel/jobs.ts';
import { listContracts, segments } from './contracts.ts';
import { closePeriod } from './close.ts';
import { closedPeriod, periodZone, windowOfPeriod } from './service.ts';
import { periodOf, previousPeriod } from './periods.ts';

// Periods close on a schedule: every `intervalMs`, each contract's last three months that ended at
// least `graceMs` ago (rows still being written have landed) and are not closed yet are closed as
// the system. A contract that pays on a claim waits for the claim or for its deadline.

export const SLA_CLOSE_GRACE_MS = 3_600_000;

export async function closeDuePeriods(rt: Runtime, graceMs = SLA_CLOSE_GRACE_MS): Promise<Array<{ contract: string; period: string; credit: string | null }>> {
  const ctx = withActor(rt, { type: 'system', id: 'sla-close' });
  const closed: Array<{ contract: string; period: string; credit: string | null }> = [];
  let after: string | undefined;
  for (;;) {
    const page = await listContracts(ctx, { limit: 200, after });
    for (const c of page) {
      let period = previousPeriod(periodOf(rt.now(), c.versions.at(-1)!.terms.time_zone));
      for (let k = 0; k < 3; k++, period = previousPeriod(period)) {
        const w = windowOfPeriod(c, period);
        if (w.to + graceMs > rt.now() || segments(c, w).length === 0 || (await closedPeriod(rt.db, c.id, period))) continue;
        try {
          const r = await closePeriod(ctx, c.id, period);
          closed.push({ contract: c.id, period, credit: r.credit?.id ?? null });
        } catch (err) {
          if (!isAppError(err) || err.code !== 'SLA_AWAITING_CLAIM') rt.log.error({ err, contract: c.id, period, zone: periodZone(c, period) }, 'SLA period not closed');
        }
      }
    }
    if (page.length < 200) break;
    after = page.at(-1)!.id;
  }
  return closed;
}

export function registerSlaJobs(rt: Runtime & { jobs: Jobs }, log: Logger = rt.log, intervalMs = 600_000): void {
  if (rt.jobs.names.includes('sla-close')) return;
  rt.jobs.register({
    name: 'sla-close',
    intervalMs,
    run: async () => {
      const r = await closeDuePeriods(rt);
      if (r.length) log.info({ sla_periods_closed: r }, 'maintenance');
      return r.length;
    },
  });
}
