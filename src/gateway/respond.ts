// Writing the answer to the client, in the client's own API shape. Error bodies carry the public
// message of their code (kernel/errors.ts): upstream error texts, channel names and ids stay in
// the log row, for operators.

import type { ServerResponse } from 'node:http';
import { AppError, ERRORS, type ErrorCode } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import type { Flight } from './flight.ts';

/** Ends the request with an error in the caller's API shape (or just ends it if an answer has begun). */
export function answerError(f: Flight, res: ServerResponse, e: AppError, headers: Record<string, string> = {}): void {
  f.status = e.status;
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.end();
    return;
  }
  const body = JSON.stringify(f.api.errorBody(e.status, e.code, e.message, f.call.requestId));
  res.writeHead(e.status, { 'content-type': 'application/json', ...f.api.requestIdHeaders(f.call.requestId), 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** The client-facing error of a verdict's code: its registered status and public message. */
export function publicError(code: ErrorCode): AppError {
  return new AppError(code, ERRORS[code].message);
}

/** Sends a complete upstream answer with what it costs. False when the client had already gone. */
export function deliver(f: Flight, res: ServerResponse, status: number, body: Buffer, contentType: string, amount: bigint): boolean {
  if (res.destroyed || f.clientGone) {
    f.clientGone = true;
    return false;
  }
  res.writeHead(status, { 'content-type': contentType, 'content-length': body.length, ...f.api.requestIdHeaders(f.call.requestId), 'x-surety-cost': formatUsd(amount) });
  if (f.strict) {
    // The last byte waits for the commit of the row and its charge (gateway.ts).
    const cut = Math.max(0, body.length - 1);
    if (cut > 0) res.write(body.subarray(0, cut));
    f.tail = () => res.end(body.subarray(cut));
  } else {
    res.end(body);
  }
  f.reachedClient = true;
  f.bytes = body.length;
  return true;
}

/** The client went away: nothing more is written. */
export function abandon(res: ServerResponse): void {
  if (!res.writableEnded && !res.destroyed) res.destroy();
}
