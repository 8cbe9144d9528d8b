// Admission: everything a request must pass before anything is sent upstream — who is calling,
// which model serves it and how, the key's rules, rate and concurrency limits, and the worst-case
// hold against the key's spend limits and the account's balance. Nothing is written to storage
// here: limits and holds live in memory (gateway/limits.ts, billing/balances.ts).

import { ipAllowed, type KeyAuthenticator } from '../accounts/keys.ts';
import type { Balances } from '../billing/balances.ts';
import { worstCaseCost } from '../billing/pricing.ts';
import type { Catalog } from '../catalog/index.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import type { LogWriter } from '../requests/writer.ts';
import { bounded, type Flight } from './flight.ts';
import type { Concurrency, KeySpendTracker, RateLimiter } from './limits.ts';

export interface AdmissionParts {
  auth: KeyAuthenticator;
  catalog: Catalog;
  limiter: RateLimiter;
  concurrency: Concurrency;
  spend: KeySpendTracker;
  balances: Balances;
  writer: LogWriter;
  /** Output tokens assumed for the hold of a chat request when neither the request nor the model says. */
  defaultMaxOutputTokens: number;
}

/** Why a request was refused before any upstream call; headers go with the error (retry-after). */
export interface Refusal {
  error: AppError;
  headers?: Record<string, string>;
}

const refuse = (error: AppError, headers?: Record<string, string>): Refusal => (headers ? { error, headers } : { error });

/** Admits the request (filling `f`) or says why not. */
export async function admit(p: AdmissionParts, f: Flight): Promise<Refusal | null> {
  const { call } = f;
  // 1. Who is calling.
  try {
    f.principal = await p.auth.authenticate(call.key);
  } catch (e) {
    if (!isAppError(e)) throw e;
    // An expired or revoked key (or a suspended account) is still known: its row names them.
    f.principal = p.auth.known(call.key);
    return refuse(e);
  }
  const principal = f.principal;
  if (!ipAllowed(principal.ipList, call.clientIp)) return refuse(new AppError('IP_NOT_ALLOWED', `Requests from ${call.clientIp} are not allowed for this key.`));

  // 2. Which model, served how, and what the request says about itself.
  const named = call.pathModel ?? call.body?.model ?? call.form?.model;
  if (named === undefined) return refuse(new AppError('VALIDATION', 'model: is required', { field: 'model' }));
  if (typeof named !== 'string') return refuse(new AppError('VALIDATION', 'model: must be a string', { field: 'model' }));
  const live = p.catalog.model(named);
  if (!live) return refuse(new AppError('UNKNOWN_MODEL', `The model ${bounded(named, 100)} does not exist.`));
  f.live = live;
  if (principal.modelSet && !principal.modelSet.has(named)) return refuse(new AppError('MODEL_NOT_ALLOWED', `This key may not use ${named}.`));
  const provider = live.config.provider;
  if (provider !== call.surface.provider) {
    return refuse(new AppError('UNKNOWN_MODEL', `${named} is served through the ${provider} API; call it there (translation between APIs is not supported yet).`));
  }
  const byModel = call.surface.operation === 'generateContent' || call.surface.operation === 'streamGenerateContent';
  f.endpoint = byModel ? live.config.kind : call.surface.endpoint;
  if (f.endpoint !== live.config.kind) return refuse(new AppError('UNKNOWN_MODEL', `${named} is a model for ${live.config.kind} and cannot serve ${call.surface.operation}.`));
  const body = call.body ?? call.form ?? {};
  f.facts = f.api.readRequest(f.endpoint, call.surface.operation, body, { maxImages: live.config.max_images ?? 10 }, call.body === null);
  f.stream = call.surface.operation === 'streamGenerateContent' || f.facts.stream;

  // 3. Limits.
  const key = principal.key;
  const now = call.started;
  const tokens = f.facts.inputTokens;
  const wait = p.limiter.admit(`k:${key.id}`, key.rpm, key.tpm, tokens, now);
  if (wait > 0) return rateLimited('key', wait);
  if (principal.accountRpm || principal.accountTpm) {
    const w = p.limiter.admit(`a:${key.account_id}`, principal.accountRpm, principal.accountTpm, tokens, now);
    if (w > 0) return rateLimited('account', w);
  }
  if (!p.concurrency.acquire(key.id, key.concurrency)) return refuse(new AppError('CONCURRENCY_LIMITED'));
  f.concurrencyHeld = true;
  if (!p.writer.healthy) return refuse(new AppError('STORAGE_UNAVAILABLE', 'Billing storage is not accepting writes; the request was not sent upstream.'));

  // 4. The worst-case hold, against the key's spend limits, then the account's balance.
  f.multiplier = p.catalog.multiplier(principal.accountGroup);
  const worst = worstCaseCost(
    live.price,
    {
      // The estimate is ~bytes/4; holds take twice that so that dense scripts stay covered.
      max_input_tokens: tokens * 2 + 16,
      max_output_tokens: f.facts.maxOutputTokens ?? live.config.default_max_output_tokens ?? (f.endpoint === 'chat' ? p.defaultMaxOutputTokens : 0),
      images: f.endpoint === 'images' ? Math.max(1, f.facts.image.n ?? live.config.max_images ?? 1) : 0,
      ...(f.facts.image.size ? { image_size: f.facts.image.size } : {}),
      ...(f.facts.image.quality ? { image_quality: f.facts.image.quality } : {}),
    },
    f.multiplier,
  );
  const limitHit = await p.spend.reserve(key.id, key, worst, now);
  if (limitHit) return refuse(new AppError('KEY_LIMIT_EXCEEDED', `This key's ${limitHit} spend limit does not cover this request.`));
  f.spendHold = worst;
  if (!(await p.balances.reserve(key.account_id, worst))) {
    const avail = await p.balances.available(key.account_id);
    return refuse(new AppError('INSUFFICIENT_BALANCE', `This request may cost up to ${formatUsd(worst)} USD; the account has ${formatUsd(avail > 0n ? avail : 0n)} USD available.`));
  }
  f.hold = worst;
  return null;
}

function rateLimited(whose: 'key' | 'account', waitMs: number): Refusal {
  const s = Math.ceil(waitMs / 1000);
  return refuse(new AppError('RATE_LIMITED', `Rate limit of this ${whose} reached; retry in ${s} s.`), { 'retry-after': String(s) });
}
