import { createTransport } from 'nodemailer';
import type { Config } from '../kernel/config/schema.ts';
import type { Attempt } from './outbox.ts';

// Sending e-mail over SMTP (nodemailer), when SMTP_URL is set. The outbox's `email` channel
// delivers through it (at least once, retried with the outbox's backoff); nothing else sends mail.
// An SMTP server that refuses a recipient for good (a 5xx answer to the envelope) ends the delivery
// at once; anything else (no connection, a timeout, a 4xx answer such as greylisting, refused
// credentials) is retried.

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post, …). */
  headers?: Record<string, string>;
  /** Stable across retries, so that a repeated delivery reads as the same message. */
  messageId?: string;
}

export interface MailerOptions {
  url: string;
  from: string;
  requireTls?: boolean;
  rejectUnauthorized?: boolean;
  /** How long connecting, the greeting and each answer may take (ms). */
  timeoutMs?: number;
  /** Messages handed over at once (one connection each); SMTP services cap concurrent connections. */
  concurrency?: number;
}

export class Mailer {
  readonly from: string;
  private readonly transport: ReturnType<typeof createTransport>;
  private readonly concurrency: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(o: MailerOptions) {
    this.from = o.from;
    this.concurrency = o.concurrency ?? 4;
    const url = new URL(o.url);
    const timeout = o.timeoutMs ?? 10_000;
    this.transport = createTransport({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587,
      secure: url.protocol === 'smtps:',
      ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
      requireTLS: o.requireTls ?? false,
      tls: { rejectUnauthorized: o.rejectUnauthorized ?? true },
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  /** One attempt at handing a message to the SMTP server. `status` is the server's reply code. */
  async send(m: MailMessage): Promise<Attempt> {
    // A free slot is taken; a finished send hands its slot to the next waiting one.
    if (this.active < this.concurrency) this.active++;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await this.sendNow(m);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  private async sendNow(m: MailMessage): Promise<Attempt> {
    try {
      await this.transport.sendMail({
        from: this.from,
        to: m.to,
        subject: m.subject,
        text: m.text,
        html: m.html,
        ...(m.headers ? { headers: m.headers } : {}),
        ...(m.messageId ? { messageId: m.messageId } : {}),
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      return { ok: true, status: 250 };
    } catch (err) {
      const e = err as Error & { code?: string; responseCode?: number; response?: string };
      const status = typeof e.responseCode === 'number' ? e.responseCode : null;
      const error = `${e.code ?? 'SMTP'}: ${(e.response ?? e.message).replace(/\s+/g, ' ')}`.slice(0, 200);
      // A recipient refused for good: retrying will not change the answer.
      return { ok: false, status, error, final: e.code === 'EENVELOPE' && status !== null && status >= 500 };
    }
  }

  /** Connects and signs in once, sending nothing: null when that worked, else what failed. */
  async verify(): Promise<string | null> {
    try {
      await this.transport.verify();
      return null;
    } catch (err) {
      const e = err as Error & { code?: string; response?: string };
      return `${e.code ?? 'SMTP'}: ${(e.response ?? e.message).replace(/\s+/g, ' ')}`.slice(0, 200);
    }
  }

  close(): void {
    this.transport.close();
  }
}

/** The mailer of this configuration, or null when SMTP_URL is not set. */
export function mailerOf(config: Config): Mailer | null {
  if (!config.smtpUrl || !config.smtpFrom) return null;
  return new Mailer({ url: config.smtpUrl, from: config.smtpFrom, requireTls: config.smtpRequireTls, rejectUnauthorized: config.smtpTlsRejectUnauthorized });
}
