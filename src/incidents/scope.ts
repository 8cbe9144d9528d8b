import { z } from 'zod';
import { formatUsd } from '../kernel/money.ts';
import { iso } from '../kernel/validation.ts';
import { OUTCOMES, type Outcome } from '../requests/outcomes.ts';
import { big, num, str, type Db, type Queryable, type SqlValue } from '../storage/port.ts';
import { OUTCOME_PRESETS, lossFor, type LossFormula, type OutcomePreset } from './loss.ts';
import type { Incident } from './model.ts';

// The affected scope of an incident: the request-log rows in its window and scope, selected by an
// outcome preset — `charged` (the default: a platform fault can corrupt what looked like a
// success), `failed` (the platform's or an upstream's fault), `all`. One WHERE clause serves the
// preview (grouped per account, read-only), the export and the reissuance, so they always agree.

/** Outcomes that count as failed: the fault is the platform's or an upstream's. */
export const FAILED_OUTCOMES = (Object.keys(OUTCOMES) as Outcome[]).filter((o) => OUTCOMES[o].fault === 'platform' || OUTCOMES[o].fault === 'upstream');

export const AffectedFilter = z
  .object({
    outcome: z.enum(OUTCOME_PRESETS).optional(),
    account_id: z.string().min(1).max(200).optional(),
  })
  .strict();
export type AffectedFilter = z.infer<typeof AffectedFilter>;

export interface Selection {
  sql: string;
  params: SqlValue[];
  /** The filter as manifests and reissuance records keep it. */
  describe: Record<string, unknown>;
}

const inList = (col: string, values: readonly string[], w: string[], p: SqlValue[]) => {
  if (values.length === 0) return;
  w.push(`${col} IN (${values.map(() => '?').join(', ')})`);
  p.push(...values);
};

/**
 * The WHERE clause of an incident's affected requests. An open window ends `now`. Channels may
 * be named by id or by name (`names` maps names to ids).
 */
export function selection(i: Incident, preset: OutcomePreset, now: number, opts: { accountId?: string | undefined; channelIds?: ReadonlyMap<string, string> } = {}): Selection {
  const end = i.window_end ?? now;
  const w = ['started_at >= ?', 'started_at < ?', 'account_id IS NOT NULL'];
  const p: SqlValue[] = [i.window_start, end];
  inList('model', i.scope.models, w, p);
  inList('channel_id', i.scope.channels.map((c) => opts.channelIds?.get(c) ?? c), w, p);
  inList('endpoint', i.scope.endpoints, w, p);
  inList('account_id', i.scope.accounts, w, p);
  if (opts.accountId !== undefined) (w.push('account_id = ?'), p.push(opts.accountId));
  if (preset === 'charged') w.push('amount > 0');
  else if (preset === 'failed') inList('outcome', FAILED_OUTCOMES, w, p);
  return {
    sql: `WHERE ${w.join(' AND ')}`,
    params: p,
    describe: {
      incident_id: i.id,
      from: iso(i.window_start),
      to: iso(end),
      outcome: preset,
      ...Object.fromEntries(Object.entries(i.scope).filter(([, v]) => v.length > 0)),
      ...(opts.accountId !== undefined ? { account_id: opts.accountId } : {}),
    },
  };
}

/** Channel names → ids, so that a scope may name channels either way. */
export async function channelIds(q: Queryable): Promise<Map<string, string>> {
  return new Map((await q.all('SELECT id, name FROM channels')).map((r) => [str(r.name), str(r.id)]));
}

export interface AccountImpact {
  account_id: string;
  requests: number;
  charged_requests: number;
  failed_requests: number;
  failed_images: number;
  /** Amount charged over the selected requests. */
  charged: bigint;
}

/**
 * Per account, the figures of its affected requests (ordered by account id). Reads only.
 *
 * On SQLite the time index is named: without it the planner prefers a skip-scan of the
 * (account, time) index for the GROUP BY, ten times slower over a long window (bench/incidents.ts).
 * An account filter keeps the planner's choice (the (account, time) index is right then).
 */
export async function affectedByAccount(db: Db, s: Selection): Promise<AccountImpact[]> {
  const failed = FAILED_OUTCOMES.map((o) => `'${o}'`).join(', ');
  const images = (await db.all("SELECT id FROM models WHERE kind = 'images'")).map((r) => str(r.id));
  const image = `endpoint = 'images'${images.length ? ` OR model IN (${images.map(() => '?').join(', ')})` : ''}`;
  const table = db.engine === 'sqlite' && !('account_id' in s.describe) && s.describe.accounts === undefined ? 'request_log INDEXED BY request_log_time' : 'request_log';
  const rows = await db.all(
    `SELECT account_id, COUNT(*) AS requests, SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END) AS charged_requests,
       SUM(CASE WHEN outcome IN (${failed}) THEN 1 ELSE 0 END) AS failed_requests,
       SUM(CASE WHEN outcome IN (${failed}) AND (${image}) THEN 1 ELSE 0 END) AS failed_images,
       CAST(SUM(amount) AS BIGINT) AS charged
     FROM ${table} ${s.sql} GROUP BY account_id ORDER BY account_id`,
    [...images, ...s.params],
  );
  return rows.map((r) => ({
    account_id: str(r.account_id),
    requests: num(r.requests),
    charged_requests: num(r.charged_requests),
    failed_requests: num(r.failed_requests),
    failed_images: num(r.failed_images),
    charged: big(r.charged),
  }));
}

export interface PreviewLine extends AccountImpact {
  /** What the loss formula gives for the account. */
  loss: bigint;
  /** Already reissued to the account for this incident (net of corrections). */
  credited: bigint;
  /** What a reissuance would move now: loss − credited (negative: a correction). */
  to_credit: bigint;
}

/** The preview lines: the formula applied per account, next to what was credited already (also accounts no longer in scope). */
export function previewLines(impacts: AccountImpact[], credited: ReadonlyMap<string, bigint>, formula: LossFormula, reissuable: boolean): PreviewLine[] {
  const lines: PreviewLine[] = impacts.map((a) => {
    const loss = reissuable ? lossFor(formula, a) : 0n;
    const c = credited.get(a.account_id) ?? 0n;
    return { ...a, loss, credited: c, to_credit: loss - c };
  });
  const seen = new Set(impacts.map((a) => a.account_id));
  for (const [account_id, c] of credited) {
    if (!seen.has(account_id) && c !== 0n) lines.push({ account_id, requests: 0, charged_requests: 0, failed_requests: 0, failed_images: 0, charged: 0n, loss: 0n, credited: c, to_credit: -c });
  }
  return lines.sort((x, y) => (x.account_id < y.account_id ? -1 : x.account_id > y.account_id ? 1 : 0));
}

export function lineView(l: PreviewLine): Record<string, unknown> {
  return {
    account_id: l.account_id,
    requests: l.requests,
    charged_requests: l.charged_requests,
    failed_requests: l.failed_requests,
    failed_images: l.failed_images,
    charged: formatUsd(l.charged),
    loss: formatUsd(l.loss),
    credited: formatUsd(l.credited),
    to_credit: formatUsd(l.to_credit),
  };
}
