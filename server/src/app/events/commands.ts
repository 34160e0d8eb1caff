/**
 * Domain commands on events. Every entry point calls these (or saveObject for raw iCalendar),
 * passing the Actor — who acts and through which entry point.
 */
import { TRASH_DAYS, trashCutoff } from '../../domain/trash.js';
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, forbidden, invalid } from '../../domain/errors.js';
import * as objects from '../../store/objects.js';
import * as principals from '../../store/principals.js';
import type { ObjectRow, PrincipalRow, Reminder } from '../../store/schema.js';
import { IcalError, compileResource, indexResource } from '../../lib/ical/index.js';
import { applyEventPatch, buildCalendar, buildComponent, eventToJson } from '../../lib/ical/build.js';
import { addOverride, excludeOccurrence, splitSeries } from '../../lib/ical/recurrence-edit.js';
import type { EventInput, EventJson, EventPatch, AttendeeInput } from '../../lib/ical/model.js';
import { buildFreshEvent } from '../../lib/itip/fresh-event.js';
import { objectFor, requireWrite, UUID, writableCalendar, writableCalendarRow } from './access.js';
import { checkForce, checkIfMatch, createFreshObject, lockUid, saveObject, trashObjectWithScheduling } from './write.js';
import { FANOUT_MIN, planScheduling } from './scheduling.js';
import { enqueueMany } from '../../jobs/queue.js';
import type { CreateGuard } from '../../store/objects.js';
import { forgetLookup, recallLookup, rememberLookup } from './create-lookup.js';
import { resetAnswers, setAttachments, setPartstat, withNewUid, bumpSequence, managedAttachments, type AttachmentRef } from './ical-edits.js';
import { attachmentUrl } from '../attachments.js';
import { audit } from '../audit.js';
import { isValidEmail } from '../../domain/addresses.js';

export type Scope = 'this' | 'following' | 'all';
export type EventInputWithAttachments = EventInput & { attachments?: { id: string }[] };

function ical<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof IcalError) throw new DomainError(e.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'VALIDATION_FAILED', e.message);
    throw e;
  }
}

/** Zones already found valid (building an Intl.DateTimeFormat costs ~0.3 ms per request). */
const knownZones = new Set<string>();

function checkTimes(e: Partial<EventInput>) {
  if (e.timezone && !knownZones.has(e.timezone)) {
    try { new Intl.DateTimeFormat('en', { timeZone: e.timezone }); } catch { throw invalid(`Unknown time zone "${e.timezone}"`, { field: 'timezone' }); }
    if (knownZones.size < 1000) knownZones.add(e.timezone);
  }
  const re = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/;
  for (const f of ['start', 'end'] as const) if (e[f] !== undefined && !re.test(e[f]!)) throw invalid(`${f} must be YYYY-MM-DD or YYYY-MM-DDTHH:mm[:ss]`, { field: f });
  if (e.start && e.end && e.end < e.start) throw invalid('The end must not be before the start', { field: 'end' });
  if (e.rrule) {
    if (/[\r\n]/.test(e.rrule) || !/^FREQ=/i.test(e.rrule.replace(/^RRULE:/i, '').split(';').find((p) => /^FREQ=/i.test(p)) ?? '')) throw invalid('rrule must be an RFC 5545 RRULE value with FREQ', { field: 'rrule' });
  }
  for (const a of e.alarms ?? []) if (!/^-?P(\d+W|(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?)$/.test(a.trigger) || a.trigger === 'P' || a.trigger === '-P') throw invalid(`Invalid alarm trigger "${a.trigger}"`, { field: 'alarms' });
}

/**
 * Attendees as the organizer wrote them: groups expand to their members (the reference's mailapi),
 * rooms get CUTYPE=ROOM, answers can't be forged (only existing answers are kept).
 */
const clean = (e: string) => e.trim().replace(/^mailto:/i, '').toLowerCase();

/**
 * `lookup`: what principals.resolveAddresses gives for exactly these attendees' cleaned
 * addresses, when the caller has it (the create reads it in the calendar's statement).
 */
async function resolveAttendees(ctx: AppContext, organizer: PrincipalRow, list: AttendeeInput[], existing: Map<string, string>, found = new Map<string, PrincipalRow>(), lookup?: Map<string, PrincipalRow>): Promise<AttendeeInput[]> {
  const out = new Map<string, AttendeeInput>();
  const me = organizer.email.toLowerCase();
  // Syntax first (the reference's mailapi): a bad address used to be stored and silently dropped.
  for (const a of list) if (!isValidEmail(clean(a.email))) throw new DomainError('INVALID_ADDRESS', `"${a.email}" is not a valid e-mail address`, { email: a.email });
  for (const [k, v] of lookup ?? (await principals.resolveAddresses(ctx.db, list.map((a) => clean(a.email))))) found.set(k, v);
  for (const a of list) {
    const email = clean(a.email);
    const p = found.get(email);
    if (p?.kind === 'group') {
      for (const m of await principals.groupMembers(ctx.db, p.id)) {
        const e = m.email.toLowerCase();
        if (!out.has(e) && !m.disabled) out.set(e, { email: e, name: m.name || undefined, role: a.role ?? 'REQ-PARTICIPANT', cutype: 'INDIVIDUAL', partstat: existing.get(e) ?? 'NEEDS-ACTION', rsvp: e !== me });
      }
      continue;
    }
    const cutype = p?.kind === 'room' ? 'ROOM' : a.cutype && ['INDIVIDUAL', 'GROUP', 'RESOURCE', 'ROOM', 'UNKNOWN'].includes(a.cutype) ? a.cutype : 'INDIVIDUAL';
    const partstat = email === me ? (a.partstat ?? existing.get(email) ?? 'ACCEPTED') : existing.get(email) ?? 'NEEDS-ACTION';
    out.set(email, { email, name: a.name ?? p?.name ?? undefined, role: a.role ?? 'REQ-PARTICIPANT', cutype, partstat, rsvp: email !== me && partstat === 'NEEDS-ACTION' });
  }
  return [...out.values()];
}

async function attachmentRefs(ctx: AppContext, actor: Actor, ids: { id: string }[], allowedExisting: Set<string>): Promise<AttachmentRef[]> {
  const out: AttachmentRef[] = [];
  for (const { id } of ids) {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw invalid(`Unknown attachment ${id}`);
    const a = await ctx.db.selectFrom('attachment').selectAll().where('id', '=', id).executeTakeFirst();
    if (!a || (a.owner_id !== actor.userId && !allowedExisting.has(id))) throw invalid(`Unknown attachment ${id}`, { field: 'attachments' });
    out.push({ id: a.id, filename: a.filename, contentType: a.content_type, size: Number(a.size), url: attachmentUrl(ctx, a.id) });
  }
  return out;
}

async function ownerOf(ctx: AppContext, ownerId: string) {
  const p = await principals.findPrincipalByIdCached(ctx.db, ownerId);
  if (!p) throw new DomainError('NOT_FOUND', 'Calendar owner not found');
  return p;
}

export async function createEvent(ctx: AppContext, actor: Actor, input: { calendarId: string; event: EventInputWithAttachments }): Promise<ObjectRow> {
  return (await createEventIn(ctx, actor, input)).row;
}

/**
 * createEvent, also returning the calendar (with the actor's access) it went into and, when the
 * fast path wrote it, the event as eventToJson would read it back (for the 201 body).
 *
 * The owner's create into a calendar whose row and attendees' principals it has read before
 * (create-lookup.ts) first runs with those, the write checking in its own statement that they are
 * still what the database holds; when they are not (or anything in that attempt refuses it), the
 * create starts again from reading them.
 */
export async function createEventIn(ctx: AppContext, actor: Actor, input: { calendarId: string; event: EventInputWithAttachments }): Promise<CreateResult> {
  const list = input.event.attendees;
  const addresses = list?.every((a) => typeof a?.email === 'string') ? list.map((a) => clean(a.email)) : undefined;
  if (addresses && !input.event.attachments?.length && UUID.test(input.calendarId)) {
    const held = recallLookup(ctx, actor.userId, input.calendarId, addresses);
    if (held) {
      try {
        const r = await createIn(ctx, actor, input, { ...held.calendar, access: 'owner' }, held.found, held.guard);
        if (r) return r;
      } catch (e) {
        // A refusal made from what was held (an address unknown then) is made again from the database.
        if (!(e instanceof DomainError)) throw e;
      }
      forgetLookup(ctx, input.calendarId, addresses);
    }
  }
  // The calendar and the attendees' principals in one statement (a read only, used after the
  // calendar and the actor's right to write it are checked).
  let cal: Awaited<ReturnType<typeof writableCalendar>>;
  let found: Map<string, PrincipalRow> | undefined;
  if (addresses && UUID.test(input.calendarId)) {
    const both = await principals.calendarAndAddresses(ctx.db, input.calendarId, addresses);
    cal = await writableCalendarRow(ctx, actor, input.calendarId, both.calendar);
    found = both.found;
    rememberLookup(ctx, actor.userId, both.calendar!, both.fingerprint, addresses, both.found, both.hashes);
  } else {
    cal = await writableCalendar(ctx, actor, input.calendarId);
  }
  return (await createIn(ctx, actor, input, cal, found))!;
}

type CreateResult = { row: ObjectRow; calendar: Awaited<ReturnType<typeof writableCalendar>>; event?: EventJson };

/**
 * The create once the calendar (and the attendees' principals, `found`) are known. With `guard`
 * (what they were read as), only the one-statement path is taken, and null comes back when it
 * wrote nothing.
 */
async function createIn(ctx: AppContext, actor: Actor, input: { calendarId: string; event: EventInputWithAttachments }, cal: CreateResult['calendar'], found: Map<string, PrincipalRow> | undefined, guard?: CreateGuard): Promise<CreateResult | null> {
  const owner = await ownerOf(ctx, cal.owner_id);
  const { attachments, ...ev } = input.event;
  checkTimes(ev);
  const event: EventInput = { ...ev, timezone: ev.timezone ?? (ev.allDay ? null : cal.timezone ?? owner.timezone) };
  const known = new Map<string, PrincipalRow>();
  if (event.attendees?.length) {
    event.organizer = { email: owner.email, name: owner.name || undefined };
    const atts = await resolveAttendees(ctx, owner, event.attendees, new Map(), known, found);
    if (!atts.some((a) => a.email === owner.email.toLowerCase())) atts.unshift({ email: owner.email.toLowerCase(), name: owner.name || undefined, role: 'CHAIR', partstat: 'ACCEPTED', cutype: 'INDIVIDUAL' });
    event.attendees = atts;
  } else {
    delete event.organizer;
  }
  const meta = { uid: randomUUID(), dtstamp: new Date(), sequence: 0 };
  known.set(owner.email.toLowerCase(), owner);
  if (!attachments?.length && (event.attendees?.length ?? 0) <= FANOUT_MIN + 1) {
    // The usual create: one statement (createFreshObject). A plain timed event is written as text
    // with its plan, index and answer directly (buildFreshEvent); others are built once as a
    // component, planned and compiled on it. What it declines takes saveObject below.
    const defaults = (cal.default_reminders as Reminder[] | null) ?? [];
    const built = buildFreshEvent(event, { uid: meta.uid, now: meta.dtstamp });
    const fresh = built
      ? await createFreshObject(ctx, actor, { ownerId: cal.owner_id, calendarId: cal.id, fresh: built, defaults, knownPrincipals: known, owner, guard })
      : await createFreshObject(ctx, actor, { ownerId: cal.owner_id, calendarId: cal.id, component: ical(() => buildCalendar(event, meta)), defaults, knownPrincipals: known, owner, guard });
    if (fresh) return { row: fresh.row, calendar: cal, event: built && fresh.row.ical === built.text ? built.json : undefined };
  }
  if (guard) return null;
  let text = ical(() => buildComponent(event, meta));
  if (attachments?.length) text = setAttachments(text, await attachmentRefs(ctx, actor, attachments, new Set()));
  const { row } = await saveObject(ctx, actor, { ownerId: cal.owner_id, calendarId: cal.id, ical: text, knownPrincipals: known, freshUid: true });
  await audit(ctx, actor, 'event.create', row.id, { uid: row.uid }, row.owner_id);
  return { row, calendar: cal };
}

const PERSONAL_FIELDS = new Set(['alarms', 'transparency', 'color']);

async function updateEventUnaudited(ctx: AppContext, actor: Actor, id: string, input: { event: EventPatch & { attachments?: { id: string }[] }; scope?: Scope; recurrenceId?: string | null; ifMatch?: string | null; force?: boolean }): Promise<ObjectRow> {
  const acc = await objectFor(ctx, actor, id);
  requireWrite(acc);
  const { row } = acc;
  const owner = await ownerOf(ctx, row.owner_id);
  const { attachments, ...patch } = input.event;
  checkTimes(patch);
  if (row.role === 'attendee') {
    const bad = Object.keys(input.event).filter((k) => !PERSONAL_FIELDS.has(k));
    if (bad.length) throw forbidden(`Only the organizer can change ${bad.join(', ')}; you can answer the invitation or change your own reminders`);
  }
  // Refused before the attendees are resolved (saveObject checks it again under the lock).
  checkForce(actor, row, input.force);
  if (patch.attendees) {
    const existing = new Map(indexResource(row.ical).attendees.map((a) => [a.email, a.partstat]));
    patch.attendees = await resolveAttendees(ctx, owner, patch.attendees, existing);
    if (patch.attendees.length && !patch.attendees.some((a) => a.email === owner.email.toLowerCase())) {
      patch.attendees.unshift({ email: owner.email.toLowerCase(), name: owner.name || undefined, role: 'CHAIR', partstat: 'ACCEPTED', cutype: 'INDIVIDUAL' });
    }
    if (patch.attendees.length && !row.organizer) patch.organizer = { email: owner.email, name: owner.name || undefined };
  }
  delete patch.organizer;
  const scope: Scope = row.recurring ? input.scope ?? 'all' : 'all';
  if (scope !== 'all' && !input.recurrenceId) throw invalid('recurrenceId is needed for this scope', { field: 'recurrenceId' });
  const common = { ownerId: row.owner_id, calendarId: row.calendar_id, existingId: row.id, ifMatch: input.ifMatch, force: input.force };
  const withAttachments = async (text: string) => (attachments ? setAttachments(text, await attachmentRefs(ctx, actor, attachments, new Set(managedAttachments(row.ical).map((a) => a.id)))) : text);

  if (scope === 'all') {
    const text = await withAttachments(ical(() => applyEventPatch(row.ical, patch)));
    return (await saveObject(ctx, actor, { ...common, ical: text })).row;
  }
  if (scope === 'this') {
    const { rrule: _r, exdates: _e, ...occ } = patch;
    const text = ical(() => addOverride(row.ical, input.recurrenceId!, occ));
    return (await saveObject(ctx, actor, { ...common, ical: text })).row;
  }
  // This and following: split the series; the new one keeps attendees and their answers unless times change.
  const split = ical(() => splitSeries(row.ical, input.recurrenceId!, randomUUID()));
  const timeChanged = followingTimesChanged(row.ical, split.newSeriesText, patch);
  let newText = ical(() => applyEventPatch(split.newSeriesText, patch));
  newText = await withAttachments(newText);
  if (timeChanged && row.organizer) newText = resetAnswers(newText, row.organizer);
  return ctx.db.transaction().execute(async (trx) => {
    await saveObject(ctx, actor, { ...common, ical: split.oldSeriesText }, trx);
    return (await saveObject(ctx, actor, { ownerId: row.owner_id, calendarId: row.calendar_id, ical: newText, force: input.force }, trx)).row;
  });
}

const wallOf = (v: string | null | undefined) => (v && /T\d{2}:\d{2}$/.test(v) ? `${v}:00` : v ?? null);
const ruleOf = (v: string | null | undefined) => (v ? v.replace(/^RRULE:/i, '').toUpperCase().split(';').filter(Boolean).sort().join(';') : null);

/**
 * Whether a "this and following" patch moves the new series in time: start, end, time zone,
 * all-day or rule DIFFER from what the new series has (the split occurrence's times), not merely
 * whether they are sent — the web editor always sends start and end. A rule equal to the series'
 * current one (before or after the split's COUNT bookkeeping) is unchanged and is taken out of the
 * patch, so the split keeps its own COUNT.
 */
function followingTimesChanged(seriesText: string, newSeriesText: string, patch: EventPatch): boolean {
  const cur = ical(() => eventToJson(newSeriesText));
  if (patch.rrule !== undefined) {
    const before = ical(() => eventToJson(seriesText)).rrule;
    if (ruleOf(patch.rrule) === ruleOf(cur.rrule) || ruleOf(patch.rrule) === ruleOf(before)) delete patch.rrule;
  }
  if (patch.allDay !== undefined && !!patch.allDay !== !!cur.allDay) return true;
  if (patch.timezone !== undefined && (patch.timezone ?? null) !== (cur.timezone ?? null)) return true;
  if (patch.start !== undefined && wallOf(patch.start) !== wallOf(cur.start)) return true;
  if (patch.end !== undefined && wallOf(patch.end) !== wallOf(cur.end)) return true;
  return patch.rrule !== undefined;
}

async function deleteEventUnaudited(ctx: AppContext, actor: Actor, id: string, input: { scope?: Scope; recurrenceId?: string | null; ifMatch?: string | null; force?: boolean }): Promise<ObjectRow | null> {
  const acc = await objectFor(ctx, actor, id);
  requireWrite(acc);
  const { row } = acc;
  // (force is checked by the write each scope ends in: trashObjectWithScheduling or saveObject)
  const scope: Scope = row.recurring ? input.scope ?? 'all' : 'all';
  if (scope === 'all') {
    return trashObjectWithScheduling(ctx, actor, row.owner_id, row.id, { ifMatch: input.ifMatch, force: input.force });
  }
  if (!input.recurrenceId) throw invalid('recurrenceId is needed for this scope', { field: 'recurrenceId' });
  const text = scope === 'this'
    ? ical(() => excludeOccurrence(row.ical, input.recurrenceId!))
    : ical(() => splitSeries(row.ical, input.recurrenceId!, randomUUID()).oldSeriesText);
  return (await saveObject(ctx, actor, { ownerId: row.owner_id, calendarId: row.calendar_id, existingId: row.id, ical: text, ifMatch: input.ifMatch, force: input.force })).row;
}

async function restoreEventUnaudited(ctx: AppContext, actor: Actor, id: string, input: { ifMatch?: string | null } = {}): Promise<ObjectRow> {
  const acc = await objectFor(ctx, actor, id, { includeDeleted: true });
  if (acc.access !== 'owner') throw forbidden('Only the owner can restore an event');
  if (!acc.row.deleted_at) throw new DomainError('CONFLICT', 'The event is not in the trash');
  // The trash keeps events for TRASH_DAYS; one older waits only for the purge job to remove it.
  if (acc.row.deleted_at < trashCutoff()) throw new DomainError('NOT_FOUND', `The event was deleted more than ${TRASH_DAYS} days ago and can no longer be restored`);
  const owner = await ownerOf(ctx, acc.row.owner_id);
  return ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, acc.row.uid);
    const current = await objects.findObject(trx, acc.row.owner_id, id, { includeDeleted: true, forUpdate: true });
    if (!current) throw new DomainError('NOT_FOUND', 'Event not found');
    await checkIfMatch(trx, current, input.ifMatch);
    const clash = await objects.findByUidInCalendar(trx, acc.row.owner_id, acc.row.calendar_id, acc.row.uid);
    if (clash) throw new DomainError('UID_CONFLICT', 'The calendar already has this event again');
    const restored = await objects.restoreObject(trx, acc.row.owner_id, id);
    if (!restored) throw new DomainError('CONFLICT', 'The event is not in the trash');
    if (restored.role === 'organizer') {
      // Attendees got a CANCEL with SEQUENCE+1 at deletion: re-invite with a higher one.
      const text = bumpSequence(restored.ical, 2);
      const { row } = await saveObject(ctx, actor, { ownerId: restored.owner_id, calendarId: restored.calendar_id, existingId: restored.id, ical: text, schedule: false }, trx);
      const planned = await planScheduling(ctx, trx, { owner, previous: null, text: row.ical, actor, enforceAttendeeRules: false });
      await enqueueMany(trx, planned.jobs);
      return row;
    }
    return (await saveObject(ctx, actor, { ownerId: restored.owner_id, calendarId: restored.calendar_id, existingId: restored.id, ical: restored.ical }, trx)).row;
  });
}

export const PARTSTATS = ['ACCEPTED', 'TENTATIVE', 'DECLINED'] as const;

/** Answer an invitation (web, bot button, mail link, CalDAV all end here). */
export async function respond(ctx: AppContext, actor: Actor, id: string, input: { partstat: (typeof PARTSTATS)[number]; comment?: string; recurrenceId?: string | null; ifMatch?: string | null }): Promise<ObjectRow> {
  const acc = await objectFor(ctx, actor, id);
  requireWrite(acc);
  const { row } = acc;
  const owner = await ownerOf(ctx, row.owner_id);
  // Read-modify-write under the UID lock: an organizer's update delivered meanwhile is not lost.
  const saved = await ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, acc.row.uid);
    const row = await objects.findObject(trx, acc.row.owner_id, acc.row.id, { forUpdate: true });
    if (!row) throw new DomainError('NOT_FOUND', 'The event no longer exists');
    await checkIfMatch(trx, row, input.ifMatch);
    if (row.role !== 'attendee') throw new DomainError('CONFLICT', row.role === 'organizer' ? 'You organise this event' : 'You are not invited to this event', { reason: row.role === 'organizer' ? 'organizer' : 'not-invited' });
    if (row.status === 'CANCELLED') throw new DomainError('CONFLICT', 'This event was cancelled', { reason: 'cancelled' });
    let text = row.ical;
    if (input.recurrenceId) {
      const s = compileResource(text);
      if (!s.overrides.has(input.recurrenceId)) text = ical(() => addOverride(text, input.recurrenceId!, {}));
    }
    text = ical(() => setPartstat(text, owner.email, input.partstat, { recurrenceId: input.recurrenceId ?? undefined, comment: input.comment?.slice(0, 1000) }));
    return (await saveObject(ctx, actor, { ownerId: row.owner_id, calendarId: row.calendar_id, existingId: row.id, ical: text }, trx)).row;
  });
  await audit(ctx, actor, 'event.respond', row.id, { partstat: input.partstat, recurrenceId: input.recurrenceId ?? null }, row.owner_id);
  return saved;
}

async function moveEventUnaudited(ctx: AppContext, actor: Actor, id: string, input: { calendarId: string; ifMatch?: string | null }): Promise<ObjectRow> {
  const acc = await objectFor(ctx, actor, id);
  requireWrite(acc);
  const target = await writableCalendar(ctx, actor, input.calendarId);
  if (target.owner_id !== acc.row.owner_id) throw new DomainError('UNSUPPORTED', 'Events can move only between calendars of the same owner');
  if (target.id === acc.row.calendar_id && !input.ifMatch) return acc.row;
  return ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, acc.row.uid);
    const current = await objects.findObject(trx, acc.row.owner_id, acc.row.id, { forUpdate: true });
    if (!current) throw new DomainError('NOT_FOUND', 'The event no longer exists');
    await checkIfMatch(trx, current, input.ifMatch);
    if (target.id === current.calendar_id) return current;
    const clash = await objects.findByUidInCalendar(trx, target.owner_id, target.id, acc.row.uid);
    if (clash) throw new DomainError('UID_CONFLICT', 'The target calendar already has this event', { id: clash.id });
    // A move concerns only the owner: no scheduling messages (it is the owner's own arrangement).
    // The row as read under the lock: the tombstone names the calendar it is in now.
    await objects.logChange(trx, current.owner_id, current.calendar_id, current, 'delete');
    return objects.updateObject(trx, acc.row.owner_id, acc.row.id, { calendar_id: target.id });
  });
}

async function duplicateEventUnaudited(ctx: AppContext, actor: Actor, id: string, input: { calendarId?: string }): Promise<ObjectRow> {
  const acc = await objectFor(ctx, actor, id);
  if (acc.access === 'freebusy') throw forbidden('You can only see when this calendar is busy');
  const target = await writableCalendar(ctx, actor, input.calendarId ?? acc.row.calendar_id);
  const owner = await ownerOf(ctx, target.owner_id);
  let text = withNewUid(acc.row.ical, randomUUID(), acc.row.role === 'organizer' ? owner.email : null);
  if (acc.row.role === 'attendee' || (acc.row.organizer && acc.row.organizer !== owner.email.toLowerCase())) {
    // A copy of someone else's meeting becomes a private event of the new owner.
    text = ical(() => applyEventPatch(text, { organizer: null, attendees: [] }));
  }
  return (await saveObject(ctx, actor, { ownerId: target.owner_id, calendarId: target.id, ical: text, attachmentsFrom: { ownerId: acc.row.owner_id, objectId: acc.row.id } })).row;
}

/*
 * The audit trail (audit_log): one row per command that changed something — who acted, through
 * which entry point (actor.via), on which event. The create writes its row in its own statement
 * (objects.insertObjectWithJobs) or right after saveObject; respond and propose write theirs.
 */
function audited<I, R extends ObjectRow | null>(action: string, fn: (ctx: AppContext, actor: Actor, id: string, input: I) => Promise<R>, details: (input: I, id: string) => Record<string, unknown>) {
  return async (ctx: AppContext, actor: Actor, id: string, input: I): Promise<R> => {
    const row = await fn(ctx, actor, id, input);
    if (row) await audit(ctx, actor, action, row.id, { uid: row.uid, ...details(input, id) }, row.owner_id);
    return row;
  };
}
const scopeOf = (i: { scope?: Scope; recurrenceId?: string | null }) => (i.scope && i.scope !== 'all' ? { scope: i.scope, recurrenceId: i.recurrenceId ?? null } : {});
export const updateEvent = audited('event.update', updateEventUnaudited, (i) => ({ fields: Object.keys(i.event), ...scopeOf(i) }));
export const deleteEvent = audited('event.delete', deleteEventUnaudited, (i) => scopeOf(i));
const restoreAudited = audited('event.restore', restoreEventUnaudited, () => ({}));
export const restoreEvent = (ctx: AppContext, actor: Actor, id: string, input: { ifMatch?: string | null } = {}) => restoreAudited(ctx, actor, id, input);
export const moveEvent = audited('event.move', moveEventUnaudited, (i) => ({ calendarId: i.calendarId }));
export const duplicateEvent = audited('event.duplicate', duplicateEventUnaudited, (_i, id) => ({ source: id }));
