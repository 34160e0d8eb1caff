/** Turns iCalendar text into a validated single resource plus its index columns. */
import { createHash } from 'node:crypto';
import { IcalError, compileResource, indexResource, splitResources, type CompiledSeries, type ResourceIndex } from '../../lib/ical/index.js';
import { DomainError } from '../../domain/errors.js';
import type { ObjectValues } from '../../store/objects.js';

export interface PreparedResource {
  text: string;
  index: ResourceIndex;
  compiled: CompiledSeries;
}

/** etagOf(text) and the Schedule-Tag per prepared resource: a delivery indexes one text for many copies. */
const tagsOf = new WeakMap<object, { etag: string; scheduleTag: string }>();

export function etagOf(text: string): string {
  return createHash('sha1').update(text).digest('base64url').slice(0, 22);
}

export function toDomainError(e: unknown): never {
  if (e instanceof IcalError) throw new DomainError('INVALID_ICALENDAR', e.message, { icalCode: e.code });
  throw e;
}

/**
 * One calendar object resource (RFC 4791 §4.1): one UID, VEVENT or VTODO, no METHOD.
 * Unknown and X- properties stay as they are.
 */
export function prepareResource(text: string): PreparedResource {
  try {
    const split = splitResources(text, { stripMethod: true });
    const resources = split.resources;
    if (split.errors.length) throw split.errors[0];
    if (resources.length !== 1) {
      throw new DomainError('INVALID_ICALENDAR', resources.length ? 'A calendar object must hold exactly one UID (RFC 4791 §4.1)' : 'No VEVENT or VTODO in the data', { uids: resources.map((r) => r.uid) });
    }
    const r = resources[0];
    // The split's own component (what r.text serialises), not a second parse of the text.
    const compiled = compileResource(r.calendar);
    const index = indexResource(compiled);
    return { text: r.text, index, compiled };
  } catch (e) {
    if (e instanceof DomainError) throw e;
    return toDomainError(e);
  }
}

/**
 * True when the owner's main address is neither the ORGANIZER nor an ATTENDEE although the object
 * has attendees: only then can an alias of the owner matter (the caller looks the aliases up).
 */
export function ownerUnnamed(p: Pick<PreparedResource, 'index'>, ownerEmail: string): boolean {
  const owner = ownerEmail.toLowerCase();
  const ix = p.index;
  return !!ix.organizer && ix.attendees.length > 0 && ix.organizer !== owner && !ix.attendees.some((a) => a.email === owner);
}

/**
 * Index columns of a prepared resource. `ownerAliases` (lower-case) are the owner's other addresses
 * (principal_alias): an invitation addressed to an alias still makes the owner its attendee
 * (role, my_partstat) — the main address wins when both appear.
 */
export function indexValues(p: Pick<PreparedResource, 'text' | 'index'>, meta: { name: string; ownerEmail: string; origin: string; actorId: string | null; hasAttachments: boolean; ownerAliases?: readonly string[] }): ObjectValues {
  const ix = p.index;
  const owner = meta.ownerEmail.toLowerCase();
  const aliases = meta.ownerAliases?.length ? new Set(meta.ownerAliases.map((a) => a.toLowerCase())) : null;
  const mine = (email: string | null | undefined) => !!email && (email === owner || !!aliases?.has(email));
  const me = ix.attendees.find((a) => a.email === owner) ?? (aliases ? ix.attendees.find((a) => aliases.has(a.email)) : undefined);
  let tags = tagsOf.get(p);
  if (!tags) tagsOf.set(p, (tags = { etag: etagOf(p.text), scheduleTag: etagOf(`${ix.uid}:${ix.sequence}:${ix.dtstamp?.getTime() ?? 0}`) }));
  const role: ObjectValues['role'] = !ix.organizer || !ix.attendees.length ? 'none' : mine(ix.organizer) ? 'organizer' : me ? 'attendee' : 'none';
  return {
    name: meta.name,
    uid: ix.uid,
    component: ix.componentType,
    ical: p.text,
    etag: tags.etag,
    schedule_tag: tags.scheduleTag,
    first_start: ix.firstStart,
    last_end: ix.lastEnd,
    recurring: ix.recurring,
    all_day: ix.allDay,
    floating: ix.floating,
    organizer: ix.organizer,
    role,
    my_partstat: me ? me.partstat.toUpperCase() : null,
    status: ix.status,
    transp: ix.transp,
    class: ix.class,
    summary: (ix.summary ?? '').slice(0, 2000),
    location: (ix.location ?? '').slice(0, 2000),
    description: (ix.description ?? '').slice(0, 20000),
    attendees: ix.attendees.map((a) => a.email),
    sequence: ix.sequence,
    has_alarms: ix.hasAlarms,
    has_attachments: meta.hasAttachments,
    origin: meta.origin,
    updated_by: meta.actorId,
  };
}
