import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../kernel/config/load.ts';
import type { Config } from '../kernel/config/schema.ts';

// Upstream keys at rest: AES-256-GCM, a fresh 96-bit IV per value, stored as
//   enc:v1:<key id>:<base64url(iv ‖ tag ‖ ciphertext)>
// "v1" names the scheme (HKDF-SHA256 of SURETY_SECRET_KEY → AES-256-GCM), so it can change later
// without guessing what a stored value is. The key id (8 hex digits of a hash of the derived key,
// which reveals nothing usable) tells "stored with another key" apart from "altered"; it is also
// authenticated (GCM additional data), so it cannot be swapped. `env:NAME` references are not
// secrets and are stored as written.

const PREFIX = 'enc:v1:';
const HKDF_INFO = 'surety upstream keys v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The file holding a generated key when SURETY_SECRET_KEY is not set. */
export const SECRET_KEY_FILE = 'secret.key';

export type OpenFailure = 'wrong_key' | 'altered' | 'malformed';

export class SecretBoxError extends Error {
  readonly reason: OpenFailure;
  readonly storedKeyId: string | null;
  constructor(reason: OpenFailure, message: string, storedKeyId: string | null) {
    super(message);
    this.name = 'SecretBoxError';
    this.reason = reason;
    this.storedKeyId = storedKeyId;
  }
}

/** A stored value this module wrote (of any scheme version), as opposed to a plaintext or env: key. */
export function isSealed(stored: string): boolean {
  return stored.startsWith('enc:');
}

export class SecretBox {
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(secret: string) {
    // HKDF rather than the raw text: any string of 32+ characters gives a uniform 256-bit key.
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), HKDF_INFO, 32));
    this.keyId = createHash('sha256').update('surety key id\0').update(this.key).digest('hex').slice(0, 8);
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(PREFIX + this.keyId));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.keyId}:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
  }

  /** The plaintext of a sealed value; throws SecretBoxError when it cannot be trusted. */
  open(stored: string): string {
    const m = /^enc:v1:([0-9a-f]{8}):([A-Za-z0-9_-]+)$/.exec(stored);
    if (!m) throw new SecretBoxError('malformed', 'not a stored key of a known scheme (enc:v1:…)', null);
    const [, keyId, payload] = m as unknown as [string, string, string];
    if (keyId !== this.keyId) {
      throw new SecretBoxError('wrong_key', `stored with another secret key (key id ${keyId}; this one is ${this.keyId})`, keyId);
    }
    const raw = Buffer.from(payload, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError('malformed', 'the stored value is truncated', keyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(PREFIX + keyId));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('altered', 'the stored value was altered (it does not authenticate under this secret key)', keyId);
    }
  }
}

// One box per configuration: tests run several gateways (several data directories) in one process.
const boxes = new WeakMap<Config, SecretBox>();

/**
 * The box for this configuration: SURETY_SECRET_KEY when set; otherwise the key in
 * `<SURETY_DATA_DIR>/secret.key`, generated (mode 0600) at first use.
 */
export function secretBox(rt: { config: Config; log: Logger }): SecretBox {
  let box = boxes.get(rt.config);
  if (!box) {
    box = new SecretBox(rt.config.secretKey ?? keyFromDataDir(rt.config.dataDir, rt.log));
    boxes.set(rt.config, box);
  }
  return box;
}

function readKeyFile(path: string): string {
  const key = readFileSync(path, 'utf8').trim();
  if (key.length < 32) throw new ConfigError(`SURETY_SECRET_KEY: ${path} holds fewer than 32 characters; restore the file or set SURETY_SECRET_KEY`);
  return key;
}

function keyFromDataDir(dataDir: string, log: Logger): string {
  const path = join(resolve(dataDir), SECRET_KEY_FILE);
  try {
    return readKeyFile(path);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
  mkdirSync(resolve(dataDir), { recursive: true });
  // Written aside, then linked into place: a link never replaces an existing file, so two
  // processes starting together agree on one key and neither reads a half-written file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
    log.warn(
      { file: path },
      'SURETY_SECRET_KEY is not set: generated a key to encrypt upstream keys at rest. Back this file up with the database (without it stored upstream keys cannot be used); several instances on one PostgreSQL must share one SURETY_SECRET_KEY',
    );
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  return readKeyFile(path);
}
