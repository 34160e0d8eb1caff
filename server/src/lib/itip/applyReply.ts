/** Messages from attendees to the organizer (REPLY, COUNTER, REFRESH) and DECLINECOUNTER back. */
import ICAL from 'ical.js';
import { propAddress, sameAddress, sentBy } from './address.js';
import type { Ctx } from './apply.js';
import {
  MASTER, attendeeProp, byKey, clone, organizerAddress, organizerOf, param, partstatOf,
  removeParams, schedulable, seqOf, serialize, stampOf, type Comp,
} from './model.js';
import type { ApplyResult } from './types.js';
import { projectInstance } from './views.js';

/** Param where the organizer's copy remembers the DTSTAMP of the last applied reply (like Apple's X-CALENDARSERVER-DTSTAMP). */
const REPLY_STAMP = 'x-calendula-reply-dtstamp';

function theAttendee(msg: Comp): ICAL.Property | null {
  for (const c of schedulable(msg)) {
    const a = c.getFirstProperty('attendee');
    if (a) return a;
  }
  return null;
}

function speaksFor(att: ICAL.Property, sender: string): boolean {
  return sameAddress(att, sender) || (sentBy(att) !== '' && sentBy(att) === sender);
}

export function applyReply(ctx: Ctx): ApplyResult {
  const att = theAttendee(ctx.msg);
  if (!att) return { action: 'reject', code: 'INVALID_MESSAGE', reason: 'A REPLY must carry the replying ATTENDEE (RFC 5546 §3.2.3).' };
  const who = propAddress(att);
  const matches = speaksFor(att, ctx.sender);
  if (!matches && ctx.options.trust !== 'trusted') {
    return { action: 'reject', code: 'SENDER_NOT_ATTENDEE', senderMatches: false, reason: `Sender ${ctx.sender} may not answer for ${who}.` };
  }
  if (!ctx.existing) return { action: 'ignore', code: 'UNKNOWN_UID', senderMatches: matches, reason: `No event with UID ${ctx.uid} to apply the reply to.` };
  if (organizerAddress(ctx.existing) !== ctx.recipient) {
    return { action: 'reject', code: 'NOT_ORGANIZER_COPY', senderMatches: matches, reason: `${ctx.recipient} does not organise this event; a REPLY only applies to the organizer's copy.` };
  }
  const cal = clone(ctx.existing);
  const current = byKey(cal);
  const keys: string[] = [];
  let partstat = 'NEEDS-ACTION';
  let comment: string | undefined;
  let crasher = false;
  for (const [k, c] of byKey(ctx.msg)) {
    const a = c.getFirstProperty('attendee');
    if (!a) continue;
    partstat = partstatOf(a);
    const cm = c.getFirstPropertyValue('comment');
    if (cm) comment = String(cm);
    let target = current.get(k);
    if (!target && k !== MASTER) {
      const master = current.get(MASTER);
      if (!master) continue;
      // An answer for one instance: give it an override of its own (RFC 5546 §3.2.3).
      target = projectInstance(master, k, cal);
      cal.addSubcomponent(target);
      current.set(k, target);
    }
    if (!target) continue;
    if (seqOf(c) < seqOf(target)) {
      return { action: 'ignore', code: 'STALE_SEQUENCE', senderMatches: matches, reason: `Reply from ${who} answers SEQUENCE ${seqOf(c)}, the event is at ${seqOf(target)}; ignored (RFC 5546 §2.1.5).` };
    }
    let mine = attendeeProp(target, who);
    if (!mine) {
      if (!ctx.options.acceptPartyCrashers) {
        return { action: 'reject', code: 'PARTY_CRASHER', senderMatches: matches, reason: `${who} replied but is not invited.` };
      }
      crasher = true;
      mine = new ICAL.Property(structuredClone(a.toJSON()) as never);
      target.addProperty(mine);
    }
    const last = param(mine, REPLY_STAMP);
    const stamp = stampOf(c);
    if (last && stamp && stamp < last) {
      return { action: 'ignore', code: 'STALE_REPLY', senderMatches: matches, reason: `Reply from ${who} (DTSTAMP ${stamp}) is older than the one already applied (${last}).` };
    }
    mine.setParameter('partstat', partstat);
    removeParams(mine, (n) => n === 'rsvp');
    for (const d of ['delegated-to', 'delegated-from']) {
      const v = a.getParameter(d);
      if (v) mine.setParameter(d, v as string);
    }
    mine.setParameter('schedule-status', '2.0');
    if (stamp) mine.setParameter(REPLY_STAMP, stamp);
    keys.push(k);
  }
  if (!keys.length) return { action: 'ignore', code: 'UNKNOWN_INSTANCE', senderMatches: matches, reason: 'The reply names no instance of this event.' };
  const rids = keys.filter((k) => k !== MASTER);
  return {
    action: 'update', code: crasher ? 'PARTY_CRASHER_ADDED' : 'APPLIED_REPLY', senderMatches: matches, newText: serialize(cal),
    reason: `${who} answered ${partstat}${rids.length ? ` for ${rids.join(', ')}` : ''}${crasher ? ' (not invited; added by policy)' : ''}.`,
    reply: { attendee: who, partstat, recurrenceIds: rids, comment },
  };
}

export function applyCounterLike(ctx: Ctx, method: 'COUNTER' | 'DECLINECOUNTER' | 'REFRESH'): ApplyResult {
  if (method === 'DECLINECOUNTER') {
    const org = schedulable(ctx.msg).map(organizerOf).find(Boolean);
    const ok = !!org && (sameAddress(org, ctx.sender) || sentBy(org) === ctx.sender);
    if (!ok && ctx.options.trust !== 'trusted') return { action: 'reject', code: 'NOT_ORGANIZER', senderMatches: false, reason: `DECLINECOUNTER from ${ctx.sender}, who is not the organizer.` };
    if (ctx.existing && org && organizerAddress(ctx.existing) !== propAddress(org)) {
      return { action: 'reject', code: 'ORGANIZER_MISMATCH', senderMatches: ok, reason: 'DECLINECOUNTER names another organizer than the stored event.' };
    }
    const cm = ctx.msg.getAllSubcomponents().map((c) => c.getFirstPropertyValue('comment')).find(Boolean);
    return { action: 'ignore', code: 'COUNTER_DECLINED', senderMatches: ok, reason: `The organizer declined the counter-proposal${cm ? `: ${String(cm)}` : ''}.` };
  }
  const att = theAttendee(ctx.msg);
  if (!att) return { action: 'reject', code: 'INVALID_MESSAGE', reason: `${method} must carry the ATTENDEE who sends it.` };
  const who = propAddress(att);
  const matches = speaksFor(att, ctx.sender);
  if (!matches && ctx.options.trust !== 'trusted') return { action: 'reject', code: 'SENDER_NOT_ATTENDEE', senderMatches: false, reason: `Sender ${ctx.sender} may not speak for ${who}.` };
  if (!ctx.existing) return { action: 'ignore', code: 'UNKNOWN_UID', senderMatches: matches, reason: `No event with UID ${ctx.uid}.` };
  if (organizerAddress(ctx.existing) !== ctx.recipient) {
    return { action: 'reject', code: 'NOT_ORGANIZER_COPY', senderMatches: matches, reason: `${method} only applies to the organizer's copy.` };
  }
  const invited = schedulable(ctx.existing).some((c) => attendeeProp(c, who));
  if (!invited) return { action: 'reject', code: 'PARTY_CRASHER', senderMatches: matches, reason: `${method} from ${who}, who is not invited.` };
  if (method === 'REFRESH') {
    return { action: 'ignore', code: 'REFRESH_REQUESTED', senderMatches: matches, refreshFor: who, reason: `${who} asked for the current state; re-send it (requestFor).` };
  }
  const c = schedulable(ctx.msg)[0];
  const str = (n: string) => {
    const v = c.getFirstPropertyValue(n);
    return v == null ? undefined : String(v);
  };
  const rid = c.getFirstProperty('recurrence-id');
  return {
    action: 'ignore', code: 'COUNTER_PROPOSAL', senderMatches: matches,
    reason: `${who} proposes ${str('dtstart') ?? 'a change'}${str('comment') ? ` (${str('comment')})` : ''}; accept with a new REQUEST or answer DECLINECOUNTER.`,
    counterProposal: {
      uid: ctx.uid, from: who, recurrenceId: rid ? String(rid.getFirstValue()) : undefined,
      dtstart: str('dtstart'), dtend: str('dtend'), summary: str('summary'), location: str('location'),
      comment: str('comment'), sequence: seqOf(c), ical: serialize(ctx.msg),
    },
  };
}
