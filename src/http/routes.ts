import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import type { Actor } from '../kernel/context.ts';
import { rejectNul } from '../kernel/validation.ts';
import { SortQuery } from '../kernel/sorting.ts';

// Control-plane routes are declared as data: method, path, auth, an optional body schema and
// whether the call moves money (needs an Idempotency-Key). The same table feeds Fastify and the
// generated OpenAPI document, so the docs cannot drift from the routes.

export type Auth = 'operator' | 'customer' | 'none';

export interface RouteSpec<B extends z.ZodType | undefined = z.ZodType | undefined> {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  auth: Auth;
  summary: string;
  tag: string;
  body?: B;
  query?: z.ZodObject;
  idempotent?: boolean;
  status?: number;
}

export interface Call {
  actor: Actor;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: unknown;
  idempotencyKey: string;
  request: FastifyRequest;
  reply: FastifyReply;
}

export type Authenticate = (req: FastifyRequest, auth: Auth) => Promise<Actor>;

export class RouteTable {
  readonly specs: RouteSpec[] = [];
  private readonly app: FastifyInstance;
  private readonly authenticate: Authenticate;

  constructor(app: FastifyInstance, authenticate: Authenticate) {
    this.app = app;
    this.authenticate = authenticate;
  }

  add(spec: RouteSpec, handler: (c: Call) => Promise<unknown>): void {
    this.specs.push(spec);
    this.app.route({
      method: spec.method,
      url: spec.url,
      handler: async (request, reply) => {
        const actor = await this.authenticate(request, spec.auth);
        rejectNul(request.params, 'path');
        rejectNul(request.query, 'query');
        const idem = request.headers['idempotency-key'];
        const idempotencyKey = typeof idem === 'string' ? idem : '';
        if (spec.idempotent && !idempotencyKey) throw new AppError('IDEMPOTENCY_KEY_REQUIRED');
        const body = request.body ?? (spec.body ? {} : undefined);
        // The route's status first, so a handler can still answer with another (e.g. 409 from verify).
        reply.code(spec.status ?? 200);
        const out = await handler({
          actor,
          params: request.params as Record<string, string>,
          query: request.query as Record<string, string | undefined>,
          body,
          idempotencyKey,
          request,
          reply,
        });
        if (reply.sent) return reply;
        return out ?? { ok: true };
      },
    });
  }

  /** An OpenAPI 3.1 document of every route in the table. */
  openapi(title: string, version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const s of this.specs) {
      const path = s.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      const params = [...s.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      if (s.query) {
        for (const [name, schema] of Object.entries(s.query.shape)) {
          params.push({ name, in: 'query', required: false, schema: safeSchema(schema as z.ZodType) as { type: string } });
        }
      }
      if (s.idempotent) params.push({ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string' } });
      const op: Record<string, unknown> = {
        summary: s.summary,
        tags: [s.tag],
        security: s.auth === 'none' ? [] : [{ [s.auth === 'operator' ? 'operatorKey' : 'customerKey']: [] }],
        parameters: params,
        responses: {
          [String(s.status ?? 200)]: { description: 'OK' },
          default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      };
      if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: safeSchema(s.body, 'input') } } };
      (paths[path] ??= {})[s.method.toLowerCase()] = op;
    }
    return {
      openapi: '3.1.0',
      info: { title, version, description: 'Amounts are USD decimal strings ("12.50"); internally integers of nano-USD.' },
      components: {
        securitySchemes: {
          operatorKey: { type: 'http', scheme: 'bearer', description: 'SURETY_ADMIN_KEY' },
          customerKey: { type: 'http', scheme: 'bearer', description: 'a customer API key (sk-sur-…)' },
        },
        schemas: {
          Error: {
            type: 'object',
            properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } }, required: ['code', 'message'] } },
          },
        },
      },
      paths,
    };
  }
}

function safeSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): unknown {
  try {
    return z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  } catch {
    return {};
  }
}

export const Paging = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  after: z.string().optional(),
  before: z.string().optional(),
});

/** Paging with the shared sort convention (`sort=col`, `sort=-col`, `cursor=`; see kernel/sorting.ts). */
export const SortedPaging = Paging.extend(SortQuery.shape);
