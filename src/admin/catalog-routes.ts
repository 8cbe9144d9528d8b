import { z } from 'zod';
import { SortQuery, sortItems, type ItemSortSpec } from '../kernel/sorting.ts';
import { parseInput } from '../kernel/validation.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import type { RouteTable } from '../http/routes.ts';
import {
  ChannelInput, ChannelPatch, GroupInput, ModelInput, channelUsability, channelView, createChannel, deleteChannel, deleteModel, groupView,
  listChannels, listGroupMultipliers, listModels, modelView, priceHistory, putModel, setGroupMultiplier, updateChannel,
  type Catalog, type ChannelConfig, type ModelConfig,
} from '../catalog/index.ts';

// The operator routes of the catalog. Each change reloads the data plane's snapshot before it
// answers, so the response (a model's serving channels) is what the next request sees.

export interface CatalogRouteDeps {
  /** The data plane's live catalog. */
  catalog: Catalog;
  /** A channel's circuit state, as the router sees it. */
  health(channelId: string): unknown;
}

/** How the channel and model lists sort (fields of the shown rows; these lists are small and unpaged). */
// Without sort: channels by priority (highest first) then name, models by id.
export const CHANNEL_SORT: ItemSortSpec = { columns: ['name', 'provider', 'priority', 'weight', 'enabled'] };
export const MODEL_SORT: ItemSortSpec = { columns: ['id', 'provider', 'kind', 'price_version'] };
const ListSort = z.object({ sort: SortQuery.shape.sort }).strict();

export function registerCatalogRoutes(routes: RouteTable, rt: Runtime, deps: CatalogRouteDeps): void {
  const { catalog } = deps;
  const tag = 'catalog';
  const op = 'operator' as const;
  const ctx = (c: { actor: Parameters<typeof withActor>[1] }) => withActor(rt, c.actor);
  const channelOut = (ch: ChannelConfig) => ({ ...channelView(ch), ...channelUsability(ch, catalog.env) });
  const servedBy = (id: string) => catalog.model(id)?.channels.map((ch) => ch.config.name) ?? [];
  const modelOut = (m: ModelConfig) => ({ ...modelView(m), channels: servedBy(m.id) });

  routes.add({ method: 'POST', url: '/admin/v1/channels', auth: op, tag, summary: 'Create a channel (upstream): provider, base_url, keys, models, priority, weight, timeouts', body: ChannelInput, status: 201 }, async (c) => {
    const ch = await createChannel(ctx(c), c.body);
    await catalog.reload();
    return channelOut(ch);
  });
  routes.add({ method: 'GET', url: '/admin/v1/channels', auth: op, tag, summary: 'List channels: whether each is usable (and why not), its circuit state (?sort=)', query: ListSort }, async (c) => ({
    data: sortItems((await listChannels(rt)).map((ch) => ({ ...channelOut(ch), health: deps.health(ch.id) })), CHANNEL_SORT, parseInput(ListSort, c.query, 'query').sort),
  }));
  routes.add({ method: 'PATCH', url: '/admin/v1/channels/:id', auth: op, tag, summary: 'Change a channel (applies without restart); enabled:false takes it out', body: ChannelPatch }, async (c) => {
    const ch = await updateChannel(ctx(c), c.params.id!, c.body);
    await catalog.reload();
    return channelOut(ch);
  });
  routes.add({ method: 'DELETE', url: '/admin/v1/channels/:id', auth: op, tag, summary: 'Delete a channel; the data plane stops using it at once' }, async (c) => {
    const ch = await deleteChannel(ctx(c), c.params.id!);
    await catalog.reload();
    return { ...channelView(ch), deleted: true };
  });

  routes.add({ method: 'PUT', url: '/admin/v1/models/:id', auth: op, tag, summary: 'Create or update a model and its price (a changed price is a new price-book version)', body: ModelInput }, async (c) => {
    const m = await putModel(ctx(c), c.params.id!, c.body);
    await catalog.reload();
    return modelOut(m);
  });
  routes.add({ method: 'GET', url: '/admin/v1/models', auth: op, tag, summary: 'Models with their current prices, price version and serving channels (?sort=)', query: ListSort }, async (c) => ({
    data: sortItems((await listModels(rt)).map(modelOut), MODEL_SORT, parseInput(ListSort, c.query, 'query').sort),
  }));
  routes.add({ method: 'DELETE', url: '/admin/v1/models/:id', auth: op, tag, summary: 'Delete a model; it is unknown to the data plane at once, its price book is kept' }, async (c) => {
    const m = await deleteModel(ctx(c), c.params.id!);
    await catalog.reload();
    return { ...modelView(m), deleted: true };
  });
  routes.add({ method: 'GET', url: '/admin/v1/models/:id/prices', auth: op, tag, summary: 'Price-book history of a model (also of a deleted one), newest first' }, async (c) => ({
    data: await priceHistory(rt, c.params.id!),
  }));

  routes.add({ method: 'PUT', url: '/admin/v1/groups/:name', auth: op, tag, summary: 'Set the price multiplier of an account group', body: GroupInput }, async (c) => {
    const out = await setGroupMultiplier(ctx(c), c.params.name!, c.body);
    await catalog.reload();
    return out;
  });
  routes.add({ method: 'GET', url: '/admin/v1/groups', auth: op, tag, summary: 'Account groups with a price multiplier' }, async () => ({
    data: (await listGroupMultipliers(rt)).map(groupView),
  }));
}
