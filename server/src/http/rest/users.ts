import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { createPrincipal, publicUser, updateUser } from '../../app/accounts.js';
import { directoryJson } from '../../app/calendars.js';
import * as principals from '../../store/principals.js';
import { Body, Email, IdParams, User, errors } from './schemas.js';
import { actorOf } from '../auth.js';
import { notFound, invalid } from '../../domain/errors.js';

const Kind = Type.Union([Type.Literal('user'), Type.Literal('group'), Type.Literal('room')]);
const Lang = Type.Union([Type.Literal('en'), Type.Literal('ru')]);
/** A room's booking policy (deliver.ts, roomDecision). */
const RoomAutoAccept = Type.Union([Type.Literal('accept-if-free'), Type.Literal('always'), Type.Literal('manual')], {
  description: 'How the room answers bookings: accept-if-free (accept unless an occurrence conflicts; a recurring booking is declined as a whole), always (accept), manual (left to a person acting for the room)',
});

export async function userRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/users', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'List users, groups and rooms',
      querystring: Type.Object({ kind: Type.Optional(Kind), limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }), offset: Type.Integer({ minimum: 0, default: 0 }) }),
      response: { 200: Type.Object({ items: Type.Array(User) }), ...errors(401, 403) },
    },
  }, async (req) => {
    const q = req.query as { kind?: string; limit: number; offset: number };
    return { items: (await principals.listPrincipals(ctx.db, q)).map(publicUser) };
  });

  app.post('/users', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'Create a user, group or room',
      body: Body({
        email: Email, name: Type.Optional(Type.String({ maxLength: 200 })), password: Type.Optional(Type.String({ maxLength: 512 })),
        kind: Type.Optional(Kind), isAdmin: Type.Optional(Type.Boolean()), language: Type.Optional(Lang), timezone: Type.Optional(Type.String({ maxLength: 64 })),
        roomCapacity: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
        roomAutoAccept: Type.Optional(RoomAutoAccept),
        members: Type.Optional(Type.Array(Email, { maxItems: 10000 })),
      }),
      response: { 201: User, ...errors(400, 401, 403, 409) },
    },
  }, async (req, reply) => {
    const body = req.body as Parameters<typeof createPrincipal>[2] & { members?: string[] };
    if (body.members && body.kind !== 'group') throw invalid('Only groups have members', { field: 'members' });
    const memberIds: string[] = [];
    for (const m of body.members ?? []) {
      const p = await principals.findPrincipalByEmail(ctx.db, m);
      if (!p) throw notFound(`Member ${m}`);
      memberIds.push(p.id);
    }
    const row = await createPrincipal(ctx, actorOf(req), body);
    if (memberIds.length) await principals.setGroupMembers(ctx.db, row.id, memberIds);
    return reply.status(201).send(publicUser(row));
  });

  app.get('/users/:id', {
    config: { auth: 'admin' },
    schema: { tags: ['admin'], summary: 'One user', params: IdParams, response: { 200: User, ...errors(401, 403, 404) } },
  }, async (req) => {
    const row = await principals.findPrincipalById(ctx.db, (req.params as { id: string }).id);
    if (!row) throw notFound('User');
    return publicUser(row);
  });

  app.patch('/users/:id', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'Disable, enable, rename, reset the password of, or promote a user; set a room\'s capacity and booking policy', params: IdParams,
      body: Body({
        name: Type.Optional(Type.String({ maxLength: 200 })), isAdmin: Type.Optional(Type.Boolean()), disabled: Type.Optional(Type.Boolean()), password: Type.Optional(Type.String({ maxLength: 512 })), language: Type.Optional(Lang), timezone: Type.Optional(Type.String({ maxLength: 64 })),
        roomCapacity: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 100000 }), Type.Null()], { description: 'Rooms only; null: not set' })),
        roomAutoAccept: Type.Optional(RoomAutoAccept),
      }),
      response: { 200: User, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => publicUser(await updateUser(ctx, actorOf(req), (req.params as { id: string }).id, req.body as object)));

  app.get('/groups/:id/members', {
    schema: { tags: ['directory'], summary: 'Members of a group (for expanding it into participants)', params: IdParams, response: { 200: Type.Object({ items: Type.Array(Type.Unknown()) }), ...errors(401, 404) } },
  }, async (req) => {
    const g = await principals.findPrincipalById(ctx.db, (req.params as { id: string }).id);
    if (!g || g.kind !== 'group') throw notFound('Group');
    return { items: (await principals.groupMembers(ctx.db, g.id)).map(directoryJson) };
  });
}
