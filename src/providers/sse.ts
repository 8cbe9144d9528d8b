/**
 * Incremental Server-Sent Events parser over byte chunks (WHATWG HTML "event stream
 * interpretation"): lines end with "\n", "\r\n" or "\r"; a chunk may split anything — a line, a
 * "\r\n" pair, a multi-byte UTF-8 character; "data:" lines of one event are joined with "\n";
 * lines starting with ":" are comments; a leading BOM is dropped; "id" and "retry" are ignored.
 *
 * Cost: each byte is decoded once (streaming TextDecoder) and each decoded character is scanned
 * once for line ends; an incomplete line is kept as a string and never re-scanned, so a long line
 * arriving in many chunks (a base64 image) stays linear.
 */

export interface SseEvent {
  /** The `event:` field, when the event had a non-empty one. */
  event?: string;
  /** The `data:` lines joined with "\n". */
  data: string;
}

export interface SseParserOptions {
  /** Longest line accepted, in characters; a longer one throws SseLineTooLongError. Default: no limit. */
  maxLineLength?: number;
}

export class SseLineTooLongError extends Error {
  override name = 'SseLineTooLongError';
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

export class SseParser {
  #decoder = new TextDecoder('utf-8');
  #pending = '';
  #skipLF = false;
  #data = '';
  #hasData = false;
  #event: string | undefined = undefined;
  #maxLine: number;

  constructor(opts?: SseParserOptions) {
    this.#maxLine = opts?.maxLineLength ?? Infinity;
  }

  /** Feeds a chunk; returns the events it completed (possibly none). */
  push(chunk: Uint8Array): SseEvent[] {
    const out: SseEvent[] = [];
    this.#scan(this.#decoder.decode(chunk, { stream: true }), out);
    return out;
  }

  /**
   * Ends the stream: flushes the decoder, takes an unterminated last line as complete and
   * dispatches a pending event that has data. (The standard discards an event not followed by a
   * blank line; a metering parser keeps it, since a final usage chunk is often the cut one.)
   */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    this.#scan(this.#decoder.decode(), out);
    if (this.#pending.length > 0) {
      const line = this.#pending;
      this.#pending = '';
      this.#line(line, out);
    }
    this.#dispatch(out);
    this.#skipLF = false;
    return out;
  }

  #scan(piece: string, out: SseEvent[]): void {
    const len = piece.length;
    if (len === 0) return;
    let pos = 0;
    if (this.#skipLF) {
      this.#skipLF = false;
      if (piece.charCodeAt(0) === LF) pos = 1;
    }
    let nl = piece.indexOf('\n', pos);
    let cr = piece.indexOf('\r', pos);
    while (pos < len) {
      if (nl !== -1 && nl < pos) nl = piece.indexOf('\n', pos);
      if (cr !== -1 && cr < pos) cr = piece.indexOf('\r', pos);
      let end: number;
      if (nl === -1) end = cr;
      else if (cr === -1) end = nl;
      else end = nl < cr ? nl : cr;
      if (end === -1) {
        this.#pending = this.#pending.length === 0 ? piece.slice(pos) : this.#pending + piece.slice(pos);
        if (this.#pending.length > this.#maxLine) {
          this.#pending = '';
          throw new SseLineTooLongError(`SSE line longer than ${this.#maxLine} characters`);
        }
        return;
      }
      let line = piece.slice(pos, end);
      if (this.#pending.length > 0) {
        line = this.#pending + line;
        this.#pending = '';
      }
      if (line.length > this.#maxLine) throw new SseLineTooLongError(`SSE line longer than ${this.#maxLine} characters`);
      this.#line(line, out);
      if (piece.charCodeAt(end) === CR) {
        if (end + 1 < len) pos = piece.charCodeAt(end + 1) === LF ? end + 2 : end + 1;
        else {
          this.#skipLF = true; // a "\n" opening the next chunk belongs to this "\r"
          pos = end + 1;
        }
      } else pos = end + 1;
    }
  }

  #line(line: string, out: SseEvent[]): void {
    const n = line.length;
    if (n === 0) {
      this.#dispatch(out);
      return;
    }
    // a BOM can only precede the first line; TextDecoder already strips it at stream start
    if (line.charCodeAt(0) === COLON) return; // comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      const vs = colon + 1 < n && line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1;
      value = line.slice(vs);
    }
    if (field === 'data') {
      if (this.#hasData) this.#data += '\n' + value;
      else {
        this.#data = value;
        this.#hasData = true;
      }
    } else if (field === 'event') {
      this.#event = value;
    }
    // "id", "retry" and unknown fields are ignored
  }

  #dispatch(out: SseEvent[]): void {
    if (this.#hasData) {
      const ev = this.#event;
      out.push(ev !== undefined && ev.length > 0 ? { event: ev, data: this.#data } : { data: this.#data });
    }
    this.#data = '';
    this.#hasData = false;
    this.#event = undefined;
  }
}

export function createSseParser(opts?: SseParserOptions): SseParser {
  return new SseParser(opts);
}
