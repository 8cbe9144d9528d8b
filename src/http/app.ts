import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { registerSecurityHeaders } from './security-headers.ts';
import { AppError, errorBody } from '../kernel/errors.ts';
import { safeEqual, sha256Hex } from '../kernel/ids.ts';
import { KEY_PREFIX, KeyAuthenticator } from '../accounts/keys.ts';
import { RouteTable, type Auth } from './routes.ts';
import { parseJsonBody } from './body.ts';
import { requestError } from './errors.ts';
import { registerAdminRoutes } from '../admin/routes.ts';
import { registerAccountRoutes } from '../account-api/routes.ts';
import { registerContractRoutes } from '../contracts/routes.ts';
import { registerNotifyRoutes } from '../notify/routes.ts';
import { registerIncidentRoutes } from '../incidents/routes.ts';
import { registerDetectionRoutes } from '../detection/routes.ts';
import type { Actor, Runtime } from '../kernel/context.ts';
import { EventBus } from '../kernel/context.ts';
import { ConsoleSessions } from '../console/sessions.ts';
import { registerConsole } from '../console/index.ts';

export interface AppOptions {
  /** SHA-256 (hex) of the operator key; presented keys are hashed and compared in constant time. */
  adminKeyHash: string;
  /** Extra route registrations (the data plane) run after the control plane. */
  plugins?: Array<(app: FastifyInstance, rt: Runtime, auth: KeyAuthenticator, routes: RouteTable, readiness: ReadinessCheck[], door: FrontDoorSlot) => void | Promise<void>>;
  /** What /readyz tells an operator while ready (e.g. several instances without shared quotas). */
  warnings?: () => string[];
}

/** Takes a request off the HTTP server before Fastify sees it (true), or leaves it to Fastify (false). */
export type FrontDoor = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Where a plugin installs a front door (the data plane's is gateway/front.ts). */
export interface FrontDoorSlot {
  door: FrontDoor | null;
}

/** A part of the process that can make it unready: returns null when fine, else what is wrong (an AppError names its code). */
export type ReadinessCheck = () => string | AppError | null;

export interface App {
  app: FastifyInstance;
  auth: KeyAuthenticator;
  routes: RouteTable;
}

/** Builds the HTTP application. It never listens: server.ts does, tests use inject() or listen(0). */
export async function buildApp(rt: Runtime, opts: AppOptions): Promise<App> {
  const slot: FrontDoorSlot = { door: null };
  const app = Fastify({
    // The server Fastify would make, with the front door before Fastify's own handler.
    serverFactory: (handler, o) => {
      const server = createServer((req, res) => {
        if (slot.door === null || !slot.door(req, res)) handler(req, res);
      });
      // The timeouts Fastify sets on the server it makes (its defaults filled in by then).
      const t = o as unknown as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number; maxRequestsPerSocket: number };
      server.keepAliveTimeout = t.keepAliveTimeout;
      server.requestTimeout = t.requestTimeout;
      server.setTimeout(t.connectionTimeout);
      if (t.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = t.maxRequestsPerSocket;
      return server;
    },
    logger: false,
    bodyLimit: rt.config.bodyLimitBytes,
    trustProxy: rt.config.trustProxy,
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: false,
    // A request Node cannot even parse (a body shorter than its Content-Length, a bad header) is
    // answered before any route sees it: in our error shape, not the framework's.
    clientErrorHandler: (err, socket) => {
      if (!socket.writable) return socket.destroy(err);
      const e = new AppError('VALIDATION', 'The request could not be read: its body ended before its declared length, or it is not valid HTTP.', { field: 'body' });
      // `type` too, so an OpenAI-style client reads it as its own error shape.
      const body = JSON.stringify({ error: { ...errorBody(e).error, type: 'invalid_request_error' } });
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  });
  registerSecurityHeaders(app);
  const auth = new KeyAuthenticator(rt);
  if (rt.bus instanceof EventBus) {
    rt.bus.on({ keyChanged: (id) => auth.evictKey(id), accountChanged: (id) => auth.evictAccount(id) });
  }

  // JSON only (text/plain is 415, not parsed); bad JSON and NUL characters are stable errors.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e as AppError, undefined);
    }
  });

  app.setErrorHandler((err, request, reply) => {
    let e = requestError(err, rt.config.bodyLimitBytes);
    if (!e) {
      rt.log.error({ err, url: request.url }, 'unhandled error');
      e = new AppError('INTERNAL');
    }
    if (e.details?.retry_after !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', String(e.details.retry_after));
    reply.code(e.status).send(errorBody(e));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`)));
  });

  if (rt.config.requestLog) {
    // One process-log line per HTTP request (off by default: the request log in storage is the record).
    app.addHook('onResponse', (request, reply, done) => {
      rt.log.info({ method: request.method, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, ip: request.ip }, 'http');
      done();
    });
  }

  const sessions = new ConsoleSessions(rt, auth, opts.adminKeyHash);
  const authenticate = authenticator(auth, opts.adminKeyHash, sessions);
  const routes = new RouteTable(app, authenticate);
  const readiness = registerHealth(app, rt, opts.warnings ?? (() => []));
  registerAdminRoutes(routes, rt);
  registerAccountRoutes(routes, rt);
  registerContractRoutes(routes, rt);
  registerNotifyRoutes(routes, rt);
  registerIncidentRoutes(routes, rt);
  registerDetectionRoutes(routes, rt);
  registerConsole(app, routes, { rt, keys: auth, sessions, adminKeyHash: opts.adminKeyHash });
  // The operator API's map is for the operator: it lists every operator route and its inputs.
  app.get('/admin/v1/openapi.json', async (req) => {
    await authenticate(req, 'operator');
    return routes.openapi('Surety control plane', '0.1.0');
  });
  for (const p of opts.plugins ?? []) await p(app, rt, auth, routes, readiness, slot);
  return { app, auth, routes };
}

/**
 * Who is calling a control-plane route: the operator (the operator key, compared by hash in
 * constant time) or a customer (an API key), or a console session when no key is sent. A working customer key on an operator route is the
 * wrong kind of key (403); anything else there is no operator key (401).
 */
function authenticator(auth: KeyAuthenticator, adminHash: string, sessions: ConsoleSessions): (req: FastifyRequest, mode: Auth) => Promise<Actor> {
  return async (req, mode) => {
    if (mode === 'none') return { type: 'system', id: 'anonymous' };
    const token = bearer(req);
    // Without a key, a console session (cookie + CSRF token on writes) acts as its key or account would.
    if (!token) {
      const fromSession = await sessions.actor(req, mode);
      if (fromSession) return fromSession;
      throw new AppError('AUTH_REQUIRED');
    }
    if (mode === 'operator') {
      if (safeEqual(sha256Hex(token), adminHash)) return { type: 'operator', id: 'admin' };
      await auth.guard(req.ip);
      if (token.startsWith(KEY_PREFIX) && (await auth.authenticate(token).then(() => true, () => false))) {
        throw new AppError('FORBIDDEN', 'This route is for the operator; a customer key cannot use it.');
      }
      await auth.failed(req.ip);
      throw new AppError('KEY_INVALID', 'The operator key is not valid.');
    }
    const p = await auth.authenticate(token, req.ip);
    return { type: 'customer', accountId: p.key.account_id, keyId: p.key.id, memberId: p.key.member_id, role: p.role };
  };
}

/** /healthz (the process is up) and /readyz (storage reachable, and every part able to write). */
function registerHealth(app: FastifyInstance, rt: Runtime, warnings: () => string[]): ReadinessCheck[] {
  const readiness: ReadinessCheck[] = [];
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await rt.db.ping();
    } catch (err) {
      reply.code(503);
      return errorBody(new AppError('STORAGE_UNAVAILABLE', `Storage is not reachable: ${(err as Error).message}`));
    }
    // Reachable is not enough: a part that cannot write (the request log) makes the process unready.
    const problems = readiness.map((check) => check()).filter((p) => p !== null);
    const w = warnings();
    if (problems.length > 0) {
      reply.code(503);
      const code = problems.find((p) => p instanceof AppError)?.code ?? 'STORAGE_UNAVAILABLE';
      return errorBody(new AppError(code, problems.map((p) => (p instanceof AppError ? p.message : p)).join('; '), w.length > 0 ? { warnings: w } : undefined));
    }
    return { status: 'ready', storage: rt.db.engine, ...(w.length > 0 ? { warnings: w } : {}) };
  });
  return readiness;
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.length > 7 && h.slice(0, 7).toLowerCase() === 'bearer ') return h.slice(7).trim();
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  return null;
}
