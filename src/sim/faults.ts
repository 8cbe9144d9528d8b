// Fault schedule with deterministic error rates.

import type { FaultMode, SimFault } from './types.ts';

interface Entry {
  fault: Required<Pick<SimFault, 'model' | 'error_rate' | 'status' | 'mode'>> & Pick<SimFault, 'from' | 'to'>;
  /** Requests seen per model (the counter behind the deterministic rate). */
  counters: Map<string, number>;
}

export interface FaultHit {
  mode: FaultMode;
  status: number;
}

const MODES: readonly string[] = ['error', 'timeout', 'reset', 'quota'];

/** Validate and normalise user input; throws Error with a readable message. */
export function normalizeFaults(input: unknown): SimFault[] {
  if (!Array.isArray(input)) throw new Error('"faults" must be an array');
  return input.map((raw, i): SimFault => {
    if (raw === null || typeof raw !== 'object') throw new Error(`faults[${i}] must be an object`);
    const f = raw as Record<string, unknown>;
    if (typeof f.model !== 'string' || f.model === '') throw new Error(`faults[${i}].model must be a non-empty string`);
    const rate = f.error_rate === undefined ? 1 : f.error_rate;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error(`faults[${i}].error_rate must be a number in [0,1]`);
    const status = f.status === undefined ? 503 : f.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
      throw new Error(`faults[${i}].status must be an integer in [400,599]`);
    }
    const mode = f.mode === undefined ? 'error' : f.mode;
    if (typeof mode !== 'string' || !MODES.includes(mode)) throw new Error(`faults[${i}].mode must be error|timeout|reset|quota`);
    for (const k of ['from', 'to'] as const) {
      if (f[k] !== undefined && f[k] !== null && (typeof f[k] !== 'number' || !Number.isFinite(f[k]))) {
        throw new Error(`faults[${i}].${k} must be epoch milliseconds`);
      }
    }
    const out: SimFault = { model: f.model, error_rate: rate, status, mode: mode as FaultMode };
    if (typeof f.from === 'number') out.from = f.from;
    if (typeof f.to === 'number') out.to = f.to;
    return out;
  });
}

export class FaultSchedule {
  private entries: Entry[] = [];

  set(faults: SimFault[]): void {
    this.entries = normalizeFaults(faults).map((f) => ({
      fault: {
        model: f.model,
        error_rate: f.error_rate ?? 1,
        status: f.status ?? 503,
        mode: f.mode ?? 'error',
        from: f.from,
        to: f.to,
      },
      counters: new Map(),
    }));
  }

  list(): SimFault[] {
    return this.entries.map((e) => {
      const f: SimFault = { model: e.fault.model, error_rate: e.fault.error_rate, status: e.fault.status, mode: e.fault.mode };
      if (e.fault.from !== undefined) f.from = e.fault.from;
      if (e.fault.to !== undefined) f.to = e.fault.to;
      return f;
    });
  }

  clear(): void {
    this.entries = [];
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Entries are tried in order; each matching entry (model and time window) advances its own
   * per-model counter; the first one whose deterministic sequence says "fail" wins, and later
   * entries are not advanced for that request.
   */
  check(model: string, now: number): FaultHit | null {
    const entries = this.entries;
    if (entries.length === 0) return null;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      const f = e.fault;
      if (f.model !== '*' && f.model !== model) continue;
      if (f.from !== undefined && now < f.from) continue;
      if (f.to !== undefined && now >= f.to) continue;
      const i = e.counters.get(model) ?? 0;
      e.counters.set(model, i + 1);
      const rate = f.error_rate;
      // epsilon guards against products like 0.29*100 = 28.999999999999996
      if (Math.floor((i + 1) * rate + 1e-9) > Math.floor(i * rate + 1e-9)) {
        return { mode: f.mode, status: f.status };
      }
    }
    return null;
  }
}
