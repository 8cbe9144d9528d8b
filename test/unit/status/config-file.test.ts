// The status page in the catalog file (key "status") and the vocabulary the API promises.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../../src/kernel/config/load.ts';
import { startSurety } from '../../../src/start.ts';
import { DEFAULT_STATUS_FILE, parseStatusFile } from '../../../src/status/config-file.ts';
import { STATUSES, STATUS_NAMES, pageIndicator } from '../../../src/status/vocabulary.ts';
import { chooseLang } from '../../../src/status/i18n.ts';
import { matchesModel } from '../../../src/status/components.ts';

const ADMIN_KEY = 'sa-test-operator-key-0123456789abcdef';

describe('vocabulary', () => {
  test("Statuspage's component statuses, their uptime weights and the page indicator", () => {
    assert.deepEqual(STATUS_NAMES, ['operational', 'under_maintenance', 'degraded_performance', 'partial_outage', 'major_outage']);
    assert.deepEqual(Object.fromEntries(STATUS_NAMES.map((s) => [s, STATUSES[s].downWeight])), { operational: 0, under_maintenance: 0, degraded_performance: 0, partial_outage: 0.3, major_outage: 1 });
    assert.equal(pageIndicator(['operational', 'degraded_performance']), 'minor');
    assert.equal(pageIndicator(['partial_outage', 'under_maintenance']), 'major');
    assert.equal(pageIndicator(['major_outage']), 'critical');
    assert.equal(pageIndicator(['operational', 'under_maintenance']), 'maintenance');
    assert.equal(pageIndicator([]), 'none');
  });
  test('languages: ?lang first, then Accept-Language by q, else English', () => {
    assert.equal(chooseLang('zh', 'en'), 'zh');
    assert.equal(chooseLang(undefined, 'de, zh-TW;q=0.7, en;q=0.6'), 'zh');
    assert.equal(chooseLang(undefined, 'zh;q=0, en'), 'en');
    assert.equal(chooseLang('xx', undefined), 'en');
  });
  test('model patterns', () => {
    assert.ok(matchesModel(['claude-*'], 'claude-sonnet-4-5'));
    assert.ok(!matchesModel(['claude-*'], 'xclaude-1'));
    assert.ok(matchesModel(['gpt-4o-mini'], 'gpt-4o-mini'));
    assert.ok(!matchesModel(['gpt-4o'], 'gpt-4o-mini'));
    assert.ok(matchesModel(['gemini-*-image*'], 'gemini-3-pro-image-preview'));
    assert.ok(!matchesModel(['a.b'], 'axb'), 'a dot is a dot');
  });
});

describe('the "status" key of the catalog file', () => {
  test('the default page parses', () => {
    assert.equal(Object.keys(DEFAULT_STATUS_FILE.components).length, 7);
  });
  test('a bad section names the field', () => {
    assert.throws(() => parseStatusFile({ components: { API: { name: 'x' } } }), /status|components/);
    assert.throws(() => parseStatusFile({ components: { api: { name: 'API', probe: { kind: 'model', every_seconds: 1 } } } }), /every_seconds/);
    assert.throws(() => parseStatusFile({ components: { api: { name: 'API', colour: 'red' } } }), /colour: unknown field/);
  });

  test('applied at start instead of the default page; a bad one stops the start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'surety-status-file-'));
    try {
      const file = join(dir, 'catalog.json');
      writeFileSync(file, JSON.stringify({ status: { page: { name: 'Acme AI', url: 'https://status.acme.test' }, groups: { models: { name: 'Models' } }, components: { claude: { name: 'Claude', group: 'models', models: ['claude-*'] } } } }));
      const config = loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: 'false', dataDir: join(dir, 'data'), configFile: file });
      const s = await startSurety(config, { handleSignals: false });
      try {
        const summary = (await (await fetch(`${s.url}/status/api/v2/summary.json`)).json()) as any;
        assert.equal(summary.page.name, 'Acme AI');
        assert.equal(summary.page.url, 'https://status.acme.test');
        assert.deepEqual(summary.components.map((c: { id: string }) => c.id), ['models', 'claude']);
      } finally {
        await s.stop();
      }
      writeFileSync(file, JSON.stringify({ status: { components: { claude: { name: 'Claude', rules: { degraded_error_rate: 0.9, partial_error_rate: 0.1 } } } } }));
      await assert.rejects(startSurety(loadConfig({}, { port: 0, logLevel: 'silent', adminKey: ADMIN_KEY, demo: 'false', dataDir: join(dir, 'data2'), configFile: file }), { handleSignals: false }), /SURETY_CONFIG: .* is invalid:[\s\S]*thresholds must rise/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
