// The model lists of each API (OpenAI, Anthropic, Gemini), in its own shape, filtered by the
// calling key's model allow-list.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyAuthenticator } from '../accounts/keys.ts';
import type { Catalog } from '../catalog/index.ts';
import { AppError, isAppError } from '../kernel/errors.ts';
import { PROVIDER_MODULES } from '../providers/modules.ts';
import type { Provider } from '../providers/provider.ts';
import { apisOf, type ClientApi } from '../providers/translate/index.ts';
import { extractKey } from './incoming.ts';

export function registerModelLists(app: FastifyInstance, auth: KeyAuthenticator, catalog: Catalog): void {
  // Model lists (and one model) in each API's shape, filtered by the key's allow-list.
  // A model is listed in each API's shape it can be reached through (every model in OpenAI's).
  const listFor = async (req: FastifyRequest, reply: FastifyReply, through: ClientApi | null, shape: Provider, id?: string) => {
    const api = PROVIDER_MODULES[shape];
    let p;
    try {
      p = await auth.authenticate(extractKey(req.headers, (req.query as { key?: unknown }).key));
    } catch (e) {
      const err = isAppError(e) ? e : new AppError('INTERNAL');
      return reply.code(err.status).send(api.errorBody(err.status, err.code, err.message, ''));
    }
    const models = [...catalog.snapshot.models.values()]
      .map((m) => ({ id: m.config.id, provider: m.config.provider, updatedAt: m.config.updated_at, apis: apisOf(m.config.provider, m.config.kind) }))
      .filter((m) => (!through || m.apis.includes(through)) && (!p.modelSet || p.modelSet.has(m.id)) && (id === undefined || m.id === id));
    if (id === undefined) return api.modelList(models);
    if (models.length === 0) return reply.code(404).send(api.errorBody(404, 'UNKNOWN_MODEL', `The model ${id.slice(0, 100)} does not exist.`, ''));
    return api.modelEntry(models[0]!);
  };
  const modelsRoute = async (req: FastifyRequest, reply: FastifyReply) => {
    const id = (req.params as { id?: string }).id;
    if (req.headers['anthropic-version']) return listFor(req, reply, 'anthropic.messages', 'anthropic', id);
    if (req.headers['x-goog-api-key'] || (req.query as { key?: string }).key) return listFor(req, reply, 'gemini.generateContent', 'gemini', id);
    return listFor(req, reply, null, 'openai', id);
  };
  app.get('/v1/models', modelsRoute);
  app.get('/v1/models/:id', modelsRoute);
  app.get('/v1beta/models', async (req, reply) => listFor(req, reply, 'gemini.generateContent', 'gemini'));
  app.get('/v1beta/models/:id', async (req, reply) => listFor(req, reply, 'gemini.generateContent', 'gemini', (req.params as { id: string }).id));
}
