// Job leases in storage: one row per background job names the instance that may run it until
// `expires_at`. The holder renews it at every run; when it dies, the lease runs out and the next
// instance whose timer fires takes it. Storage, not Redis: jobs (hold expiry, closes, deliveries)
// must go on while Redis is away, and instances on one database without Redis still run each job
// once.
import type { Claim } from '../kernel/jobs.ts';
import type { Db } from '../storage/port.ts';

export function leaseClaim(db: Db, holder: string, now: () => number): Claim {
  return async (job, ttlMs) => {
    const t = now();
    const r = await db.run(
      `INSERT INTO job_leases (job, holder, expires_at, taken_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
         taken_at = CASE WHEN job_leases.holder = excluded.holder THEN job_leases.taken_at ELSE excluded.taken_at END
       WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= ?`,
      [job, holder, t + ttlMs, t, t],
    );
    return r.changes > 0;
  };
}

/** Gives up this instance's leases (a clean stop): the others take the jobs at their next tick. */
export async function releaseLeases(db: Db, holder: string): Promise<void> {
  await db.run('DELETE FROM job_leases WHERE holder = ?', [holder]);
}
