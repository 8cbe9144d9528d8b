import { z } from 'zod';
import { parseUsd } from '../money.ts';

// Every setting, its environment variable, its default. Validated once at boot, then frozen.
// Secrets (admin key, secret key, database and Redis URLs) come from the environment or from a file named by *_FILE.

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes' || v === 'on');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const pct = z.coerce.number().min(0).max(100);

export const ENV_KEYS = {
  host: 'HOST',
  port: 'PORT',
  dataDir: 'SURETY_DATA_DIR',
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  redisPrefix: 'SURETY_REDIS_PREFIX',
  instanceTtlSeconds: 'SURETY_INSTANCE_TTL_SECONDS',
  adminKey: 'SURETY_ADMIN_KEY',
  secretKey: 'SURETY_SECRET_KEY',
  demo: 'SURETY_DEMO',
  logLevel: 'LOG_LEVEL',
  configFile: 'SURETY_CONFIG',
  spendOrder: 'SURETY_SPEND_ORDER',
  holdTtlSeconds: 'SURETY_HOLD_TTL_SECONDS',
  refundWindowDays: 'SURETY_REFUND_WINDOW_DAYS',
  refundFeePctBankTransfer: 'SURETY_REFUND_FEE_PCT_BANK_TRANSFER',
  refundFeePctCard: 'SURETY_REFUND_FEE_PCT_CARD',
  refundFeePctOther: 'SURETY_REFUND_FEE_PCT_OTHER',
  balanceExpiryDays: 'SURETY_BALANCE_EXPIRY_DAYS',
  defaultCreditLine: 'SURETY_DEFAULT_CREDIT_LINE',
  flushMs: 'SURETY_FLUSH_MS',
  bodyLimitBytes: 'SURETY_BODY_LIMIT_BYTES',
  requestLog: 'SURETY_REQUEST_LOG',
  trustProxy: 'SURETY_TRUST_PROXY',
  shutdownGraceSeconds: 'SURETY_SHUTDOWN_GRACE_SECONDS',
  simPort: 'SURETY_SIM_PORT',
  cancelledPolicy: 'SURETY_CANCELLED_POLICY',
  incidentDetectWindowSeconds: 'SURETY_INCIDENT_DETECT_WINDOW_SECONDS',
  incidentMinRequests: 'SURETY_INCIDENT_MIN_REQUESTS',
  incidentPlatformErrorPct: 'SURETY_INCIDENT_PLATFORM_ERROR_PCT',
  incidentUpstreamFailurePct: 'SURETY_INCIDENT_UPSTREAM_FAILURE_PCT',
  durability: 'SURETY_DURABILITY',
  maxInFlight: 'SURETY_MAX_IN_FLIGHT',
  shedLagMs: 'SURETY_SHED_LAG_MS',
  publicUrl: 'SURETY_PUBLIC_URL',
  smtpUrl: 'SMTP_URL',
  smtpFrom: 'SMTP_FROM',
  smtpRequireTls: 'SMTP_REQUIRE_TLS',
  smtpTlsRejectUnauthorized: 'SMTP_TLS_REJECT_UNAUTHORIZED',
} as const;

export type ConfigKey = keyof typeof ENV_KEYS;

export const ConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: int(0, 65535).default(8787),
    dataDir: z.string().min(1).default('./data'),
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    /** Shared quotas (holds, rates, concurrency, throttles) for several instances: docs/scale-out.md. */
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    redisPrefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1–64 letters, digits or : _ . -').default('surety:'),
    instanceTtlSeconds: int(2, 300).default(10),
    adminKey: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Encrypts upstream keys at rest (catalog/secret-box.ts). */
    secretKey: z.string().min(32, 'must be at least 32 characters, e.g. the output of `openssl rand -base64 32`').optional(),
    demo: bool.default(true),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    configFile: z.string().optional(),
    spendOrder: z.enum(['granted_first', 'paid_first']).default('granted_first'),
    holdTtlSeconds: int(1, 86_400).default(900),
    refundWindowDays: int(0, 3650).default(30),
    refundFeePctBankTransfer: pct.default(0),
    refundFeePctCard: pct.default(3),
    refundFeePctOther: pct.default(0),
    balanceExpiryDays: int(0, 36_500).default(0),
    defaultCreditLine: z
      .string()
      .refine((s) => {
        try {
          parseUsd(s, { allowZero: true });
          return true;
        } catch {
          return false;
        }
      }, 'must be a USD decimal string like "0" or "100.00", at most 1000000000')
      .default('0'),
    flushMs: int(1, 1000).default(20),
    bodyLimitBytes: int(1024, 512 * 1024 * 1024).default(32 * 1024 * 1024),
    requestLog: bool.default(false),
    trustProxy: bool.default(false),
    shutdownGraceSeconds: int(0, 3600).default(30),
    simPort: int(0, 65535).default(8786),
    cancelledPolicy: z.enum(['delivered', 'none']).default('delivered'),
    /** Draft incidents from traffic (incidents/detector.ts): the window, the least traffic, the rates (0: off). */
    incidentDetectWindowSeconds: int(60, 86_400).default(300),
    incidentMinRequests: int(1, 1_000_000).default(20),
    incidentPlatformErrorPct: pct.default(5),
    incidentUpstreamFailurePct: pct.default(25),
    /** `strict`: a delivered answer's last byte waits for the commit of its row and charge (gateway/gateway.ts). */
    durability: z.enum(['batched', 'strict']).default('batched'),
    /** Load shedding (gateway/overload.ts): data-plane requests in flight beyond which new ones get 503 OVERLOADED. */
    maxInFlight: int(1, 1_000_000).default(4096),
    /** Load shedding: mean event-loop delay (ms) beyond which new data-plane requests get 503 OVERLOADED; 0 turns it off. */
    shedLagMs: int(0, 60_000).default(200),
    /** The gateway's public address, for links in e-mails (the status page's own URL wins when set). */
    publicUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s):// URL' })
      .max(500)
      .optional(),
    /** E-mail (notify/mailer.ts): the SMTP server, `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`. */
    smtpUrl: z
      .string()
      .max(2000)
      .regex(/^smtps?:\/\/[^\s/?#]+(:\d+)?\/?(\?.*)?$/, 'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@smtp.example.com:587')
      .optional(),
    /** The sender of e-mails: an address, or `Name <address>`. */
    smtpFrom: z.string().trim().min(3).max(320).regex(/^([^<>\r\n]*<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/, 'must be an address, or "Name <address>"').optional(),
    /** Refuse to send unless the server upgrades the connection with STARTTLS. */
    smtpRequireTls: bool.default(false),
    /** Check the SMTP server's certificate (turn off only for a server with a self-signed certificate you trust). */
    smtpTlsRejectUnauthorized: bool.default(true),
  })
  .strict()
  .refine((c) => !c.smtpUrl || c.smtpFrom, { path: ['smtpFrom'], message: 'is required when SMTP_URL is set (the sender of e-mails)' });

export type Config = Readonly<z.infer<typeof ConfigSchema>>;
