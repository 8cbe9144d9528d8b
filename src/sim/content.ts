// Deterministic content: token counting, completion text, a tiny real PNG, embeddings, ids.

import { crc32, deflateSync } from 'node:zlib';

export const DEFAULT_COMPLETION_TOKENS = 16;
export const DEFAULT_EMBEDDING_DIMENSIONS = 16;

/** Prompt tokens for `chars` characters of input text: ceil(chars / 4), at least 1. */
export function promptTokens(chars: number): number {
  return chars <= 4 ? 1 : Math.ceil(chars / 4);
}

// ---- completion text: token i is WORDS[i % WORDS.length] + ' ' ----

const WORDS = [
  'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do',
  'eiusmod', 'tempor', 'incididunt', 'ut', 'labore', 'et', 'dolore', 'magna', 'aliqua', 'enim',
];
export const TOKEN_TEXT: readonly string[] = WORDS.map((w) => w + ' ');
/** JSON string literals (with quotes) of each token, for hand-assembled stream frames. */
export const TOKEN_JSON: readonly string[] = TOKEN_TEXT.map((t) => JSON.stringify(t));

export function tokenText(i: number): string {
  return TOKEN_TEXT[i % TOKEN_TEXT.length];
}
export function tokenJson(i: number): string {
  return TOKEN_JSON[i % TOKEN_JSON.length];
}

const PREBUILT_TOKENS = 4096;
const PREBUILT_OFFSETS = new Int32Array(PREBUILT_TOKENS + 1);
const PREBUILT_TEXT = (() => {
  let s = '';
  for (let i = 0; i < PREBUILT_TOKENS; i++) {
    s += tokenText(i);
    PREBUILT_OFFSETS[i + 1] = s.length;
  }
  return s;
})();

/** The text of the first `n` tokens. */
export function completionText(n: number): string {
  if (n <= PREBUILT_TOKENS) return PREBUILT_TEXT.slice(0, PREBUILT_OFFSETS[n]);
  let s = PREBUILT_TEXT;
  for (let i = PREBUILT_TOKENS; i < n; i++) s += tokenText(i);
  return s;
}

// ---- a tiny, valid PNG (8x8 RGB, solid colour) built once at load time ----

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length, 0);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0, 0);
  return Buffer.concat([len, td, crc]);
}

function buildPng(w: number, h: number, rgb: [number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // interlace
  const raw = Buffer.alloc(h * (1 + w * 3));
  for (let y = 0; y < h; y++) {
    const row = y * (1 + w * 3);
    raw[row] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      raw[row + 1 + x * 3] = rgb[0];
      raw[row + 2 + x * 3] = rgb[1];
      raw[row + 3 + x * 3] = rgb[2];
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

export const PNG_WIDTH = 8;
export const PNG_HEIGHT = 8;
export const PNG_BYTES: Buffer = buildPng(PNG_WIDTH, PNG_HEIGHT, [0x1f, 0x8a, 0x70]);
export const PNG_BASE64: string = PNG_BYTES.toString('base64');

// ---- deterministic embeddings ----

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A unit-length vector derived only from `input` and `dims`. */
export function embeddingVector(input: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let state = fnv1a(input) || 1;
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const x = ((state >>> 0) / 0xffffffff) * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] = v[i] / norm;
  return v;
}

// ---- ids ----

const ID_BASE = Date.now().toString(36);
let idSeq = 0;
/** Unique id with the provider's prefix, e.g. `chatcmpl-sim…`, `msg_sim…`. */
export function newId(prefix: string): string {
  return prefix + 'sim' + ID_BASE + (++idSeq).toString(36);
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
