import { Readable } from 'node:stream';
import { trashCutoff } from '../../domain/trash.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { DomainError } from '../../domain/errors.js';
import * as commands from '../../app/events/commands.js';
import * as queries from '../../app/events/queries.js';
import { listOccurrencesJson } from '../../app/events/listing-json.js';
import { eventDetail, getEvent } from '../../app/events/detail.js';
import { objectFor } from '../../app/events/access.js';
import { acquireLease, releaseLease } from '../../app/events/leases.js';
import * as objects from '../../store/objects.js';
import { Body, IdParams, IfMatchHeaders, errors } from './schemas.js';
import { actorOf } from '../auth.js';

const Str = (max = 10000) => Type.String({ maxLength: max });
const Attendee = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254 }), name: Type.Optional(Str(200)),
  role: Type.Optional(Type.Union(['REQ-PARTICIPANT', 'OPT-PARTICIPANT', 'CHAIR', 'NON-PARTICIPANT'].map((r) => Type.Literal(r)))),
  partstat: Type.Optional(Str(20)), rsvp: Type.Optional(Type.Boolean()),
  cutype: Type.Optional(Type.Union(['INDIVIDUAL', 'GROUP', 'ROOM', 'RESOURCE', 'UNKNOWN'].map((r) => Type.Literal(r)))),
}, { additionalProperties: false });
const Alarm = Type.Object({ action: Type.Union([Type.Literal('DISPLAY'), Type.Literal('EMAIL')]), trigger: Str(40), related: Type.Optional(Type.Union([Type.Literal('START'), Type.Literal('END')])) }, { additionalProperties: false });
const Nullable = <T extends ReturnType<typeof Str>>(t: T) => Type.Union([t, Type.Null()]);
const eventFields = {
  summary: Str(1000), description: Type.Optional(Nullable(Str(50000))), location: Type.Optional(Nullable(Str(1000))),
  start: Str(30), end: Str(30), timezone: Type.Optional(Nullable(Str(64))), allDay: Type.Optional(Type.Boolean()),
  rrule: Type.Optional(Nullable(Str(500))), exdates: Type.Optional(Type.Array(Str(30), { maxItems: 1000 })),
  transparency: Type.Optional(Type.Union([Type.Literal('OPAQUE'), Type.Literal('TRANSPARENT')])),
  visibility: Type.Optional(Type.Union([Type.Literal('PUBLIC'), Type.Literal('PRIVATE'), Type.Literal('CONFIDENTIAL')])),
  status: Type.Optional(Nullable(Type.String({ enum: ['CONFIRMED', 'TENTATIVE', 'CANCELLED'] } as never))),
  url: Type.Optional(Nullable(Str(2000))), conference: Type.Optional(Nullable(Str(2000))),
  attendees: Type.Optional(Type.Array(Attendee, { maxItems: 2000 })), alarms: Type.Optional(Type.Array(Alarm, { maxItems: 20 })),
  categories: Type.Optional(Type.Array(Str(100), { maxItems: 50 })), color: Type.Optional(Nullable(Str(30))),
  attachments: Type.Optional(Type.Array(Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }), { maxItems: 50 })),
};
const EventInput = Type.Object(eventFields, { additionalProperties: false });
const EventPatch = Type.Partial(Type.Object(eventFields), { additionalProperties: false });
const Scope = Type.Union([Type.Literal('this'), Type.Literal('following'), Type.Literal('all')]);
const NStr = Type.Union([Type.String(), Type.Null()]);
/**
 * One event as the API returns it (app/events/detail.ts). Every field is optional in the schema
 * and extra fields pass: the serialiser must neither drop nor coerce anything (a field of a
 * hidden, free/busy-only event is absent, not empty).
 */
const Loose = <T extends Record<string, import('@sinclair/typebox').TSchema>>(props: T, description?: string) =>
  Type.Partial(Type.Object(props), { additionalProperties: true, ...(description ? { description } : {}) });
const NBool = Type.Union([Type.Boolean(), Type.Null()]);
const AttendeeOut = Loose({
  email: Type.String(), name: NStr, role: NStr, partstat: NStr, rsvp: NBool, cutype: NStr,
});
export const EventOut = Loose({
  uid: Type.String(), sequence: Type.Integer(), recurrenceId: NStr,
  summary: Type.String(), description: NStr, location: NStr, start: Type.String({ description: 'Wall time in `timezone`, or a date for all-day events' }),
  end: Type.String(), timezone: NStr, allDay: Type.Boolean(), rrule: NStr, exdates: Type.Array(Type.String()),
  transparency: Type.String(), visibility: Type.String(), status: NStr, url: NStr, conference: NStr, color: NStr,
  organizer: Type.Union([Loose({ email: Type.String(), name: NStr }), Type.Null()]),
  attendees: Type.Array(AttendeeOut), alarms: Type.Array(Loose({ action: Type.String(), trigger: Type.String(), related: NStr })),
  categories: Type.Array(Type.String()),
  attachments: Type.Array(Loose({ id: Type.String(), url: Type.String(), filename: Type.String(), contentType: Type.String(), size: Type.Integer() })),
}, 'The event (or the occurrence asked for) in the shape of the create body, with its identity');
export const EventDetailSchema = Loose({
  id: Type.String(), calendarId: Type.String(), uid: Type.String(), etag: Type.String(), sequence: Type.Integer(),
  event: EventOut, myPartstat: NStr, isOrganizer: Type.Boolean(), editable: Type.Boolean(), canRespond: Type.Boolean(),
  access: Type.String({ description: 'owner, write, read or freebusy' }), busyOnly: Type.Boolean(),
  lease: Type.Union([Type.Object({ holderId: Type.String(), holderName: Type.String(), expiresAt: Type.String() }), Type.Null()], { description: 'Who is editing the event now, if anyone' }),
  updatedAt: Type.String(), updatedBy: NStr, deletedAt: NStr,
}, 'One event with what the caller may do with it');
const Detail = EventDetailSchema;
/** One occurrence in a listing: a fixed shape, so the response is serialised by a compiled serialiser. */
const Occurrence = Type.Object({
  id: Type.String(), calendarId: Type.String(), uid: Type.String(), recurrenceId: NStr, start: Type.String(), end: Type.String(),
  allDay: Type.Boolean(), timezone: NStr, summary: Type.String(), location: Type.String(), status: Type.String(), transparency: Type.String(),
  visibility: Type.String(), color: Type.String(), myPartstat: NStr, isOrganizer: Type.Boolean(), editable: Type.Boolean(),
  recurring: Type.Boolean(), attendeeCount: Type.Integer(), hasAttachments: Type.Boolean(), busyOnly: Type.Optional(Type.Boolean()),
});
export const OccurrenceList = Type.Object({ items: Type.Array(Occurrence) });
const TrashList = Type.Object({ items: Type.Array(Loose({ id: Type.String(), calendarId: Type.String(), uid: Type.String(), summary: NStr, start: NStr, recurring: Type.Boolean(), deletedAt: Type.String() })) });
const Range = { from: Type.String({ maxLength: 40 }), to: Type.String({ maxLength: 40 }) };

export function ifMatch(req: FastifyRequest): string | null {
  const h = req.headers['if-match'];
  if (typeof h !== 'string' || !h.trim() || h.trim() === '*') return null;
  return h.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

export async function eventRoutes(app: FastifyInstance, ctx: AppContext) {
  const tz = (req: FastifyRequest) => req.user?.timezone ?? 'UTC';

  app.get('/events', {
    schema: { tags: ['events'], summary: 'Occurrences in a range across the chosen (or all visible) calendars', querystring: Type.Object({ ...Range, calendars: Type.Optional(Type.String({ maxLength: 4000 })) }), response: { 200: OccurrenceList, ...errors(400, 401, 404) } },
  }, async (req, reply) => {
    const q = req.query as { from: string; to: string; calendars?: string };
    const r = queries.parseRange(q.from, q.to);
    // The body is built as bytes (the same bytes as the schema serialiser would write for listOccurrences).
    const body = await listOccurrencesJson(ctx, actorOf(req), { ...r, calendarIds: q.calendars?.split(',').filter(Boolean) }, tz(req));
    // Bytes, sent as they are (no serialiser, no UTF-8 encoding on the way to the socket): mostly
    // views of the listing memo's arena, streamed without being copied into one Buffer first.
    reply.type('application/json; charset=utf-8');
    if (body.chunks.length === 1) return reply.send(body.chunks[0]);
    const { chunks } = body;
    reply.header('content-length', String(body.length));
    return reply.send(new Readable({ read() { for (const c of chunks) this.push(c); this.push(null); } }));
  });

  app.get('/events/search', {
    schema: { tags: ['events'], summary: 'Search summary, location, description and attendees', querystring: Type.Object({ q: Type.String({ minLength: 1, maxLength: 200 }), from: Type.Optional(Type.String({ maxLength: 40 })), to: Type.Optional(Type.String({ maxLength: 40 })) }), response: { 200: OccurrenceList, ...errors(400, 401) } },
  }, async (req) => {
    const q = req.query as { q: string; from?: string; to?: string };
    const from = q.from ? new Date(q.from) : null;
    const to = q.to ? new Date(q.to) : null;
    if ((from && Number.isNaN(from.getTime())) || (to && Number.isNaN(to.getTime()))) throw new DomainError('BAD_REQUEST', '"from" and "to" must be ISO 8601 date-times', { field: Number.isNaN(from?.getTime() ?? 0) ? 'from' : 'to' });
    return { items: await queries.searchEvents(ctx, actorOf(req), { text: q.q, from, to }, tz(req)) };
  });

  app.get('/invitations', { schema: { tags: ['events'], summary: 'Invitations waiting for my answer', response: { 200: OccurrenceList, ...errors(401) } } }, async (req) => ({ items: await queries.invitations(ctx, actorOf(req), tz(req)) }));

  app.get('/trash', { schema: { tags: ['events'], summary: 'Deleted events (restorable for 30 days)', response: { 200: TrashList, ...errors(401) } } }, async (req) => {
    const rows = await objects.trashOf(ctx.db, actorOf(req).userId!, trashCutoff());
    return { items: rows.map((r) => ({ id: r.id, calendarId: r.calendar_id, uid: r.uid, summary: r.summary, start: r.first_start?.toISOString() ?? null, recurring: r.recurring, deletedAt: r.deleted_at!.toISOString() })) };
  });

  app.get('/events/:id', {
    schema: { tags: ['events'], summary: 'One event (JSON, or iCalendar with Accept: text/calendar)', params: IdParams, querystring: Type.Object({ recurrenceId: Type.Optional(Type.String({ maxLength: 40 })) }), response: { 200: Detail, ...errors(401, 403, 404) } },
  }, async (req, reply) => {
    const actor = actorOf(req);
    const id = (req.params as { id: string }).id;
    if (String(req.headers.accept ?? '').includes('text/calendar')) {
      const a = await objectFor(ctx, actor, id);
      if (a.access === 'freebusy' || (a.access !== 'owner' && (a.row.class === 'PRIVATE' || a.row.class === 'CONFIDENTIAL'))) throw new DomainError('FORBIDDEN', a.access === 'freebusy' ? 'You can see only the free/busy times of this calendar' : 'This event is private; only its owner can read its iCalendar text');
      return reply.type('text/calendar; charset=utf-8').header('etag', `"${a.row.etag}"`).serializer((x: unknown) => x as string).send(a.row.ical);
    }
    const d = await getEvent(ctx, actor, id, (req.query as { recurrenceId?: string }).recurrenceId);
    reply.header('etag', `"${d.etag}"`);
    return d;
  });

  app.post('/events', {
    schema: { tags: ['events'], summary: 'Create an event (invitations go out to participants)', body: Body({ calendarId: Type.String({ format: 'uuid' }), event: EventInput }), response: { 201: Detail, ...errors(400, 401, 403, 404, 409, 422) } },
  }, async (req, reply) => {
    const actor = actorOf(req);
    const { row, calendar, event } = await commands.createEventIn(ctx, actor, req.body as never);
    const d = await eventDetail(ctx, actor, { row, calendar, access: calendar.access }, undefined, { created: true, event });
    return reply.status(201).header('etag', `"${d.etag}"`).send(d);
  });

  app.patch('/events/:id', {
    schema: {
      tags: ['events'], summary: 'Change an event; If-Match with the etag you read; scope for recurring events', params: IdParams, headers: IfMatchHeaders,
      body: Body({ event: EventPatch, scope: Type.Optional(Scope), recurrenceId: Type.Optional(Type.String({ maxLength: 40 })), force: Type.Optional(Type.Boolean()) }),
      response: { 200: Detail, ...errors(400, 401, 403, 404, 409, 412, 422, 423) },
    },
  }, async (req) => {
    const actor = actorOf(req);
    const b = req.body as { event: never; scope?: commands.Scope; recurrenceId?: string; force?: boolean };
    const row = await commands.updateEvent(ctx, actor, (req.params as { id: string }).id, { ...b, ifMatch: ifMatch(req) });
    return eventDetail(ctx, actor, await objectFor(ctx, actor, row.id));
  });

  app.delete('/events/:id', {
    schema: { tags: ['events'], summary: 'Delete (to the trash); scope for recurring events; If-Match with the etag you read', params: IdParams, headers: IfMatchHeaders, querystring: Type.Object({ scope: Type.Optional(Scope), recurrenceId: Type.Optional(Type.String({ maxLength: 40 })), force: Type.Optional(Type.Boolean()) }), response: { 204: Type.Null(), ...errors(400, 401, 403, 404, 412, 423) } },
  }, async (req, reply) => {
    const q = req.query as { scope?: commands.Scope; recurrenceId?: string; force?: boolean };
    await commands.deleteEvent(ctx, actorOf(req), (req.params as { id: string }).id, { ...q, ifMatch: ifMatch(req) });
    return reply.status(204).send();
  });

  app.post('/events/:id/restore', { schema: { tags: ['events'], summary: 'Restore from the trash; If-Match with the etag you read', params: IdParams, headers: IfMatchHeaders, response: { 200: Detail, ...errors(401, 403, 404, 409, 412) } } }, async (req) => {
    const actor = actorOf(req);
    const row = await commands.restoreEvent(ctx, actor, (req.params as { id: string }).id, { ifMatch: ifMatch(req) });
    return eventDetail(ctx, actor, await objectFor(ctx, actor, row.id));
  });

  app.post('/events/:id/respond', {
    schema: { tags: ['events'], summary: 'Answer an invitation (series or one occurrence); If-Match with the etag you read', params: IdParams, headers: IfMatchHeaders, body: Body({ partstat: Type.Union(commands.PARTSTATS.map((p) => Type.Literal(p))), comment: Type.Optional(Str(1000)), recurrenceId: Type.Optional(Type.String({ maxLength: 40 })) }), response: { 200: Detail, ...errors(400, 401, 403, 404, 409, 412) } },
  }, async (req) => {
    const actor = actorOf(req);
    const row = await commands.respond(ctx, actor, (req.params as { id: string }).id, { ...(req.body as { partstat: never }), ifMatch: ifMatch(req) });
    return eventDetail(ctx, actor, await objectFor(ctx, actor, row.id));
  });

  app.post('/events/:id/move', { schema: { tags: ['events'], summary: 'Move to another of my calendars; If-Match with the etag you read', params: IdParams, headers: IfMatchHeaders, body: Body({ calendarId: Type.String({ format: 'uuid' }) }), response: { 200: Detail, ...errors(400, 401, 403, 404, 409, 412, 415) } } }, async (req) => {
    const actor = actorOf(req);
    const row = await commands.moveEvent(ctx, actor, (req.params as { id: string }).id, { ...(req.body as { calendarId: string }), ifMatch: ifMatch(req) });
    return eventDetail(ctx, actor, await objectFor(ctx, actor, row.id));
  });

  app.post('/events/:id/duplicate', { schema: { tags: ['events'], summary: 'Duplicate (new UID)', params: IdParams, body: Body({ calendarId: Type.Optional(Type.String({ format: 'uuid' })) }), response: { 201: Detail, ...errors(400, 401, 403, 404) } } }, async (req, reply) => {
    const actor = actorOf(req);
    const row = await commands.duplicateEvent(ctx, actor, (req.params as { id: string }).id, (req.body ?? {}) as never);
    return reply.status(201).send(await eventDetail(ctx, actor, await objectFor(ctx, actor, row.id)));
  });

  app.post('/events/:id/lease', { schema: { tags: ['events'], summary: 'Take or renew the editing lease (about 2 minutes)', params: IdParams, response: { 200: Type.Object({ holderId: Type.String(), holderName: Type.String(), expiresAt: Type.String() }), ...errors(401, 403, 404, 423) } } }, async (req) => acquireLease(ctx, actorOf(req), (req.params as { id: string }).id));
  app.delete('/events/:id/lease', { schema: { tags: ['events'], summary: 'Release my editing lease', params: IdParams, response: { 204: Type.Null(), ...errors(401, 404) } } }, async (req, reply) => {
    await releaseLease(ctx, actorOf(req), (req.params as { id: string }).id);
    return reply.status(204).send();
  });
}
