import type { FastifyInstance } from 'fastify';
import type { RouteTable } from '../http/routes.ts';
import { registerConsoleRoutes, type ConsoleDeps } from './routes.ts';
import { registerConsoleStatic } from './static.ts';

// The web console: its API additions and sessions (routes.ts, sessions.ts) and its built pages
// (static.ts) at /console. The front end's sources are in console/ at the project root.
export function registerConsole(app: FastifyInstance, routes: RouteTable, d: ConsoleDeps): void {
  registerConsoleRoutes(routes, d);
  registerConsoleStatic(app);
}

export { ConsoleSessions } from './sessions.ts';
