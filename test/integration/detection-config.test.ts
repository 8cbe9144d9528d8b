// Detection and programme settings in the catalog file (SURETY_CONFIG) and through the admin API:
// applied at start, shown by GET, refused with the path of the bad value.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startTestGateway } from '../helpers/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'surety-detection-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the catalog file sets detection thresholds and the programme; the admin API reads and changes them', async () => {
  const file = join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify({
    models: { 'cfg-image': { provider: 'openai', kind: 'images', price: { per_image: { default: '0.05' } } } },
    detection: { image_timeout_seconds: 600, models: { 'cfg-image': { abnormal_timeout_seconds: 450 } }, disabled_rules: ['implausible_usage'] },
    programme: { threshold: '5000.00', time_zone: 'Asia/Shanghai', lookback_months: 0, auto_verify: ['double_charge'] },
  }));
  const g = await startTestGateway({ demo: false, config: { configFile: file } });
  try {
    const d = await g.admin('GET', '/admin/v1/detection');
    assert.equal(d.settings.image_timeout_seconds, 600);
    assert.deepEqual(d.settings.models, { 'cfg-image': { abnormal_timeout_seconds: 450 } });
    assert.deepEqual(d.rules.filter((r: any) => !r.enabled).map((r: any) => r.name), ['implausible_usage']);
    assert.equal(d.rules.length, 7);
    const p = await g.admin('GET', '/admin/v1/programme');
    assert.deepEqual([p.threshold, p.time_zone, p.lookback_months, p.auto_verify, p.models], ['5000.00', 'Asia/Shanghai', 0, ['double_charge'], null]);
    const bad = await g.adminRaw('PUT', '/admin/v1/programme', { auto_verify: ['no_such_rule'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'auto_verify.0');
    const zone = await g.adminRaw('PUT', '/admin/v1/programme', { time_zone: 'Mars/Olympus' });
    assert.equal(zone.body.error.field, 'time_zone');
    const unknown = await g.adminRaw('PUT', '/admin/v1/detection', { scan_lag: 3 });
    assert.deepEqual([unknown.status, unknown.body.error.field], [400, 'scan_lag']);
    const nul = await g.adminRaw('PUT', '/admin/v1/detection', { models: { 'a\u0000b': { abnormal_timeout_seconds: 1 } } });
    assert.equal(nul.status, 400);
    const ok = await g.admin('PUT', '/admin/v1/detection', { image_timeout_seconds: 300 });
    assert.equal(ok.settings.image_timeout_seconds, 300);
    assert.deepEqual(ok.settings.disabled_rules, [], 'a PUT replaces the document: fields left out take their defaults');
    const audit = await g.admin('GET', '/admin/v1/audit?action=detection.settings');
    assert.deepEqual(audit.data.map((a: any) => a.actor), ['operator:admin', 'operator:config-file']);
    const enrolUnknown = await g.adminRaw('PUT', '/admin/v1/accounts/acct_nope/programme', { enrolled: true });
    assert.equal(enrolUnknown.status, 404);
  } finally {
    await g.close();
  }
});

test('a bad detection section stops the start and names the path', async () => {
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ detection: { models: { x: { abnormal_timeout_seconds: -5 } } } }));
  await assert.rejects(() => startTestGateway({ demo: false, config: { configFile: file } }), (e: Error) => /SURETY_CONFIG: .*bad\.json is invalid:\n {2}detection\.models\.x\.abnormal_timeout_seconds: /.test(e.message));
});
