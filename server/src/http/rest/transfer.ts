import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { importItems, importStatus, startImport } from '../../app/events/transfer.js';
import { changesSince, exportCalendar } from '../../app/events/export.js';
import { IdParams, errors } from './schemas.js';
import { actorOf } from '../auth.js';
import { invalid } from '../../domain/errors.js';
import { decodeIcalBytes } from '../../lib/ical/index.js';
import { isIanaZone } from '../../lib/ical/zones/zone.js';

export async function transferRoutes(app: FastifyInstance, ctx: AppContext) {
  app.register(async (scope) => {
    // .ics uploads: raw bytes (any charset; decoded like every other iCalendar input).
    scope.addContentTypeParser(['text/calendar', 'application/ics', 'application/octet-stream', 'text/plain'], { parseAs: 'buffer', bodyLimit: 50 * 1024 * 1024 }, (_req, body, done) => done(null, body));
    scope.post('/calendars/:id/import', {
      bodyLimit: 50 * 1024 * 1024,
      schema: { tags: ['calendars'], summary: 'Import an .ics file (body: text/calendar); poll /imports/{id} for progress', params: IdParams, response: { 202: Type.Object({ importId: Type.String() }), ...errors(400, 401, 403, 404, 413) } },
    }, async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) throw invalid('Send the .ics file as the body with Content-Type: text/calendar');
      const importId = await startImport(ctx, actorOf(req), (req.params as { id: string }).id, decodeIcalBytes(req.body));
      return reply.status(202).send({ importId });
    });
  });

  const ImportState = Type.Partial(Type.Object({
    id: Type.String(), calendarId: Type.String(), state: Type.String({ description: 'queued, running or done' }), total: Type.Integer(), done: Type.Integer(),
    imported: Type.Integer(), created: Type.Integer(), updated: Type.Integer(), failed: Type.Integer(),
    errors: Type.Array(Type.Object({ uid: Type.Optional(Type.String()), message: Type.String() }), { description: 'The first 1,000 failures; all are in /imports/{id}/items' }),
    createdAt: Type.String(), finishedAt: Type.Union([Type.String(), Type.Null()]),
  }), { additionalProperties: true });
  app.get('/imports/:id', { schema: { tags: ['calendars'], summary: 'Progress and result of an import', params: IdParams, response: { 200: ImportState, ...errors(401, 404) } } }, async (req) => importStatus(ctx, actorOf(req), (req.params as { id: string }).id));

  app.get('/imports/:id/items', {
    schema: {
      tags: ['calendars'], summary: 'Every item of a finished import: the event it became (created or updated) or why it failed', params: IdParams,
      querystring: Type.Object({ status: Type.Optional(Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('failed')])), offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 1000 })) }),
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ uid: Type.Union([Type.String(), Type.Null()]), status: Type.String(), id: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })), total: Type.Integer(), offset: Type.Integer() }), ...errors(401, 404, 409) },
    },
  }, async (req) => {
    const q = req.query as { status?: 'created' | 'updated' | 'failed'; offset?: number; limit?: number };
    return importItems(ctx, actorOf(req), (req.params as { id: string }).id, { status: q.status, offset: q.offset ?? 0, limit: q.limit ?? 1000 });
  });

  app.get('/calendars/:id/export', {
    schema: { tags: ['calendars'], summary: 'Export a calendar (or a range) as iCalendar', params: IdParams, querystring: Type.Object({ from: Type.Optional(Type.String({ maxLength: 40 })), to: Type.Optional(Type.String({ maxLength: 40 })), timezone: Type.Optional(Type.String({ maxLength: 64 })) }) },
  }, async (req, reply) => {
    const q = req.query as { from?: string; to?: string; timezone?: string };
    // Either end may be left open (?from= alone: from then on); no length limit, unlike listings.
    const at = (v: string | undefined, field: string) => {
      if (!v) return null;
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw invalid(`"${field}" must be an ISO 8601 date-time`, { field });
      return d;
    };
    const from = at(q.from, 'from');
    const to = at(q.to, 'to');
    if (from && to && to <= from) throw invalid('"to" must be after "from"', { field: 'to' });
    const range = from || to ? { from, to } : undefined;
    // Floating events (RFC 5545 §3.3.5) fall in the range by their wall time in this zone.
    if (q.timezone && !isIanaZone(q.timezone)) throw invalid(`Unknown time zone "${q.timezone}"`, { field: 'timezone' });
    const tz = q.timezone ?? req.user?.timezone ?? 'UTC';
    const r = await exportCalendar(ctx, actorOf(req), (req.params as { id: string }).id, range, tz);
    const file = `${r.name.replace(/[^\p{L}\p{N} _-]/gu, '').trim() || 'calendar'}.ics`;
    return reply.type('text/calendar; charset=utf-8').header('content-disposition', `attachment; filename="calendar.ics"; filename*=UTF-8''${encodeURIComponent(file)}`).send(r.text);
  });

  app.get('/calendars/:id/changes', {
    schema: { tags: ['calendars'], summary: 'Incremental sync: what changed since a sync token (omit it for everything)', params: IdParams, querystring: Type.Object({ since: Type.Optional(Type.String({ maxLength: 40 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })) }), response: { 200: Type.Object({ changes: Type.Array(Type.Object({ id: Type.String(), uid: Type.String(), name: Type.String(), kind: Type.String() })), syncToken: Type.String(), more: Type.Boolean() }), ...errors(401, 403, 404, 410) } },
  }, async (req) => {
    const q = req.query as { since?: string; limit?: number };
    return changesSince(ctx, actorOf(req), (req.params as { id: string }).id, q.since, q.limit);
  });
}
