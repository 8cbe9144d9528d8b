// The fixed model catalogue, pre-rendered in each provider's list shape.

interface ModelInfo {
  id: string;
  owner: 'openai' | 'anthropic' | 'google';
  display: string;
}

export const MODELS: readonly ModelInfo[] = [
  { id: 'gpt-4o-mini', owner: 'openai', display: 'GPT-4o mini' },
  { id: 'gpt-4o', owner: 'openai', display: 'GPT-4o' },
  { id: 'text-embedding-3-small', owner: 'openai', display: 'text-embedding-3-small' },
  { id: 'gpt-image-1', owner: 'openai', display: 'GPT Image 1' },
  { id: 'claude-sonnet-5-5', owner: 'anthropic', display: 'Claude Sonnet 5.5' },
  { id: 'claude-haiku-4-5', owner: 'anthropic', display: 'Claude Haiku 4.5' },
  { id: 'gemini-2.5-flash', owner: 'google', display: 'Gemini 2.5 Flash' },
  { id: 'gemini-3-pro-image-preview', owner: 'google', display: 'Nano Banana Pro' },
];

const CREATED = 1_727_740_800; // 2024-10-01T00:00:00Z
const CREATED_ISO = new Date(CREATED * 1000).toISOString().replace('.000Z', 'Z');

export function openaiModel(id: string): Record<string, unknown> {
  const m = MODELS.find((x) => x.id === id);
  return { id, object: 'model', created: CREATED, owned_by: m?.owner ?? 'system' };
}

export function anthropicModel(id: string): Record<string, unknown> {
  const m = MODELS.find((x) => x.id === id);
  return { type: 'model', id, display_name: m?.display ?? id, created_at: CREATED_ISO };
}

export function geminiModel(id: string): Record<string, unknown> {
  const m = MODELS.find((x) => x.id === id);
  const image = id.includes('image');
  return {
    name: 'models/' + id,
    version: '001',
    displayName: m?.display ?? id,
    description: 'Simulated model',
    inputTokenLimit: image ? 65_536 : 1_048_576,
    outputTokenLimit: image ? 32_768 : 65_536,
    supportedGenerationMethods: ['generateContent', 'countTokens'],
  };
}

export const OPENAI_MODEL_LIST = Buffer.from(JSON.stringify({
  object: 'list',
  data: MODELS.map((m) => openaiModel(m.id)),
}));

export const ANTHROPIC_MODEL_LIST = Buffer.from(JSON.stringify({
  data: MODELS.map((m) => anthropicModel(m.id)),
  has_more: false,
  first_id: MODELS[0].id,
  last_id: MODELS[MODELS.length - 1].id,
}));

export const GEMINI_MODEL_LIST = Buffer.from(JSON.stringify({
  models: MODELS.map((m) => geminiModel(m.id)),
}));
