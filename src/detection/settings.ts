import { z } from 'zod';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { Runtime, ServiceContext } from '../kernel/context.ts';
import { AppError } from '../kernel/errors.ts';
import { MoneyFormatError, parseUsd } from '../kernel/money.ts';
import { parseInput } from '../kernel/validation.ts';
import type { Queryable } from '../storage/port.ts';
import { RULE_NAMES } from './rules/index.ts';

// The settings of detection and of the compensation programme: JSON documents in the `settings`
// table, changed through the admin API (GET|PUT /admin/v1/detection, /admin/v1/programme) or the
// catalog file, audited. Every field has a default, so an empty document is a working setup.

const usd = z.string().superRefine((s, ctx) => {
  try {
    parseUsd(s, { allowZero: true });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof MoneyFormatError ? e.message : 'must be a USD decimal string like "12.50"' });
  }
});
const ruleName = z.string().refine((r) => RULE_NAMES.includes(r), { message: `must be one of ${RULE_NAMES.join(', ')}` });
const seconds = z.number().positive().max(86_400);

export const DetectionSettingsSchema = z
  .object({
    /** Rules that do not run (all run by default). */
    disabled_rules: z.array(ruleName).default([]),
    /** The abnormal-timeout threshold of every image model without its own, seconds. */
    image_timeout_seconds: seconds.default(300),
    /** Per model: its own threshold (null: none, also for an image model). */
    models: z.record(z.string().min(1).max(200), z.object({ abnormal_timeout_seconds: seconds.nullable() }).strict()).default({}),
    /** The continuous scan stays this far behind now (rows still being written), seconds. */
    scan_lag_seconds: z.number().min(0).max(3600).default(30),
    /** Each run scans again this far before its checkpoint (rows that landed late), seconds. */
    scan_overlap_seconds: z.number().min(0).max(86_400).default(120),
    /** A hold open this long past its TTL is stale (the expiry job runs every 10 s). */
    stale_hold_grace_seconds: z.number().min(0).max(86_400).default(60),
    /** Customers may dispute requests this many days old at most. */
    dispute_window_days: z.number().int().min(0).max(3650).default(30),
  })
  .strict();
export type DetectionSettings = z.output<typeof DetectionSettingsSchema>;

const AUTO_VERIFY_DEFAULT = ['billed_on_failure', 'double_charge', 'off_price', 'billed_nothing_delivered', 'billed_after_timeout'];

const ModerationPolicy = z
  .object({ amount: usd.optional(), percent: z.number().min(0).max(100).optional() })
  .strict()
  .refine((p) => (p.amount === undefined) !== (p.percent === undefined), { message: 'give either amount (USD per refusal) or percent (of its price)' });

export const ProgrammeSettingsSchema = z
  .object({
    /** Calendar-month spend on the programme's models that makes an enrolled account eligible. */
    threshold: usd.default('10000.00'),
    /** The models whose spend counts; null: every image model. */
    models: z.array(z.string().min(1).max(200)).nullable().default(null),
    /** The time zone whose calendar months are counted (IANA name). */
    time_zone: z.string().default('UTC').refine(validZone, { message: 'must be an IANA time zone such as "UTC" or "Asia/Shanghai"' }),
    /** How many months before a finding's month also make it eligible (0: its own month only). */
    lookback_months: z.number().int().min(0).max(24).default(1),
    /** Rules whose findings are verified automatically for eligible, enrolled accounts. */
    auto_verify: z.array(ruleName).default(AUTO_VERIFY_DEFAULT),
    moderation: z
      .object({
        /** An account's spend in the month (every model) from which its refusals are reimbursed. */
        min_monthly_spend: usd.default('1000.00'),
        /** Per model: a fixed amount per billed refusal, or a percent of its price. */
        models: z.record(z.string().min(1).max(200), ModerationPolicy).default({}),
      })
      .strict()
      .default({ min_monthly_spend: '1000.00', models: {} }),
  })
  .strict();
export type ProgrammeSettings = z.output<typeof ProgrammeSettingsSchema>;

function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const NAMES = { detection: 'detection', programme: 'programme' } as const;
type Which = keyof typeof NAMES;
const SCHEMAS = { detection: DetectionSettingsSchema, programme: ProgrammeSettingsSchema };

async function read(q: Queryable, which: Which): Promise<unknown> {
  const r = await q.get<{ value: string }>('SELECT value FROM settings WHERE name = ?', [NAMES[which]]);
  return r ? JSON.parse(r.value) : {};
}

export async function detectionSettings(rt: Pick<Runtime, 'db'>): Promise<DetectionSettings> {
  return DetectionSettingsSchema.parse(await read(rt.db, 'detection'));
}

export async function programmeSettings(rt: Pick<Runtime, 'db'>): Promise<ProgrammeSettings> {
  return ProgrammeSettingsSchema.parse(await read(rt.db, 'programme'));
}

/** Replaces a settings document (fields left out take their defaults); audited. */
async function save(ctx: ServiceContext, which: Which, raw: unknown): Promise<unknown> {
  requireOperator(ctx.actor);
  const parsed = parseInput(SCHEMAS[which], raw) as Record<string, unknown>;
  if (which === 'programme') checkModeration(parsed as ProgrammeSettings);
  const now = ctx.now();
  await ctx.db.tx(async (q) => {
    const before = await read(q, which);
    await q.run('INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at', [
      NAMES[which], JSON.stringify(parsed), now,
    ]);
    await audit(q, ctx.actor, `${which}.settings`, { type: 'settings', id: which }, before, parsed, now);
  });
  return parsed;
}

function checkModeration(p: ProgrammeSettings): void {
  for (const [model, policy] of Object.entries(p.moderation.models)) {
    if (policy.amount !== undefined && parseUsd(policy.amount, { allowZero: true }) === 0n) {
      throw new AppError('VALIDATION', `moderation.models.${model}.amount: must be more than 0`, { field: `moderation.models.${model}.amount` });
    }
  }
}

export const saveDetectionSettings = (ctx: ServiceContext, raw: unknown) => save(ctx, 'detection', raw) as Promise<DetectionSettings>;
export const saveProgrammeSettings = (ctx: ServiceContext, raw: unknown) => save(ctx, 'programme', raw) as Promise<ProgrammeSettings>;
