/**
 * Who is asking: a Bearer API token, or the session cookie (with CSRF for writes).
 * Routes declare `config: { auth: 'none' | 'user' | 'admin', scope?: 'read' | 'write' | 'admin' }`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../app/context.js';
import type { Actor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import { resolveApiToken, resolveSession } from '../app/accounts.js';
import type { PrincipalRow } from '../store/schema.js';
import { safeEqual } from '../domain/auth/secrets.js';

export const SESSION_COOKIE = 'calendula_session';
export const CSRF_COOKIE = 'calendula_csrf';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
    user: PrincipalRow | null;
  }
  interface FastifyContextConfig {
    auth?: 'none' | 'user' | 'admin';
    scope?: 'read' | 'write' | 'admin';
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function registerAuth(app: FastifyInstance, ctx: AppContext) {
  app.decorateRequest('actor', null);
  app.decorateRequest('user', null);
  // onRequest, not preHandler: who is asking is settled before the body is parsed or validated, so
  // anonymous callers get 401 (not validation details) and unauthenticated bodies are never parsed.
  // Callback-style: a route without auth (CalDAV does its own, health checks) costs no promise.
  app.addHook('onRequest', (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    const cfg = req.routeOptions.config ?? {};
    const mode = cfg.auth ?? (req.routeOptions.url?.startsWith('/api/v1') ? 'user' : 'none');
    if (mode === 'none') return done();
    identify(req, cfg, mode).then(() => done(), done);
  });

  async function identify(req: FastifyRequest, cfg: NonNullable<FastifyRequest['routeOptions']['config']>, mode: 'user' | 'admin') {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      const t = await resolveApiToken(ctx, header.slice(7).trim());
      if (!t) throw new DomainError('UNAUTHENTICATED', 'The API token is unknown, expired or revoked');
      const needed = cfg.scope ?? (mode === 'admin' ? 'admin' : SAFE.has(req.method) ? 'read' : 'write');
      const has = t.scopes.includes(needed) || (needed === 'read' && t.scopes.includes('write'));
      if (!has) throw new DomainError('INSUFFICIENT_SCOPE', `This API token lacks the "${needed}" scope`, { needed });
      req.user = t.user;
      req.actor = { userId: t.user.id, email: t.user.email, isAdmin: t.user.is_admin && t.scopes.includes('admin'), via: 'rest', scopes: t.scopes, requestId: req.id };
    } else {
      const cookie = req.cookies[SESSION_COOKIE];
      const s = cookie ? await resolveSession(ctx, cookie) : null;
      if (!s) throw new DomainError('UNAUTHENTICATED', 'Sign in first (the session is missing or has expired)');
      if (!SAFE.has(req.method)) {
        const sent = req.headers[CSRF_HEADER];
        if (typeof sent !== 'string' || !safeEqual(sent, s.csrf)) throw new DomainError('CSRF_FAILED', 'Missing or wrong X-CSRF-Token header');
      }
      req.user = s.user;
      req.actor = { userId: s.user.id, email: s.user.email, isAdmin: s.user.is_admin, via: 'web', requestId: req.id };
    }
    if (mode === 'admin' && !req.actor!.isAdmin) throw new DomainError('FORBIDDEN', 'This action needs an administrator');
  }
}

export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new DomainError('UNAUTHENTICATED', 'Sign in first');
  return req.actor;
}
