// Load shedding. Past its capacity a gateway that keeps accepting work only queues it: latency
// grows without bound, memory with it, and every request ends in a timeout. Instead, when the
// event loop runs late (the process has more work than CPU) or too many requests are in flight,
// new data-plane requests are refused at once with `503 OVERLOADED` and `retry-after`, before any
// hold or upstream call; those in flight finish. The control plane is never shed.
import { monitorEventLoopDelay, type ELDHistogram as LoopHistogram } from 'node:perf_hooks';

/** Below this many requests in flight a late event loop is not their doing (a GC, a long export): nothing is shed for it. */
const LAG_MIN_IN_FLIGHT = 64;

export interface ShedOptions {
  /** Requests in flight beyond which new ones are refused (SURETY_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** Mean event-loop delay over the last window beyond which new requests are refused, ms (SURETY_SHED_LAG_MS; 0: off). */
  maxLagMs: number;
}

export class LoadShedder {
  private readonly opts: ShedOptions;
  private readonly histogram: LoopHistogram | null;
  private readonly timer: NodeJS.Timeout | null;
  /** The event loop's mean delay over the last window, ms. */
  lagMs = 0;
  shed = 0;

  constructor(opts: ShedOptions) {
    this.opts = opts;
    if (opts.maxLagMs > 0) {
      const h = (this.histogram = monitorEventLoopDelay({ resolution: 10 }));
      h.enable();
      // A short window: shedding starts within a fraction of a second, and stops as soon.
      this.timer = setInterval(() => {
        this.lagMs = h.count > 0 ? h.mean / 1e6 : 0;
        h.reset();
      }, 250);
      this.timer.unref();
    } else {
      this.histogram = null;
      this.timer = null;
    }
  }

  /** Seconds a refused client should wait, or null when the request may go ahead. */
  refuse(inFlight: number): number | null {
    const late = this.opts.maxLagMs > 0 && this.lagMs > this.opts.maxLagMs && inFlight >= LAG_MIN_IN_FLIGHT;
    if (inFlight < this.opts.maxInFlight && !late) return null;
    this.shed++;
    return 1;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.histogram?.disable();
  }
}
