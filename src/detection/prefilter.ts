import type { Multiplier } from '../billing/pricing.ts';
import type { CompiledPrice } from '../catalog/price-book.ts';
import { OUTCOME_NAMES, mayBill } from '../requests/outcomes.ts';
import { COUNT_COLUMNS } from '../requests/schema.ts';
import type { Engine } from '../storage/port.ts';
import type { CatalogFacts } from './context.ts';

// The scan's prefilter: one SQL condition that keeps every charged row some rule could flag, so
// that the database — not JavaScript — reads the million correct rows, and only the suspects are
// parsed and judged by the rules themselves (which stay the only judges: the prefilter may keep
// too much, never too little; test/integration/detection-scanner.test.ts checks that scanning
// with and without it finds the same). The price check is the price book compiled into SQL
// integer arithmetic, exactly as billing/pricing.ts computes it, where it can be done without
// overflow (counts, rates and multipliers within bounds); anything else goes to the rules.

const MTOK = 1_000_000n;
const MAX_RATE = 100_000_000_000n; // $100 per 1M tokens, in nano-USD
const MAX_IMAGE = 10_000_000_000n; // $10 per image
const MAX_MULT_NUM = 1000n;

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** The integer copy of a JSON count (requests/schema.ts COUNT_COLUMNS), when the row has one. */
function countColumn(col: string, key: string): string | null {
  for (const [name, c] of Object.entries(COUNT_COLUMNS)) if (col === `r.${c.from}` && c.key === key) return `r.${name}`;
  return null;
}

/**
 * A JSON number of a text column (0 when absent): its integer copy, else (a row stored before the
 * copies, or a count that is not an integer) the JSON itself — COALESCE reads the JSON only then.
 */
function jnum(engine: Engine, col: string, key: string): string {
  const json = engine === 'sqlite' ? `json_extract(${col}, '$.${key}')` : `CAST(CAST(${col} AS json)->>'${key}' AS NUMERIC)`;
  const copy = countColumn(col, key);
  return copy ? `COALESCE(${copy}, ${json}, 0)` : `COALESCE(${json}, 0)`;
}
function jtrue(engine: Engine, col: string, key: string): string {
  const json = engine === 'sqlite' ? `json_extract(${col}, '$.${key}') = 1` : `CAST(${col} AS json)->>'${key}' = 'true'`;
  const copy = countColumn(col, key);
  return copy ? `(CASE WHEN ${copy} IS NOT NULL THEN ${copy} = 1 ELSE ${json} END)` : json;
}

const TOKEN_FIELDS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'image_input_tokens', 'image_output_tokens'] as const;

function rates(p: CompiledPrice): Array<bigint | null> {
  const input = p.input_per_mtok;
  const output = p.output_per_mtok;
  return [input, p.cached_input_per_mtok ?? input, p.cache_write_per_mtok ?? input, output, p.image_input_per_mtok ?? input, p.image_output_per_mtok ?? output];
}

/**
 * PostgreSQL's bigint variant of the numerator: the integer copies alone (`big.used` collects the
 * ones it reads, with their coefficient) — only for rows whose copies are all there and small
 * enough that nothing overflows (bigGuard); NUMERIC otherwise. NUMERIC arithmetic was half the
 * cost of the price condition there (EXPLAIN ANALYZE, 100,000 bench rows: 179 against 91 ms).
 */
interface BigNumerator {
  /** Per copy column: its largest coefficient (0: read, not multiplied). */
  used: Map<string, bigint>;
  /** The largest constant term (per-request price). */
  constant: bigint;
}

/** priceUsage's numerator (nano-USD × 1M) in SQL, or null when it cannot be computed safely in SQL. */
function numeratorSql(engine: Engine, p: CompiledPrice, big: BigNumerator | null = null): string | null {
  const terms: string[] = [];
  const r = rates(p);
  const count = (f: string, coefficient: bigint) => {
    if (big === null) return jnum(engine, 'r.usage_billable', f);
    const c = countColumn('r.usage_billable', f)!;
    if (coefficient > (big.used.get(c) ?? -1n)) big.used.set(c, coefficient);
    return c;
  };
  // Counts at the same rate are added first and multiplied once (most prices have two rates).
  const byRate = new Map<bigint, string[]>();
  for (const [i, f] of TOKEN_FIELDS.entries()) {
    const rate = r[i]!;
    if (rate === null || rate === 0n) continue;
    if (rate > MAX_RATE) return null;
    byRate.set(rate, [...(byRate.get(rate) ?? []), count(f, rate)]);
  }
  for (const [rate, counts] of byRate) terms.push(counts.length === 1 ? `${counts[0]} * ${rate}` : `(${counts.join(' + ')}) * ${rate}`);
  if (p.per_image !== null) {
    // Only a single default price is looked up in SQL; a table by size or quality goes to the rules.
    if (p.per_image.size !== 1) terms.push(`CASE WHEN ${count('images', 0n)} > 0 THEN NULL ELSE 0 END`);
    else {
      const price = p.per_image.get('default')!;
      if (price > MAX_IMAGE) return null;
      terms.push(`${count('images', price * MTOK)} * ${price * MTOK}`);
    }
  }
  if (p.per_request !== null) {
    terms.push(big === null ? `${p.per_request * MTOK}` : `CAST(${p.per_request * MTOK} AS BIGINT)`);
    if (big !== null && p.per_request * MTOK > big.constant) big.constant = p.per_request * MTOK;
  }
  return terms.length ? terms.join(' + ') : '0';
}

/** The expected charge of a row by the price book, before its rounding (null: ask the rules). `big`: PostgreSQL's bigint variant (see BigNumerator). */
function expectedSql(engine: Engine, facts: CatalogFacts, big: BigNumerator | null = null): string {
  const mult = (part: 'num' | 'den') => {
    const usable = [...facts.groups].filter(([, m]) => m.num <= MAX_MULT_NUM && m.den <= MAX_MULT_NUM);
    if (facts.groups.size === 0) return '1';
    const cases = usable.map(([g, m]) => `WHEN ${q(g)} THEN ${m[part]}`).join(' ');
    const unsafe = [...facts.groups.keys()].filter((g) => !usable.some(([u]) => u === g));
    return `(CASE ${unsafe.length ? `WHEN a.group_name IN (${unsafe.map(q).join(', ')}) THEN NULL ` : ''}${cases ? `${cases.replace(/WHEN /g, 'WHEN a.group_name = ')} ` : ''}ELSE 1 END)`;
  };
  const cases: string[] = [];
  for (const { model, version, price } of facts.prices.values()) {
    const n = price === null ? null : numeratorSql(engine, price, big);
    cases.push(`WHEN r.model = ${q(model)} AND r.price_version = ${version} THEN ${n === null ? 'NULL' : `(${n})`}`);
  }
  if (cases.length === 0) return 'NULL';
  const num = `(CASE ${cases.join(' ')} ELSE NULL END)`;
  const one = facts.groups.size === 0;
  const d = one ? `${MTOK}` : `(${MTOK} * ${mult('den')})`;
  // The charge is rounded once, half away from zero (every amount here is ≥ 0):
  // floor((2·N·m + D) / 2D), in integer division, the numerator computed once. A numerator too big
  // for 64-bit integers becomes a float in SQLite (PostgreSQL computes in NUMERIC, or in bigint
  // where bigGuard proves it fits): an expected charge that large is above any amount the caller
  // lets through to this comparison (see ABOVE).
  const top = `2 * ${num}${one ? '' : ` * ${mult('num')}`} + ${d}`;
  // bigint / truncates toward zero as div() does.
  return engine === 'sqlite' || big !== null ? `((${top}) / (2 * ${d}))` : `div(${top}, 2 * ${d})`;
}

const INT64_MAX = (1n << 63n) - 1n;

/**
 * The condition under which the bigint numerator (BigNumerator) cannot overflow: every copy it
 * reads is there, and each is at most C in magnitude, C chosen per copy so that the sum of all the
 * terms of any price, times 2 and the largest multiplier, plus the denominator, stays below 2⁶³
 * (each copy gets an equal share of the room: |Σ coefficient·count| + constant ≤ L). Null: no room.
 */
function bigGuard(facts: CatalogFacts, big: BigNumerator): string | null {
  const usable = [...facts.groups.values()].filter((m) => m.num <= MAX_MULT_NUM && m.den <= MAX_MULT_NUM);
  const maxNum = usable.reduce((a, m) => (m.num > a ? m.num : a), 1n);
  const maxDen = usable.reduce((a, m) => (m.den > a ? m.den : a), 1n);
  const room = (INT64_MAX - MTOK * maxDen) / (2n * maxNum) - big.constant;
  const multiplied = [...big.used.values()].filter((c) => c > 0n).length;
  if (room <= 0n) return null;
  const checks = [...big.used].map(([col, coefficient]) => {
    if (coefficient === 0n) return `${col} IS NOT NULL`;
    const c = room / (BigInt(multiplied) * coefficient);
    return `${col} BETWEEN -${c} AND ${c}`;
  });
  return checks.length ? checks.join(' AND ') : 'TRUE';
}

/** Charges above this (nano-USD, $1000) always go to the rules. */
const ABOVE = 1_000_000_000_000n;

/** `value > the row's model's limit`, when some model has one: the smallest limit checked first (an integer compare) spares most rows the CASE. */
function aboveModelLimit(facts: CatalogFacts, value: string, pick: (m: { kind: string; max_output_tokens: number | null; abnormal_timeout_ms: number | null }) => number | null): string | null {
  const cases = [...facts.models].map(([id, m]) => [id, pick(m)] as const).filter((c): c is readonly [string, number] => c[1] !== null);
  if (cases.length === 0) return null;
  const least = Math.min(...cases.map(([, v]) => v));
  return `(${value} > ${least} AND ${value} > (CASE r.model ${cases.map(([id, v]) => `WHEN ${q(id)} THEN ${v}`).join(' ')} ELSE NULL END))`;
}

export interface Prefilter {
  /** FROM clause addition (the account's group, when multipliers exist). */
  join: string;
  /** A condition over request_log `r`: true for every row a rule could flag, but the same request stored twice (sameRequest). */
  where: string;
  /**
   * The same request stored twice: another charged row of the account with the same key, model,
   * price, start, first byte, end, duration and attempts (the double_charge rule's fingerprint). Not part of `where`: probing the index for every row was a third of the scan's cost, and
   * such rows share their millisecond, so unless most milliseconds hold several rows the scanner
   * asks only in the milliseconds of a page that do (scanner.ts readPage).
   */
  sameRequest: string;
}

/** `amount > the expected charge`, NULL (unknown) counting as true. PostgreSQL: in bigint when the row's counts allow it (bigGuard), else in NUMERIC. */
function offPrice(engine: Engine, facts: CatalogFacts): string {
  if (engine === 'sqlite') return `COALESCE(r.amount > ${expectedSql(engine, facts)}, 1)`;
  const numeric = `COALESCE(r.amount > ${expectedSql(engine, facts)}, TRUE)`;
  const big: BigNumerator = { used: new Map(), constant: 0n };
  const expected = expectedSql(engine, facts, big);
  const guard = bigGuard(facts, big);
  return guard === null ? numeric : `(CASE WHEN ${guard} THEN COALESCE(r.amount > ${expected}, TRUE) ELSE ${numeric} END)`;
}

export function prefilter(engine: Engine, facts: CatalogFacts): Prefilter {
  const billed = OUTCOME_NAMES.filter((o) => mayBill(o));
  const unbilled = OUTCOME_NAMES.filter((o) => !mayBill(o));
  const images = [...facts.models].filter(([, m]) => m.kind === 'images').map(([id]) => q(id));
  const output = jnum(engine, 'r.usage_billable', 'output_tokens');
  // Another row than r: SQLite compares rowids, which its indexes hold, so that r itself (most
  // often the only row of its millisecond) is passed over without reading it from the table.
  const other = engine === 'sqlite' ? 'o.rowid <> r.rowid' : 'o.id <> r.id';
  // endpoint.startsWith('images'), as the rule reads it: in SQLite a range of the binary order (LIKE there ignores case, and costs more).
  const imagesEndpoint = engine === 'sqlite' ? `(r.endpoint >= 'images' AND r.endpoint < 'imaget')` : `r.endpoint LIKE 'images%'`;
  const isImage = `(${imagesEndpoint}${images.length ? ` OR r.model IN (${images.join(', ')})` : ''})`;
  // Most conditions are false for most rows: each is written so that its cheapest part rules a row out first.
  const conditions = [
    `(${billed.map((o) => `r.outcome <> ${q(o)}`).join(' AND ')} AND r.outcome IN (${unbilled.map(q).join(', ')}))`,
    aboveModelLimit(facts, 'r.duration_ms', (m) => m.abnormal_timeout_ms),
    `(${jnum(engine, 'r.delivered', 'images')} = 0 AND r.endpoint <> 'embeddings' AND (${isImage} OR (${jnum(engine, 'r.delivered', 'text_chars')} = 0 AND ${output} = 0)))`,
    `(r.client_ref IS NOT NULL AND EXISTS (SELECT 1 FROM request_log o WHERE o.client_ref = r.client_ref AND ${other} AND o.account_id = r.account_id AND o.amount > 0))`,
    // Unknown (NULL) counts as suspect: the rule decides.
    `(r.usage_billable IS NOT NULL AND r.account_id IS NOT NULL AND r.model IS NOT NULL AND (r.amount > ${ABOVE} OR ${offPrice(engine, facts)}))`,
    `(r.hold_amount > 0 AND r.amount > r.hold_amount)`,
    aboveModelLimit(facts, output, (m) => m.max_output_tokens),
    `(r.delivered IS NOT NULL AND ${jtrue(engine, 'r.delivered', 'usage_regressed')})`,
  ].filter((c) => c !== null);
  return {
    join: facts.groups.size > 0 ? 'LEFT JOIN accounts a ON a.id = r.account_id' : '',
    where: `(${conditions.join('\n  OR ')})`,
    // The double_charge rule's own fingerprint, so that a busy key's twins (same milliseconds, same
    // price, other attempts) are not read as suspects by the thousand.
    sameRequest: `EXISTS (SELECT 1 FROM request_log o WHERE o.ended_at = r.ended_at AND ${other} AND o.account_id = r.account_id AND o.started_at = r.started_at AND o.amount > 0 AND o.amount = r.amount AND o.duration_ms = r.duration_ms AND o.key_id IS NOT DISTINCT FROM r.key_id AND o.model IS NOT DISTINCT FROM r.model AND o.first_byte_at IS NOT DISTINCT FROM r.first_byte_at AND o.attempts IS NOT DISTINCT FROM r.attempts)`,
  };
}
