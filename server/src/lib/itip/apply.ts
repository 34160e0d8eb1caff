/**
 * Applying an incoming iTIP message (RFC 5546 §3.2) to the recipient's copy. Pure: the caller
 * loads the copy, calls apply(), stores `newText` and records `code`/`reason` in the decision log.
 */
import ICAL from 'ical.js';
import { normalizeAddress, propAddress, sameAddress, sentBy } from './address.js';
import {
  MASTER, attendeeProp, byKey, clone, compKey, isNewer, isPrivateProp, organizerOf, param,
  parseCalendar, partstatOf, schedulable, seqOf, serialize, setStamp, stampOf, uidOf, type Comp,
} from './model.js';
import type { ApplyOptions, ApplyResult, IncomingMessage } from './types.js';
import { addExdate, isCancelled, projectInstance } from './views.js';
import { applyCounterLike, applyReply } from './applyReply.js';

export function apply(message: IncomingMessage, existingText: string | null, recipientEmail: string, options: ApplyOptions = {}): ApplyResult {
  let msg: Comp;
  let existing: Comp | null;
  try {
    msg = parseCalendar(message.ical);
  } catch (e) {
    return { action: 'reject', code: 'INVALID_MESSAGE', reason: `The message is not valid iCalendar: ${(e as Error).message}` };
  }
  try {
    existing = existingText ? parseCalendar(existingText) : null;
  } catch {
    existing = null;
  }
  const method = String(message.method ?? msg.getFirstPropertyValue('method') ?? '').toUpperCase();
  const comps = schedulable(msg);
  const uid = uidOf(msg);
  if (!comps.length || !uid) return { action: 'reject', code: 'INVALID_MESSAGE', reason: 'The message has no VEVENT/VTODO with a UID.' };
  if (existing && uidOf(existing) !== uid) {
    return { action: 'reject', code: 'UID_MISMATCH', reason: `The stored copy has UID ${uidOf(existing)}, the message ${uid}.` };
  }
  const ctx: Ctx = { msg, existing, uid, sender: normalizeAddress(message.sender), recipient: normalizeAddress(recipientEmail), options, now: options.now ?? new Date() };
  switch (method) {
    case 'REQUEST':
      return applyRequest(ctx);
    case 'CANCEL':
      return applyCancel(ctx);
    case 'ADD':
      return applyAdd(ctx);
    case 'REPLY':
      return applyReply(ctx);
    case 'COUNTER':
    case 'DECLINECOUNTER':
    case 'REFRESH':
      return applyCounterLike(ctx, method);
    default:
      return { action: 'reject', code: 'UNSUPPORTED_METHOD', reason: `METHOD ${method || '(none)'} is not handled.` };
  }
}

/**
 * apply() of one message for many recipients who have no copy yet (a batched delivery), with the
 * same results as calling apply(message, null, r) for each: the message is parsed and checked
 * once, and the new copy — the message without METHOD — is serialised once for every recipient
 * whose ATTENDEE entries already carry a PARTSTAT (what the planner sends), since apply() changes
 * nothing else for them. Other recipients and other methods go through apply() one by one.
 */
export function applyToNewCopies(message: IncomingMessage, recipients: string[], options: ApplyOptions = {}): ApplyResult[] {
  const method = String(message.method ?? '').toUpperCase();
  if (method !== 'REQUEST' || recipients.length < 2) return recipients.map((r) => apply(message, null, r, options));
  let msg: Comp;
  try {
    msg = parseCalendar(message.ical);
  } catch {
    return recipients.map((r) => apply(message, null, r, options));
  }
  const comps = schedulable(msg);
  const uid = uidOf(msg);
  if (!comps.length || !uid) return recipients.map((r) => apply(message, null, r, options));
  const base: Ctx = { msg, existing: null, uid, sender: normalizeAddress(message.sender), recipient: '', options, now: options.now ?? new Date() };
  const bad = organizerCheck(base);
  if (bad) return recipients.map(() => ({ ...bad }));
  let shared: { text: string; organizer: string } | null = null;
  return recipients.map((r) => {
    const recipient = normalizeAddress(r);
    const mine = comps.map((c) => attendeeProp(c, recipient));
    // Not invited, or an entry without PARTSTAT (apply() would add NEEDS-ACTION for this one): apply() itself.
    if (!mine.some(Boolean) || mine.some((m) => m && !param(m, 'partstat'))) return apply(message, null, r, options);
    if (!shared) {
      const cal = stripMethod(msg);
      shared = { text: serialize(cal), organizer: propAddress(organizerOf(schedulable(cal)[0])!) };
    }
    return { action: 'create', code: 'APPLIED_NEW', senderMatches: base.senderMatches, newText: shared.text, reason: `New invitation from ${shared.organizer} added with PARTSTAT ${partstatOf(mine.find(Boolean)!)}.` };
  });
}

export interface Ctx {
  msg: Comp;
  existing: Comp | null;
  uid: string;
  sender: string;
  recipient: string;
  options: ApplyOptions;
  now: Date;
  senderMatches?: boolean;
}

/** Checks that the sender speaks for the ORGANIZER; returns a rejection or null. */
function organizerCheck(ctx: Ctx): ApplyResult | null {
  const org = schedulable(ctx.msg).map(organizerOf).find(Boolean);
  if (!org) return { action: 'reject', code: 'INVALID_MESSAGE', reason: 'The message has no ORGANIZER (RFC 5546 §3.2.2 requires one).' };
  const orgAddr = propAddress(org);
  const matches = sameAddress(org, ctx.sender) || (sentBy(org) !== '' && sentBy(org) === ctx.sender);
  if (!matches && ctx.options.trust !== 'trusted') {
    return { action: 'reject', code: 'NOT_ORGANIZER', senderMatches: false, reason: `Sender ${ctx.sender} is not the organizer ${orgAddr} (nor its SENT-BY).` };
  }
  ctx.senderMatches = matches;
  // A message may not take over a UID someone else organises (guessing UIDs must not work).
  const current = ctx.existing ? schedulable(ctx.existing).map(organizerOf).find(Boolean) : null;
  if (current && propAddress(current) !== orgAddr) {
    return { action: 'reject', code: 'ORGANIZER_MISMATCH', senderMatches: matches, reason: `The stored event is organised by ${propAddress(current)}, the message claims ${orgAddr}.` };
  }
  return null;
}

const PRIVATE_PROPS = ['transp'];

/** Carry the recipient's own data from their old component into the organizer's new one. */
function keepPrivate(from: Comp | undefined, to: Comp, recipient: string, keepPartstat: boolean): void {
  if (from) {
    for (const a of from.getAllSubcomponents('valarm')) to.addSubcomponent(clone(a));
    for (const p of from.getAllProperties()) {
      if (isPrivateProp(p.name) || PRIVATE_PROPS.includes(p.name)) {
        to.removeAllProperties(p.name);
      }
    }
    for (const p of from.getAllProperties()) {
      if (isPrivateProp(p.name) || PRIVATE_PROPS.includes(p.name)) to.addProperty(new ICAL.Property(structuredClone(p.toJSON()) as never));
    }
  }
  const mine = attendeeProp(to, recipient);
  if (!mine) return;
  const before = from ? attendeeProp(from, recipient) : null;
  if (keepPartstat && before) {
    mine.setParameter('partstat', partstatOf(before));
    const rsvp = param(before, 'rsvp');
    if (rsvp) mine.setParameter('rsvp', rsvp);
  } else if (!param(mine, 'partstat')) {
    mine.setParameter('partstat', 'NEEDS-ACTION');
  }
}

function stripMethod(cal: Comp): Comp {
  const c = clone(cal);
  c.removeAllProperties('method');
  return c;
}

function applyRequest(ctx: Ctx): ApplyResult {
  const bad = organizerCheck(ctx);
  if (bad) return bad;
  const incoming = byKey(ctx.msg);
  const invited = [...incoming.values()].some((c) => attendeeProp(c, ctx.recipient));
  if (!invited) return { action: 'reject', code: 'NOT_ATTENDEE', senderMatches: ctx.senderMatches, reason: `${ctx.recipient} is not an ATTENDEE of this invitation.` };

  if (!ctx.existing) {
    const cal = stripMethod(ctx.msg);
    for (const c of schedulable(cal)) keepPrivate(undefined, c, ctx.recipient, false);
    return { action: 'create', code: 'APPLIED_NEW', senderMatches: ctx.senderMatches, newText: serialize(cal), reason: `New invitation from ${propAddress(organizerOf(schedulable(cal)[0])!)} added with PARTSTAT ${partstatOf(attendeeProp(schedulable(cal).find((c) => attendeeProp(c, ctx.recipient))!, ctx.recipient))}.` };
  }
  const current = byKey(ctx.existing);
  const newMaster = incoming.get(MASTER);
  if (newMaster) {
    // A full update replaces the recipient's view (RFC 5546 §3.2.2), keeping their own data.
    const old = current.get(MASTER) ?? [...current.values()][0];
    if (!isNewer(newMaster, old)) return stale(newMaster, old);
    const bumped = seqOf(newMaster) > seqOf(old);
    const cal = stripMethod(ctx.msg);
    for (const c of schedulable(cal)) {
      const key = compKey(c, cal);
      const before = current.get(key);
      const mineNow = attendeeProp(c, ctx.recipient);
      // The organizer resets answers on time changes (NEEDS-ACTION + bumped SEQUENCE); else keep ours.
      const keep = !(bumped && mineNow && partstatOf(mineNow) === 'NEEDS-ACTION');
      keepPrivate(before ?? (key !== MASTER ? current.get(MASTER) : undefined), c, ctx.recipient, keep && !!before);
      if (!before && key !== MASTER && keep) keepPrivate(current.get(MASTER), c, ctx.recipient, true);
    }
    // Overrides the recipient made themselves (an answer for one instance) survive a minor update.
    if (!bumped) {
      for (const [k, c] of current) if (k !== MASTER && !incoming.has(k) && !isCancelled(c)) cal.addSubcomponent(clone(c));
    }
    return { action: 'update', code: 'APPLIED_UPDATE', senderMatches: ctx.senderMatches, newText: serialize(cal), reason: `Updated to SEQUENCE ${seqOf(newMaster)}${bumped ? ' (significant change)' : ''}.` };
  }
  // Instance-only REQUEST: merge each override into the series (RFC 5546 §3.2.2.x, RECURRENCE-ID).
  const cal = clone(ctx.existing);
  const byKeyNow = byKey(cal);
  const applied: string[] = [];
  let lastStale: ApplyResult | null = null;
  for (const [k, c] of incoming) {
    const before = byKeyNow.get(k);
    const ref = before ?? byKeyNow.get(MASTER);
    if (ref && !isNewer(c, ref) && before) {
      lastStale = stale(c, ref);
      continue;
    }
    if (ref && seqOf(c) < seqOf(ref)) {
      lastStale = stale(c, ref);
      continue;
    }
    const x = clone(c);
    keepPrivate(before ?? byKeyNow.get(MASTER), x, ctx.recipient, !!before && seqOf(x) === seqOf(before));
    if (before) cal.removeSubcomponent(before);
    cal.addSubcomponent(x);
    applied.push(k);
  }
  if (!applied.length) return lastStale!;
  for (const tz of ctx.msg.getAllSubcomponents('vtimezone')) {
    const id = tz.getFirstPropertyValue('tzid');
    if (!cal.getAllSubcomponents('vtimezone').some((t) => t.getFirstPropertyValue('tzid') === id)) cal.addSubcomponent(clone(tz));
  }
  return { action: 'update', code: 'APPLIED_INSTANCE', senderMatches: ctx.senderMatches, newText: serialize(cal), reason: `Instance(s) ${applied.join(', ')} merged into the series.` };
}

function stale(incoming: Comp, existing: Comp): ApplyResult {
  return {
    action: 'ignore', code: 'STALE_SEQUENCE',
    reason: `Ignored: SEQUENCE ${seqOf(incoming)}/DTSTAMP ${stampOf(incoming)} is not newer than the stored SEQUENCE ${seqOf(existing)}/DTSTAMP ${stampOf(existing)} (RFC 5546 §2.1.5).`,
  };
}

function applyCancel(ctx: Ctx): ApplyResult {
  const bad = organizerCheck(ctx);
  if (bad) return bad;
  if (!ctx.existing) return { action: 'ignore', code: 'UNKNOWN_UID', senderMatches: ctx.senderMatches, reason: `No event with UID ${ctx.uid} to cancel.` };
  const incoming = byKey(ctx.msg);
  const cal = clone(ctx.existing);
  const current = byKey(cal);
  const whole = incoming.get(MASTER);
  if (whole) {
    const ref = current.get(MASTER) ?? [...current.values()][0];
    if (!isNewer(whole, ref) && !(seqOf(whole) === seqOf(ref) && stampOf(whole) === stampOf(ref))) return stale(whole, ref);
    for (const c of current.values()) {
      c.updatePropertyWithValue('status', 'CANCELLED');
      c.updatePropertyWithValue('sequence', Math.max(seqOf(c), seqOf(whole)));
      setStamp(c, ctx.now);
    }
    return { action: 'delete', code: 'CANCELLED_SERIES', senderMatches: ctx.senderMatches, newText: serialize(cal), reason: 'The organizer cancelled the event; newText keeps it marked STATUS:CANCELLED.' };
  }
  const done: string[] = [];
  let staleResult: ApplyResult | null = null;
  for (const [k, c] of incoming) {
    const o = current.get(k);
    const master = current.get(MASTER);
    if (o) {
      if (isCancelled(o)) continue;
      if (seqOf(c) < seqOf(o)) { staleResult = stale(c, o); continue; }
      o.updatePropertyWithValue('status', 'CANCELLED');
      o.updatePropertyWithValue('sequence', seqOf(c));
      o.updatePropertyWithValue('dtstamp', c.getFirstPropertyValue('dtstamp') ?? ICAL.Time.fromJSDate(ctx.now, true));
      done.push(k);
    } else if (master) {
      if (seqOf(c) < seqOf(master)) { staleResult = stale(c, master); continue; }
      const before = master.getAllProperties('exdate').length;
      addExdate(master, k, cal);
      if (master.getAllProperties('exdate').length === before) continue;
      // The organizer bumped SEQUENCE for this cancellation (RFC 5546 §2.1.4): so do we.
      master.updatePropertyWithValue('sequence', Math.max(seqOf(master), seqOf(c)));
      master.updatePropertyWithValue('dtstamp', c.getFirstPropertyValue('dtstamp') ?? ICAL.Time.fromJSDate(ctx.now, true));
      done.push(k);
    }
  }
  if (!done.length) return staleResult ?? { action: 'ignore', code: 'ALREADY_CANCELLED', senderMatches: ctx.senderMatches, reason: 'The instance(s) were already cancelled or are unknown.' };
  // The organizer's whole object moved to this SEQUENCE (we bump all components together, §2.1.4).
  const top = Math.max(...[...incoming.values()].map(seqOf));
  for (const c of current.values()) if (seqOf(c) < top) c.updatePropertyWithValue('sequence', top);
  return { action: 'update', code: 'CANCELLED_INSTANCES', senderMatches: ctx.senderMatches, newText: serialize(cal), reason: `Instance(s) ${done.join(', ')} cancelled.` };
}

function applyAdd(ctx: Ctx): ApplyResult {
  const bad = organizerCheck(ctx);
  if (bad) return bad;
  if (!ctx.existing) return { action: 'ignore', code: 'UNKNOWN_UID', senderMatches: ctx.senderMatches, reason: `ADD for unknown UID ${ctx.uid}; a REFRESH should be sent to the organizer (RFC 5546 §3.2.4).` };
  const cal = clone(ctx.existing);
  const master = byKey(cal).get(MASTER);
  if (!master) return { action: 'ignore', code: 'UNKNOWN_INSTANCE', senderMatches: ctx.senderMatches, reason: 'ADD needs a stored series master.' };
  const added: string[] = [];
  for (const c of schedulable(ctx.msg)) {
    const dt = c.getFirstProperty('dtstart');
    if (!dt) continue;
    // Each added instance becomes an RDATE plus an override carrying its own data.
    master.addProperty(new ICAL.Property(['rdate', structuredClone(dt.toJSON()[1]), dt.toJSON()[2], dt.toJSON()[3]] as never));
    const x = clone(c);
    x.removeAllProperties('recurrence-id');
    x.addProperty(new ICAL.Property(['recurrence-id', structuredClone(dt.toJSON()[1]), dt.toJSON()[2], dt.toJSON()[3]] as never));
    keepPrivate(master, x, ctx.recipient, false);
    cal.addSubcomponent(x);
    added.push(compKey(x, cal));
  }
  master.updatePropertyWithValue('sequence', Math.max(seqOf(master), ...schedulable(ctx.msg).map(seqOf)));
  return { action: 'update', code: 'APPLIED_ADD', senderMatches: ctx.senderMatches, newText: serialize(cal), reason: `Instance(s) ${added.join(', ')} added to the series.` };
}

