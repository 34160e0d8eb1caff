import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import * as accounts from '../../app/accounts.js';
import * as creds from '../../store/credentials.js';
import { Body, IdParams, Uuid, errors } from './schemas.js';
import { actorOf } from '../auth.js';

const When = Type.Union([Type.String(), Type.Null()]);
const AppPassword = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), lastUsedAt: When, revokedAt: When, password: Type.Optional(Type.String()) });
const Token = Type.Object({ id: Type.String(), name: Type.String(), scopes: Type.Array(Type.String()), createdAt: Type.String(), expiresAt: When, lastUsedAt: When, revokedAt: When, token: Type.Optional(Type.String()) });
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export async function credentialRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/app-passwords', { schema: { tags: ['credentials'], summary: 'My app passwords (for CalDAV clients), with last use', response: { 200: Type.Object({ items: Type.Array(AppPassword) }), ...errors(401) } } }, async (req) => {
    const rows = await creds.listAppPasswords(ctx.db, actorOf(req).userId!);
    return { items: rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString(), lastUsedAt: iso(r.last_used_at), revokedAt: iso(r.revoked_at) })) };
  });
  app.post('/app-passwords', {
    schema: { tags: ['credentials'], summary: 'Create an app password; the password is shown only in this response', body: Body({ name: Type.String({ minLength: 1, maxLength: 100 }) }), response: { 201: AppPassword, ...errors(400, 401) } },
  }, async (req, reply) => {
    const r = await accounts.createAppPassword(ctx, actorOf(req), (req.body as { name: string }).name);
    return reply.status(201).send({ id: r.id, name: r.name, createdAt: r.created_at.toISOString(), lastUsedAt: null, revokedAt: null, password: r.password });
  });
  app.delete('/app-passwords/:id', { schema: { tags: ['credentials'], summary: 'Revoke an app password', params: IdParams, response: { 204: Type.Null(), ...errors(401, 404) } } }, async (req, reply) => {
    await accounts.revokeAppPassword(ctx, actorOf(req), (req.params as { id: string }).id);
    return reply.status(204).send();
  });

  app.get('/tokens', { schema: { tags: ['credentials'], summary: 'My API tokens', response: { 200: Type.Object({ items: Type.Array(Token) }), ...errors(401) } } }, async (req) => {
    const rows = await creds.listApiTokens(ctx.db, actorOf(req).userId!);
    return { items: rows.map((r) => ({ id: r.id, name: r.name, scopes: r.scopes, createdAt: r.created_at.toISOString(), expiresAt: iso(r.expires_at), lastUsedAt: iso(r.last_used_at), revokedAt: iso(r.revoked_at) })) };
  });
  app.post('/tokens', {
    schema: {
      tags: ['credentials'], summary: 'Create an API token (Bearer) with scopes read, write, admin; shown only in this response',
      body: Body({ name: Type.String({ minLength: 1, maxLength: 100 }), scopes: Type.Array(Type.String(), { minItems: 1, maxItems: 3 }), expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })), userId: Type.Optional(Uuid) }),
      response: { 201: Token, ...errors(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    const b = req.body as { name: string; scopes: string[]; expiresInDays?: number; userId?: string };
    const r = await accounts.createApiToken(ctx, actorOf(req), { ...b, forUserId: b.userId });
    return reply.status(201).send({ id: r.id, name: r.name, scopes: r.scopes, createdAt: r.created_at.toISOString(), expiresAt: iso(r.expires_at), lastUsedAt: null, revokedAt: null, token: r.token });
  });
  app.delete('/tokens/:id', { schema: { tags: ['credentials'], summary: 'Revoke an API token', params: IdParams, response: { 204: Type.Null(), ...errors(401, 404) } } }, async (req, reply) => {
    await accounts.revokeApiToken(ctx, actorOf(req), (req.params as { id: string }).id);
    return reply.status(204).send();
  });
}
