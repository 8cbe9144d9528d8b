import { createAccount } from './accounts/accounts.ts';
import { createKey } from './accounts/keys.ts';
import { recordTopup } from './billing/topups.ts';
import { withActor, type Runtime } from './kernel/context.ts';
import { startSimulator, type Simulator } from './sim/server.ts';
import { createChannel, listChannels, listModels, putModel, updateChannel } from './catalog/index.ts';

// The demo: the simulator in-process, and demo models (one chat model per provider, an
// embedding model, a gpt-image-style and a Nano-Banana-style image model) on channels pointing at
// it, priced as in DESIGN.md. Channels named `sim-*` are demo channels: at every start with the
// demo on, the simulator is started again and their base URL follows its port.

export const DEMO_MODELS = [
  { id: 'gpt-4o-mini', provider: 'openai', kind: 'chat', price: { input_per_mtok: '0.15', cached_input_per_mtok: '0.075', output_per_mtok: '0.60' } },
  { id: 'claude-sonnet-5-5', provider: 'anthropic', kind: 'chat', price: { input_per_mtok: '3', cache_write_per_mtok: '3.75', cached_input_per_mtok: '0.30', output_per_mtok: '15' } },
  { id: 'gemini-2.5-flash', provider: 'gemini', kind: 'chat', price: { input_per_mtok: '0.30', output_per_mtok: '2.50' } },
  { id: 'text-embedding-3-small', provider: 'openai', kind: 'embeddings', price: { input_per_mtok: '0.02' } },
  {
    id: 'gpt-image-1',
    provider: 'openai',
    kind: 'images',
    price: { per_image: { default: '0.042', '1024x1024/low': '0.011', '1024x1024/medium': '0.042', '1024x1024/high': '0.167' } },
  },
  // A relay-priced image model: $0.09 per delivered image, 4K higher. Upstream name differs.
  { id: 'nano-banana-pro', provider: 'gemini', kind: 'images', price: { per_image: { default: '0.09', '4k': '0.24' } } },
] as const;

const DEMO_CHANNELS = [
  { name: 'sim-openai', provider: 'openai', models: ['gpt-4o-mini', 'text-embedding-3-small', 'gpt-image-1'], priority: 10 },
  { name: 'sim-openai-backup', provider: 'openai', models: ['gpt-4o-mini'], priority: 0 },
  { name: 'sim-anthropic', provider: 'anthropic', models: ['claude-sonnet-5-5'], priority: 10 },
  { name: 'sim-gemini', provider: 'gemini', models: ['gemini-2.5-flash', 'nano-banana-pro'], priority: 10, model_map: { 'nano-banana-pro': 'gemini-3-pro-image-preview' } },
] as const;

export async function startDemoSimulator(rt: Runtime, port: number): Promise<Simulator> {
  try {
    return await startSimulator({ host: '127.0.0.1', port, quiet: true });
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
    rt.log.warn({ port }, 'simulator port taken; using a free port');
    return startSimulator({ host: '127.0.0.1', port: 0, quiet: true });
  }
}

/** Creates the demo catalog on an empty database. */
export async function configureDemoCatalog(rt: Runtime, simUrl: string): Promise<void> {
  const ctx = withActor(rt, { type: 'operator', id: 'demo' });
  // Models and channels already there (from the SURETY_CONFIG file, applied first) are the
  // operator's: the demo neither re-prices those models nor routes them to the simulator.
  const taken = new Set((await listModels(rt)).map((m) => m.id));
  const names = new Set((await listChannels(rt)).map((c) => c.name));
  for (const m of DEMO_MODELS) if (!taken.has(m.id)) await putModel(ctx, m.id, { provider: m.provider, kind: m.kind, price: m.price });
  for (const c of DEMO_CHANNELS) {
    const models = c.models.filter((id) => !taken.has(id));
    if (models.length === 0 || names.has(c.name)) continue;
    await createChannel(ctx, { ...c, models, base_url: simUrl, keys: ['sim-demo-key'] });
  }
}

/** Points the demo channels at the simulator's current URL (its port may differ between starts). */
export async function repointDemoChannels(rt: Runtime, simUrl: string): Promise<number> {
  const ctx = withActor(rt, { type: 'system', id: 'demo' });
  let n = 0;
  for (const ch of await listChannels(rt)) {
    if (ch.name.startsWith('sim-') && ch.base_url !== simUrl) {
      await updateChannel({ ...ctx, actor: { type: 'operator', id: 'demo' } }, ch.id, { base_url: simUrl });
      n++;
    }
  }
  return n;
}

export async function hasDemoChannels(rt: Runtime): Promise<boolean> {
  return (await listChannels(rt)).some((c) => c.name.startsWith('sim-'));
}

export interface DemoInfo {
  accountId: string;
  customerKey: string;
}

export async function isEmptyDatabase(rt: Runtime): Promise<boolean> {
  const r = await rt.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM accounts');
  return Number(r?.n ?? 0) === 0;
}

/** A demo customer with a funded balance and a key, created on an empty database. */
export async function bootstrapDemoAccount(rt: Runtime): Promise<DemoInfo> {
  const ctx = withActor(rt, { type: 'system', id: 'demo' });
  const account = await createAccount({ ...ctx, actor: { type: 'operator', id: 'demo' } }, { name: 'Demo Customer', kind: 'individual', email: 'demo@example.com' });
  await recordTopup({ ...ctx, actor: { type: 'operator', id: 'demo' } }, account.id, { amount: '25.00', method: 'other', reference: 'demo credit', bonus: '5.00', note: 'created by the demo bootstrap' }, 'demo-bootstrap');
  const { secret } = await createKey({ ...ctx, actor: { type: 'operator', id: 'demo' } }, account.id, { name: 'demo key' });
  return { accountId: account.id, customerKey: secret };
}
