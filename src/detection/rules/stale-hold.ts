import { formatUsd } from '../../kernel/money.ts';
import type { Candidate, HoldRule } from './types.ts';

/**
 * A hold neither posted nor voided past its TTL (plus a grace for the expiry job), which keeps
 * the customer's money reserved; or a hold posted after its TTL, which charged what should have
 * been released. Verifying a stale open hold voids it; a late posting is paid back.
 */
export const staleHold: HoldRule = {
  name: 'stale_hold',
  description: 'a hold neither posted nor voided past its TTL (or posted after it)',
  on: 'holds',
  check(holds, ctx) {
    const out: Candidate[] = [];
    for (const h of holds) {
      const open = h.status === 'open' && h.expires_at + ctx.staleHoldGraceMs < ctx.now;
      const late = h.status === 'posted' && h.posted > 0n && h.settled_at !== null && h.settled_at > h.expires_at;
      if (!open && !late) continue;
      const reason = open
        ? `Hold ${h.id} of $${formatUsd(h.amount)} is still open ${Math.round((ctx.now - h.expires_at) / 1000)} s after its TTL ended: it keeps the customer's money reserved.`
        : `Hold ${h.id} was posted for $${formatUsd(h.posted)} ${Math.round((h.settled_at! - h.expires_at) / 1000)} s after its TTL ended, when it should have been released.`;
      out.push({
        rule: this.name,
        subject: h.id,
        account_id: h.account_id,
        model: null,
        request_ids: [],
        charged: h.posted,
        stakes: open ? {} : { [`hold:${h.id}`]: h.posted },
        reason,
        evidence: { hold_id: h.id, status: h.status, amount: h.amount, posted: h.posted, expires_at: new Date(h.expires_at).toISOString(), settled_at: h.settled_at === null ? null : new Date(h.settled_at).toISOString() },
        occurred_at: open ? h.expires_at : h.settled_at!,
      });
    }
    return out;
  },
};
