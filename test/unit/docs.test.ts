// The README is the reference for error codes, control-plane routes, settings and CLI commands:
// these tests fail when one of them exists in the code but not in the README.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { buildApp } from '../../src/http/app.ts';
import { registerGateway } from '../../src/gateway/routes.ts';
import { COMMANDS } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/kernel/config/load.ts';
import { ENV_KEYS } from '../../src/kernel/config/schema.ts';
import { ERRORS } from '../../src/kernel/errors.ts';
import { REQUEST_LOG_DATASETS } from '../../src/requests/schema.ts';
import { INCIDENT_SCOPE_DATASETS } from '../../src/incidents/export.ts';
import { SLA_INTERVALS } from '../../src/contracts/intervals.ts';
import { FINDINGS_DATASET } from '../../src/detection/export.ts';

// Every dataset of the uniform export (docs/export.md).
const EXPORT_DATASETS = [...Object.values(REQUEST_LOG_DATASETS), ...Object.values(INCIDENT_SCOPE_DATASETS), SLA_INTERVALS, FINDINGS_DATASET];
import { createRuntime } from '../../src/runtime.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { SqliteDb } from '../../src/storage/sqlite/db.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

const missing = (names: string[], present: (n: string) => boolean) => names.filter((n) => !present(n));

test('every error code in the registry is documented in the README', () => {
  const codes = Object.keys(ERRORS);
  assert.ok(codes.length > 10);
  assert.deepEqual(missing(codes, (c) => readme.includes(`\`${c}\``)), [], 'error codes missing from README.md');
});

test('every control-plane route in the route table is documented in the README', async () => {
  const db = new SqliteDb(':memory:');
  await migrate(db);
  const rt = await createRuntime(loadConfig({}), { db, log: pino({ level: 'silent' }) });
  try {
    // With the data plane's own operator and customer routes (catalog, logs) too.
    const { routes } = await buildApp(rt, { adminKeyHash: '0'.repeat(64), plugins: [async (app, r, auth, table, _readiness, door) => void (await registerGateway(app, r, auth, table, door))] });
    const documented = routes.specs.map((s) => `${s.method} ${s.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    assert.ok(documented.length > 20);
    documented.push('GET /healthz', 'GET /readyz', 'GET /admin/v1/openapi.json');
    assert.deepEqual(missing(documented, (r) => readme.includes(`\`${r}\``)), [], 'routes missing from README.md');
  } finally {
    await rt.close();
  }
});

test('every setting is documented in the README configuration table', () => {
  assert.deepEqual(missing(Object.values(ENV_KEYS), (v) => readme.includes(`| \`${v}\``)), [], 'environment variables missing from README.md');
});

test('every CLI command is documented in the README', () => {
  assert.deepEqual(missing(COMMANDS.map((c) => c.name), (n) => readme.includes(`surety ${n}`)), [], 'CLI commands missing from README.md');
});

test('every export dataset and its columns are documented in docs/export.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'export.md'), 'utf8');
  for (const d of EXPORT_DATASETS) {
    const heading = doc.indexOf(`### \`${d.name}\``);
    assert.ok(heading >= 0, `docs/export.md has a section for ${d.name}`);
    assert.ok(doc.slice(heading).split('\n')[0]!.includes(`version ${d.version}`), `${d.name}: its section names version ${d.version}`);
  }
  const operator = EXPORT_DATASETS.find((d) => d.name === 'request-log')!;
  assert.deepEqual(missing([...operator.columns], (c) => doc.includes(`\`${c}\``)), [], 'columns missing from docs/export.md');
});
