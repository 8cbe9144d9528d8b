// Upstream keys at rest: AES-256-GCM under SURETY_SECRET_KEY (secret-box.ts). A sealed value opens
// back to the key; another secret key, an altered value or a malformed one is refused, never
// opened to garbage; without SURETY_SECRET_KEY a key is generated once into the data directory.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../../src/kernel/config/load.ts';
import { SECRET_KEY_FILE, SecretBox, SecretBoxError, isSealed, secretBox } from '../../../src/catalog/secret-box.ts';

const SECRET = 'a-test-secret-key-of-at-least-32-characters';
const UPSTREAM = 'sk-proj-upstream-key-0123456789abcdef';

const refused = (fn: () => unknown, reason: string) =>
  assert.throws(fn, (e: unknown) => e instanceof SecretBoxError && e.reason === reason && !e.message.includes(UPSTREAM), `refused as ${reason}`);

test('a sealed key opens back to itself; the stored text never contains it and names its scheme', () => {
  const box = new SecretBox(SECRET);
  const stored = box.seal(UPSTREAM);
  assert.ok(stored.startsWith(`enc:v1:${box.keyId}:`), stored);
  assert.ok(isSealed(stored));
  assert.ok(!stored.includes(UPSTREAM) && !stored.includes(UPSTREAM.slice(-8)));
  assert.equal(box.open(stored), UPSTREAM);
  // A fresh IV per value: the same key sealed twice is stored differently, and both open.
  const again = box.seal(UPSTREAM);
  assert.notEqual(again, stored);
  assert.equal(box.open(again), UPSTREAM);
  // Another box from the same secret (another process) opens it too; unicode survives.
  assert.equal(new SecretBox(SECRET).open(box.seal('ключ-🔑')), 'ключ-🔑');
});

test('a value sealed under another secret key is refused as such', () => {
  const stored = new SecretBox(SECRET).seal(UPSTREAM);
  const other = new SecretBox(`${SECRET}-but-not-the-same`);
  assert.notEqual(other.keyId, new SecretBox(SECRET).keyId);
  refused(() => other.open(stored), 'wrong_key');
});

test('an altered value is refused: ciphertext, tag, IV, or a key id swapped in', () => {
  const box = new SecretBox(SECRET);
  const stored = box.seal(UPSTREAM);
  const prefix = stored.slice(0, stored.lastIndexOf(':') + 1);
  const raw = Buffer.from(stored.slice(prefix.length), 'base64url');
  for (const at of [0 /* IV */, 12 /* tag */, raw.length - 1 /* ciphertext */]) {
    const bad = Buffer.from(raw);
    bad[at]! ^= 0x01;
    refused(() => box.open(prefix + bad.toString('base64url')), 'altered');
  }
  // The key id is authenticated: a value re-labelled with this box's id does not open either.
  const foreign = new SecretBox(`${SECRET}-other`).seal(UPSTREAM);
  refused(() => box.open(foreign.replace(/^enc:v1:[0-9a-f]{8}:/, `enc:v1:${box.keyId}:`)), 'altered');
  refused(() => box.open(`${prefix}${raw.subarray(0, 20).toString('base64url')}`), 'malformed');
  refused(() => box.open('enc:v2:whatever'), 'malformed');
  assert.ok(!isSealed(UPSTREAM) && !isSealed('env:OPENAI_API_KEY'));
});

test('without SURETY_SECRET_KEY a key is generated once into the data directory (mode 0600) and kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'surety-secret-'));
  const log = pino({ level: 'silent' });
  try {
    const dataDir = join(dir, 'data');
    const first = secretBox({ config: loadConfig({}, { dataDir }), log });
    const file = join(dataDir, SECRET_KEY_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, 'utf8').trim().length >= 32);
    const stored = first.seal(UPSTREAM);
    // A later start (a new configuration) reads the same file: what was sealed still opens.
    const second = secretBox({ config: loadConfig({}, { dataDir }), log });
    assert.equal(second.keyId, first.keyId);
    assert.equal(second.open(stored), UPSTREAM);
    // SURETY_SECRET_KEY, when set, wins over the file.
    const explicit = secretBox({ config: loadConfig({ SURETY_SECRET_KEY: SECRET }, { dataDir }), log });
    assert.equal(explicit.keyId, new SecretBox(SECRET).keyId);
    // A damaged key file stops the start with a clear message instead of sealing with a weak key.
    writeFileSync(file, 'short\n');
    assert.throws(() => secretBox({ config: loadConfig({}, { dataDir }), log }), (e: unknown) => e instanceof ConfigError && e.message.includes(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SURETY_SECRET_KEY is validated, read from SURETY_SECRET_KEY_FILE, and hidden in errors', () => {
  assert.throws(() => loadConfig({ SURETY_SECRET_KEY: 'too-short-a-secret' }), (e: unknown) => e instanceof ConfigError && /SURETY_SECRET_KEY=\(hidden\)/.test(e.message) && !e.message.includes('too-short'));
  const dir = mkdtempSync(join(tmpdir(), 'surety-secret-file-'));
  try {
    writeFileSync(join(dir, 'k'), `${SECRET}\n`);
    assert.equal(loadConfig({ SURETY_SECRET_KEY_FILE: join(dir, 'k') }).secretKey, SECRET);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
