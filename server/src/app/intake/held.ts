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
import { declineCounter, normalizeAddress } from '../../lib/itip/index.js';
import { MASTER, byKey, compKey, parseCalendar, schedulable, seqOf } from '../../lib/itip/model.js';
import { addOverride } from '../../lib/ical/recurrence-edit.js';
import { lockUid, saveObject } from '../events/write.js';
import { notifyJob } from '../events/deliver.js';
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

/**
 * The organizer's component a COUNTER is about: the override of its RECURRENCE-ID, else the
 * master (for a COUNTER about the whole event, or about an occurrence without an override).
 */
function proposalTarget(organizerText: string, counterText: string) {
  const cal = parseCalendar(organizerText);
  const ctrCal = parseCalendar(counterText);
  const ctr = schedulable(ctrCal)[0];
  if (!ctr) throw new DomainError('INVALID_ICALENDAR', 'The proposal has no VEVENT');
  const key = compKey(ctr, ctrCal);
  const comps = byKey(cal);
  return { cal, ctr, key, override: key === MASTER ? undefined : comps.get(key), master: comps.get(MASTER) };
}

/**
 * RFC 5546 §2.1.5 / §3.2.7: a COUNTER carries the SEQUENCE of the version the attendee saw; once
 * the organizer has sent a newer one (higher SEQUENCE) the proposal is outdated and is refused.
 */
function checkFresh(organizerText: string, counterText: string): void {
  const { ctr, key, override, master } = proposalTarget(organizerText, counterText);
  const current = override ?? master;
  if (!current) throw new DomainError('CONFLICT', 'The proposed instance is not in the event');
  if (seqOf(ctr) < seqOf(current)) {
    throw new DomainError('STALE_PROPOSAL', `The proposal was made for version ${seqOf(ctr)} of the event; it is now at version ${seqOf(current)}. Change the event yourself or ask for a new proposal.`,
      { proposalSequence: seqOf(ctr), eventSequence: seqOf(current), ...(key !== MASTER ? { recurrenceId: key } : {}) });
  }
}

/**
 * Copies DTSTART/DTEND (or DURATION) and LOCATION of the counter's component into the
 * organizer's copy. A COUNTER for one occurrence (RECURRENCE-ID, RFC 5546 §3.2.7) moves only that
 * occurrence: an override is created for it when there is none — never the whole series.
 */
export function applyProposal(organizerText: string, counterText: string): string {
  let { cal, ctr, key, override, master } = proposalTarget(organizerText, counterText);
  if (key !== MASTER && !override) {
    if (!master) throw new DomainError('CONFLICT', 'The proposed instance is not in the event');
    let text: string;
    try {
      text = addOverride(organizerText, key, {});
    } catch (e) {
      throw new DomainError('CONFLICT', `The proposed occurrence ${key} is not in the event: ${(e as Error).message}`);
    }
    cal = parseCalendar(text);
    override = byKey(cal).get(key);
    if (!override) throw new DomainError('CONFLICT', 'The proposed instance is not in the event');
  }
  const target = override ?? master;
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

/**
 * Accepting a proposal: the organizer's copy moves (the write plans the REQUEST to every
 * attendee, RFC 5546 §3.2.7 "the Organizer ... sends a new REQUEST"). The decision is closed in
 * the same transaction as the save, under the UID lock: both happen or neither does. A proposal
 * made against an older SEQUENCE is refused (STALE_PROPOSAL) and stays open.
 */
export async function acceptCounter(ctx: AppContext, actor: Actor, id: string): Promise<void> {
  const { d, user } = await load(ctx, actor, id, 'counter');
  const first = d.object_id ? await objects.findObject(ctx.db, user.id, d.object_id) : undefined;
  if (!first || first.role !== 'organizer') throw new DomainError('CONFLICT', 'The event is gone or you no longer organise it');
  await ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, first.uid);
    const row = await objects.findObject(trx, user.id, first.id, { forUpdate: true });
    if (!row || row.role !== 'organizer') throw new DomainError('CONFLICT', 'The event is gone or you no longer organise it');
    checkFresh(row.ical, d.ical ?? '');
    const ical = applyProposal(row.ical, d.ical ?? '');
    if (!(await closeDecision(trx, user.id, id, 'accepted', 'counter'))) throw new DomainError('CONFLICT', 'Already decided');
    await saveObject(ctx, { ...actor, via: 'mail' }, { ownerId: user.id, calendarId: row.calendar_id, existingId: row.id, ical, uidLocked: true }, trx);
  });
}

/**
 * Declining a proposal (RFC 5546 §3.2.8): an external proposer gets a DECLINECOUNTER by iMIP; an
 * internal one (a user of this server) is told by a 'counter-declined' notification on their
 * copy. The event does not change.
 */
export async function declineCounterProposal(ctx: AppContext, actor: Actor, id: string, comment?: string): Promise<void> {
  const { d, user } = await load(ctx, actor, id, 'counter');
  const row = d.object_id ? await objects.findObject(ctx.db, user.id, d.object_id) : undefined;
  if (!row || row.role !== 'organizer') throw new DomainError('CONFLICT', 'The event is gone or you no longer organise it');
  const m = declineCounter({ organizerText: row.ical, counterIcal: d.ical ?? '', comment });
  const proposer = (await principals.resolveAddresses(ctx.db, [normalizeAddress(m.recipient)])).get(normalizeAddress(m.recipient));
  const proposerCopy = proposer && proposer.kind === 'user' ? await objects.findByUid(ctx.db, proposer.id, row.uid) : undefined;
  const det = (d.details ?? {}) as { dtstart?: string; dtend?: string };
  await ctx.db.transaction().execute(async (trx) => {
    if (!(await closeDecision(trx, user.id, id, 'discarded', 'counter', `${d.reason} Declined by the organizer.`))) throw new DomainError('CONFLICT', 'Already decided');
    if (proposer) {
      if (proposerCopy) {
        await notifyJob(ctx, trx, { kind: 'counter-declined', recipientId: proposer.id, ownerId: proposer.id, objectId: proposerCopy.id, from: user.email.toLowerCase(),
          declined: { by: user.name || user.email, ...(det.dtstart ? { start: det.dtstart } : {}), ...(det.dtend ? { end: det.dtend } : {}), ...(comment ? { comment } : {}) } });
      }
      return;
    }
    const payload: ImipPayload = { ownerId: user.id, uid: row.uid, method: 'DECLINECOUNTER', sender: user.email.toLowerCase(), recipient: m.recipient, recipientCn: m.recipientCn, ical: m.ical, significant: true, deliveryId: `dc.${d.id}` };
    await enqueue(trx, 'imip-send', payload);
  });
}
