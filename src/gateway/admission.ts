// Admission: everything a request must pass before anything is sent upstream — who is calling,
// which model serves it and how, the key's rules, rate and concurrency limits, and the worst-case
// hold against the key's spend limits and the account's balance. Nothing is written to storage
// here: limits and holds are quotas (gateway/quotas.ts), in memory or shared through Redis.

import { ipAllowed, type KeyAuthenticator } from '../accounts/keys.ts';
import { worstCaseCost } from '../billing/pricing.ts';
import type { Catalog } from '../catalog/index.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import type { LogWriter } from '../requests/writer.ts';
import type { Operation, Provider } from '../providers/provider.ts';
import { decodeRequest, dialectOf, encodeRequest, translatable } from '../providers/translate/index.ts';
import { bounded, type Flight } from './flight.ts';
import type { QuotaAsk, QuotaRefusal, Quotas } from './quotas.ts';

export interface AdmissionParts {
  auth: KeyAuthenticator;
  catalog: Catalog;
  quotas: Quotas;
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
    f.principal = p.auth.cachedGood(call.key) ?? (await p.auth.authenticate(call.key, call.clientIp || undefined));
  } catch (e) {
    if (!isAppError(e)) throw e;
    // An expired or revoked key (or a suspended account) is still known: its row names them.
    f.principal = p.auth.known(call.key);
    return refuse(e, e.details?.retry_after ? { 'retry-after': String(e.details.retry_after) } : undefined);
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
  const foreign = provider !== call.surface.provider;
  if (foreign && !translatable(call.surface.operation, provider, live.config.kind)) return refuse(untranslatable(named, provider, call.surface.operation));
  const byModel = call.surface.operation === 'generateContent' || call.surface.operation === 'streamGenerateContent';
  f.endpoint = byModel ? live.config.kind : call.surface.endpoint;
  if (f.endpoint !== live.config.kind) return refuse(new AppError('UNKNOWN_MODEL', `${named} is a model for ${live.config.kind} and cannot serve ${call.surface.operation}.`));
  const body = call.body ?? call.form ?? {};
  f.facts = f.api.readRequest(f.endpoint, call.surface.operation, body, { maxImages: live.config.max_images ?? 10 }, call.body === null);
  f.stream = call.surface.operation === 'streamGenerateContent' || f.facts.stream;
  if (foreign) {
    // Decoded (and encoded once) here, so that what cannot be translated is refused before any hold.
    f.translated = decodeRequest(dialectOf(call.surface.provider, call.surface.operation), body, f.stream, provider);
    encodeRequest(f.translated, provider, live.config.id);
  }

  // 3. Limits and the worst-case hold, against the key's spend limits and the account's balance.
  if (!p.writer.healthy) return refuse(new AppError('STORAGE_UNAVAILABLE', 'Billing storage is not accepting writes; the request was not sent upstream.'));
  const key = principal.key;
  const tokens = f.facts.inputTokens;
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
  const ask: QuotaAsk = {
    requestId: call.requestId,
    keyId: key.id,
    accountId: key.account_id,
    at: call.started,
    tokens,
    hold: worst,
    keyRpm: key.rpm,
    keyTpm: key.tpm,
    accountRpm: principal.accountRpm,
    accountTpm: principal.accountTpm,
    concurrency: key.concurrency,
    spend: key,
  };
  const pending = p.quotas.admit(ask);
  const refused = pending instanceof Promise ? await pending : pending;
  if (refused) return quotaRefusal(refused, worst);
  f.quota = ask;
  f.hold = worst;
  return null;
}

/** A model served through another API that this request cannot be translated to. */
function untranslatable(model: string, provider: Provider, operation: Operation): AppError {
  return new AppError('UNKNOWN_MODEL', `${model} is served through the ${provider} API and cannot serve ${operation} requests; call it there.`);
}

function quotaRefusal(r: QuotaRefusal, worst: bigint): Refusal {
  switch (r.kind) {
    case 'rate':
      return rateLimited(r.whose, r.waitMs);
    case 'concurrency':
      // A slot frees when one of the key's requests ends: worth trying again in a second.
      return refuse(new AppError('CONCURRENCY_LIMITED'), { 'retry-after': '1' });
    case 'key_limit':
      return refuse(new AppError('KEY_LIMIT_EXCEEDED', `This key's ${r.period} spend limit does not cover this request.`));
    case 'balance':
      return refuse(new AppError('INSUFFICIENT_BALANCE', `This request may cost up to ${formatUsd(worst)} USD; the account has ${formatUsd(r.available > 0n ? r.available : 0n)} USD available.`));
    case 'unavailable':
      return refuse(new AppError('CLUSTER_UNAVAILABLE', `${r.reason}; the request was not sent upstream.`), { 'retry-after': String(Math.max(1, Math.ceil(r.retryMs / 1000))) });
  }
}

function rateLimited(whose: 'key' | 'account', waitMs: number): Refusal {
  const s = Math.ceil(waitMs / 1000);
  return refuse(new AppError('RATE_LIMITED', `Rate limit of this ${whose} reached; retry in ${s} s.`), { 'retry-after': String(s) });
}
