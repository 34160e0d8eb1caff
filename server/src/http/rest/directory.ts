import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { directoryJson, searchDirectory } from '../../app/calendars.js';
import { errors } from './schemas.js';
import { actorOf } from '../auth.js';

const Entry = Type.Object({ id: Type.String(), kind: Type.String(), email: Type.String(), name: Type.String(), capacity: Type.Optional(Type.Union([Type.Integer(), Type.Null()])) });

export async function directoryRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/directory', {
    schema: {
      tags: ['directory'], summary: 'Search people, groups and rooms by name or e-mail prefix (participant autocomplete)',
      querystring: Type.Object({ q: Type.String({ minLength: 1, maxLength: 200 }), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })), kind: Type.Optional(Type.Array(Type.Union([Type.Literal('user'), Type.Literal('group'), Type.Literal('room')]))) }),
      response: { 200: Type.Object({ items: Type.Array(Entry) }), ...errors(400, 401) },
    },
  }, async (req) => {
    actorOf(req);
    const q = req.query as { q: string; limit?: number; kind?: ('user' | 'group' | 'room')[] };
    return { items: (await searchDirectory(ctx, q.q, { limit: q.limit, kinds: q.kind })).map(directoryJson) };
  });
}
