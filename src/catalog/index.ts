// The catalog's public surface: import from here, not from the files behind it.
//   models.ts      models and their versioned prices (price-book.ts: the price spec, compiled)
//   channels.ts    channels (upstreams), timeouts; channel-keys.ts: key resolution, usability
//   secret-box.ts  upstream keys encrypted at rest
//   groups.ts      account-group price multipliers
//   snapshot.ts    the compiled in-memory snapshot the data plane routes and prices with
//   catalog-file.ts the SURETY_CONFIG file
export { MODEL_KINDS, ModelInput, deleteModel, listModels, modelName, modelView, priceHistory, putModel, type ModelConfig } from './models.ts';
export { compilePrice, PriceSpecSchema, type CompiledPrice, type PriceSpec } from './price-book.ts';
export {
  ChannelInput, ChannelPatch, DEFAULT_TIMEOUTS, channelView, createChannel, deleteChannel, listChannels, updateChannel, type ChannelConfig, type Timeouts,
} from './channels.ts';
export { channelUsability, prepareUpstreamKeys, resolveChannelKeys, type Usability } from './channel-keys.ts';
export { GroupInput, groupView, listGroupMultipliers, setGroupMultiplier, type GroupMultiplier } from './groups.ts';
export { Catalog, loadSnapshot, type CatalogSnapshot, type LiveChannel, type LiveModel } from './snapshot.ts';
export { applyCatalogFile, readCatalogFile, type CatalogFile } from './catalog-file.ts';
