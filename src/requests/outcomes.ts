// The outcome vocabulary (DESIGN "Outcomes"): every request ends with exactly one. It says who is
// at fault, whether the request may be billed, and how it counts for availability. The policy
// that decides a request's outcome is requests/policy.ts; test/unit/requests/outcomes.test.ts pins
// this table against DESIGN.md.

export const OUTCOMES = {
  ok: { billed: 'usage', fault: 'none', availability: 'good', meaning: 'The upstream answered and the response was delivered.' },
  client_error: { billed: 'no', fault: 'client', availability: 'excluded', meaning: 'The request was invalid (bad body, unknown model, too large).' },
  auth_error: { billed: 'no', fault: 'client', availability: 'excluded', meaning: 'The key was missing, wrong, expired or revoked, or not allowed this.' },
  insufficient_balance: { billed: 'no', fault: 'client', availability: 'excluded', meaning: 'The account could not pay for the request.' },
  key_limit: { billed: 'no', fault: 'client', availability: 'excluded', meaning: "The key's spend limit did not cover the request." },
  rate_limited: { billed: 'no', fault: 'client', availability: 'excluded', meaning: "The key's or account's own rate or concurrency limit was reached." },
  client_cancelled: { billed: 'delivered', fault: 'client', availability: 'excluded', meaning: 'The client went away mid-request; only what was delivered is billed.' },
  upstream_rate_limited: { billed: 'no', fault: 'upstream', availability: 'contract', meaning: 'The upstream rate-limited the request, after retries.' },
  upstream_moderation: { billed: 'model_policy', fault: 'upstream', availability: 'excluded', meaning: "The upstream refused on content policy (billed only where the model's policy says so)." },
  upstream_error: { billed: 'no', fault: 'upstream', availability: 'contract', meaning: 'The upstream failed or delivered nothing usable, after retries.' },
  upstream_timeout: { billed: 'no', fault: 'upstream', availability: 'contract', meaning: 'The upstream did not answer in time, after retries.' },
  platform_error: { billed: 'no', fault: 'platform', availability: 'bad', meaning: "Surety's own fault (a bug, storage down, a misconfigured channel); never billed." },
} as const;

export type Outcome = keyof typeof OUTCOMES;
export const OUTCOME_NAMES = Object.keys(OUTCOMES) as [Outcome, ...Outcome[]];

/** Whether an outcome may carry a charge at all (the amount is still decided by the policy). */
export function mayBill(outcome: Outcome): boolean {
  return OUTCOMES[outcome].billed !== 'no';
}
