import { AppError } from './errors.ts';
import { canonicalJson, sha256Hex } from './ids.ts';
import { UniqueViolation, type Db, type Queryable } from '../storage/port.ts';
import { fromJson, toJson } from './json.ts';

export interface IdempotencyRequest {
  /** Who owns the key space (an operator, or an account): keys never collide across tenants. */
  scope: string;
  key: string;
  /** The action and its input; the same key with another payload is a conflict. */
  payload: unknown;
}

export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,200}$/;

/**
 * Runs a money-moving action at most once per (scope, key), inside one transaction with the
 * record of its result. A replay with the same payload returns the first result; a different
 * payload is IDEMPOTENCY_CONFLICT. Concurrent first calls race on the primary key: the loser's
 * transaction rolls back and it replays the winner's result.
 */
export async function idempotent<T>(db: Db, req: IdempotencyRequest, fn: (q: Queryable) => Promise<T>, now = Date.now()): Promise<{ result: T; replayed: boolean }> {
  if (!IDEMPOTENCY_KEY_RE.test(req.key)) {
    throw new AppError('VALIDATION', 'Idempotency-Key: must be 1-200 printable ASCII characters', { field: 'Idempotency-Key' });
  }
  const hash = sha256Hex(canonicalJson(req.payload));
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.tx(async (q) => {
        const prior = await q.get<{ request_hash: string; response: string }>(
          'SELECT request_hash, response FROM idempotency WHERE scope = ? AND idem_key = ?',
          [req.scope, req.key],
        );
        if (prior) {
          if (prior.request_hash !== hash) throw new AppError('IDEMPOTENCY_CONFLICT', undefined, { idempotency_key: req.key });
          return { result: fromJson<T>(prior.response), replayed: true };
        }
        const result = await fn(q);
        await q.run('INSERT INTO idempotency (scope, idem_key, request_hash, response, created_at) VALUES (?, ?, ?, ?, ?)', [req.scope, req.key, hash, toJson(result), now]);
        return { result, replayed: false };
      });
    } catch (e) {
      if (e instanceof UniqueViolation && attempt < 3) continue;
      throw e;
    }
  }
}
