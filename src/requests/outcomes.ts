// The outcome vocabulary (DESIGN "Outcomes"): every request ends with exactly one. It says who is
// at fault, whether the request may be billed, and how it counts for availability. Pinned by tests.

export const OUTCOMES = {
  ok: { billed: 'usage', fault: 'none', availability: 'good' },
  client_error: { billed: 'no', fault: 'client', availability: 'excluded' },
  auth_error: { billed: 'no', fault: 'client', availability: 'excluded' },
  insufficient_balance: { billed: 'no', fault: 'client', availability: 'excluded' },
  key_limit: { billed: 'no', fault: 'client', availability: 'excluded' },
  rate_limited: { billed: 'no', fault: 'client', availability: 'excluded' },
  client_cancelled: { billed: 'delivered', fault: 'client', availability: 'excluded' },
  upstream_rate_limited: { billed: 'no', fault: 'upstream', availability: 'contract' },
  upstream_moderation: { billed: 'model_policy', fault: 'upstream', availability: 'excluded' },
  upstream_error: { billed: 'no', fault: 'upstream', availability: 'contract' },
  upstream_timeout: { billed: 'no', fault: 'upstream', availability: 'contract' },
  platform_error: { billed: 'no', fault: 'platform', availability: 'bad' },
} as const;

export type Outcome = keyof typeof OUTCOMES;
