import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { publicUser, signIn, signOut, startSession, type SignedIn } from '../../app/accounts.js';
import { settingsJson } from '../../app/calendars.js';
import { Body, Email, User, errors } from './schemas.js';
import { SESSION_COOKIE, CSRF_COOKIE, actorOf } from '../auth.js';
import { oidcRoutes } from './oidc.js';

export function setSessionCookies(reply: FastifyReply, s: SignedIn, secure: boolean) {
  const base = { path: '/', sameSite: 'lax' as const, secure, expires: s.expiresAt };
  reply.setCookie(SESSION_COOKIE, s.sessionToken, { ...base, httpOnly: true });
  // Double-submit: the web UI reads this cookie and sends it back as X-CSRF-Token.
  reply.setCookie(CSRF_COOKIE, s.csrf, { ...base, httpOnly: false });
}

const Me = Type.Object({ user: User, settings: Type.Unknown(), csrfToken: Type.Optional(Type.String()) });

export async function sessionRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/session', {
    config: { auth: 'none' },
    schema: {
      tags: ['session'], summary: 'Sign in with e-mail and password (sets the session cookie)',
      body: Body({ email: Email, password: Type.String({ minLength: 1, maxLength: 512 }) }),
      response: { 200: Me, ...errors(400, 401, 403, 429) },
    },
  }, async (req, reply) => {
    const { email, password } = req.body as { email: string; password: string };
    const s = await signIn(ctx, email, password, { ip: req.ip, userAgent: req.headers['user-agent'] });
    setSessionCookies(reply, s, req.protocol === 'https');
    return { user: publicUser(s.user), settings: settingsJson(s.user), csrfToken: s.csrf };
  });

  app.delete('/session', {
    config: { auth: 'none' },
    schema: { tags: ['session'], summary: 'Sign out', response: { 204: Type.Null() } },
  }, async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    if (token) await signOut(ctx, token);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    reply.clearCookie(CSRF_COOKIE, { path: '/' });
    return reply.status(204).send();
  });

  app.get('/me', {
    schema: { tags: ['session'], summary: 'The signed-in user', response: { 200: Me, ...errors(401) } },
  }, async (req) => {
    actorOf(req);
    return { user: publicUser(req.user!), settings: settingsJson(req.user!), csrfToken: req.cookies[CSRF_COOKIE] };
  });

  await oidcRoutes(app, ctx, async (reply, user, req) => {
    const s = await startSession(ctx, user, { ip: req.ip, userAgent: req.headers['user-agent'] });
    setSessionCookies(reply, s, req.protocol === 'https');
  });
}
