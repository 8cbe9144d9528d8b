import { withActor } from '../kernel/context.ts';
import type { RuntimeHandle } from '../runtime.ts';
import { SYSTEM, autoCompensate } from './compensation.ts';
import { settleModeration } from './moderation.ts';
import { addMonths, monthOf } from './programme.ts';
import { scanIncremental } from './scanner.ts';
import { programmeSettings } from './settings.ts';

// Detection's background jobs (kernel/jobs.ts: one instance runs each, under a lease):
// - `detection-scan`: the continuous scan from its checkpoint, then the programme's automatic
//   verification and compensation;
// - `moderation-settle`: last month's moderation reimbursement, once it is over (idempotent: a
//   month already settled pays nothing new).

export const SCAN_JOB = 'detection-scan';
export const MODERATION_JOB = 'moderation-settle';

export function registerDetectionJobs(rt: RuntimeHandle, opts: { scanMs?: number; moderationMs?: number } = {}): void {
  if (rt.jobs.names.includes(SCAN_JOB)) return;
  rt.jobs.register({
    name: SCAN_JOB,
    intervalMs: opts.scanMs ?? 15_000,
    run: async () => {
      const scan = await scanIncremental(rt);
      const auto = await autoCompensate(rt);
      if (scan.created || auto.compensated) rt.log.info({ rows: scan.rows, findings: scan.created, ...auto }, 'abnormal-billing scan');
      return { scan, auto };
    },
  });
  rt.jobs.register({
    name: MODERATION_JOB,
    intervalMs: opts.moderationMs ?? 3_600_000,
    run: async () => {
      const s = await programmeSettings(rt);
      if (Object.keys(s.moderation.models).length === 0) return null;
      const month = addMonths(monthOf(rt.now(), s.time_zone), -1);
      const run = await settleModeration(withActor(rt, SYSTEM), month);
      const paid = run.settlements.filter((x) => !x.replayed).length;
      if (paid) rt.log.info({ month, settlements: paid }, 'moderation reimbursement settled');
      return paid;
    },
  });
}
