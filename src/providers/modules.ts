/** The provider modules, one per provider API. */
import type { Provider, ProviderModule } from './provider.ts';
import { openai } from './openai/index.ts';
import { anthropic } from './anthropic/index.ts';
import { gemini } from './gemini/index.ts';

export const PROVIDER_MODULES: Readonly<Record<Provider, ProviderModule>> = Object.freeze({ openai, anthropic, gemini });
