/** PUT /events/:id with an iCalendar body: replace the event by that text (app/events/replace.ts). */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { replaceEventText } from '../../app/events/replace.js';
import { objectFor } from '../../app/events/access.js';
import { eventDetail } from '../../app/events/detail.js';
import { invalid } from '../../domain/errors.js';
import { actorOf } from '../auth.js';
import { IdParams, IfMatchHeaders, errors } from './schemas.js';
import { EventDetailSchema, ifMatch } from './events.js';

export async function eventTextRoutes(app: FastifyInstance, ctx: AppContext) {
  app.register(async (scope) => {
    scope.addContentTypeParser(['text/calendar', 'application/ics'], { parseAs: 'buffer', bodyLimit: ctx.config.bodyLimit }, (_req, body, done) => done(null, body));
    scope.put('/events/:id', {
      schema: {
        tags: ['events'], summary: 'Replace the event by a whole iCalendar text (Content-Type: text/calendar); If-Match with the etag read', params: IdParams,
        headers: IfMatchHeaders,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }),
        response: { 200: EventDetailSchema, ...errors(400, 401, 403, 404, 409, 412, 415, 422, 423) },
      },
    }, async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) throw invalid('Send the event as text/calendar');
      const actor = actorOf(req);
      const id = (req.params as { id: string }).id;
      const row = await replaceEventText(ctx, actor, id, req.body.toString('utf8'), { ifMatch: ifMatch(req), force: (req.query as { force?: boolean }).force });
      const d = await eventDetail(ctx, actor, await objectFor(ctx, actor, row.id));
      reply.header('etag', `"${d.etag}"`);
      return d;
    });
  });
}
