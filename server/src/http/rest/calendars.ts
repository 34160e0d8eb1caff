import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import * as calendars from '../../app/calendars.js';
import { Body, Calendar, Email, IdParams, Reminder, Uuid, errors } from './schemas.js';
import { actorOf } from '../auth.js';
import { TtlCache, LIST_TTL_MS, calendarGeneration } from '../../store/cache.js';

/** The calendar list per user, reused while no calendar data changed in this process (and at most LIST_TTL). */
const listCache = new TtlCache<{ gen: number; items: unknown[] }>(LIST_TTL_MS);

const Access = Type.Union([Type.Literal('read'), Type.Literal('read-write'), Type.Literal('freebusy')]);
const Share = Type.Object({ granteeId: Type.String(), email: Type.String(), name: Type.String(), kind: Type.String(), access: Type.String() });
const Color = Type.String({ pattern: '^#[0-9a-fA-F]{6}$' });
const Tz = Type.Union([Type.String({ maxLength: 64 }), Type.Null()]);

export async function calendarRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/calendars', {
    schema: { tags: ['calendars'], summary: 'Own calendars and those shared with me', response: { 200: Type.Object({ items: Type.Array(Calendar) }), ...errors(401) } },
  }, async (req) => {
    const actor = actorOf(req);
    const gen = calendarGeneration();
    const hit = listCache.get(actor.userId!);
    if (hit && hit.gen === gen) return { items: hit.items };
    const items = (await calendars.listCalendars(ctx, actor)).map((c) => calendars.calendarJson(c, actor.userId!));
    listCache.set(actor.userId!, { gen, items });
    return { items };
  });

  app.post('/calendars', {
    schema: {
      tags: ['calendars'], summary: 'Create a calendar',
      body: Body({ name: Type.String({ minLength: 1, maxLength: 200 }), color: Type.Optional(Color), description: Type.Optional(Type.String({ maxLength: 2000 })), timezone: Type.Optional(Tz), defaultReminders: Type.Optional(Type.Array(Reminder, { maxItems: 10 })), order: Type.Optional(Type.Integer()) }),
      response: { 201: Calendar, ...errors(400, 401, 403) },
    },
  }, async (req, reply) => {
    const actor = actorOf(req);
    const row = await calendars.createCalendar(ctx, actor, req.body as never);
    return reply.status(201).send(calendars.calendarJson({ ...row, access: 'owner' }, actor.userId!));
  });

  app.get('/calendars/:id', {
    schema: { tags: ['calendars'], summary: 'One calendar', params: IdParams, response: { 200: Calendar, ...errors(401, 404) } },
  }, async (req) => {
    const actor = actorOf(req);
    return calendars.calendarJson(await calendars.calendarFor(ctx, actor, (req.params as { id: string }).id), actor.userId!);
  });

  app.patch('/calendars/:id', {
    schema: {
      tags: ['calendars'], summary: 'Rename, recolour, reorder, hide a calendar', params: IdParams,
      body: Body({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), color: Type.Optional(Color), description: Type.Optional(Type.String({ maxLength: 2000 })), timezone: Type.Optional(Tz), defaultReminders: Type.Optional(Type.Array(Reminder, { maxItems: 10 })), order: Type.Optional(Type.Integer()), hidden: Type.Optional(Type.Boolean()) }),
      response: { 200: Calendar, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => {
    const actor = actorOf(req);
    const row = await calendars.updateCalendar(ctx, actor, (req.params as { id: string }).id, req.body as never);
    return calendars.calendarJson({ ...row, access: 'owner' }, actor.userId!);
  });

  app.delete('/calendars/:id', {
    schema: { tags: ['calendars'], summary: 'Delete a calendar', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } },
  }, async (req, reply) => {
    await calendars.deleteCalendar(ctx, actorOf(req), (req.params as { id: string }).id);
    return reply.status(204).send();
  });

  app.get('/calendars/:id/shares', {
    schema: { tags: ['calendars'], summary: 'Who the calendar is shared with', params: IdParams, response: { 200: Type.Object({ items: Type.Array(Share) }), ...errors(401, 403, 404) } },
  }, async (req) => {
    const rows = await calendars.listShares(ctx, actorOf(req), (req.params as { id: string }).id);
    return { items: rows.map((r) => ({ granteeId: r.grantee_id, email: r.email, name: r.name, kind: r.kind, access: r.access })) };
  });

  app.put('/calendars/:id/shares', {
    schema: {
      tags: ['calendars'], summary: 'Share with a user or group (read, read-write or free/busy only)', params: IdParams,
      body: Body({ email: Email, access: Access }),
      response: { 200: Share, ...errors(400, 401, 403, 404, 422) },
    },
  }, async (req) => calendars.shareCalendar(ctx, actorOf(req), (req.params as { id: string }).id, req.body as never));

  app.delete('/calendars/:id/shares/:granteeId', {
    schema: { tags: ['calendars'], summary: 'Stop sharing', params: Type.Object({ id: Uuid, granteeId: Uuid }), response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (req, reply) => {
    const p = req.params as { id: string; granteeId: string };
    await calendars.unshareCalendar(ctx, actorOf(req), p.id, p.granteeId);
    return reply.status(204).send();
  });
}
