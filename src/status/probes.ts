import { createAccount } from '../accounts/accounts.ts';
import { createKey, revokeKey } from '../accounts/keys.ts';
import { listModels, type ModelConfig } from '../catalog/index.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { formatUsd, parseUsd } from '../kernel/money.ts';
import { num, str } from '../storage/port.ts';
import { listComponents, matchesModel, type StatusComponent } from './components.ts';
import { recordProbe } from './samples.ts';
import type { Probe } from './rules.ts';

// Synthetic probes: small periodic requests that tell whether a component works when customers
// are quiet. A model probe is a real request through this gateway (admission, routing, failover,
// the log, the charge), made with the key of an internal account, "Surety status probes": it is
// billed to that account, never to a customer, and capped twice — per component per UTC day
// (`max_usd_per_day`, from the request log) and by the key's own daily spend limit (the sum of
// the caps), which the gateway enforces. An http probe GETs one of Surety's own paths.
// Only a failure of the component counts (5xx, an upstream 429); a refusal of the probe itself
// (its budget spent, a misconfigured model: 4xx) records nothing.

export const PROBE_ACCOUNT_NAME = 'Surety status probes (internal)';
const DAY = 86_400_000;

/** The request a model probe sends: path, headers and body by the model's provider and kind. */
export function probeRequest(m: Pick<ModelConfig, 'id' | 'provider' | 'kind'>, key: string): { path: string; headers: Record<string, string>; body: unknown } {
  const json = { 'content-type': 'application/json' };
  if (m.provider === 'anthropic') return { path: '/v1/messages', headers: { ...json, 'x-api-key': key, 'anthropic-version': '2023-06-01' }, body: { model: m.id, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] } };
  if (m.provider === 'gemini') {
    const gen = m.kind === 'images' ? {} : { generationConfig: { maxOutputTokens: 1 } };
    return { path: `/v1beta/models/${encodeURIComponent(m.id)}:generateContent`, headers: { ...json, 'x-goog-api-key': key }, body: { contents: [{ role: 'user', parts: [{ text: m.kind === 'images' ? 'a small blue dot' : 'ping' }] }], ...gen } };
  }
  const auth = { ...json, authorization: `Bearer ${key}` };
  if (m.kind === 'embeddings') return { path: '/v1/embeddings', headers: auth, body: { model: m.id, input: 'ping' } };
  if (m.kind === 'images') return { path: '/v1/images/generations', headers: auth, body: { model: m.id, prompt: 'a small blue dot', n: 1, size: '1024x1024', quality: 'low' } };
  return { path: '/v1/chat/completions', headers: auth, body: { model: m.id, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 } };
}

/** Did the component fail? null: the answer says nothing about the component (the probe was refused). */
export function probeVerdict(status: number): boolean | null {
  if (status >= 200 && status < 300) return true;
  if (status >= 500 || status === 429) return false;
  return null;
}

export interface ProberOptions {
  /** The first probes run this long after the start (default: each probe's own interval). */
  firstAfterMs?: number;
  /** Caps every probe's interval (the demo probes often, to show live statuses). */
  maxEverySeconds?: number;
}

const KIND_ORDER: Record<string, number> = { chat: 0, embeddings: 1, images: 2 };

export class Prober {
  private readonly rt: Runtime;
  private readonly baseUrl: string;
  private readonly last = new Map<string, number>();
  private readonly lastCost = new Map<string, bigint>();
  private key: { accountId: string; keyId: string; secret: string } | null = null;
  private closed = false;
  private readonly startedAt: number;
  private readonly opts: ProberOptions;

  constructor(rt: Runtime, baseUrl: string, opts: ProberOptions = {}) {
    this.rt = rt;
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.opts = opts;
    this.startedAt = rt.now();
  }

  /** A probe's interval: its own, or shorter in the demo. */
  private every(p: Probe): number {
    return Math.min(p.every_seconds, this.opts.maxEverySeconds ?? Infinity) * 1000;
  }

  /** When a probe first runs: one interval after the start (a short-lived process, a test, sends none), or sooner when asked. */
  private lastRun(id: string, p: Probe): number {
    return this.last.get(id) ?? this.startedAt - this.every(p) + (this.opts.firstAfterMs ?? this.every(p));
  }

  /** The internal account (created once) and a key of this process, limited to the day's total budget. */
  private async ensureKey(comps: readonly StatusComponent[]): Promise<{ accountId: string; keyId: string; secret: string }> {
    if (this.key) return this.key;
    const ctx = withActor(this.rt, { type: 'system', id: 'status-probes' });
    const op = { ...ctx, actor: { type: 'operator' as const, id: 'status-probes' } };
    const row = await this.rt.db.get('SELECT id FROM accounts WHERE name = ? ORDER BY created_at LIMIT 1', [PROBE_ACCOUNT_NAME]);
    const accountId = row ? str(row.id) : (await createAccount(op, { name: PROBE_ACCOUNT_NAME, kind: 'enterprise', credit_line: '1000.00' })).id;
    let total = 0n;
    for (const c of comps) if (c.probe?.kind === 'model') total += parseUsd(c.probe.max_usd_per_day, { allowZero: true });
    const day = total > 0n ? formatUsd(total) : '0.01';
    const { key, secret } = await createKey(op, accountId, { name: `status probes ${new Date(this.rt.now()).toISOString()}`, limits: { day } });
    this.key = { accountId, keyId: key.id, secret };
    return this.key;
  }

  /** Runs every probe that is due. Returns how many ran. */
  async tick(now = this.rt.now()): Promise<number> {
    if (this.closed) return 0;
    const comps = (await listComponents(this.rt)).filter((c) => c.probe !== null);
    const due = comps.filter((c) => now - this.lastRun(c.id, c.probe!) >= this.every(c.probe!));
    if (due.length === 0) return 0;
    const models = (await listModels(this.rt)).filter((m) => m.enabled);
    let ran = 0;
    for (const c of due) {
      this.last.set(c.id, now);
      const p = c.probe!;
      try {
        ran += p.kind === 'http' ? await this.http(c, p.path) : await this.model(c, p, models, comps, now);
      } catch (err) {
        this.rt.log.warn({ err: (err as Error).message, component: c.id }, 'status probe not run');
      }
    }
    return ran;
  }

  private async http(c: StatusComponent, path: string): Promise<number> {
    const t0 = performance.now();
    const ok = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000), redirect: 'manual' }).then(
      (r) => (void r.body?.cancel(), r.status < 500),
      () => false,
    );
    if (this.closed) return 0;
    await recordProbe(this.rt.db, c.id, this.rt.now(), ok, performance.now() - t0);
    return 1;
  }

  private async model(c: StatusComponent, p: Extract<Probe, { kind: 'model' }>, models: ModelConfig[], comps: readonly StatusComponent[], now: number): Promise<number> {
    const m = p.model ? models.find((x) => x.id === p.model) : models.filter((x) => matchesModel(c.models, x.id)).sort((a, b) => (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9))[0];
    if (!m) return 0;
    const key = await this.ensureKey(comps);
    const cap = parseUsd(p.max_usd_per_day, { allowZero: true });
    const spent = await this.rt.db.get('SELECT CAST(SUM(amount) AS BIGINT) AS s FROM request_log WHERE account_id = ? AND model = ? AND started_at >= ?', [key.accountId, m.id, Math.floor(now / DAY) * DAY]);
    if (BigInt(num(spent?.s)) + (this.lastCost.get(m.id) ?? 0n) > cap) return 0;
    const req = probeRequest(m, key.secret);
    const t0 = performance.now();
    const res = await fetch(`${this.baseUrl}${req.path}`, { method: 'POST', headers: req.headers, body: JSON.stringify(req.body), signal: AbortSignal.timeout(120_000) }).then(
      async (r) => (await r.arrayBuffer(), { status: r.status, cost: r.headers.get('x-surety-cost') }),
      () => ({ status: 599, cost: null }),
    );
    if (this.closed) return 0;
    if (res.cost) this.lastCost.set(m.id, parseUsd(res.cost, { allowZero: true }));
    const verdict = probeVerdict(res.status);
    if (verdict === null) {
      this.rt.log.warn({ component: c.id, model: m.id, status: res.status }, 'status probe refused; nothing recorded');
      return 0;
    }
    await recordProbe(this.rt.db, c.id, this.rt.now(), verdict, performance.now() - t0);
    return 1;
  }

  /** Stops probing and revokes this process's probe key. */
  async close(): Promise<void> {
    this.closed = true;
    const k = this.key;
    this.key = null;
    if (k) await revokeKey(withActor(this.rt, { type: 'operator', id: 'status-probes' }), k.accountId, k.keyId).catch(() => {});
  }
}
