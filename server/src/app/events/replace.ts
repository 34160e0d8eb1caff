/**
 * Replace an event by a whole iCalendar text (REST PUT /events/:id with text/calendar): what a
 * CalDAV client does with PUT on the resource, for REST clients — and how the web UI undoes the
 * deletion of "this" or "this and following" occurrences, which takes overridden occurrences out
 * of the series (the text read before is written back). Same rules as every write (saveObject):
 * If-Match, the editing lease (force for the organizer only: saveObject checks it), attendees may change only their own
 * answer and alarms, attachment links; the UID cannot change. Scheduling follows as for any
 * organizer write: restoring older text is a significant change, so SEQUENCE goes above the
 * current one (lib/itip plan) and attendees' copies take it (RFC 5546 §2.1.4).
 */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { invalid } from '../../domain/errors.js';
import type { ObjectRow } from '../../store/schema.js';
import { audit } from '../audit.js';
import { objectFor, requireWrite } from './access.js';
import { saveObject } from './write.js';

export async function replaceEventText(ctx: AppContext, actor: Actor, id: string, text: string, input: { ifMatch?: string | null; force?: boolean } = {}): Promise<ObjectRow> {
  if (!/BEGIN:VCALENDAR/i.test(text)) throw invalid('Send one VCALENDAR with the event (Content-Type: text/calendar)');
  const acc = await objectFor(ctx, actor, id);
  requireWrite(acc);
  const { row } = await saveObject(ctx, actor, {
    ownerId: acc.row.owner_id, calendarId: acc.row.calendar_id, existingId: acc.row.id, ical: text,
    ifMatch: input.ifMatch ?? undefined, force: input.force, enforceAttendeeRules: true,
  });
  await audit(ctx, actor, 'event.replace', row.id, { uid: row.uid }, row.owner_id);
  return row;
}
