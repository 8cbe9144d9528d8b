import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../kernel/config/load.ts';
import type { Config } from '../kernel/config/schema.ts';
import { AppError } from '../kernel/errors.ts';
import { createRuntime, type RuntimeHandle } from '../runtime.ts';
import { withActor, type Actor, type ServiceContext } from '../kernel/context.ts';

// What every CLI command shares: its declaration (options, positionals, help), the output in
// JSON or a readable form, and a runtime over the same storage and services the HTTP API uses.
// Commands only parse their arguments and call a service with the operator actor below.

export const CLI_ACTOR: Actor = { type: 'operator', id: 'cli' };

/** A mistake on the command line: exit code 2 with a pointer to the command's help. */
export class UsageError extends Error {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help, e.g. "USD" for `--amount USD`. */
  value?: string;
  help: string;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Invocation {
  values: Values;
  positionals: string[];
  io: Io;
}

export interface Command {
  /** The words that select it: "accounts create", "topup". */
  name: string;
  summary: string;
  /** Required positional arguments, in order, shown as <name>. */
  args?: string[];
  options?: Record<string, OptionSpec>;
  /** Extra help text (examples, notes). */
  details?: string;
  /** Runs with raw arguments (no parsing by the dispatcher): `surety sim` passes them on. */
  raw?: (argv: string[]) => Promise<number | void>;
  run?: (inv: Invocation) => Promise<number | void>;
}

// ---- output ----

const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

export class Io {
  readonly json: boolean;
  private readonly write: (s: string) => void;

  constructor(json: boolean, write = (s: string) => void process.stdout.write(s)) {
    this.json = json;
    this.write = write;
  }

  line(s = ''): void {
    this.write(`${s}\n`);
  }

  /** Prints `data` as JSON with --json, otherwise runs the readable renderer. */
  result(data: unknown, human: () => void): void {
    if (this.json) this.write(`${JSON.stringify(data, replacer, 2)}\n`);
    else human();
  }

  /** One object as aligned `key  value` lines; nested objects flatten to dotted keys. */
  record(obj: Record<string, unknown>): void {
    const pairs = flatten(obj);
    const w = Math.max(0, ...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${k.padEnd(w)}  ${v}`);
  }

  /** Rows as an aligned table with the given columns ([key, header]). */
  table(rows: Array<Record<string, unknown>>, columns: Array<[string, string]>): void {
    if (rows.length === 0) {
      this.line('(none)');
      return;
    }
    const cells = rows.map((r) => columns.map(([k]) => cell(pick(r, k))));
    const widths = columns.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const fmt = (cols: string[]) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
    this.line(fmt(columns.map(([, h]) => h)));
    for (const c of cells) this.line(fmt(c));
  }
}

function pick(r: Record<string, unknown>, path: string): unknown {
  let v: unknown = r;
  for (const p of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v, replacer);
  return String(v);
}

function flatten(obj: Record<string, unknown>, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    else out.push([`${prefix}${k}`, cell(v)]);
  }
  return out;
}

// ---- runtime ----

/** Configuration from the environment (and *_FILE secrets); a bad value is a ConfigError (exit 2). */
export function cliConfig(overrides: Partial<Record<string, unknown>> = {}): Config {
  return loadConfig(process.env, overrides);
}

/**
 * Opens storage (applying pending migrations, as a gateway start does), runs `fn` with an
 * operator context, and closes storage whatever happens. Logs go to stderr, quiet unless
 * LOG_LEVEL asks for more, so stdout carries only the command's output.
 */
export async function withServices<T>(fn: (ctx: ServiceContext, rt: RuntimeHandle) => Promise<T>): Promise<T> {
  const config = cliConfig();
  const level = process.env.LOG_LEVEL ? config.logLevel : 'warn';
  const log = pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
  const rt = await createRuntime(config, { log });
  try {
    return await fn(withActor(rt, CLI_ACTOR), rt);
  } finally {
    await rt.close();
  }
}

// ---- argument helpers ----

export function str(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

export function flag(v: Values, name: string): boolean {
  return v[name] === true;
}

export function required(v: Values, name: string, command: string): string {
  const x = str(v, name);
  if (x === undefined || x === '') throw new UsageError(`--${name} is required`, command);
  return x;
}

/** A whole number given on the command line; a bad one is a VALIDATION error naming the flag. */
export function int(v: Values, name: string): number | undefined {
  const x = str(v, name);
  if (x === undefined) return undefined;
  if (!/^-?\d+$/.test(x)) throw new AppError('VALIDATION', `--${name}: must be a whole number, got ${JSON.stringify(x)}`, { field: name });
  return Number(x);
}

/** "a,b,c" → ["a","b","c"]; "none" → null (clears an allow-list). */
export function list(v: Values, name: string): string[] | null | undefined {
  const x = str(v, name);
  if (x === undefined) return undefined;
  if (x === 'none') return null;
  return x.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Like `int`, `str`, but "none" → null (clears a limit on update). */
export function nullable<T>(v: Values, name: string, parse: (v: Values, name: string) => T | undefined): T | null | undefined {
  if (str(v, name) === 'none') return null;
  return parse(v, name);
}

/** Drops undefined fields so services see only what was given (their schemas are strict). */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) if (x !== undefined) out[k] = x;
  return out as Partial<T>;
}

/** A fresh Idempotency-Key for a money-moving command run without one. */
export function newIdempotencyKey(kind: string): string {
  return `cli-${kind}-${new Date().toISOString().slice(0, 10)}-${randomBytes(9).toString('base64url')}`;
}

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'machine output: one JSON document on stdout' },
};

/** `--limit N` within 1..1000 (the API's paging bound). */
export function limit(v: Values, command: string, fallback = 100): number {
  const n = int(v, 'limit') ?? fallback;
  if (n < 1 || n > 1000) throw new UsageError('--limit must be between 1 and 1000', command);
  return n;
}

export const LIMIT_OPTION: OptionSpec = { type: 'string', value: 'N', help: 'at most N rows (default 100, max 1000)' };
