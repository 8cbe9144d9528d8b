// Replays recorded provider payloads (fixtures/<provider>/) through a provider module.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { PROVIDER_MODULES } from '../../../src/providers/modules.ts';
import type { Provider, ResponseFacts, StreamFacts, UpstreamFailure } from '../../../src/providers/provider.ts';
import { SseParser } from '../../../src/providers/sse.ts';
import type { Delivered, Endpoint, ImageRequestParams } from '../../../src/providers/types.ts';

export function fixture(provider: Provider, name: string): string {
  return readFileSync(new URL(`./fixtures/${provider}/${name}`, import.meta.url), 'utf8');
}

export function json(provider: Provider, name: string): unknown {
  return JSON.parse(fixture(provider, name));
}

/** readResponse of a recorded JSON response. */
export function response(provider: Provider, endpoint: Endpoint, name: string, image: ImageRequestParams = {}): ResponseFacts {
  return PROVIDER_MODULES[provider].readResponse(endpoint, json(provider, name), image);
}

function replay(provider: Provider, endpoint: Endpoint, bytes: Buffer, chunk: number, image: ImageRequestParams): StreamFacts {
  const parser = new SseParser();
  const reader = PROVIDER_MODULES[provider].streamReader(endpoint, image);
  for (let i = 0; i < bytes.length; i += chunk) for (const ev of parser.push(bytes.subarray(i, i + chunk))) reader.feed(ev);
  for (const ev of parser.end()) reader.feed(ev);
  return reader.result();
}

/** streamReader over a recorded stream; the result must not depend on how the bytes were chunked. */
export function stream(provider: Provider, endpoint: Endpoint, name: string, image: ImageRequestParams = {}): StreamFacts {
  const bytes = Buffer.from(fixture(provider, name));
  const whole = replay(provider, endpoint, bytes, bytes.length, image);
  for (const size of [1, 3, 17, 256]) assert.deepEqual(replay(provider, endpoint, bytes, size, image), whole, `${name} in chunks of ${size} bytes`);
  return whole;
}

/** The first `events` events of a recorded stream, then the client goes away. */
export function streamCut(provider: Provider, endpoint: Endpoint, name: string, events: number, image: ImageRequestParams = {}): StreamFacts {
  const parser = new SseParser();
  const reader = PROVIDER_MODULES[provider].streamReader(endpoint, image);
  const all = [...parser.push(Buffer.from(fixture(provider, name))), ...parser.end()];
  assert.ok(events < all.length, `${name} has ${all.length} events`);
  for (const ev of all.slice(0, events)) reader.feed(ev);
  return reader.result();
}

/** classifyStatus of a recorded error body (at most its first 4 KiB, as the gateway passes it). */
export function failure(provider: Provider, status: number, name: string): UpstreamFailure {
  return PROVIDER_MODULES[provider].classifyStatus(status, fixture(provider, name).slice(0, 4096));
}

export function delivered(text: string, images = 0): Delivered {
  return { images, text_chars: text.length, text_bytes: Buffer.byteLength(text, 'utf8') };
}
