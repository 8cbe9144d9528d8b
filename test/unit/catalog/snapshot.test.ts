// The live snapshot the data plane routes with (catalog/snapshot.ts), built by the services over
// real storage (SQLite, and PostgreSQL when configured): serving channels highest priority first;
// disabled channels and channels without a usable key left out (and said so by channelUsability);
// env: keys resolved from the given environment; group multipliers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  channelUsability, createChannel, listChannels, loadSnapshot, putModel, setGroupMultiplier, updateChannel, type ChannelConfig,
} from '../../../src/catalog/index.ts';
import { engines } from '../../helpers/engines.ts';
import { createTestRuntime, type TestRuntime } from '../../helpers/runtime.ts';

const PRICE = { input_per_mtok: '1', output_per_mtok: '2' };
const BASE = 'http://127.0.0.1:9';

for (const engine of engines()) {
  describe(`catalog snapshot (${engine})`, () => {
    let t: TestRuntime;
    const channel = (name: string, more: Record<string, unknown> = {}) =>
      createChannel(t.op, { name, provider: 'openai', base_url: BASE, keys: [`sk-${name}-0123456789`], models: ['m-chat'], ...more });
    const names = (cs: Array<{ config: ChannelConfig }>) => cs.map((c) => c.config.name);

    before(async () => {
      t = await createTestRuntime(engine);
      await putModel(t.op, 'm-chat', { provider: 'openai', price: PRICE });
      await putModel(t.op, 'm-off', { provider: 'openai', price: PRICE, enabled: false });
      await channel('low', { priority: -5 });
      await channel('high', { priority: 10, models: ['m-chat', 'm-off'] });
      await channel('mid', { priority: 3 });
      await channel('off', { priority: 20, enabled: false });
      await channel('env-only', { priority: 30, keys: ['env:SNAPSHOT_TEST_KEY_A', 'env:SNAPSHOT_TEST_KEY_B'] });
      await channel('mixed', { priority: 1, keys: ['env:SNAPSHOT_TEST_KEY_A', 'sk-literal-mixed-0000'] });
    });
    after(async () => {
      await t?.close();
    });

    test('serving channels are ordered by priority; disabled and keyless channels and disabled models are left out', async () => {
      const s = await loadSnapshot(t.rt, {});
      assert.deepEqual(names(s.models.get('m-chat')!.channels), ['high', 'mid', 'mixed', 'low']);
      assert.equal(s.models.get('m-off'), undefined, 'a disabled model is not served');
      assert.deepEqual([...s.channels.values()].map((c) => c.config.name).sort(), ['high', 'low', 'mid', 'mixed']);
      // Re-prioritised: the order follows at the next load.
      await updateChannel(t.op, 'low', { priority: 50 });
      assert.deepEqual(names((await loadSnapshot(t.rt, {})).models.get('m-chat')!.channels), ['low', 'high', 'mid', 'mixed']);
      await updateChannel(t.op, 'low', { priority: -5 });
    });

    test('env: keys are read from the environment given; unset or empty ones are dropped, literal keys kept', async () => {
      const unset = await loadSnapshot(t.rt, { SNAPSHOT_TEST_KEY_A: '' });
      assert.deepEqual(unset.models.get('m-chat')!.channels.find((c) => c.config.name === 'mixed')!.keys, ['sk-literal-mixed-0000']);
      const set = await loadSnapshot(t.rt, { SNAPSHOT_TEST_KEY_A: 'sk-from-env-a', SNAPSHOT_TEST_KEY_B: 'sk-from-env-b' });
      const chans = set.models.get('m-chat')!.channels;
      assert.deepEqual(names(chans), ['env-only', 'high', 'mid', 'mixed', 'low'], 'with its variables set, the env-only channel serves first');
      assert.deepEqual(chans[0]!.keys, ['sk-from-env-a', 'sk-from-env-b']);
      assert.deepEqual(chans.find((c) => c.config.name === 'mixed')!.keys, ['sk-from-env-a', 'sk-literal-mixed-0000']);
      assert.deepEqual(chans.find((c) => c.config.name === 'high')!.keys, ['sk-high-0123456789']);
    });

    test('usability says why a channel is not used', async () => {
      const by = new Map((await listChannels(t.rt)).map((c) => [c.name, c]));
      assert.deepEqual(channelUsability(by.get('high')!, {}), { usable: true, unusable_reason: null });
      assert.deepEqual(channelUsability(by.get('off')!, {}), { usable: false, unusable_reason: 'disabled by the operator (enabled: false)' });
      assert.deepEqual(channelUsability(by.get('env-only')!, {}), {
        usable: false,
        unusable_reason: 'environment variables SNAPSHOT_TEST_KEY_A, SNAPSHOT_TEST_KEY_B are not set',
      });
      assert.deepEqual(channelUsability(by.get('env-only')!, { SNAPSHOT_TEST_KEY_B: 'x' }), { usable: true, unusable_reason: null });
      assert.deepEqual(channelUsability(by.get('mixed')!, {}), { usable: true, unusable_reason: null }, 'one key left is enough');
      const single = await channel('single-env', { keys: ['env:OPENAI_API_KEY_NOT_SET_HERE'], models: ['m-none'] });
      assert.deepEqual(channelUsability(single, {}), { usable: false, unusable_reason: 'environment variable OPENAI_API_KEY_NOT_SET_HERE is not set' });
    });

    test('group multipliers are compiled into the snapshot', async () => {
      await setGroupMultiplier(t.op, 'half', { multiplier: '0.5' });
      await setGroupMultiplier(t.op, 'plus', { multiplier: '1.25' });
      const s = await loadSnapshot(t.rt, {});
      assert.deepEqual(s.multipliers.get('half'), { num: 1n, den: 2n });
      assert.deepEqual(s.multipliers.get('plus'), { num: 5n, den: 4n });
      assert.equal(s.multipliers.get('default'), undefined, 'a group without a multiplier pays full price');
    });
  });
}
