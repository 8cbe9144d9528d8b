import { formatUsd } from '../../kernel/money.ts';
import type { Candidate, RowRule, ScanRow } from './types.ts';

/**
 * The same request charged more than once: rows that carry the same client reference (the
 * client's Idempotency-Key or x-request-id: a retry the client meant as the same request), or
 * that are the same request stored twice (same key, model, amount, the same start, first-byte
 * and end milliseconds, duration and upstream attempts). In each group the first row (smallest id) is the charge that stands;
 * every other is a finding of its own, so that a third copy found later is paid back once too.
 */
export const doubleCharge: RowRule = {
  name: 'double_charge',
  description: 'the same request, retry chain or client Idempotency-Key / x-request-id charged more than once',
  on: 'rows',
  check(rows) {
    const groups = new Map<string, ScanRow[]>();
    const add = (k: string, r: ScanRow) => {
      const g = groups.get(k);
      if (g) g.push(r);
      else groups.set(k, [r]);
    };
    for (const r of rows) {
      if (r.amount <= 0n || r.account_id === null) continue;
      if (r.client_ref !== null) add(`c\u0000${r.account_id}\u0000${r.client_ref}`, r);
      // The upstream attempts (each timed to the microsecond) and the duration tell two requests
      // of a busy key apart that started, answered and ended in the same milliseconds at the same
      // price (identical prompts at c=64 did, by the thousand); a row stored twice has them equal.
      add(`f\u0000${r.account_id}\u0000${r.key_id}\u0000${r.model}\u0000${r.started_at}\u0000${r.first_byte_at}\u0000${r.ended_at}\u0000${r.amount}\u0000${r.duration_ms}\u0000${r.attempts}`, r);
    }
    const out = new Map<string, Candidate>();
    for (const [k, g] of groups) {
      if (g.length < 2) continue;
      const byClient = k.startsWith('c');
      const sorted = [...new Map(g.map((r) => [r.id, r])).values()].sort((a, b) => (a.id < b.id ? -1 : 1));
      const first = sorted[0]!;
      for (const dup of sorted.slice(1)) {
        if (out.has(dup.id)) continue;
        const how = byClient
          ? `request ${dup.id} has the same client reference ${JSON.stringify(dup.client_ref)} as request ${first.id}`
          : `request ${dup.id} is request ${first.id} stored twice (same key, model, amount, start and end)`;
        out.set(dup.id, {
          rule: this.name,
          subject: dup.id,
          account_id: dup.account_id,
          model: dup.model,
          request_ids: [dup.id, first.id],
          charged: dup.amount,
          stakes: { [dup.id]: dup.amount },
          reason: `Charged $${formatUsd(dup.amount)} a second time: ${how}, already charged $${formatUsd(first.amount)}.`,
          evidence: { request_id: dup.id, original_request_id: first.id, amount: dup.amount, original_amount: first.amount, matched_by: byClient ? 'client_ref' : 'identical_row', client_ref: dup.client_ref },
          occurred_at: dup.ended_at,
        });
      }
    }
    return [...out.values()];
  },
};
