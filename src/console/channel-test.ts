import { AppError } from '../kernel/errors.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import type { ServiceContext } from '../kernel/context.ts';
import { listChannels, listModels, resolveChannelKeys } from '../catalog/index.ts';
import { PROVIDER_MODULES } from '../providers/modules.ts';
import type { Operation, UpstreamCall } from '../providers/provider.ts';
import type { Endpoint } from '../providers/types.ts';
import type { RouteTable } from '../http/routes.ts';
import { withActor, type Runtime } from '../kernel/context.ts';

// The channel test button: one small request (a one-token chat, or a one-word embedding) sent
// straight to a channel's upstream with its first key, outside the data plane — nothing is billed
// or logged to any account; the result (status, time, the upstream's error) is shown to the
// operator and audited by the caller's route. Image models are not tested (a test would cost an image).

export interface ChannelTestResult {
  ok: boolean;
  channel_id: string;
  model: string;
  upstream_model: string;
  url: string;
  status: number | null;
  ms: number;
  failure: string | null;
  error: string | null;
}

function testBody(provider: string, endpoint: Endpoint, model: string): { operation: Operation; body: Record<string, unknown> } {
  if (endpoint === 'embeddings') return { operation: 'embeddings', body: { model, input: 'ping' } };
  if (provider === 'anthropic') return { operation: 'messages', body: { model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] } };
  if (provider === 'gemini') return { operation: 'generateContent', body: { contents: [{ role: 'user', parts: [{ text: 'ping' }] }], generationConfig: { maxOutputTokens: 1 } } };
  return { operation: 'chat', body: { model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] } };
}

export async function testChannel(ctx: ServiceContext, idOrName: string, timeoutMs = 15_000): Promise<ChannelTestResult> {
  requireOperator(ctx.actor);
  const ch = (await listChannels(ctx)).find((c) => c.id === idOrName || c.name === idOrName);
  if (!ch) throw new AppError('NOT_FOUND', `channel ${idOrName} not found`, { resource: 'channel' });
  const kinds = new Map((await listModels(ctx)).map((m) => [m.id, m.kind]));
  const model = ch.models.find((m) => kinds.get(m) === 'chat') ?? ch.models.find((m) => kinds.get(m) === 'embeddings');
  if (!model) throw new AppError('CONFLICT', 'This channel serves no chat or embeddings model to test with (image models are not tested: a test would cost an image).');
  const key = resolveChannelKeys(ch.keys, process.env).keys[0];
  if (!key) throw new AppError('CONFLICT', 'This channel has no usable key (unset environment variable or undecryptable key).');
  const mod = PROVIDER_MODULES[ch.provider];
  const upstreamModel = ch.model_map[model] ?? model;
  const endpoint = kinds.get(model)!;
  const { operation, body } = testBody(ch.provider, endpoint, upstreamModel);
  const call: UpstreamCall = { provider: ch.provider, operation, endpoint, stream: false, upstreamModel };
  const url = mod.normaliseBaseUrl(ch.base_url) + mod.path(call);
  const started = ctx.now();
  const base = { channel_id: ch.id, model, upstream_model: upstreamModel, url: url.replace(/([?&]key=)[^&]+/, '$1…') };
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...ch.headers, ...mod.headers(key, {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await r.text()).slice(0, 4096);
    const ms = ctx.now() - started;
    if (r.ok) return { ...base, ok: true, status: r.status, ms, failure: null, error: null };
    return { ...base, ok: false, status: r.status, ms, failure: mod.classifyStatus(r.status, text), error: text.slice(0, 500) };
  } catch (e) {
    const err = e as Error;
    return { ...base, ok: false, status: null, ms: ctx.now() - started, failure: err.name === 'TimeoutError' ? 'timeout' : 'transport', error: err.message };
  }
}

export function registerChannelTestRoute(t: RouteTable, rt: Runtime): void {
  t.add({ method: 'POST', url: '/admin/v1/channels/:id/test', auth: 'operator', tag: 'catalog', summary: 'Send one small request (one token of chat, or an embedding) straight to a channel\'s upstream; nothing is billed' }, async (c) =>
    testChannel(withActor(rt, c.actor), c.params.id!));
}
