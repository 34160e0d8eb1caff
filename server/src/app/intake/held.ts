/**
 * What the user decides about inbound mail the policy did not apply by itself: unverified
 * invitations (accept → applied as if trusted; discard → nothing) and COUNTER proposals to
 * events they organise (accept → the event moves and everyone gets the update; decline →
 * DECLINECOUNTER to the proposer).
 */
import ICAL from 'ical.js';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, notFound } from '../../domain/errors.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { closeDecision, findDecision, insertDecision, type DecisionRow } from '../../store/mail.js';
import { declineCounter } from '../../lib/itip/index.js';
import { saveObject } from '../events/write.js';
import { enqueue } from '../../jobs/queue.js';
import type { ImipPayload } from '../events/scheduling.js';
import { applyVerified } from './process.js';

async function load(ctx: AppContext, actor: Actor, id: string, outcome: DecisionRow['outcome']) {
  if (!actor.userId) throw new DomainError('FORBIDDEN', 'Only a user can decide about their mail');
  const d = await findDecision(ctx.db, actor.userId, id);
  if (!d) throw notFound('Decision');
  if (d.outcome !== outcome) throw new DomainError('CONFLICT', `This message is ${d.outcome}, not ${outcome}`, { outcome: d.outcome });
  const user = await principals.findPrincipalById(ctx.db, actor.userId);
  if (!user) throw notFound('User');
  return { d, user };
}

export async function acceptHeld(ctx: AppContext, actor: Actor, id: string): Promise<DecisionRow> {
  const { d, user } = await load(ctx, actor, id, 'held');
  if (!(await closeDecision(ctx.db, user.id, id, 'accepted', 'held'))) throw new DomainError('CONFLICT', 'Already decided');
  const det = (d.details ?? {}) as { recipientAddress?: string; sender?: string };
  let result: DecisionRow | undefined;
  await applyVerified(ctx, user, { method: d.method ?? 'REQUEST', ical: d.ical ?? '', sender: det.sender ?? d.sender ?? '', uid: d.uid, recipientAddress: det.recipientAddress ?? user.email },
    async (x) => {
      const newId = await insertDecision(ctx.db, { inboundId: d.inbound_id, messageId: d.message_id, sender: d.sender, ...x });
      result = await findDecision(ctx.db, user.id, newId);
    }, 'trusted', id);
  return result!;
}

export async function discardHeld(ctx: AppContext, actor: Actor, id: string): Promise<void> {
  const { user } = await load(ctx, actor, id, 'held');
  if (!(await closeDecision(ctx.db, user.id, id, 'discarded', 'held'))) throw new DomainError('CONFLICT', 'Already decided');
}

/** Copies DTSTART/DTEND (or DURATION) of the counter's component into the organizer's copy. */
function applyProposal(organizerText: string, counterText: string): string {
  const cal = new ICAL.Component(ICAL.parse(organizerText) as never);
  const ctr = new ICAL.Component(ICAL.parse(counterText) as never).getFirstSubcomponent('vevent');
  if (!ctr) throw new DomainError('INVALID_ICALENDAR', 'The proposal has no VEVENT');
  const rid = ctr.getFirstPropertyValue('recurrence-id')?.toString();
  const target = cal.getAllSubcomponents('vevent').find((c) => (c.getFirstPropertyValue('recurrence-id')?.toString() ?? null) === (rid ?? null))
    ?? cal.getAllSubcomponents('vevent').find((c) => !c.hasProperty('recurrence-id'));
  if (!target) throw new DomainError('CONFLICT', 'The proposed instance is not in the event');
  for (const name of ['dtstart', 'dtend', 'duration', 'location']) {
    const p = ctr.getFirstProperty(name);
    if (!p) continue;
    if (name === 'dtend') target.removeAllProperties('duration');
    if (name === 'duration') target.removeAllProperties('dtend');
    target.removeAllProperties(name);
    target.addProperty(ICAL.Property.fromString(p.toICALString()));
  }
  return cal.toString();
}

export async function acceptCounter(ctx: AppContext, actor: Actor, id: string): Promise<void> {
  const { d, user } = await load(ctx, actor, id, 'counter');
  const row = d.object_id ? await objects.findObject(ctx.db, user.id, d.object_id) : undefined;
  if (!row || row.role !== 'organizer') throw new DomainError('CONFLICT', 'The event is gone or you no longer organise it');
  await saveObject(ctx, { ...actor, via: 'mail' }, { ownerId: user.id, calendarId: row.calendar_id, existingId: row.id, ical: applyProposal(row.ical, d.ical ?? '') });
  await closeDecision(ctx.db, user.id, id, 'accepted', 'counter');
}

export async function declineCounterProposal(ctx: AppContext, actor: Actor, id: string, comment?: string): Promise<void> {
  const { d, user } = await load(ctx, actor, id, 'counter');
  const row = d.object_id ? await objects.findObject(ctx.db, user.id, d.object_id) : undefined;
  if (!row || row.role !== 'organizer') throw new DomainError('CONFLICT', 'The event is gone or you no longer organise it');
  const m = declineCounter({ organizerText: row.ical, counterIcal: d.ical ?? '', comment });
  const payload: ImipPayload = { ownerId: user.id, uid: row.uid, method: 'DECLINECOUNTER', sender: user.email.toLowerCase(), recipient: m.recipient, recipientCn: m.recipientCn, ical: m.ical, significant: true, deliveryId: `dc.${d.id}` };
  await ctx.db.transaction().execute(async (trx) => {
    await enqueue(trx, 'imip-send', payload);
    await closeDecision(trx, user.id, id, 'discarded', 'counter', `${d.reason} Declined by the organizer.`);
  });
}
