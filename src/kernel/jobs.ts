// Background jobs (hold expiry, balance expiry, and the guarantees' scanners, closes, probes and
// deliveries as they come): each registered once by name, run every `intervalMs`, never two runs
// of one job at once in this process. `claim` decides whether this process may run a job now:
// alone, always; with several instances it takes a lease (cluster/leases.ts), renewed while a run
// lasts, so that exactly one instance runs each job and another takes over when it dies. A job
// marked `each` (an instance's own heartbeat) runs on every instance, unclaimed.
import type { Logger } from 'pino';

export interface Job {
  name: string;
  intervalMs: number;
  /** Runs on every instance (never claimed). */
  each?: boolean;
  /** One run; what it returns is logged at debug level. */
  run(): Promise<unknown>;
}

/** May this process run `job` now? (A lease taken or renewed for about `ttlMs`.) */
export type Claim = (job: string, ttlMs: number) => Promise<boolean>;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly log: Logger;
  private started = false;
  claim: Claim = async () => true;

  constructor(log: Logger) {
    this.log = log;
  }

  register(job: Job): void {
    if (this.jobs.has(job.name)) throw new Error(`job ${job.name} is registered twice`);
    this.jobs.set(job.name, job);
    if (this.started) this.schedule(job);
  }

  get names(): string[] {
    return [...this.jobs.keys()];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const job of this.jobs.values()) this.schedule(job);
  }

  private schedule(job: Job): void {
    const t = setInterval(() => void this.tick(job), job.intervalMs);
    t.unref();
    this.timers.set(job.name, t);
  }

  private async tick(job: Job): Promise<void> {
    if (this.running.has(job.name)) return;
    const ttl = job.intervalMs * 3;
    let mine: boolean;
    try {
      mine = job.each === true || (await this.claim(job.name, ttl));
    } catch (err) {
      this.log.warn({ err, job: job.name }, 'job lease not taken');
      return;
    }
    if (!mine) return;
    // A run longer than the lease keeps it: renewed every third of its life while it lasts.
    const renew = job.each ? null : setInterval(() => void this.claim(job.name, ttl).catch(() => {}), Math.max(50, ttl / 3));
    renew?.unref();
    try {
      await this.runNow(job.name);
    } finally {
      if (renew) clearInterval(renew);
    }
  }

  /** Runs a job now (unless it is running: then waits for that run). */
  runNow(name: string): Promise<void> {
    const job = this.jobs.get(name);
    if (!job) return Promise.reject(new Error(`no job ${name}`));
    const current = this.running.get(name);
    if (current) return current;
    const p = job
      .run()
      .then((out) => {
        if (out) this.log.debug({ job: name, out }, 'job ran');
      })
      .catch((err) => this.log.error({ err, job: name }, 'job failed'))
      .finally(() => this.running.delete(name));
    this.running.set(name, p);
    return p;
  }

  /** Stops scheduling and waits for runs in progress. */
  async stop(): Promise<void> {
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
    this.started = false;
    await Promise.all(this.running.values());
  }
}
