import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { findTime, freeBusyJson } from '../../app/events/freebusy.js';
import { parseRange } from '../../app/events/queries.js';
import { Body, errors } from './schemas.js';
import { actorOf } from '../auth.js';

const Emails = Type.Array(Type.String({ minLength: 3, maxLength: 254 }), { maxItems: 200 });
/** One person's busy time: a fixed shape, so the response is serialised by a compiled serialiser. */
export const FreeBusyItem = Type.Object({
  email: Type.String(), name: Type.Optional(Type.String()), kind: Type.Optional(Type.String()), timezone: Type.Optional(Type.String()),
  workingHours: Type.Optional(Type.Object({}, { additionalProperties: true })),
  busy: Type.Array(Type.Object({ start: Type.String(), end: Type.String(), type: Type.String() })),
  error: Type.Optional(Type.String()),
});

export const FreeBusyList = Type.Object({ items: Type.Array(FreeBusyItem) });

export async function schedulingRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/freebusy', {
    schema: { tags: ['scheduling'], summary: 'Busy periods of people and rooms (no details)', body: Body({ attendees: Emails, from: Type.String({ maxLength: 40 }), to: Type.String({ maxLength: 40 }) }), response: { 200: FreeBusyList, ...errors(400, 401) } },
  }, async (req, reply) => {
    const b = req.body as { attendees: string[]; from: string; to: string };
    const r = parseRange(b.from, b.to);
    // Written as text: the same bytes the schema serialiser gives for { items: freeBusy(…) }.
    const body = await freeBusyJson(ctx, actorOf(req), b.attendees, r.from, r.to);
    return reply.type('application/json; charset=utf-8').serializer((x: unknown) => x as string).send(body);
  });
  app.post('/find-time', {
    schema: {
      tags: ['scheduling'], summary: 'The next slots when everyone (and a room) is free, within working hours',
      body: Body({ attendees: Emails, rooms: Type.Optional(Emails), durationMinutes: Type.Integer({ minimum: 5, maximum: 1440 }), from: Type.String({ maxLength: 40 }), to: Type.String({ maxLength: 40 }), count: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })) }),
      response: { 200: Type.Object({ slots: Type.Array(Type.Object({ start: Type.String(), end: Type.String(), room: Type.Optional(Type.String()) })) }), ...errors(400, 401) },
    },
  }, async (req) => {
    const b = req.body as { attendees: string[]; rooms?: string[]; durationMinutes: number; from: string; to: string; count?: number };
    const r = parseRange(b.from, b.to);
    return { slots: await findTime(ctx, actorOf(req), { ...b, ...r }) };
  });
}
