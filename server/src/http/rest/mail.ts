/**
 * Mail REST: HTTP intake (service token), the decision log, held invitations and counter
 * proposals, the delivery log, and the local outbox (admins).
 *
 * Intake auth: POST /intake/mail needs an administrator's API token with the 'admin' scope (a
 * service account made for the MTA / integration). A narrower 'intake' scope would need a new
 * token scope in the platform; until then the admin scope is the service credential.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../../app/context.js';
import { actorOf } from '../auth.js';
import { IdParams, errors } from './schemas.js';
import { DomainError, invalid, notFound } from '../../domain/errors.js';
import { receiveMail } from '../../app/intake/receive.js';
import { acceptCounter, acceptHeld, declineCounterProposal, discardHeld } from '../../app/intake/held.js';
import { listDecisions, listDeliveries, findDecision, type DecisionRow, type DeliveryRow } from '../../store/mail.js';

const Decision = Type.Object({
  id: Type.String(), ownerId: Type.Union([Type.String(), Type.Null()]), inboundId: Type.Union([Type.String(), Type.Null()]), messageId: Type.Union([Type.String(), Type.Null()]),
  sender: Type.Union([Type.String(), Type.Null()]), recipient: Type.Union([Type.String(), Type.Null()]), method: Type.Union([Type.String(), Type.Null()]),
  uid: Type.Union([Type.String(), Type.Null()]), objectId: Type.Union([Type.String(), Type.Null()]), code: Type.String(), outcome: Type.String(), reason: Type.String(),
  details: Type.Unknown(), createdAt: Type.String(), decidedAt: Type.Union([Type.String(), Type.Null()]),
});
const Delivery = Type.Object({
  id: Type.String(), ownerId: Type.Union([Type.String(), Type.Null()]), channel: Type.String(), kind: Type.String(), key: Type.String(), messageId: Type.Union([Type.String(), Type.Null()]),
  recipient: Type.String(), uid: Type.Union([Type.String(), Type.Null()]), objectId: Type.Union([Type.String(), Type.Null()]), method: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(), attempts: Type.Integer(), response: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(), updatedAt: Type.String(),
});

export const decisionJson = (d: DecisionRow) => ({
  id: d.id, ownerId: d.owner_id, inboundId: d.inbound_id, messageId: d.message_id, sender: d.sender, recipient: d.recipient, method: d.method, uid: d.uid,
  objectId: d.object_id, code: d.code, outcome: d.outcome, reason: d.reason, details: d.details ?? null, createdAt: d.created_at.toISOString(), decidedAt: d.decided_at?.toISOString() ?? null,
});
const deliveryJson = (d: DeliveryRow) => ({
  id: String(d.id), ownerId: d.owner_id, channel: d.channel, kind: d.kind, key: d.delivery_key, messageId: d.message_id, recipient: d.recipient, uid: d.uid,
  objectId: d.object_id, method: d.method, status: d.status, attempts: d.attempts, response: d.response, createdAt: d.created_at.toISOString(), updatedAt: d.updated_at.toISOString(),
});

const Outcome = Type.Optional(Type.String({ maxLength: 100, description: 'Comma-separated outcomes: applied, ignored, rejected, held, accepted, discarded, counter, bounce' }));
const Limit = Type.Integer({ minimum: 1, maximum: 500, default: 100 });
const outcomes = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

export async function mailRoutes(app: FastifyInstance, ctx: AppContext) {
  app.register(async (scope) => {
    scope.addContentTypeParser(['message/rfc822', 'text/plain', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: ctx.config.intakeMaxBytes }, (_req, body, done) => done(null, body));
    scope.post('/intake/mail', {
      config: { auth: 'admin' }, bodyLimit: ctx.config.intakeMaxBytes,
      schema: {
        tags: ['mail'], summary: 'Mail intake over HTTP: a raw RFC 5322 message (Content-Type: message/rfc822). Stored before the answer; processed by the queue.',
        querystring: Type.Object({ recipient: Type.Optional(Type.Union([Type.String({ maxLength: 254 }), Type.Array(Type.String({ maxLength: 254 }), { maxItems: 100 })])), from: Type.Optional(Type.String({ maxLength: 254 })) }),
        response: { 202: Type.Object({ id: Type.String() }), ...errors(400, 401, 403, 413) },
      },
    }, async (req, reply) => {
      if (!Buffer.isBuffer(req.body) || !req.body.length) throw invalid('Send the raw message as the body with Content-Type: message/rfc822');
      const q = req.query as { recipient?: string | string[]; from?: string };
      const to = q.recipient === undefined ? [] : Array.isArray(q.recipient) ? q.recipient : [q.recipient];
      const id = await receiveMail(ctx, req.body, { from: q.from ?? null, to, remoteAddress: req.ip }, 'http');
      return reply.status(202).send({ id });
    });
  });

  app.get('/intake/decisions', {
    schema: { tags: ['mail'], summary: 'My inbound mail decision log: what was applied, or why not', querystring: Type.Object({ outcome: Outcome, limit: Limit }), response: { 200: Type.Object({ items: Type.Array(Decision) }), ...errors(401) } },
  }, async (req) => {
    const a = actorOf(req);
    const q = req.query as { outcome?: string; limit: number };
    return { items: (await listDecisions(ctx.db, { ownerId: a.userId!, limit: q.limit, outcome: outcomes(q.outcome) })).map(decisionJson) };
  });
  app.get('/intake/decisions/:id', { schema: { tags: ['mail'], summary: 'One decision, with the held calendar text', params: IdParams, response: { 200: Type.Intersect([Decision, Type.Object({ ical: Type.Union([Type.String(), Type.Null()]) })]), ...errors(401, 404) } } }, async (req) => {
    const a = actorOf(req);
    const d = await findDecision(ctx.db, a.userId!, (req.params as { id: string }).id);
    if (!d) throw notFound('Decision');
    return { ...decisionJson(d), ical: d.ical };
  });
  app.get('/admin/intake/decisions', {
    config: { auth: 'admin' },
    schema: { tags: ['admin'], summary: 'Every inbound mail decision (all users, and unmatched messages)', querystring: Type.Object({ outcome: Outcome, limit: Limit }), response: { 200: Type.Object({ items: Type.Array(Decision) }), ...errors(401, 403) } },
  }, async (req) => {
    const q = req.query as { outcome?: string; limit: number };
    return { items: (await listDecisions(ctx.db, { limit: q.limit, outcome: outcomes(q.outcome) })).map(decisionJson) };
  });
  app.get('/intake/held', {
    schema: { tags: ['mail'], summary: 'Unverified invitations and counter proposals waiting for me', response: { 200: Type.Object({ items: Type.Array(Decision) }), ...errors(401) } },
  }, async (req) => {
    const a = actorOf(req);
    return { items: (await listDecisions(ctx.db, { ownerId: a.userId!, limit: 500, outcome: ['held', 'counter'] })).map(decisionJson) };
  });
  const decide = (path: string, summary: string, fn: (a: ReturnType<typeof actorOf>, id: string, d: DecisionRow) => Promise<unknown>) =>
    app.post(`/intake/held/:id/${path}`, { schema: { tags: ['mail'], summary, params: IdParams, response: { 200: Type.Object({ ok: Type.Boolean(), decision: Type.Optional(Decision) }), ...errors(401, 404, 409) } } }, async (req) => {
      const a = actorOf(req);
      const id = (req.params as { id: string }).id;
      const d = await findDecision(ctx.db, a.userId!, id);
      if (!d) throw notFound('Decision');
      const r = await fn(a, id, d);
      return { ok: true, ...(r && typeof r === 'object' && 'id' in r ? { decision: decisionJson(r as DecisionRow) } : {}) };
    });
  decide('accept', 'Accept an unverified invitation (applied as if verified) or a counter proposal (the event moves)', (a, id, d) => (d.outcome === 'counter' ? acceptCounter(ctx, a, id) : acceptHeld(ctx, a, id)));
  decide('discard', 'Discard an unverified invitation, or decline a counter proposal (DECLINECOUNTER is sent)', (a, id, d) => (d.outcome === 'counter' ? declineCounterProposal(ctx, a, id) : discardHeld(ctx, a, id)));

  app.get('/deliveries', {
    schema: { tags: ['mail'], summary: 'Delivery log of my notifications and invitations', querystring: Type.Object({ limit: Limit, status: Type.Optional(Type.String({ maxLength: 20 })), uid: Type.Optional(Type.String({ maxLength: 500 })) }), response: { 200: Type.Object({ items: Type.Array(Delivery) }), ...errors(401) } },
  }, async (req) => {
    const a = actorOf(req);
    const q = req.query as { limit: number; status?: string; uid?: string };
    return { items: (await listDeliveries(ctx.db, { ownerId: a.userId!, ...q })).map(deliveryJson) };
  });
  app.get('/admin/deliveries', {
    config: { auth: 'admin' },
    schema: { tags: ['admin'], summary: 'Every delivery attempt (who, what, when, result)', querystring: Type.Object({ limit: Limit, status: Type.Optional(Type.String({ maxLength: 20 })), uid: Type.Optional(Type.String({ maxLength: 500 })), before: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })) }), response: { 200: Type.Object({ items: Type.Array(Delivery) }), ...errors(401, 403) } },
  }, async (req) => {
    const q = req.query as { limit: number; status?: string; uid?: string; before?: string };
    return { items: (await listDeliveries(ctx.db, q)).map(deliveryJson) };
  });

  const outbox = join(ctx.config.dataDir, 'outbox');
  app.get('/admin/outbox', {
    config: { auth: 'admin' },
    schema: { tags: ['admin'], summary: 'The local outbox (mail written when no SMTP_URL is configured), newest first', querystring: Type.Object({ limit: Limit }), response: { 200: Type.Object({ items: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer(), modifiedAt: Type.String() })) }), ...errors(401, 403) } },
  }, async (req) => {
    const names = (await readdir(outbox).catch(() => [] as string[])).filter((n) => n.endsWith('.eml'));
    const items = await Promise.all(names.map(async (name) => { const s = await stat(join(outbox, name)); return { name, size: s.size, modifiedAt: s.mtime.toISOString(), t: s.mtimeMs }; }));
    items.sort((a, b) => b.t - a.t);
    return { items: items.slice(0, (req.query as { limit: number }).limit).map(({ t: _t, ...x }) => x) };
  });
  app.get('/admin/outbox/:name', {
    config: { auth: 'admin' },
    schema: { tags: ['admin'], summary: 'One outbox message (message/rfc822)', params: Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9._@-]+\\.eml$', maxLength: 200 }) }) },
  }, async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const body = await readFile(join(outbox, name)).catch(() => null);
    if (!body) throw notFound('Outbox message');
    return reply.type('message/rfc822').send(body);
  });
  void DomainError;
}
