import { z } from 'zod';

// What a component's status is decided from, with the defaults every component starts with. An
// operator changes them per component (catalog file or admin API); docs/status.md explains each.

export const RulesInput = z
  .object({
    /** Fewer non-client requests than this in a window say nothing (the window is ignored). */
    min_requests: z.number().int().min(1).max(1_000_000).default(10),
    /** Error rate (0–1) of the non-client-fault requests at which each status begins. */
    degraded_error_rate: z.number().min(0).max(1).default(0.05),
    partial_error_rate: z.number().min(0).max(1).default(0.2),
    major_error_rate: z.number().min(0).max(1).default(0.5),
    /** Degraded when the window's mean latency reaches this multiple of the component's own baseline. */
    latency_factor: z.number().min(1).max(100).default(2.5),
    /** Hysteresis: a level is left only when the rate falls below its threshold × exit_ratio… */
    exit_ratio: z.number().min(0).max(1).default(0.5),
    /** …and a new status is taken after this many consecutive evaluations agree (worse / better). */
    raise_after: z.number().int().min(1).max(100).default(2),
    clear_after: z.number().int().min(1).max(1000).default(4),
    /** Sliding windows in minutes: the short one reacts, the long one confirms. */
    windows: z.array(z.number().int().min(1).max(60)).min(1).max(4).default([2, 10]),
  })
  .strict()
  .refine((r) => r.degraded_error_rate <= r.partial_error_rate && r.partial_error_rate <= r.major_error_rate, {
    message: 'thresholds must rise: degraded_error_rate ≤ partial_error_rate ≤ major_error_rate',
  });

export type Rules = z.infer<typeof RulesInput>;
export const DEFAULT_RULES: Rules = RulesInput.parse({});

const every = z.number().int().min(10).max(86_400).default(300);

/**
 * A synthetic probe. `model`: a one-token request for the model, sent through the gateway with the
 * internal probe account's key (billed to it, never to a customer), at most `max_usd_per_day`.
 * `http`: a GET of one of Surety's own paths (the console, /readyz), answered below 500.
 */
export const ProbeInput = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('model'),
      /** The model to ask; absent: the component's first enabled catalog model (chat before embeddings before images). */
      model: z.string().min(1).max(200).optional(),
      every_seconds: every,
      max_usd_per_day: z.string().regex(/^\d{1,6}(\.\d{1,9})?$/, 'must be a USD decimal string like "0.50"').default('0.50'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('http'),
      path: z.string().regex(/^\/[\x21-\x7e]{0,300}$/, 'must be a path of this gateway, like "/readyz"'),
      every_seconds: every,
    })
    .strict(),
]);
export type Probe = z.infer<typeof ProbeInput>;
