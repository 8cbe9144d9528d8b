/**
 * Validation of the request fields Surety itself reads (routing, limits, the hold, billing). A
 * wrong type or a value out of range is a 400 VALIDATION naming the field, before any hold;
 * everything else passes through untouched. Multipart forms carry strings: their numbers are
 * decimal digits and their booleans "true"/"false".
 */
import { validationError } from '../kernel/errors.ts';
import { isObj, type Obj } from './json.ts';
import { MAX_NESTING, nestingDeeperThan } from './tokens.ts';

/** Most output tokens a request may ask for (max_tokens and friends). */
export const MAX_OUTPUT_TOKENS = 10_000_000;
/** Longest model name accepted. */
export const MAX_MODEL_LENGTH = 200;

export function fail(field: string, problem: string): never {
  throw validationError(field, problem);
}

/** Present and not null (JSON null means "absent" to every API served here). */
export function given(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** The model named in the body or form: a string of 1–200 characters. */
export function readModel(body: Obj): string {
  const m = body.model;
  if (!given(m)) fail('model', 'is required');
  if (typeof m !== 'string' || m.length === 0 || m.length > MAX_MODEL_LENGTH) fail('model', `must be a string of 1 to ${MAX_MODEL_LENGTH} characters`);
  return m;
}

export function readBoolean(body: Obj, key: string, form: boolean, field = key): boolean | undefined {
  const v = body[key];
  if (!given(v)) return undefined;
  if (typeof v === 'boolean') return v;
  if (form && (v === 'true' || v === 'false')) return v === 'true';
  return fail(field, 'must be a boolean (true or false)');
}

/** An integer from `min` to `max`; in a form, a string of decimal digits ("3"; not "1.5" or "1e20"). */
export function readInt(body: Obj, key: string, min: number, max: number, form: boolean, field = key): number | undefined {
  const v = body[key];
  if (!given(v)) return undefined;
  let n: number | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = v;
  else if (form && typeof v === 'string' && /^[0-9]{1,16}$/.test(v)) n = Number(v);
  if (n === undefined || n < min || n > max) fail(field, `must be an integer from ${min} to ${max}`);
  return n;
}

export function readString(body: Obj, key: string, field = key): string | undefined {
  const v = body[key];
  if (!given(v)) return undefined;
  if (typeof v !== 'string') fail(field, 'must be a string');
  return v;
}

export function readObject(body: Obj, key: string, field = key): Obj | undefined {
  const v = body[key];
  if (!given(v)) return undefined;
  if (!isObj(v)) fail(field, 'must be an object');
  return v;
}

/** An array of objects (messages, contents, tools, parts, content blocks). */
export function readObjects(v: unknown, field: string, required = false): Obj[] | undefined {
  if (!given(v)) return required ? fail(field, 'is required') : undefined;
  if (!Array.isArray(v)) fail(field, 'must be an array of objects');
  for (let i = 0; i < v.length; i++) if (!isObj(v[i])) fail(`${field}.${i}`, 'must be an object');
  return v as Obj[];
}

/** Text that an API accepts as a string or as an array of blocks/parts (objects). */
export function readTextOrBlocks(v: unknown, field: string, what: string): void {
  if (!given(v) || typeof v === 'string') return;
  if (!Array.isArray(v)) fail(field, `must be a string or an array of ${what}`);
  for (let i = 0; i < v.length; i++) if (!isObj(v[i])) fail(`${field}.${i}`, 'must be an object');
}

/** Refuses a body nested deeper than MAX_NESTING, naming its top-level field. */
export function checkNesting(body: Obj): void {
  for (const [key, v] of Object.entries(body)) {
    if (nestingDeeperThan(v, MAX_NESTING - 1)) fail(key, `is nested more than ${MAX_NESTING} levels deep`);
  }
}
