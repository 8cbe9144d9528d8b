// The live snapshot the data plane routes with (catalog/snapshot.ts), built by the services over
// real storage (SQLite, and PostgreSQL when configured): serving channels highest priority first;
// disabled channels and channels without a usable key left out (and said so by channelUsability);
// env: keys resolved from the given environment; stored keys encrypted at rest, plaintext rows from
// earlier versions encrypted at start, a wrong secret key refused; group multipliers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../../src/kernel/config/load.ts';
import {
  channelUsability, createChannel, listChannels, loadSnapshot, prepareUpstreamKeys, putModel, setGroupMultiplier, updateChannel,
  type ChannelConfig,
} from '../../../src/catalog/index.ts';
import { withActor } from '../../../src/kernel/context.ts';
import { engines } from '../../helpers/engines.ts';
import { OPERATOR, createTestRuntime, type TestRuntime } from '../../helpers/runtime.ts';

const SECRET = 'snapshot-test-secret-key-0123456789abcdef';
const OTHER_SECRET = 'another-secret-key-for-the-same-db-987654321';
const PRICE = { input_per_mtok: '1', output_per_mtok: '2' };
const BASE = 'http://127.0.0.1:9';

for (const engine of engines()) {
  describe(`catalog snapshot (${engine})`, () => {
    let t: TestRuntime;
    const channel = (name: string, more: Record<string, unknown> = {}) =>
      createChannel(t.op, { name, provider: 'openai', base_url: BASE, keys: [`sk-${name}-0123456789`], models: ['m-chat'], ...more });
    const names = (cs: Array<{ config: ChannelConfig }>) => cs.map((c) => c.config.name);

    before(async () => {
      t = await createTestRuntime(engine, { secretKey: SECRET });
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
      assert.deepEqual(chans.find((c) => c.config.name === 'high')!.keys, ['sk-high-0123456789'], 'a stored key is decrypted for the data plane');
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

    test('upstream keys are stored encrypted; another secret key cannot use them and the start is refused', async () => {
      const rows = await t.rt.db.all<{ name: string; keys: string }>('SELECT name, keys FROM channels');
      for (const r of rows) {
        assert.ok(!r.keys.includes('0123456789') && !r.keys.includes('sk-literal'), `${r.name}: no plaintext key stored: ${r.keys}`);
      }
      assert.deepEqual(JSON.parse(rows.find((r) => r.name === 'env-only')!.keys), ['env:SNAPSHOT_TEST_KEY_A', 'env:SNAPSHOT_TEST_KEY_B'], 'env: references are stored as written');

      const other = await t.variant({ secretKey: OTHER_SECRET });
      await assert.rejects(prepareUpstreamKeys(other), (e: unknown) => e instanceof ConfigError && /SURETY_SECRET_KEY/.test(e.message) && /channel high/.test(e.message) && !e.message.includes('sk-high'));
      // A running instance with another key (another instance wrote the rows) does not use them, and says why.
      assert.deepEqual([...(await loadSnapshot(other, {})).channels.keys()], []);
      const resolvable = await loadSnapshot(other, { SNAPSHOT_TEST_KEY_A: 'sk-from-env-a' });
      assert.deepEqual(names(resolvable.models.get('m-chat')!.channels), ['env-only', 'mixed'], 'only what it can resolve: env: keys');
      assert.deepEqual(resolvable.models.get('m-chat')!.channels[1]!.keys, ['sk-from-env-a']);
      const high = (await listChannels(other)).find((c) => c.name === 'high')!;
      assert.deepEqual(channelUsability(high, {}), { usable: false, unusable_reason: 'its stored key cannot be decrypted with this SURETY_SECRET_KEY' });
      // Saving such a channel keeps the stored value as it was (nothing is lost or re-encrypted wrongly).
      const before = (await t.rt.db.get<{ keys: string }>("SELECT keys FROM channels WHERE name = 'high'"))!.keys;
      await updateChannel(withActor(other, OPERATOR), 'high', { weight: 2 });
      assert.equal((await t.rt.db.get<{ keys: string }>("SELECT keys FROM channels WHERE name = 'high'"))!.keys, before);
      assert.deepEqual((await loadSnapshot(t.rt, {})).channels.get(high.id)!.keys, ['sk-high-0123456789'], 'and the right key still opens it');
    });

    test('keys stored in plaintext by an earlier version are encrypted at start, once', async () => {
      const now = t.clock.now();
      await t.rt.db.run(
        'INSERT INTO channels (id, name, provider, base_url, keys, models, model_map, priority, weight, timeouts, headers, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ['ch_legacy', 'legacy', 'openai', BASE, JSON.stringify(['sk-legacy-plaintext-key', 'env:SNAPSHOT_TEST_KEY_A']), JSON.stringify(['m-chat']), '{}', 0, 1, '{}', '{}', 1, now, now],
      );
      assert.equal(await prepareUpstreamKeys(t.rt), 1);
      const stored = JSON.parse((await t.rt.db.get<{ keys: string }>("SELECT keys FROM channels WHERE id = 'ch_legacy'"))!.keys) as string[];
      assert.match(stored[0]!, /^enc:v1:/);
      assert.equal(stored[1], 'env:SNAPSHOT_TEST_KEY_A');
      assert.equal(await prepareUpstreamKeys(t.rt), 0, 'nothing left to encrypt');
      assert.deepEqual((await loadSnapshot(t.rt, {})).channels.get('ch_legacy')!.keys, ['sk-legacy-plaintext-key']);
      const audited = await t.rt.db.all<{ action: string; actor_id: string }>("SELECT action, actor_id FROM audit_log WHERE target_id = 'ch_legacy'");
      assert.deepEqual(audited.map((a) => ({ ...a })), [{ action: 'channel.keys_encrypted', actor_id: 'system:secret-box' }]);
    });
  });
}
