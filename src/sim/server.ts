// `surety sim`: an HTTP upstream simulator speaking the OpenAI, Anthropic and Gemini wire formats,
// steered by `[[sim:…]]` directives in the request body and by a fault schedule under `/_sim/`.
// Hot path: node:http only, one directive scan per request, single-buffer JSON responses.

import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as anthropic from './anthropic.ts';
import { PNG_BYTES, newId } from './content.ts';
import { parseDirectives } from './directives.ts';
import { authError, outOfCreditError, providerError } from './errors.ts';
import { Exchange, type SimContext } from './exchange.ts';
import { FaultSchedule, normalizeFaults } from './faults.ts';
import * as gemini from './gemini.ts';
import {
  ANTHROPIC_MODEL_LIST, GEMINI_MODEL_LIST, OPENAI_MODEL_LIST, anthropicModel, geminiModel, openaiModel,
} from './models.ts';
import * as openai from './openai.ts';
import { responses } from './responses.ts';
import { EMPTY_BODY, apiKey, header, matchRoute, readAll, sendControl, type Route } from './routing.ts';
import { RequestLog, Stats } from './state.ts';
import type { Directives, Provider, SimFault, SimRequestRecord } from './types.ts';
import { type Obj, isObj, str } from './util.ts';

export type { Directives, FaultMode, Provider, SimFault, SimRequestRecord } from './types.ts';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  /** Real delay = simulated delay × timeScale (default 1). */
  timeScale?: number;
  /** No console output. */
  quiet?: boolean;
  /** Size of the received-requests ring buffer (default 1000). */
  maxRequests?: number;
}

export interface Simulator {
  url: string;
  port: number;
  close(): Promise<void>;
  setFaults(f: SimFault[]): void;
  requests(): SimRequestRecord[];
  reset(): void;
  /** Current fault schedule (normalised). */
  faults(): SimFault[];
  /** Same object as `GET /_sim/stats`. */
  stats(): Record<string, unknown>;
}

const MAX_BODY = 64 * 1024 * 1024;


// ---------------------------------------------------------------- server

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? '127.0.0.1';
  const timeScale = opts.timeScale ?? 1;
  if (!(timeScale >= 0) || !Number.isFinite(timeScale)) throw new Error(`invalid timeScale: ${timeScale}`);
  const stats = new Stats();
  const log = new RequestLog(opts.maxRequests ?? 1000);
  const schedule = new FaultSchedule();
  const ctx: SimContext = { timeScale, baseUrl: '', stats };

  // ---- generation pipeline

  function run(ex: Exchange, route: Route, body: Obj, img: openai.ImageRequest | null, d: Readonly<Directives>): void {
    if (d.reset) {
      ex.reset();
      return;
    }
    if (d.quota) {
      ex.sendError(outOfCreditError(ex.provider, ex.requestId || undefined), 'error', d);
      return;
    }
    if (d.error !== 0) {
      ex.sendError(providerError(ex.provider, d.error, undefined, ex.requestId || undefined), 'error', d);
      return;
    }
    if (d.malformed) {
      malformed(ex, route, body);
      return;
    }
    switch (route.kind) {
      case 'chat': openai.chatCompletions(ex, body, d); return;
      case 'responses': responses(ex, body, d); return;
      case 'embeddings': openai.embeddings(ex, body, d); return;
      case 'images':
      case 'edits': openai.images(ex, img ?? openai.imageRequestFromJson(body), d); return;
      case 'messages': anthropic.messages(ex, body, d); return;
      case 'count_tokens': anthropic.countTokens(ex, body); return;
      case 'generate': gemini.generate(ex, body, d, false, false); return;
      case 'stream': gemini.generate(ex, body, d, true, isSse(ex.query)); return;
      case 'gcount': gemini.countTokens(ex, body); return;
      default: ex.sendError(providerError(ex.provider, 404)); return;
    }
  }

  function isSse(query: string): boolean {
    return query !== '' && new URLSearchParams(query).get('alt') === 'sse';
  }

  function malformed(ex: Exchange, route: Route, body: Obj): void {
    const streaming = route.kind === 'stream' || body.stream === true;
    if (!streaming) {
      const broken = ex.provider === 'gemini'
        ? '{"candidates":[{"content":{"parts":[{"text":"lorem ipsum'
        : ex.provider === 'anthropic'
          ? '{"id":"msg_simmalformed","type":"message","content":[{"type":"text","text":"lorem'
          : '{"id":"chatcmpl-simmalformed","object":"chat.completion","choices":[{"message":{"content":"lorem';
      ex.sendJson(200, broken, 'malformed');
      return;
    }
    if (ex.provider === 'anthropic') {
      ex.sendStream(200, [
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_simmalformed",\n\n',
        'event: message_stop\ndata: {"type":"message_stop"}\n\n',
      ], 0, -1, 'malformed');
    } else if (ex.provider === 'gemini') {
      if (isSse(ex.query)) ex.sendStream(200, ['data: {"candidates":[{"content":{"parts":[{"text":"lorem \r\n\r\n'], 0, -1, 'malformed');
      else ex.sendStream(200, ['[{"candidates":[{"content":', ']'], 0, -1, 'malformed', 'application/json; charset=UTF-8');
    } else {
      ex.sendStream(200, [
        'data: {"id":"chatcmpl-simmalformed","object":"chat.completion.chunk","choices":[{"delta":{"content":"lorem \n\n',
        'data: [DONE]\n\n',
      ], 0, -1, 'malformed');
    }
  }

  function models(ex: Exchange, route: Route): void {
    switch (route.kind) {
      case 'models':
        ex.sendJson(200, ex.provider === 'anthropic' ? ANTHROPIC_MODEL_LIST : OPENAI_MODEL_LIST);
        return;
      case 'model':
        ex.sendJson(200, JSON.stringify(ex.provider === 'anthropic' ? anthropicModel(ex.model) : openaiModel(ex.model)));
        return;
      case 'gmodels':
        ex.sendJson(200, GEMINI_MODEL_LIST);
        return;
      default:
        ex.sendJson(200, JSON.stringify(geminiModel(ex.model.startsWith('models/') ? ex.model.slice(7) : ex.model)));
    }
  }

  function begin(ex: Exchange, route: Route | null, req: IncomingMessage, buf: Buffer | null): void {
    const method = req.method ?? 'GET';
    const key = apiKey(req, ex.query);
    ex.key = key;
    if (ex.provider !== 'gemini') ex.requestId = newId('req_');
    const ctype = header(req, 'content-type') ?? '';
    const multipart = buf !== null && ctype.startsWith('multipart/');
    const raw = buf === null || buf.length === 0 ? '' : buf.toString(multipart ? 'latin1' : 'utf8');
    ex.record = log.add(Date.now(), method, ex.path, key, raw);

    if (buf === null && method !== 'GET' && method !== 'HEAD') {
      ex.sendError(providerError(ex.provider, 413, 'Request body too large.', ex.requestId || undefined));
      return;
    }
    if (route === null) {
      ex.sendError(providerError(ex.provider, 404, `Invalid URL (${method} ${ex.path})`, ex.requestId || undefined));
      return;
    }

    // Parse the body once: JSON, or multipart for image edits.
    let body = EMPTY_BODY;
    let img: openai.ImageRequest | null = null;
    let scan = raw;
    let bad = false;
    const isGet = route.kind === 'models' || route.kind === 'model' || route.kind === 'gmodels' || route.kind === 'gmodel';
    if (multipart && route.kind === 'edits') {
      const mp = openai.parseMultipart(buf as Buffer, ctype);
      if (mp === null) bad = true;
      else {
        img = openai.imageRequestFromMultipart(mp);
        scan = Array.from(mp.fields.values()).join('\n');
      }
    } else if (!isGet) {
      try {
        const v: unknown = JSON.parse(raw);
        if (isObj(v)) body = v;
        else bad = true;
      } catch {
        bad = true;
      }
    }
    const model = route.model ?? img?.model ?? str(body.model) ?? '';
    ex.model = model;
    if (ex.record !== null) ex.record.model = model;
    if (model !== '') stats.countModel(model);

    if (key === null || key.startsWith('bad')) {
      ex.sendError(authError(ex.provider, key, ex.requestId || undefined), 'auth');
      return;
    }
    if (isGet) {
      models(ex, route);
      return;
    }
    if (bad) {
      ex.sendError(providerError(ex.provider, 400, 'We could not parse the JSON body of your request.', ex.requestId || undefined));
      return;
    }

    const fault = schedule.check(model, Date.now());
    if (fault !== null) {
      if (fault.mode === 'timeout') ex.hold('fault_timeout');
      else if (fault.mode === 'reset') ex.reset('fault_reset');
      else if (fault.mode === 'quota') ex.sendError(outOfCreditError(ex.provider, ex.requestId || undefined), 'fault');
      else ex.sendError(providerError(ex.provider, fault.status, undefined, ex.requestId || undefined), 'fault');
      return;
    }

    const d = parseDirectives(scan);
    if (d.timeout) {
      ex.hold();
      return;
    }
    ex.simulatedMs = d.latencyMs;
    if (d.latencyMs > 0) ex.after(d.latencyMs, () => run(ex, route, body, img, d));
    else run(ex, route, body, img, d);
  }

  // ---- control plane (no auth)

  function control(req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    const method = req.method ?? 'GET';
    if (path === '/_sim/image.png' && method === 'GET') {
      req.resume();
      res.writeHead(200, ['content-type', 'image/png', 'content-length', String(PNG_BYTES.length)]);
      res.end(PNG_BYTES);
      return;
    }
    readAll(req, 1024 * 1024, (buf) => {
      const text = buf === null ? '' : buf.toString('utf8');
      switch (path) {
        case '/_sim/health':
          sendControl(res, 200, { ok: true });
          return;
        case '/_sim/faults':
          if (method === 'GET') {
            sendControl(res, 200, { faults: schedule.list() });
          } else if (method === 'DELETE') {
            schedule.clear();
            sendControl(res, 200, { faults: [] });
          } else if (method === 'POST' || method === 'PUT') {
            try {
              const v: unknown = JSON.parse(text);
              const list = Array.isArray(v) ? v : isObj(v) ? v.faults : undefined;
              schedule.set(normalizeFaults(list));
              sendControl(res, 200, { faults: schedule.list() });
            } catch (e) {
              sendControl(res, 400, { error: (e as Error).message });
            }
          } else {
            sendControl(res, 405, { error: 'method not allowed' });
          }
          return;
        case '/_sim/stats':
          sendControl(res, 200, stats.toJSON());
          return;
        case '/_sim/requests': {
          const l = query !== '' ? Number(new URLSearchParams(query).get('limit') ?? '') : NaN;
          sendControl(res, 200, { requests: log.last(Number.isFinite(l) && l >= 0 ? l : 100) });
          return;
        }
        case '/_sim/reset':
          if (method !== 'POST') {
            sendControl(res, 405, { error: 'method not allowed' });
            return;
          }
          resetAll();
          sendControl(res, 200, { ok: true });
          return;
        default:
          sendControl(res, 404, { error: `unknown control endpoint ${method} ${path}` });
      }
    });
  }

  function resetAll(): void {
    stats.clear();
    log.clear();
    schedule.clear();
  }

  // ---- request entry

  const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    if (path.startsWith('/_sim/')) {
      control(req, res, path, query);
      return;
    }
    const method = req.method ?? 'GET';
    const route = matchRoute(method, path);
    let provider: Provider;
    if (route !== null && route.provider !== 'openai') provider = route.provider;
    else if (req.headers['anthropic-version'] !== undefined) provider = 'anthropic';
    else if (route === null && path.startsWith('/v1beta')) provider = 'gemini';
    else provider = 'openai';
    const ex = new Exchange(req, res, ctx, provider, path, query);
    stats.total++;
    stats.countPath(path);
    if (method === 'GET' || method === 'HEAD') {
      req.resume();
      begin(ex, route, req, null);
      return;
    }
    readAll(req, MAX_BODY, (buf) => {
      if (!ex.closed) begin(ex, route, req, buf);
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const addr = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${addr.port}`;
  ctx.baseUrl = url;
  if (opts.quiet !== true) console.log(`surety sim listening on ${url} (timeScale ${timeScale})`);

  let closing: Promise<void> | null = null;
  return {
    url,
    port: addr.port,
    close(): Promise<void> {
      if (closing === null) {
        closing = new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      return closing;
    },
    setFaults(f: SimFault[]): void {
      schedule.set(f);
    },
    requests(): SimRequestRecord[] {
      return log.last();
    },
    reset: resetAll,
    faults: () => schedule.list(),
    stats: () => stats.toJSON(),
  };
}
