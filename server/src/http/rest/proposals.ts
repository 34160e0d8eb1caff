/**
 * "Propose a new time" (iTIP COUNTER, RFC 5546 §3.2.7) and the organizer's decision on proposals
 * (accept → the event moves and attendees get the update; decline → DECLINECOUNTER, RFC 5546
 * §3.2.8, to an external proposer, a notification to an internal one).
 *
 * Proposals from internal attendees and COUNTERs received by e-mail share one store (the
 * organizer's mail_decision log, outcome 'counter'): they are listed here and in
 * GET /intake/held, and decided here or with POST /intake/held/{id}/accept|discard.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { actorOf } from '../auth.js';
import { Body, IdParams, errors } from './schemas.js';
import { notFound } from '../../domain/errors.js';
import { proposeTime } from '../../app/events/propose.js';
import { acceptCounter, declineCounterProposal } from '../../app/intake/held.js';
import { findDecision, listDecisions } from '../../store/mail.js';
import { decisionJson } from './mail.js';

const Str = (max: number) => Type.String({ maxLength: max });
const Proposal = Type.Object({}, { additionalProperties: true });

export async function proposalRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/events/:id/propose', {
    schema: {
      tags: ['events'], summary: 'Propose a new time to the organizer (attendee; sends an iTIP COUNTER)', params: IdParams,
      body: Body({ start: Str(30), end: Str(30), timezone: Type.Optional(Type.Union([Str(64), Type.Null()])), comment: Type.Optional(Str(1000)), recurrenceId: Type.Optional(Str(40)) }),
      response: { 202: Type.Object({ delivery: Type.String(), organizer: Type.String(), proposalId: Type.Optional(Type.String()) }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req, reply) => {
    const r = await proposeTime(ctx, actorOf(req), (req.params as { id: string }).id, req.body as never);
    return reply.status(202).send(r);
  });

  app.get('/proposals', {
    schema: { tags: ['events'], summary: 'Time proposals waiting for my decision (from attendees here and by e-mail)', response: { 200: Type.Object({ items: Type.Array(Proposal) }), ...errors(401) } },
  }, async (req) => {
    const a = actorOf(req);
    return { items: (await listDecisions(ctx.db, { ownerId: a.userId!, limit: 500, outcome: ['counter'] })).map(decisionJson) };
  });

  const decide = (path: 'accept' | 'decline', summary: string, fn: (a: ReturnType<typeof actorOf>, id: string, comment?: string) => Promise<void>) =>
    app.post(`/proposals/:id/${path}`, {
      schema: { tags: ['events'], summary, params: IdParams, body: Type.Optional(Type.Object({ comment: Type.Optional(Str(1000)) }, { additionalProperties: false })), response: { 200: Type.Object({ ok: Type.Boolean() }), ...errors(401, 404, 409) } },
    }, async (req) => {
      const a = actorOf(req);
      const id = (req.params as { id: string }).id;
      const d = await findDecision(ctx.db, a.userId!, id);
      // Only the organizer (the owner of the proposal) sees it: anyone else gets 404.
      if (!d || (d.outcome !== 'counter' && d.method !== 'COUNTER')) throw notFound('Proposal');
      await fn(a, id, (req.body as { comment?: string } | undefined)?.comment);
      return { ok: true };
    });
  decide('accept', 'Accept a time proposal: the event (or only the proposed occurrence) moves and attendees get the update', (a, id) => acceptCounter(ctx, a, id));
  decide('decline', 'Decline a time proposal: the proposer is told (DECLINECOUNTER by e-mail, or a notification); the event stays', (a, id, comment) => declineCounterProposal(ctx, a, id, comment));
}
