/** The HTTP edge: Fastify with schemas on every route, one error mapper, auth, metrics, docs. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { sql } from 'kysely';
import type { AppContext } from '../app/context.js';
import { restErrorHandler, sendError } from './rest/errors.js';
import { registerAuth } from './auth.js';
import { registerMetrics } from './metrics.js';
import { migrationsApplied } from '../store/migrate.js';
import { registerRestRoutes } from './rest/index.js';
import { publicFileRoutes } from './rest/attachments.js';
import { bumpCalendarGeneration } from '../store/cache.js';
import type { Logger } from 'pino';
import { LazyChildLogger } from './lazy-logger.js';

function makeAjv(coerce: boolean) {
  // Bodies are strict (no coercion, unknown fields are an error: additionalProperties false in
  // every body schema); query strings and params are coerced from text.
  const ajv = new Ajv.default({ allErrors: false, removeAdditional: false, useDefaults: true, coerceTypes: coerce ? 'array' : false, strict: false });
  addFormats.default(ajv);
  return ajv;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PROPFIND', 'REPORT']);

export interface HttpOptions {
  /** Extra route registrations (CalDAV, web UI, intake) added by roles. */
  plugins?: ((app: FastifyInstance) => Promise<void> | void)[];
  docs?: boolean;
}

/**
 * A handler that sees each request before Fastify does and either answers it completely or calls
 * `next()` (synchronously or later, without having read the request body) to hand it to Fastify.
 * For a hot path whose answer needs none of Fastify's per-request machinery (http/dav/fast-get.ts).
 */
export type FrontHandler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
/** Records a request answered by a front handler in the HTTP latency metric (metrics.ts). */
export type ObserveHttp = (method: string, route: string, status: number, seconds: number) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /** Front handlers run in order before Fastify's routing (see FrontHandler); plugins push theirs. */
    frontHandlers: FrontHandler[];
    observeHttp?: ObserveHttp;
  }
}

export async function buildHttpApp(ctx: AppContext, opts: HttpOptions = {}): Promise<FastifyInstance> {
  const front: FrontHandler[] = [];
  const app = Fastify({
    serverFactory: (handler) => createServer((req, res) => {
      if (front.length === 0) return handler(req, res);
      let i = 0;
      const next = () => (i < front.length ? front[i++]!(req, res, next) : handler(req, res));
      next();
    }),
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    bodyLimit: ctx.config.bodyLimit,
    trustProxy: ctx.config.trustProxy,
    logController: new LogController({ disableRequestLogging: true }),
    // The per-request child logger is made when the request first logs (http/lazy-logger.ts).
    childLoggerFactory: (logger, bindings, opts) => new LazyChildLogger(logger as unknown as Logger, bindings, opts) as unknown as FastifyBaseLogger,
    genReqId: (req) => (typeof req.headers['x-request-id'] === 'string' && /^[\w.-]{1,64}$/.test(req.headers['x-request-id']) ? req.headers['x-request-id'] : crypto.randomUUID()),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false } },
  });
  app.decorate('frontHandlers', front);
  // Closing: every request goes to Fastify, which answers 503 (return503OnClosing).
  app.addHook('preClose', (done) => {
    front.length = 0;
    done();
  });
  const strict = makeAjv(false);
  const lenient = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));
  // The hooks that run on every request are callback-style (no promise and microtask per hook).
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });
  app.addHook('onSend', (req, _reply, payload, done) => {
    // Any write may change calendar data: cached calendar lists in this process become stale
    // (before the answer leaves, so the client's next read can't see the old list).
    if (!READ_METHODS.has(req.method)) bumpCalendarGeneration();
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    if ((req.log as Partial<Logger>).isLevelEnabled?.('info') !== false) req.log.info({ method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });
  app.setErrorHandler(restErrorHandler);
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'NOT_FOUND', `No route for ${req.method} ${req.url.split('?')[0]}`));

  await app.register(cookie);
  registerAuth(app, ctx);
  registerMetrics(app, ctx);

  if (opts.docs !== false) {
    const swagger = (await import('@fastify/swagger')).default;
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'Calendula API', version: '1', description: 'REST API of Calendula. Errors always have the shape {"error": "STABLE_CODE", "message": "…", "details": …}.' },
        components: {
          securitySchemes: {
            session: { type: 'apiKey', in: 'cookie', name: 'calendula_session' },
            bearer: { type: 'http', scheme: 'bearer' },
          },
        },
        security: [{ session: [] }, { bearer: [] }],
      },
    });
  }

  app.get('/healthz', { config: { auth: 'none' }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  let migrated = false; // once applied, migrations stay applied for this build
  app.get('/readyz', { config: { auth: 'none' }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      if (!migrated && !(migrated = await migrationsApplied(ctx.db))) return reply.status(503).send({ status: 'migrations pending' });
      return { status: 'ready' };
    } catch (e) {
      return reply.status(503).send({ status: 'database unreachable', message: (e as Error).message });
    }
  });

  await app.register(async (api) => registerRestRoutes(api, ctx), { prefix: '/api/v1' });
  await app.register(async (files) => publicFileRoutes(files, ctx));
  for (const p of opts.plugins ?? []) await app.register(async (scope) => p(scope));

  if (opts.docs !== false) {
    app.get('/api/openapi.json', { config: { auth: 'none' }, schema: { hide: true } }, async () => app.swagger());
    const ui = (await import('@fastify/swagger-ui')).default;
    await app.register(ui, { routePrefix: '/api/docs', uiConfig: { docExpansion: 'list' } });
  }
  return app;
}
