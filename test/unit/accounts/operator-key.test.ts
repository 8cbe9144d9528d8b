// The operator key's stored hash: written at first start and on rotation only through the audited
// operator-key service, once even when several instances start together.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY_SETTING, resolveAdminKey, rotateAdminKey } from '../../../src/accounts/operator-key.ts';
import { sha256Hex } from '../../../src/kernel/ids.ts';
import { withActor } from '../../../src/kernel/context.ts';
import { createRuntime, type RuntimeHandle } from '../../../src/runtime.ts';
import { engines } from '../../helpers/engines.ts';
import { OPERATOR, createTestRuntime, testConfig, type TestRuntime } from '../../helpers/runtime.ts';
import { filesMatching } from '../../helpers/source.ts';

test('only the operator-key service writes the stored operator key hash', () => {
  // The settings table also holds detection's own documents (src/detection/settings.ts); the key's hash is written only here.
  assert.deepEqual(filesMatching(/INSERT INTO settings|UPDATE settings/).sort(), ['src/accounts/operator-key.ts', 'src/detection/settings.ts']);
  assert.deepEqual(filesMatching(/'admin_key_hash'|admin_key_hash'/), ['src/accounts/operator-key.ts']);
});

for (const engine of engines()) {
  describe(`operator key (${engine})`, () => {
    let t: TestRuntime;
    let stored: RuntimeHandle;
    before(async () => {
      t = await createTestRuntime(engine);
      stored = await t.variant({ adminKey: undefined });
    });
    after(async () => {
      await t?.close();
    });

    const auditRows = () => t.rt.db.all<Record<string, unknown>>("SELECT * FROM audit_log WHERE target_type = 'setting' ORDER BY id");

    test('SURETY_ADMIN_KEY set: its hash, nothing stored', async () => {
      const r = await resolveAdminKey(t.rt);
      assert.deepEqual(r, { hash: sha256Hex(t.rt.config.adminKey!), generated: null });
      assert.equal(await t.rt.db.get('SELECT value FROM settings WHERE name = ?', [ADMIN_KEY_SETTING]), undefined);
      assert.deepEqual(await auditRows(), []);
    });

    test('first start of several instances at once: one key is generated, stored, audited and printed once', async () => {
      const others = await Promise.all(Array.from({ length: 4 }, () => createRuntime(testConfig({ adminKey: undefined }), { db: t.rt.db })));
      const results = await Promise.all([stored, ...others].map((rt) => resolveAdminKey(rt)));
      const generated = results.filter((r) => r.generated !== null);
      assert.equal(generated.length, 1, 'exactly one instance prints a key');
      const key = generated[0]!.generated!;
      assert.match(key, /^sa-sur-[A-Za-z0-9]{40}$/);
      for (const r of results) assert.equal(r.hash, sha256Hex(key));
      const row = await t.rt.db.get<{ value: string }>('SELECT value FROM settings WHERE name = ?', [ADMIN_KEY_SETTING]);
      assert.equal(row!.value, sha256Hex(key));
      const audit = await auditRows();
      assert.equal(audit.length, 1);
      assert.deepEqual([audit[0]!.actor_type, audit[0]!.actor_id, audit[0]!.action, audit[0]!.before_json], ['system', 'system:bootstrap', 'admin_key.create', null]);
      assert.equal(JSON.parse(String(audit[0]!.after_json)).fingerprint, sha256Hex(key).slice(0, 8));
      assert.ok(!String(audit[0]!.after_json).includes(sha256Hex(key)), 'the audit entry holds a fingerprint, not the hash');
      // A later start reads the stored hash and prints nothing.
      assert.deepEqual(await resolveAdminKey(stored), { hash: sha256Hex(key), generated: null });
      assert.equal((await auditRows()).length, 1);
    });

    test('rotation replaces the hash through the same audited writer', async () => {
      const before = await t.rt.db.get<{ value: string }>('SELECT value FROM settings WHERE name = ?', [ADMIN_KEY_SETTING]);
      const r = await rotateAdminKey(withActor(stored, OPERATOR));
      assert.equal((await resolveAdminKey(stored)).hash, sha256Hex(r.key));
      const last = (await auditRows()).at(-1)!;
      assert.deepEqual([last.actor_id, last.action], ['operator:test', 'admin_key.rotate']);
      assert.deepEqual(JSON.parse(String(last.before_json)), { fingerprint: before!.value.slice(0, 8) });
    });
  });
}
