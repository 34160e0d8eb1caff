/**
 * "Propose a new time": an attendee sends the organizer an iTIP COUNTER (RFC 5546 §3.2.7) built
 * from their own copy, which does not change (the attendee may not move the event, RFC 6638
 * §3.2.2.1; the COUNTER only asks the organizer to). Queued in the same transaction as the
 * checks, under the UID lock:
 *  - to an EXTERNAL organizer: an iMIP e-mail ('imip-send' job, like a REPLY to them);
 *  - to an INTERNAL organizer: a pending proposal in their mail_decision log (outcome 'counter'),
 *    the same store and decision path as a COUNTER that arrived by e-mail (app/intake/held.ts:
 *    `POST /intake/held/{id}/accept|discard`), plus a 'counter' notification.
 */
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, invalid } from '../../domain/errors.js';
import * as objects from '../../store/objects.js';
import * as principals from '../../store/principals.js';
import { insertDecision } from '../../store/mail.js';
import { apply, counter, normalizeAddress } from '../../lib/itip/index.js';
import { compileResource } from '../../lib/ical/index.js';
import { wallToUtc, zoneOf } from '../../lib/ical/zones/zone.js';
import { enqueue } from '../../jobs/queue.js';
import { objectFor } from './access.js';
import { lockUid } from './write.js';
import { notifyJob } from './deliver.js';
import { messageStamp, type ImipPayload } from './scheduling.js';
import { audit } from '../audit.js';

export interface ProposeInput {
  /** Wall times 'YYYY-MM-DDTHH:mm[:ss]' in `timezone` (or dates 'YYYY-MM-DD' for an all-day proposal). */
  start: string;
  end: string;
  /** IANA zone of start/end; default: the user's zone. */
  timezone?: string | null;
  comment?: string;
  /** One occurrence of a series (its recurrence-id key, as the event detail gives it). */
  recurrenceId?: string | null;
}

export interface ProposeResult {
  /** 'imip': mailed to an external organizer; 'internal': waiting in the organizer's proposals. */
  delivery: 'imip' | 'internal';
  organizer: string;
  /** The organizer's proposal (mail_decision id), for an internal organizer. */
  proposalId?: string;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** Wall time in a zone → 'YYYYMMDDTHHMMSSZ'; a date stays a date ('YYYYMMDD'). */
function toIcalTime(v: string, tz: string): string {
  const d = DATE.exec(v);
  if (d) return `${d[1]}${d[2]}${d[3]}`;
  const m = DATE_TIME.exec(v)!;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0);
  return new Date(wallToUtc(wall, zoneOf(tz))).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function checkInput(input: ProposeInput, tz: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw invalid(`Unknown time zone "${tz}"`, { field: 'timezone' });
  }
  const dates = DATE.test(input.start) && DATE.test(input.end);
  if (!dates && !(DATE_TIME.test(input.start) && DATE_TIME.test(input.end))) {
    throw invalid('start and end must both be YYYY-MM-DDTHH:mm[:ss] (or both YYYY-MM-DD)', { field: DATE_TIME.test(input.start) || DATE.test(input.start) ? 'end' : 'start' });
  }
  if (dates ? input.end <= input.start : toIcalTime(input.end, tz) <= toIcalTime(input.start, tz)) throw invalid('The end must be after the start', { field: 'end' });
}

export async function proposeTime(ctx: AppContext, actor: Actor, id: string, input: ProposeInput): Promise<ProposeResult> {
  if (!actor.userId) throw new DomainError('FORBIDDEN', 'Only a user can propose a new time');
  const acc = await objectFor(ctx, actor, id);
  // Only the attendee themself, from their own copy (not someone who can see or edit it).
  if (acc.row.owner_id !== actor.userId) throw new DomainError('FORBIDDEN', 'Only an attendee can propose a new time for their own invitation');
  const me = await principals.findPrincipalById(ctx.db, actor.userId);
  if (!me) throw new DomainError('FORBIDDEN', 'Unknown user');
  const tz = input.timezone || me.timezone || 'UTC';
  checkInput(input, tz);
  const comment = input.comment?.trim().slice(0, 1000) || undefined;

  const result = await ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, acc.row.uid);
    const row = await objects.findObject(trx, acc.row.owner_id, acc.row.id, { forUpdate: true });
    if (!row) throw new DomainError('NOT_FOUND', 'The event no longer exists');
    if (row.role === 'organizer') throw new DomainError('CONFLICT', 'You organise this event: change its time directly');
    if (row.role !== 'attendee' || !row.organizer) throw new DomainError('FORBIDDEN', 'You are not an attendee of this event');
    if (row.status === 'CANCELLED') throw new DomainError('CONFLICT', 'This event was cancelled');
    // The address the copy invites this user under (their main address or an alias).
    const aliases = (await trx.selectFrom('principal_alias').select('email').where('principal_id', '=', me.id).execute()).map((a) => a.email.toLowerCase());
    const mine = [me.email.toLowerCase(), ...aliases];
    const attendeeEmail = mine.find((a) => row.attendees.includes(a));
    if (!attendeeEmail) throw new DomainError('FORBIDDEN', 'You are not an attendee of this event');
    if (input.recurrenceId && !row.recurring && !compileResource(row.ical).overrides.has(input.recurrenceId)) throw invalid('recurrenceId names no occurrence of this event', { field: 'recurrenceId' });
    let msg;
    try {
      msg = counter({
        attendeeText: row.ical, attendeeEmail, dtstart: toIcalTime(input.start, tz), dtend: toIcalTime(input.end, tz),
        recurrenceId: input.recurrenceId ?? undefined, comment, now: messageStamp(row.ical),
      });
    } catch (e) {
      throw new DomainError('INVALID_ICALENDAR', `Cannot build the proposal: ${(e as Error).message}`);
    }
    if (input.recurrenceId && !msg.recurrenceIds?.includes(input.recurrenceId)) throw invalid('recurrenceId names no occurrence of this event', { field: 'recurrenceId' });
    const orgAddress = normalizeAddress(msg.recipient);
    const organizer = (await principals.resolveAddresses(trx, [orgAddress])).get(orgAddress);

    if (!organizer) {
      // External organizer: the COUNTER goes out by iMIP (RFC 6047), queued with this transaction.
      const payload: ImipPayload = {
        ownerId: me.id, uid: row.uid, method: 'COUNTER', sender: attendeeEmail, recipient: orgAddress, recipientCn: msg.recipientCn,
        ical: msg.ical, significant: true, deliveryId: `ctr.${randomUUID()}`,
      };
      await enqueue(trx, 'imip-send', payload);
      return { delivery: 'imip' as const, organizer: orgAddress };
    }
    if (organizer.kind !== 'user') throw new DomainError('CONFLICT', 'The organizer of this event cannot receive proposals');
    const orgCopy = await objects.findByUid(trx, organizer.id, row.uid);
    if (!orgCopy || orgCopy.role !== 'organizer') throw new DomainError('CONFLICT', "The organizer's event is gone");
    // The organizer's side checks the COUNTER as it would one received by mail (§3.2.7: only an
    // invited attendee may counter) and describes it the same way.
    const res = apply({ method: 'COUNTER', ical: msg.ical, sender: attendeeEmail }, orgCopy.ical, orgAddress, { trust: 'enforce' });
    if (res.code !== 'COUNTER_PROPOSAL' || !res.counterProposal) throw new DomainError('CONFLICT', `The organizer's copy does not take this proposal: ${res.reason}`);
    const cp = res.counterProposal;
    // A newer proposal from the same attendee for the same occurrence (or the series) replaces the
    // pending one: the organizer decides on what the attendee asks for now.
    await trx.updateTable('mail_decision').set({ outcome: 'discarded', decided_at: new Date(), reason: 'Replaced by a newer proposal from the same attendee' })
      .where('owner_id', '=', organizer.id).where('uid', '=', row.uid).where('outcome', '=', 'counter').where('sender', '=', attendeeEmail)
      .where(sql<boolean>`coalesce(details->>'recurrenceId', '') = ${cp.recurrenceId ?? ''}`).execute();
    const proposalId = await insertDecision(trx, {
      ownerId: organizer.id, inboundId: null, messageId: null, sender: attendeeEmail, recipient: orgAddress, method: 'COUNTER', uid: row.uid,
      objectId: orgCopy.id, code: 'COUNTER_PROPOSAL', outcome: 'counter', reason: res.reason, ical: msg.ical,
      details: { ...cp, ical: undefined, internal: true, proposerId: me.id },
    });
    await notifyJob(ctx, trx, {
      kind: 'counter', recipientId: organizer.id, ownerId: organizer.id, objectId: orgCopy.id, from: attendeeEmail,
      counter: { from: me.name ? `${me.name} <${attendeeEmail}>` : attendeeEmail, ...(cp.dtstart ? { start: cp.dtstart } : {}), ...(cp.dtend ? { end: cp.dtend } : {}), ...(comment ? { comment } : {}) },
    });
    return { delivery: 'internal' as const, organizer: orgAddress, proposalId };
  });
  await audit(ctx, actor, 'event.propose', acc.row.id, { delivery: result.delivery, recurrenceId: input.recurrenceId ?? null }, acc.row.owner_id);
  return result;
}
