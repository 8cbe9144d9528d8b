// The one JSON body parser: a stable error naming the problem (never a framework message), and
// text inputs with a NUL character refused at the edge (kernel/validation.ts rejectNul).
import { AppError } from '../kernel/errors.ts';
import { rejectNul } from '../kernel/validation.ts';

/** Parses a JSON request body; `objectOnly` refuses anything but an object (the data plane). */
export function parseJsonBody(text: string, objectOnly = false): unknown {
  if (text.length === 0) {
    if (objectOnly) throw new AppError('INVALID_JSON', 'The request body is empty; a JSON object is expected.');
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new AppError('INVALID_JSON', `The request body is not valid JSON: ${(e as Error).message}`);
  }
  if (objectOnly && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))) throw new AppError('VALIDATION', 'body: must be a JSON object', { field: 'body' });
  // A NUL can only arrive escaped ("\u0000"): walk the value only when the text holds one.
  if (text.includes('\\u0000')) rejectNul(parsed, 'body');
  return parsed;
}
